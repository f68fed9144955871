"""GSM8K oracle: the final number, normalized, compared numerically with the gold after ``#### ``."""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

from .base import Verifier
from .extract import extract_gsm8k_answer, number_key, parse_number
from .types import Candidate, Problem, Verdict


def gold_answer(reference: Any) -> str:
    """Gold for GSM8K: a bare answer, or a solution text whose answer follows ``#### ``."""
    text = str(reference)
    return text.split("####")[-1].strip() if "####" in text else text.strip()


class GSM8KOracle(Verifier):
    name: ClassVar[str] = "gsm8k"
    uses_reference: ClassVar[bool] = True

    def __init__(self, rel_tol: float = 1e-6) -> None:
        self.rel_tol = rel_tol

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        gold_text = gold_answer(problem.reference)
        gold = parse_number(gold_text)
        if gold is None:
            return [Verdict.unjudged(f"gold answer {gold_text!r} is not a number") for _ in candidates]
        out = []
        for c in candidates:
            raw = extract_gsm8k_answer(c.text) if c.text else None
            value = parse_number(raw) if raw is not None else None
            if value is None:
                fb = "No final numeric answer found." if raw is None else f"Could not read {raw!r} as a number."
                out.append(Verdict(0.0, False, None, fb, {"extracted": raw}))
                continue
            ok = value == gold or abs(float(value) - float(gold)) <= self.rel_tol * max(1.0, abs(float(gold)))
            out.append(Verdict(1.0 if ok else 0.0, ok, number_key(value), "", {"extracted": raw}))
        return out
