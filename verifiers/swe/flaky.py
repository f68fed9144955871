"""``--repeat R``: judge every candidate R times and mark the ones whose verdicts differ.

Works with any oracle (``verify_many``). The merged verdict is passed only when every run
passed (a flaky pass is not a pass); ``details["flaky"]`` is True when the runs disagree,
``details["runs"]`` lists each run's ``passed``.
"""
from __future__ import annotations

from typing import Sequence

from ..base import Verifier
from ..types import Candidate, Problem, Verdict


def merge_repeats(runs: Sequence[Verdict]) -> Verdict:
    if not runs:
        raise ValueError("merge_repeats needs at least one verdict")
    judged = [v.passed for v in runs if v.passed is not None]
    first = runs[0]
    flaky = len(set(judged)) > 1
    if not judged:
        passed = None
    else:
        passed = all(judged)
    details = {**dict(first.details), "flaky": flaky, "runs": [v.passed for v in runs],
               "repeat": len(runs), "passed_runs": sum(1 for p in judged if p)}
    if flaky:
        failing = next(v for v in runs if v.passed is False)
        details["reason"] = f"flaky: passed {details['passed_runs']}/{len(runs)} runs; " + str(
            failing.details.get("reason", ""))
    score = sum(v.score for v in runs) / len(runs)
    if passed is None:
        return Verdict(score=0.0, passed=None, answer=first.answer, feedback=first.feedback,
                       details={**details, "error": first.details.get("error", "no run could be judged")})
    return Verdict(score=score if flaky else first.score, passed=passed, answer=first.answer,
                   feedback=first.feedback, details=details)


def verify_repeated(verifier: Verifier, items: Sequence[tuple[Problem, Sequence[Candidate]]],
                    repeat: int) -> list[list[Verdict]]:
    """Judge ``items`` ``repeat`` times with ``verifier``; one merged verdict per candidate."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    runs = [verifier.verify_many(items) for _ in range(repeat)]
    return [[merge_repeats([run[i][j] for run in runs]) for j in range(len(items[i][1]))]
            for i in range(len(items))]
