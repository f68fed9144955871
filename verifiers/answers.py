"""Answer formats: how gold-free selectors key and compare answers, per kind of task.

``numeric`` (GSM8K): the final number, keyed like the GSM8K oracle keys it.
``numeric_strict`` (GSM8K with ``--answer-format strict``): only ``#### x``, keyed as the strict
oracle keys it (the Large Language Monkeys rule).
``math`` (MATH): the last ``\\boxed{}``, keyed by its sympy form; keys that math-verify finds
equivalent are merged into one class.

Grouping a problem's answers never hangs on hostile ones (:class:`Grouping` says which answers
were left in classes of their own, and why).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Literal, Sequence

from sandbox.procpool import ProcessPool
from sandbox.registry import Registry

from .extract import extract_gsm8k_answer, extract_math_answer, number_key, parse_number, strict_gsm8k_answer

UngroupedWhy = Literal["", "unreadable", "ungrouped"]


@dataclass(frozen=True)
class Grouping:
    """A problem's answers in classes. Per text: ``classes`` its class representative (None: no
    answer) and ``status`` why it sits in a class of its own without having been compared:
    ``"unreadable"`` (its key could not be computed in time: keyed by its own text, never
    compared), ``"ungrouped"`` (the problem's grouping time cap ran out, or every comparison that
    could have merged it was undecided), ``""`` (grouped normally)."""

    classes: tuple[str | None, ...]
    status: tuple[UngroupedWhy, ...]


class AnswerFormat(ABC):
    """How a selector reads the answer of a response and which answers are the same. Selectors
    call :meth:`group`; by default it keys every text and maps keys to classes with
    :meth:`classes` (formats whose keys are final need only :meth:`keys`)."""

    @abstractmethod
    def keys(self, texts: Sequence[str]) -> list[str | None]:
        """The canonical answer of each response (the key votes count), in order; None for a
        response with no answer. Never raises for a bad response (hostile text included)."""

    def classes(self, keys: Sequence[str | None]) -> dict[str, str]:
        """Map every key to its class representative (the most frequent equivalent key)."""
        return {k: k for k in keys if k is not None}

    def group(self, texts: Sequence[str]) -> Grouping:
        keys = self.keys(texts)
        rep = self.classes(keys)
        return Grouping(tuple(rep[k] if k is not None else None for k in keys), ("",) * len(keys))

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


class StrictNumericAnswer(AnswerFormat):
    def keys(self, texts: Sequence[str]) -> list[str | None]:
        return [(strict_gsm8k_answer(t) or None) if t else None for t in texts]


class MathAnswer(AnswerFormat):
    """Keys via sympy in a worker pool; classes merged by math-verify against the top keys.

    Pairwise checks grow with the square of distinct answers, so each key is compared only with
    the ``max_reps`` most frequent class representatives (the answers that can win a vote).
    Hostile answers cannot make that a hang: an answer whose key cannot be computed in time is
    never compared (it would be parsed again for every pair), and ``group_budget`` caps the
    seconds one problem's grouping may take; what is left then keeps classes of its own.
    """

    def __init__(self, timeout: float = 10.0, workers: int | None = None, max_reps: int = 32,
                 group_budget: float = 60.0) -> None:
        if group_budget <= 0:
            raise ValueError("group_budget must be > 0 seconds")
        self.max_reps = max_reps
        self.group_budget = group_budget
        self._key_pool = ProcessPool("verifiers.math_check:canonical_key", workers, timeout)
        self._eq_pool = ProcessPool("verifiers.math_check:equivalent", workers, timeout)

    def _keys(self, texts: Sequence[str], deadline: float) -> tuple[list[str | None], dict[str, str], set[str]]:
        """Per text its key (None: no answer); per key an answer as written (what comparisons
        parse: a key is sympy's spelling, not LaTeX); and the keys that are only raw text
        (unreadable)."""
        raws = [extract_math_answer(t) if t else None for t in texts]
        uniq = sorted({r for r in raws if r is not None})
        res = dict(zip(uniq, self._key_pool.map([(r,) for r in uniq], deadline=deadline))) if uniq else {}
        # an answer whose key could not be computed keeps its own text as key: still votable
        key_of = {r: res[r].value if res[r].ok else r.strip() for r in uniq}
        written: dict[str, str] = {}
        for r in uniq:
            written.setdefault(key_of[r], r)
        unreadable = {key_of[r] for r in uniq if not res[r].ok} - {key_of[r] for r in uniq if res[r].ok}
        return [None if r is None else key_of[r] for r in raws], written, unreadable

    def keys(self, texts: Sequence[str]) -> list[str | None]:
        return self._keys(texts, time.monotonic() + self.group_budget)[0]

    def _classes(self, keys: Sequence[str | None], written: dict[str, str], skip: set[str],
                 deadline: float) -> tuple[dict[str, str], set[str]]:
        counts = Counter(k for k in keys if k is not None)
        reps: list[str] = []
        rep_of: dict[str, str] = {}
        ungrouped: set[str] = set()
        for k, _ in counts.most_common():
            rep_of[k] = k
            if k in skip:  # unreadable: never compared, never a representative
                continue
            cands = reps[: self.max_reps]
            if not cands:
                reps.append(k)
                continue
            if time.monotonic() >= deadline:
                ungrouped.add(k)
                reps.append(k)
                continue
            matches = self._eq_pool.map([(written[r], written[k]) for r in cands], deadline=deadline)
            hit = next((r for r, m in zip(cands, matches) if m.ok and m.value), None)
            if hit is not None:
                rep_of[k] = hit
                continue
            if any(not m.ok or m.value is None for m in matches):
                ungrouped.add(k)  # a comparison that could have merged it was undecided
            reps.append(k)
        return rep_of, ungrouped

    def group(self, texts: Sequence[str]) -> Grouping:
        deadline = time.monotonic() + self.group_budget
        keys, written, unreadable = self._keys(texts, deadline)
        rep_of, ungrouped = self._classes(keys, written, unreadable, deadline)
        status: list[UngroupedWhy] = []
        for k in keys:
            status.append("ungrouped" if k in ungrouped else "unreadable" if k in unreadable else "")
        return Grouping(tuple(rep_of[k] if k is not None else None for k in keys), tuple(status))

    def close(self) -> None:
        self._key_pool.close()
        self._eq_pool.close()


ANSWER_FORMATS: Registry[type[AnswerFormat]] = Registry(
    "answer format",
    "fireassay.answer_formats",
    {"numeric": "verifiers.answers:NumericAnswer", "numeric_strict": "verifiers.answers:StrictNumericAnswer",
     "math": "verifiers.answers:MathAnswer"},
)
