"""GSM8K oracle: the final number, compared with the gold after ``#### ``.

Two answer formats (``answer_format=``; ``fireassay run|verify --answer-format``):

* ``flexible`` (default): the last ``#### x``, "The answer is x" or ``\\boxed{x}``, parsed as a
  whole (fractions, ``\\frac``, thousands separators, units, ``$``, ``%``), the last number only
  where that does not parse (:func:`verifiers.extract.extract_gsm8k_answer`); compared as numbers.
* ``strict``: only ``#### x`` as the Large Language Monkeys code reads it (``ANS_RE_GSM8k``:
  the first ``#### `` then ``-?[$0-9.,]+``, commas, ``$`` and a trailing period dropped),
  compared with the gold read the same way as a string, so coverage at large k compares with
  the paper's numbers.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

from .base import Verifier
from .extract import extract_gsm8k_answer, number_key, parse_number, strict_gsm8k_answer
from .types import Candidate, Problem, Verdict

ANSWER_FORMATS = ("flexible", "strict")


def gold_answer(reference: Any) -> str:
    """Gold for GSM8K: a bare answer, or a solution text whose answer follows ``#### ``."""
    text = str(reference)
    return text.split("####")[-1].strip() if "####" in text else text.strip()


def strict_gold(reference: Any) -> str | None:
    """The gold under the strict rule: the reference's ``#### x`` (a bare answer as ``#### x``)."""
    text = str(reference)
    return strict_gsm8k_answer(text if "####" in text else "#### " + text.strip())


class GSM8KOracle(Verifier):
    name: ClassVar[str] = "gsm8k"
    uses_reference: ClassVar[bool] = True

    def __init__(self, rel_tol: float = 1e-6, answer_format: str = "flexible") -> None:
        if answer_format not in ANSWER_FORMATS:
            raise ValueError(f"gsm8k answer_format must be strict or flexible, got {answer_format!r}")
        self.rel_tol = rel_tol
        self.answer_format = answer_format

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        if self.answer_format == "strict":
            return self._strict(problem, candidates)
        gold_text = gold_answer(problem.reference)
        gold = parse_number(gold_text)
        if gold is None:
            return [Verdict.unjudged(f"gold answer {gold_text!r} is not a number") for _ in candidates]
        out = []
        for c in candidates:
            raw = extract_gsm8k_answer(c.text) if c.text else None
            value = parse_number(raw) if raw is not None else None
            details = {"extracted": raw, "answer_format": self.answer_format}
            if value is None:
                fb = "No final numeric answer found." if raw is None else f"Could not read {raw[:80]!r} as a number."
                out.append(Verdict(0.0, False, None, fb, details))
                continue
            ok = value == gold or abs(float(value) - float(gold)) <= self.rel_tol * max(1.0, abs(float(gold)))
            out.append(Verdict(1.0 if ok else 0.0, ok, number_key(value), "", details))
        return out

    def _strict(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        gold = strict_gold(problem.reference)
        if not gold:
            return [Verdict.unjudged(f"gold answer {gold_answer(problem.reference)!r} has no '#### x' the strict "
                                     "rule reads") for _ in candidates]
        out = []
        for c in candidates:
            got = strict_gsm8k_answer(c.text) if c.text else None
            details = {"extracted": got, "answer_format": self.answer_format}
            if not got:
                out.append(Verdict(0.0, False, None, "No final answer in the form '#### N' found.", details))
                continue
            ok = got == gold
            out.append(Verdict(1.0 if ok else 0.0, ok, got, "", details))
        return out
