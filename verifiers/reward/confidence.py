"""``confidence``: the model's own confidence, recorded at sampling time (no model call here).

- ``source="cot"``: ``Candidate.meta["confidence"]``, the CoT-decoding answer confidence (mean
  top-1/top-2 probability gap over the answer span) that the ``cot-decoding`` sampler records.
- ``source="logprob"``: the mean of ``Candidate.logprobs`` (mean token log-probability; needs a
  sampler run with logprobs kept).
- ``source="auto"`` (default): per problem, ``cot`` when every candidate has it, else ``logprob``
  (one scale per problem, so the argmax compares like with like).

A candidate with neither gets nan (ranks last; the report counts it as unscored).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping, Sequence

from ..base import SubsetRule, Verifier
from ..selectors import selection_verdicts
from ..types import Candidate, Problem, Verdict

SOURCES = ("auto", "cot", "logprob")


def candidate_confidence(c: Candidate, source: str = "auto") -> tuple[float, str | None]:
    """(value, which source gave it) — (nan, None) when the candidate carries none."""
    if source in ("auto", "cot"):  # auto here: per candidate (the verifier decides per problem)
        v = c.meta.get("confidence") if c.meta else None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v), "cot"
        if source == "cot":
            return math.nan, None
    lps = [x for x in (c.logprobs or ()) if x is not None and math.isfinite(x)]
    if lps:
        return float(sum(lps) / len(lps)), "logprob"
    return math.nan, None


class Confidence(Verifier):
    name: ClassVar[str] = "confidence"
    uses_reference: ClassVar[bool] = False
    subset_rule: ClassVar[SubsetRule] = "argmax"

    def __init__(self, source: str = "auto", seed: int = 0) -> None:
        self.check_values({"source": source})
        self.source = source
        self.seed = seed

    @classmethod
    def check_values(cls, options: Mapping[str, Any]) -> None:
        source = options.get("source", "auto")
        if source not in SOURCES:
            raise ValueError(f"confidence source {source!r} is unknown; use one of {', '.join(SOURCES)}")

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        source = self.source
        if source == "auto":
            source = "cot" if all(candidate_confidence(c, "cot")[1] for c in candidates) else "logprob"
        vals = [candidate_confidence(c, source) for c in candidates]
        scores = [v for v, _ in vals]
        details = [{"weight": v, "source": s} for v, s in vals]
        return selection_verdicts(self.name, problem, scores, [None] * len(scores), details, self.seed)
