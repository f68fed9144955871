"""The SWE verifiers: ``swe`` (the oracle: resolved or not) and ``swe_feedback`` (gold-free:
does the patch apply, do the visible tests pass; what the model may see next turn).

A problem's ``reference`` is the instance (an :class:`SWEInstance` or its SWE-bench record);
a candidate's text is a model response holding a unified diff.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from ..base import Verifier
from ..types import Candidate, Problem, Verdict
from .diffs import extract_diff
from .flaky import merge_repeats
from .instance import InstanceError, SWEInstance
from .judge import JudgeResult, SWEJudge

FEEDBACK_TESTS = 3  # failing tests shown in feedback
FEEDBACK_CHARS = 1200  # per test


def instance_of(problem: Problem) -> SWEInstance:
    ref = problem.reference
    if isinstance(ref, SWEInstance):
        return ref
    if isinstance(ref, Mapping):
        return SWEInstance.from_record(ref)
    raise InstanceError(f"problem {problem.id}: reference is not a SWE-bench instance")


def verdict_from(result: JudgeResult, patch: str) -> Verdict:
    details: dict[str, Any] = {
        "status": result.status, "reason": result.reason, "apply_method": result.apply_method,
        "duration_s": round(result.duration_s, 3), "image": result.image,
    }
    g = result.grade
    if g is not None:
        details.update(f2p_failed=list(g.f2p_failed), p2p_failed=list(g.p2p_failed),
                       f2p_passed=len(g.f2p_passed), p2p_passed=len(g.p2p_passed),
                       integrity=list(g.integrity))
    if result.run is not None:
        details["tests_collected"] = len(result.run.collected or ())
        details["returncode"] = result.run.returncode
        if result.run.tampering:
            details["tampering"] = list(result.run.tampering[:10])
    if result.error_kind:
        details["error_kind"] = result.error_kind
    if result.resolved is None:
        details.pop("reason")
        return Verdict.unjudged(result.reason, **details)
    passed = bool(result.resolved)
    return Verdict(score=1.0 if passed else 0.0, passed=passed, answer=_answer_key(patch), details=details)


def _answer_key(patch: str) -> str | None:
    """Patches that differ only in whitespace/context vote together."""
    if not patch.strip():
        return None
    lines = [ln.rstrip() for ln in patch.splitlines()
             if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return "\n".join(lines) or None


class _SWEBase(Verifier):
    """Options: ``timeout`` (seconds per test run), ``pool_size`` (warm containers per image),
    ``workers`` (judged at once), ``judge`` (an :class:`SWEJudge` to share; not ours to close),
    ``progress``, ``repeat`` (judge each patch R times and mark flaky ones),
    ``judge_factory`` (where the judging runs: called with ``timeout``, ``pool_size`` and
    ``workers`` to make the judge, e.g. a cluster session's; default :class:`SWEJudge` on
    this machine). Any other option is refused by name
    (:func:`verifiers.registry.create_verifier`)."""

    mode = "oracle"

    def __init__(self, timeout: float = 300.0, pool_size: int = 2, workers: int | None = None,
                 judge: SWEJudge | None = None, progress: bool = False, repeat: int = 1,
                 judge_factory: Callable[..., SWEJudge] | None = None) -> None:
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"repeat must be an integer >= 1, got {repeat!r}")
        self.repeat = repeat
        self._judge = judge
        self._own_judge = judge is None
        self._judge_factory = judge_factory or SWEJudge
        self._opts = dict(timeout=timeout, pool_size=pool_size, workers=workers)
        self.progress = progress

    @property
    def judge(self) -> SWEJudge:
        if self._judge is None:
            self._judge = self._judge_factory(**self._opts)
        return self._judge

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        return self.verify_many([(problem, candidates)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]) -> list[list[Verdict]]:
        """Judge every candidate; with ``repeat`` > 1, R times each, flaky ones marked
        (``details["flaky"]``, see :mod:`verifiers.swe.flaky`)."""
        if self.repeat == 1:
            return self._verify_once(items)
        n = len(items)
        flat = self._verify_once(list(items) * self.repeat)  # one batch: the repeats run in parallel
        runs = [flat[k * n:(k + 1) * n] for k in range(self.repeat)]
        return [[merge_repeats([run[i][j] for run in runs]) for j in range(len(items[i][1]))]
                for i in range(len(items))]

    def _verify_once(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]) -> list[list[Verdict]]:
        jobs: list[tuple[SWEInstance, str]] = []
        shape: list[int] = []
        bad: dict[int, str] = {}
        for i, (problem, cands) in enumerate(items):
            try:
                inst = instance_of(problem)
            except InstanceError as exc:
                bad[i] = str(exc)
                shape.append(0)
                continue
            shape.append(len(cands))
            jobs += [(inst, extract_diff(c.text)) for c in cands]
        results = iter(self.judge.judge_many(jobs, mode=self.mode, progress=self.progress))  # type: ignore[arg-type]
        patches = iter([p for _, p in jobs])
        out: list[list[Verdict]] = []
        for i, (problem, cands) in enumerate(items):
            if i in bad:
                out.append([Verdict.unjudged(bad[i]) for _ in cands])
                continue
            out.append([self._verdict(next(results), next(patches), problem) for _ in range(shape[i])])
        return out

    def _verdict(self, result: JudgeResult, patch: str, problem: Problem) -> Verdict:
        return verdict_from(result, patch)

    def close(self) -> None:
        if self._judge is not None and self._own_judge:
            self._judge.close()
            self._judge = None


class SWEOracle(_SWEBase):
    """Resolved = every FAIL_TO_PASS test passes and every PASS_TO_PASS test still passes."""

    name = "swe"
    uses_reference = True
    mode = "oracle"


class SWEFeedback(_SWEBase):
    """Gold-free: the patch applies and the repository's visible tests pass (the hidden test
    patch is never applied). Feedback: why the patch did not apply, or the failing visible
    tests (those the problem statement names first) with their assertion messages."""

    name = "swe_feedback"
    uses_reference = False
    mode = "feedback"

    def _verdict(self, result: JudgeResult, patch: str, problem: Problem) -> Verdict:
        v = verdict_from(result, patch)
        return Verdict(score=v.score, passed=v.passed, answer=v.answer,
                       feedback=feedback_text(result, patch, instance_of(problem)), details=v.details)


def feedback_text(result: JudgeResult, patch: str, inst: SWEInstance) -> str:
    if not patch.strip():
        return "No unified diff was found in the response. Answer with one ```diff block."
    if result.status == "refused":
        return f"The patch was refused: {result.reason}"
    if result.status == "patch_failed":
        return "The patch does not apply to the repository:\n" + _short(result.apply_log, 1500)
    if result.status in ("unavailable", "error"):
        return ""
    run = result.run
    if run is None or result.status == "resolved":
        return "The patch applies and the repository's visible tests pass."
    parts = []
    if run.collect_errors:
        nid, err = next(iter(run.collect_errors.items()))
        parts.append(f"Collecting the tests failed ({nid}):\n{_short(err, FEEDBACK_CHARS)}")
    failing = [t for t, s in run.outcomes.items() if s in ("failed", "error")]
    named = [t for t in failing if _named_in(t, inst.problem_statement)]
    order = named + [t for t in failing if t not in named]
    for t in order[:FEEDBACK_TESTS]:
        parts.append(f"FAILED {t}\n{_short(run.errors.get(t, ''), FEEDBACK_CHARS)}")
    if len(order) > FEEDBACK_TESTS:
        parts.append(f"... and {len(order) - FEEDBACK_TESTS} more failing test(s)")
    if not parts:
        parts.append(result.reason)
    return "The patch applies, but visible tests fail:\n\n" + "\n\n".join(parts)


def _named_in(test_id: str, statement: str) -> bool:
    name = re.split(r"::|\.", test_id)[-1].split("[")[0]
    return bool(name) and name in statement


def _short(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n // 3] + "\n...\n" + text[-(2 * n) // 3:]
