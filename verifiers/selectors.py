"""Gold-free selectors: majority vote, best-of-N, reward-weighted majority.

Each scores every candidate; selection = the highest score, ties broken at random with a seed
(``passed`` marks the one selected). Vote selectors put the candidate's class representative in
``Verdict.answer`` so that the report can recompute votes inside any k-subset; a candidate whose
answer was left in a class of its own without being compared (unreadable in time, or the
problem's grouping time cap ran out) says so in ``details["grouping"]``.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any, ClassVar, Sequence

from .answers import ANSWER_FORMATS, AnswerFormat
from .base import SubsetRule, Verifier
from .types import Candidate, Problem, Verdict


def pick(scores: Sequence[float], seed: int | str) -> int | None:
    """Index of the highest score (nan lowest); ties broken at random, reproducibly per seed.
    With every score nan, a random candidate (as the report does inside a subset)."""
    if not scores:
        return None
    valid = [(s, i) for i, s in enumerate(scores) if not math.isnan(s)]
    if not valid:
        return random.Random(str(seed)).randrange(len(scores))
    best = max(s for s, _ in valid)
    tied = [i for s, i in valid if s == best]
    return random.Random(str(seed)).choice(tied)


def selection_verdicts(name: str, problem: Problem, scores: list[float], answers: list[str | None],
                       details: list[dict[str, Any]], seed: int) -> list[Verdict]:
    """A selector's verdicts on one problem: each candidate's score, answer class and details,
    ``passed`` True for the one picked (the highest score, ties broken by ``pick`` with a seed
    of (seed, selector name, problem)). A candidate with no answer is never picked over one with
    an answer (as in the report)."""
    keyed = [s if a is not None else -math.inf for s, a in zip(scores, answers)] if any(a is not None for a in answers) else scores
    chosen = pick(keyed, f"{seed}:{name}:{problem.id}")
    return [
        Verdict(s, i == chosen, a, "", {**d, "selected": i == chosen})
        for i, (s, a, d) in enumerate(zip(scores, answers, details))
    ]


class _VoteBase(Verifier):
    uses_reference: ClassVar[bool] = False

    def __init__(self, answer_format: str | AnswerFormat | None = None, seed: int = 0) -> None:
        if answer_format is None:
            raise ValueError(f"{self.name} needs an answer format (numeric, math); this task defines none")
        self.format = ANSWER_FORMATS.create(answer_format) if isinstance(answer_format, str) else answer_format
        self.seed = seed

    def _classes(self, candidates: Sequence[Candidate]) -> tuple[list[str | None], list[dict[str, Any]]]:
        """Class representative per candidate, and the details that say which were not grouped."""
        g = self.format.group([c.text for c in candidates])
        return list(g.classes), [{"grouping": s} if s else {} for s in g.status]

    def close(self) -> None:
        self.format.close()


class MajorityVote(_VoteBase):
    """Self-consistency: score = share of all candidates in the candidate's answer class."""

    name: ClassVar[str] = "majority"
    subset_rule: ClassVar[SubsetRule] = "vote"

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        classes, grouping = self._classes(candidates)
        counts: dict[str, int] = defaultdict(int)
        for c in classes:
            if c is not None:
                counts[c] += 1
        n = max(1, len(candidates))
        scores = [counts[c] / n if c is not None else 0.0 for c in classes]
        details = [{"votes": counts[c] if c is not None else 0, "weight": 1.0, **g} for c, g in zip(classes, grouping)]
        return selection_verdicts(self.name, problem, scores, classes, details, self.seed)


class WeightedMajority(_VoteBase):
    """Sum of the candidates' scores per answer class (e.g. reward-weighted voting).

    Weights are ``Candidate.score`` (a samples-file column, or a stored selector's scores that the
    pipeline copies in). Missing weights count as 0. Scores below zero are shifted so that the
    lowest is 0, since a vote cannot be negative.
    """

    name: ClassVar[str] = "weighted_majority"
    subset_rule: ClassVar[SubsetRule] = "weighted_vote"

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        classes, grouping = self._classes(candidates)
        raw = [c.score if c.score is not None and not math.isnan(c.score) else None for c in candidates]
        present = [w for w in raw if w is not None]
        shift = -min(present) if present and min(present) < 0 else 0.0
        weights = [(w + shift) if w is not None else 0.0 for w in raw]
        total_w: dict[str, float] = defaultdict(float)
        for cls, w in zip(classes, weights):
            if cls is not None:
                total_w[cls] += w
        norm = sum(weights) or 1.0
        scores = [total_w[c] / norm if c is not None else 0.0 for c in classes]
        details = [{"weight": w, **g} for w, g in zip(weights, grouping)]
        return selection_verdicts(self.name, problem, scores, classes, details, self.seed)


class BestOfN(Verifier):
    """The candidate with the highest given score (``Candidate.score``); missing scores rank last."""

    name: ClassVar[str] = "best_of_n"
    uses_reference: ClassVar[bool] = False
    subset_rule: ClassVar[SubsetRule] = "argmax"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        scores = [float(c.score) if c.score is not None else math.nan for c in candidates]
        details = [{"weight": s} for s in scores]
        return selection_verdicts(self.name, problem, scores, [None] * len(scores), details, self.seed)
