"""MATH oracle: last ``\\boxed{}`` compared with the gold answer by math-verify (sympy fallback).

Checks run in a pool of worker processes with a hard per-check timeout and a memory cap; a check
that times out or crashes, and an answer that neither math-verify nor sympy can decide (parsing
timed out, too deep to parse right, unreadable), gives ``passed=None`` with the reason, never
``False``. Candidates that share an extracted answer are checked once.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

from sandbox.procpool import ProcessPool

from .base import Verifier
from .extract import extract_math_answer, last_boxed
from .types import Candidate, Problem, Verdict


def math_gold(reference: Any) -> str:
    """Gold for MATH: a bare answer, or a dict with ``answer``, or a solution with ``\\boxed{}``."""
    if isinstance(reference, dict):
        reference = reference.get("answer") or last_boxed(str(reference.get("solution", ""))) or ""
    text = str(reference)
    return last_boxed(text) or text.strip() if "\\boxed" in text else text.strip()


class MathOracle(Verifier):
    name: ClassVar[str] = "math"
    uses_reference: ClassVar[bool] = True

    def __init__(self, timeout: float = 10.0, workers: int | None = None, memory_mb: int = 2048,
                 pool_factory: Callable[[str, float, int], Any] | None = None) -> None:
        """``pool_factory(fn_path, timeout, memory_mb)``: a pool with ``map``/``close`` like
        :class:`ProcessPool` to check in instead (``--cluster``: the nodes' process pools)."""
        self.timeout = timeout
        self.workers = workers
        self.memory_mb = memory_mb
        self.pool_factory = pool_factory
        self._pool: Any = None

    @property
    def pool(self) -> Any:
        if self._pool is None:
            if self.pool_factory is not None:
                self._pool = self.pool_factory("verifiers.math_check:check", self.timeout, self.memory_mb)
            else:
                self._pool = ProcessPool("verifiers.math_check:check", self.workers, self.timeout, self.memory_mb)
        return self._pool

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        return self.verify_many([(problem, candidates)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]) -> list[list[Verdict]]:
        jobs: dict[tuple[str, str], int] = {}  # (gold, answer) -> job index: each pair checked once
        plan: list[list[tuple[str | None, int | None]]] = []
        for problem, cands in items:
            gold = math_gold(problem.reference)
            row = []
            for c in cands:
                ans = extract_math_answer(c.text) if c.text else None
                if ans is None:
                    row.append((None, None))
                    continue
                row.append((ans, jobs.setdefault((gold, ans), len(jobs))))
            plan.append(row)
        results = self.pool.map(list(jobs)) if jobs else []
        out: list[list[Verdict]] = []
        for row in plan:
            verdicts = []
            for ans, j in row:
                if j is None:
                    verdicts.append(Verdict(0.0, False, None, "No final answer in \\boxed{} found.", {"extracted": None}))
                    continue
                r = results[j]
                logs = {"checker_log": list(r.logs)} if r.logs else {}  # math-verify's, shortened
                if not r.ok:
                    verdicts.append(Verdict.unjudged(f"checker failed: {r.error}", extracted=ans, **logs))
                    continue
                key, ok, method = r.value
                if ok is None:
                    verdicts.append(Verdict.unjudged(f"undecided: {method}", extracted=ans, **logs))
                    continue
                verdicts.append(Verdict(1.0 if ok else 0.0, ok, key, "", {"extracted": ans, "method": method, **logs}))
            out.append(verdicts)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
