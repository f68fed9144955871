"""Answer formats: how gold-free selectors key and compare answers, per kind of task.

``numeric`` (GSM8K): the final number, keyed like the GSM8K oracle keys it.
``math`` (MATH): the last ``\\boxed{}``, keyed by its sympy form; keys that math-verify finds
equivalent are merged into one class.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from typing import Sequence

from sandbox.procpool import ProcessPool
from sandbox.registry import Registry

from .extract import extract_gsm8k_answer, extract_math_answer, number_key, parse_number


class AnswerFormat(ABC):
    @abstractmethod
    def keys(self, texts: Sequence[str]) -> list[str | None]: ...

    def classes(self, keys: Sequence[str | None]) -> dict[str, str]:
        """Map every key to its class representative (the most frequent equivalent key)."""
        return {k: k for k in keys if k is not None}

    def close(self) -> None:  # noqa: B027 - optional hook: a format holding a pool overrides it
        """Release what the format holds (a worker pool). Safe to call twice."""


class NumericAnswer(AnswerFormat):
    def keys(self, texts: Sequence[str]) -> list[str | None]:
        out: list[str | None] = []
        for t in texts:
            raw = extract_gsm8k_answer(t) if t else None
            v = parse_number(raw) if raw is not None else None
            out.append(number_key(v) if v is not None else None)
        return out


class MathAnswer(AnswerFormat):
    """Keys via sympy in a worker pool; classes merged by math-verify against the top keys.

    Pairwise checks grow with the square of distinct answers, so each key is compared only with
    the ``max_reps`` most frequent class representatives (the answers that can win a vote).
    """

    def __init__(self, timeout: float = 10.0, workers: int | None = None, max_reps: int = 32) -> None:
        self.max_reps = max_reps
        self._key_pool = ProcessPool("verifiers.math_check:canonical_key", workers, timeout)
        self._eq_pool = ProcessPool("verifiers.math_check:equivalent", workers, timeout)

    def keys(self, texts: Sequence[str]) -> list[str | None]:
        raws = [extract_math_answer(t) if t else None for t in texts]
        uniq = sorted({r for r in raws if r is not None})
        res = dict(zip(uniq, self._key_pool.map([(r,) for r in uniq]))) if uniq else {}
        # a key that could not be computed (timeout) falls back to the raw text: still votable
        return [None if r is None else (res[r].value if res[r].ok else r.strip()) for r in raws]

    def classes(self, keys: Sequence[str | None]) -> dict[str, str]:
        counts = Counter(k for k in keys if k is not None)
        order = [k for k, _ in counts.most_common()]
        reps: list[str] = []
        rep_of: dict[str, str] = {}
        for k in order:
            cands = reps[: self.max_reps]
            matches = self._eq_pool.map([(r, k) for r in cands]) if cands else []
            hit = next((r for r, m in zip(cands, matches) if m.ok and m.value), None)
            if hit is None:
                reps.append(k)
                rep_of[k] = k
            else:
                rep_of[k] = hit
        return rep_of

    def close(self) -> None:
        self._key_pool.close()
        self._eq_pool.close()


ANSWER_FORMATS: Registry[type[AnswerFormat]] = Registry(
    "answer format",
    "fireassay.answer_formats",
    {"numeric": "verifiers.answers:NumericAnswer", "math": "verifiers.answers:MathAnswer"},
)
