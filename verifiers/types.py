"""The values that flow through fireassay: Problem -> Candidate -> Verdict (DESIGN.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

Message = Mapping[str, str]  # {"role": ..., "content": ...}


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: tuple[Message, ...]
    reference: Any = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    problem_id: str
    sample_index: int
    text: str
    turn: int = 0
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] | None = None
    sampler: Mapping[str, Any] = field(default_factory=dict)  # {"name": ..., **params}
    engine: str = ""
    seed: int | None = None
    score: float | None = None  # a score that came with the sample (e.g. a reward column)
    meta: Mapping[str, Any] = field(default_factory=dict)  # first_token, tokens, confidence, ...

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.problem_id, self.sample_index, self.turn)


@dataclass(frozen=True)
class Verdict:
    score: float
    passed: bool | None  # None: could not judge (checker error/timeout), never silently False
    answer: str | None = None  # canonical key; equivalent answers share it
    feedback: str = ""  # what the model may see next turn
    details: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def unjudged(reason: str, **details: Any) -> "Verdict":
        return Verdict(score=0.0, passed=None, answer=None, feedback="", details={"error": reason, **details})
