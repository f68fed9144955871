"""The resolution rule: every FAIL_TO_PASS test passes and every PASS_TO_PASS test still
passes, in a run whose integrity checks hold and whose outcomes show no sign of tampering."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .results import PASSING, TestRun


@dataclass(frozen=True)
class Grade:
    resolved: bool
    reason: str
    f2p_passed: tuple[str, ...]
    f2p_failed: tuple[str, ...]
    p2p_passed: tuple[str, ...]
    p2p_failed: tuple[str, ...]
    integrity: tuple[str, ...] = ()
    tampering: tuple[str, ...] = ()  # the run's outcomes were forged: unresolved

    @property
    def score(self) -> float:
        """Share of FAIL_TO_PASS tests passing, 1.0 only when resolved (a partial-credit view)."""
        if self.resolved:
            return 1.0
        n = len(self.f2p_passed) + len(self.f2p_failed)
        return 0.0 if n == 0 else 0.99 * len(self.f2p_passed) / n


def status_of(test_id: str, outcomes: Mapping[str, str]) -> str:
    """Status of an expected id. Exact match first; else every parametrised variant
    (``id[...]``) must pass; else a reported id that begins with a truncated expected id."""
    if test_id in outcomes:
        return outcomes[test_id]
    variants = [s for k, s in outcomes.items() if k.startswith(test_id + "[")]
    if variants:
        return "passed" if all(s in PASSING for s in variants) else "failed"
    if len(test_id) >= 20:  # SWE-bench lists truncate ids with spaces
        longer = [s for k, s in outcomes.items() if k.startswith(test_id)]
        if len(longer) == 1:
            return longer[0]
    return "missing"


def grade(run: TestRun, fail_to_pass: Sequence[str], pass_to_pass: Sequence[str]) -> Grade:
    def split(ids: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        ok, bad = [], []
        for t in ids:
            (ok if status_of(t, run.outcomes) in PASSING else bad).append(t)
        return tuple(ok), tuple(bad)

    f_ok, f_bad = split(fail_to_pass)
    p_ok, p_bad = split(pass_to_pass)
    problems = tuple(run.integrity_problems())
    if run.tampering:
        return Grade(False, "tampering: " + "; ".join(run.tampering[:3]), f_ok, f_bad, p_ok, p_bad,
                     problems, run.tampering)
    if not fail_to_pass and not pass_to_pass:
        return Grade(False, "the instance lists no FAIL_TO_PASS or PASS_TO_PASS tests", f_ok, f_bad, p_ok, p_bad, problems)
    if problems:
        return Grade(False, "untrusted test run: " + "; ".join(problems), f_ok, f_bad, p_ok, p_bad, problems)
    if f_bad or p_bad:
        parts = []
        if f_bad:
            parts.append(f"{len(f_bad)}/{len(fail_to_pass)} FAIL_TO_PASS test(s) not passing")
        if p_bad:
            parts.append(f"{len(p_bad)}/{len(pass_to_pass)} PASS_TO_PASS test(s) broken")
        return Grade(False, "; ".join(parts), f_ok, f_bad, p_ok, p_bad)
    return Grade(True, "resolved", f_ok, f_bad, p_ok, p_bad)
