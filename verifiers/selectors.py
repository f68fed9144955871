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
from typing import Any, ClassVar, Mapping, Sequence

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
    needs_answer_format: ClassVar[bool] = True

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


TRANSFORMS = ("raw", "shift", "sigmoid", "softmax")


def vote_weights(scores: Sequence[float | None], transform: str = "raw") -> list[float]:
    """Per-candidate vote weights of one problem's scores (None/nan: missing, weight 0).

    ``raw``: the score itself (the Large Language Monkeys paper's reward-weighted vote: the sum
    of the reward model's scores per answer; right for scores that are already "how good", e.g.
    probabilities). ``sigmoid``: ``1 / (1 + e^-s)``, each score read as a logit (a reward
    model's raw output, a Bradley-Terry logit) turned into P(good), so negative logits still
    vote a little. ``softmax``: ``e^s`` normalized over the problem's scored candidates (the
    relative preference among them; dominated by the best few). ``shift``: ``s - min`` when
    some score is negative (the rule before the option existed; it adds the same amount to every
    vote, which pulls the result towards plain majority)."""
    vals = [float(s) if s is not None and math.isfinite(float(s)) else None for s in scores]
    present = [v for v in vals if v is not None]
    if transform == "raw":
        return [v if v is not None else 0.0 for v in vals]
    if transform == "shift":
        low = min(present) if present and min(present) < 0 else 0.0
        return [v - low if v is not None else 0.0 for v in vals]
    if transform == "sigmoid":
        return [_sigmoid(v) if v is not None else 0.0 for v in vals]
    if transform == "softmax":
        top = max(present, default=0.0)
        exps = [math.exp(v - top) if v is not None else 0.0 for v in vals]
        total = sum(exps) or 1.0
        return [e / total for e in exps]
    raise ValueError(f"weighted_majority transform {transform!r} is unknown; use one of {', '.join(TRANSFORMS)}")


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class WeightedMajority(_VoteBase):
    """Sum of the candidates' vote weights per answer class (reward-weighted voting); the pick
    is the class with the largest sum.

    Scores are ``Candidate.score`` (a samples-file column, or a stored selector's scores that
    the pipeline copies in with ``weights=``); missing ones weigh 0. ``transform`` turns scores
    into weights (:func:`vote_weights`): ``raw`` (default, the Monkeys paper's sum of reward
    scores), ``sigmoid`` for raw logits, ``softmax``, ``shift`` (the old rule). Each verdict
    records its weight and the transform; the report re-votes inside k-subsets with exactly
    these weights.
    """

    name: ClassVar[str] = "weighted_majority"
    subset_rule: ClassVar[SubsetRule] = "weighted_vote"

    def __init__(self, answer_format: str | AnswerFormat | None = None, seed: int = 0,
                 transform: str = "raw") -> None:
        self.check_values({"transform": transform})
        super().__init__(answer_format, seed)
        self.transform = transform

    @classmethod
    def check_values(cls, options: Mapping[str, Any]) -> None:
        transform = options.get("transform", "raw")
        if transform not in TRANSFORMS:
            raise ValueError(f"weighted_majority transform {transform!r} is unknown; use one of "
                             f"{', '.join(TRANSFORMS)} (sigmoid or softmax for a reward model's raw logits)")

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        classes, grouping = self._classes(candidates)
        weights = vote_weights([c.score for c in candidates], self.transform)
        total_w: dict[str, float] = defaultdict(float)
        for cls, w in zip(classes, weights):
            if cls is not None:
                total_w[cls] += w
        norm = sum(abs(w) for w in weights) or 1.0  # positive: the order of the classes is kept
        scores = [total_w[c] / norm if c is not None else 0.0 for c in classes]
        details = [{"weight": w, "transform": self.transform, **g} for w, g in zip(weights, grouping)]
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
