"""Metrics over a run's verdicts: the input structure, unbiased pass@k, coverage@k, effective
answers, unjudged counts and the bootstrap over problems.

Selection accuracy@k lives in ``loop.analysis.selection_at_k``, the power-law fit in
``loop.analysis.powerlaw``; the report (``loop.report``) puts them together.

Per-problem candidate counts may differ. Each problem is judged on its own candidates (its own n):
the k grid of a run goes up to the smallest count, ``n = min`` over problems, so that every
problem has an unbiased estimate at every reported k.

Unjudged candidates (oracle ``passed is None``) count as not correct in every metric; they are
counted and reported (``unjudged_counts``), never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping, Sequence, get_args

import numpy as np

from verifiers.base import SubsetRule

RULES: tuple[str, ...] = get_args(SubsetRule)  # how the report re-selects inside a k-subset


class MetricsError(ValueError):
    """Input the metrics cannot work with; the message names the run/problem and the fix."""


@dataclass(frozen=True)
class SelectorData:
    """One selector's stored output for a run, as the report re-selects inside k-subsets.

    ``rule`` is the selector's ``subset_rule``:
      - ``"argmax"``: pick the highest ``scores`` value (nan ranks lowest); ``classes`` unused.
      - ``"vote"``: pick the largest answer class (``classes``); ``scores`` unused.
      - ``"weighted_vote"``: pick the class with the largest sum of ``scores``. ``scores`` must be
        the per-candidate WEIGHT (``Verdict.details["weight"]``: the score after the selector's
        transform), not the selector's class-level verdict score. nan weights count as 0; negative
        weights are summed as they are.
    ``classes``: per problem, int64 answer-class id per candidate, -1 = no answer.
    ``scores``: per problem, float per candidate (nan = unjudged / no score).
    ``not_grouped``: candidates a vote left in classes of their own without comparing them (the
    selector's ``details["grouping"]``: ``unreadable``, ``ungrouped``) -> count, and
    ``not_grouped_problems``: how many problems had any.
    """

    rule: str
    classes: list[np.ndarray]
    scores: list[np.ndarray]
    not_grouped: Mapping[str, int] = field(default_factory=dict)
    not_grouped_problems: int = 0
    transform: str | None = None  # weighted_vote: how the selector turned scores into weights


@dataclass(frozen=True)
class RunData:
    """Everything the report needs from one run (the run store fills it)."""

    name: str
    task: str
    problem_ids: list[str]
    correct: list[np.ndarray]  # per problem: bool per candidate (oracle passed is True)
    unjudged: list[np.ndarray]  # per problem: bool (oracle passed is None)
    answers: list[np.ndarray]  # per problem: int64 oracle-canonical answer class, -1 none
    selectors: dict[str, SelectorData] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # sampler, model, feedback, tokens, ...
    # compute actually spent, per problem, aligned with ``correct`` (None when not recorded):
    tokens: list[np.ndarray] | None = None  # generated tokens per trajectory, all turns
    calls: list[np.ndarray] | None = None  # model calls (turns, FIRE's own one-token requests) per trajectory
    per_turn: list[dict[str, Any]] | None = None  # [{turn, candidates, passed, pass_rate, solved_by_turn}]
    # per problem: model calls of one generated token each that all its trajectories share (FIRE's
    # first-token request at turn 0: one per prompt, whatever n), aligned with ``correct``
    shared_calls: np.ndarray | None = None

    @property
    def sizes(self) -> np.ndarray:
        """Candidates per problem."""
        return np.fromiter((len(c) for c in self.correct), dtype=np.int64, count=len(self.correct))

    def validate(self) -> None:
        """Raise ``MetricsError`` naming the first inconsistency."""
        p = len(self.problem_ids)
        if p == 0:
            raise MetricsError(f"run {self.name!r} has no problems; verify some samples first")
        for label, seq in (("correct", self.correct), ("unjudged", self.unjudged), ("answers", self.answers)):
            if len(seq) != p:
                raise MetricsError(f"run {self.name!r}: {label} has {len(seq)} entries for {p} problems")
        for i, pid in enumerate(self.problem_ids):
            n = len(self.correct[i])
            if n == 0:
                raise MetricsError(
                    f"run {self.name!r}: problem {pid!r} has no candidates; "
                    "finish the run (--resume) or drop the problem before reporting"
                )
            if len(self.unjudged[i]) != n or len(self.answers[i]) != n:
                raise MetricsError(f"run {self.name!r}: problem {pid!r} has mismatched per-candidate arrays")
        for sname, sel in self.selectors.items():
            if sel.rule not in RULES:
                raise MetricsError(
                    f"run {self.name!r}: selector {sname!r} has rule {sel.rule!r}; expected one of {', '.join(RULES)}"
                )
            need_classes = sel.rule != "argmax"
            need_scores = sel.rule != "vote"
            if need_classes and len(sel.classes) != p:
                raise MetricsError(
                    f"run {self.name!r}: selector {sname!r} has classes for {len(sel.classes)} of {p} problems"
                )
            if need_scores and len(sel.scores) != p:
                raise MetricsError(
                    f"run {self.name!r}: selector {sname!r} has scores for {len(sel.scores)} of {p} problems"
                )
            for i, pid in enumerate(self.problem_ids):
                n = len(self.correct[i])
                if (need_classes and len(sel.classes[i]) != n) or (need_scores and len(sel.scores[i]) != n):
                    raise MetricsError(
                        f"run {self.name!r}: selector {sname!r} judged a different number of candidates than "
                        f"the oracle on problem {pid!r}; re-run the selector on this run"
                    )


def class_ids(values: Sequence[Hashable | None]) -> np.ndarray:
    """Answer keys (``Verdict.answer``) of one problem -> int64 class ids for ``RunData.answers`` and
    ``SelectorData.classes``: equal keys share an id (numbered by first appearance), None -> -1."""
    ids: dict[Hashable, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        out[i] = -1 if v is None else ids.setdefault(v, len(ids))
    return out


# --------------------------------------------------------------------------- pass@k


def log_comb_ratio(n: int, k: int, c: np.ndarray) -> np.ndarray:
    """``log(C(n-c, k) / C(n, k))`` for an int array ``c`` (fixed n, k); -inf where ``n - c < k``.

    Uses ``C(n-c,k)/C(n,k) = prod_{j<c} (1 - k/(n-j))``: one cumulative sum of ``log1p`` terms up
    to ``max(c)`` serves every c. Each term is exact to rounding and all have the same sign, so
    the result has a small *relative* error (about c * 1e-16) even for n = 100,000, and
    ``-expm1`` of it keeps tiny pass@k values accurate.
    """
    c = np.asarray(c, dtype=np.int64)
    out = np.full(c.shape, -np.inf)
    ok = c <= n - k
    if not ok.any():
        return out
    cmax = int(c[ok].max())
    j = np.arange(cmax, dtype=np.float64)
    table = np.empty(cmax + 1)
    table[0] = 0.0
    if cmax:
        np.cumsum(np.log1p(-k / (n - j)), out=table[1:])
    out[ok] = table[c[ok]]
    return out


def pass_at_k(n: Any, c: Any, k: Any) -> Any:
    """Unbiased pass@k ``1 - C(n-c, k) / C(n, k)`` (Chen et al. 2021), vectorized.

    ``n`` candidates of which ``c`` are correct; ``k`` drawn without replacement. Arguments
    broadcast against each other; returns a float for scalar input, else an array.
    Requires ``0 <= c <= n`` and ``0 <= k <= n``.
    """
    scalar = np.ndim(n) == 0 and np.ndim(c) == 0 and np.ndim(k) == 0
    n_a, c_a, k_a = np.broadcast_arrays(
        np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64), np.asarray(k, dtype=np.int64)
    )
    if (c_a < 0).any() or (c_a > n_a).any():
        raise MetricsError("pass_at_k needs 0 <= c <= n (correct candidates cannot exceed candidates)")
    if (k_a < 0).any() or (k_a > n_a).any():
        raise MetricsError("pass_at_k needs 0 <= k <= n (cannot draw more candidates than there are)")
    out = np.empty(n_a.shape, dtype=np.float64)
    flat_n, flat_k, flat_c = n_a.ravel(), k_a.ravel(), c_a.ravel()
    flat_out = out.reshape(-1)
    # group entries by (n, k): one cumulative table per group serves all of its c values
    order = np.lexsort((flat_k, flat_n))
    sn, sk = flat_n[order], flat_k[order]
    cuts = np.flatnonzero((np.diff(sn) != 0) | (np.diff(sk) != 0)) + 1
    for idx in np.split(order, cuts) if order.size else []:
        nn, kk = int(flat_n[idx[0]]), int(flat_k[idx[0]])
        flat_out[idx] = 0.0 - np.expm1(log_comb_ratio(nn, kk, flat_c[idx]))  # 0.0 - : no -0.0
    return float(out) if scalar else out


# --------------------------------------------------------------------------- coverage


def k_grid(n: int) -> np.ndarray:
    """Every power of two up to ``n``, and ``n`` itself."""
    if n < 1:
        raise MetricsError("k grid needs at least one candidate per problem")
    ks = [1 << i for i in range(int(n).bit_length()) if (1 << i) <= n]
    if ks[-1] != n:
        ks.append(int(n))
    return np.asarray(ks, dtype=np.int64)


def fit_grid(n: int, points: int = 40) -> np.ndarray:
    """About ``points`` integers spaced evenly in log k over [1, n] (for the power-law fit)."""
    return np.unique(np.round(np.geomspace(1, n, num=max(2, points))).astype(np.int64))


def coverage_per_problem(run: RunData, ks: np.ndarray) -> np.ndarray:
    """(problems, len(ks)) pass@k of each problem at each k (each with its own n)."""
    n = run.sizes
    c = np.fromiter((int(np.count_nonzero(x)) for x in run.correct), dtype=np.int64, count=len(run.correct))
    ks = np.asarray(ks, dtype=np.int64)
    return pass_at_k(n[:, None], c[:, None], ks[None, :])


VOTE_RULES = ("vote", "weighted_vote")


def answer_classes(run: RunData) -> tuple[list[np.ndarray], str]:
    """The answer classes #EA counts, and where they come from: the vote's classes (a stored
    ``majority``, else the first vote or weighted-vote selector), so that #EA merges exactly
    what the vote merges (MATH: ``0.5`` and ``\\frac12`` are one answer); without a vote
    stored, the oracle's per-candidate keys (``"oracle"``)."""
    votes = [(name, sel) for name, sel in run.selectors.items() if sel.rule in VOTE_RULES]
    votes.sort(key=lambda item: (item[0] != "majority", item[1].rule != "vote"))
    if votes and len(votes[0][1].classes) == len(run.answers):
        return votes[0][1].classes, votes[0][0]
    return run.answers, "oracle"


def effective_answers(run: RunData) -> float:
    """#EA: distinct answers per problem among all its candidates (the vote's classes, see
    :func:`answer_classes`; no answer ignored), mean over problems."""
    classes, _ = answer_classes(run)
    counts = [np.unique(a[a >= 0]).size for a in classes]
    return float(np.mean(counts)) if counts else 0.0


def effective_answers_at_k(run: RunData, ks: np.ndarray) -> np.ndarray:
    """#EA@k per problem (rows) and k (columns): the expected number of distinct answers in a
    uniform random k-subset of the problem's candidates, exactly: a class with ``m`` of the
    ``n`` candidates is in the subset with probability ``1 - C(n-m, k)/C(n, k)`` (pass@k with
    c = m), and the expectation is the sum over classes. At k = n it is the distinct count."""
    classes, _ = answer_classes(run)
    ks = np.asarray(ks, dtype=np.int64)
    out = np.zeros((len(classes), len(ks)))
    for i, a in enumerate(classes):
        sizes = np.unique(a[a >= 0], return_counts=True)[1]
        if sizes.size:
            out[i] = pass_at_k(a.size, sizes[:, None], ks[None, :]).sum(axis=0)
    return out


@dataclass(frozen=True)
class UnjudgedCounts:
    candidates: int  # candidates the oracle could not judge (counted as not correct)
    problems: int  # problems with at least one such candidate
    share: float  # candidates / all candidates

    def to_dict(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "problems": self.problems, "share": self.share}


def unjudged_counts(run: RunData) -> UnjudgedCounts:
    per = np.fromiter(
        (int(np.count_nonzero(u)) for u in run.unjudged), dtype=np.int64, count=len(run.unjudged)
    )
    total = int(run.sizes.sum())
    return UnjudgedCounts(
        int(per.sum()), int(np.count_nonzero(per)), float(per.sum() / total) if total else 0.0
    )


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi}


def bootstrap_weights(problems: int, resamples: int, seed: int | Sequence[int]) -> np.ndarray:
    """(resamples, problems) multiplicities of a problem-level bootstrap, each row summing to
    ``problems``. Sharing one matrix across metrics of a run keeps their intervals paired."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(problems, np.full(problems, 1.0 / problems), size=resamples).astype(np.float64)


def bootstrap_intervals(
    per_problem: np.ndarray, weights: np.ndarray, confidence: float = 0.95
) -> list[Interval]:
    """Mean over problems of each column of ``per_problem`` (problems, K) with a percentile
    bootstrap interval over problems."""
    per_problem = np.asarray(per_problem, dtype=np.float64)
    mean = per_problem.mean(axis=0)
    boot = weights @ per_problem / per_problem.shape[0]  # (resamples, K)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return [Interval(float(m), float(min(a, m)), float(max(b, m))) for m, a, b in zip(mean, lo, hi)]


# --------------------------------------------------------------------------- compute-matched


def compute_matched(run: RunData, ks: np.ndarray) -> dict[str, Any] | None:
    """Coverage against compute actually spent, so runs of different cost compare fairly.

    k trajectories cost k × (mean generated tokens per trajectory) and k × (mean model calls per
    trajectory), averaged over problems, plus what a problem's trajectories share whatever k is
    (FIRE's one-token first-token request at turn 0: one call and one token per problem): a
    2-turn run's k=8 and a 1-turn run's k=16 sit at about the same x when their turns cost the
    same. Also passes the per-turn pass rates through. Returns None when the run recorded no
    compute.
    """
    if run.tokens is None and run.calls is None and run.per_turn is None:
        return None
    cov = coverage_per_problem(run, ks).mean(axis=0)
    out: dict[str, Any] = {"k": [int(k) for k in ks], "coverage": [float(c) for c in cov]}
    shared = float(np.mean(run.shared_calls)) if run.shared_calls is not None and len(run.shared_calls) else 0.0
    out["shared_calls_per_problem"] = shared
    for key, arrays in (("tokens", run.tokens), ("calls", run.calls)):
        if arrays:
            per = float(np.mean([a.mean() for a in arrays if len(a)]))
            out[f"{key}_per_trajectory"] = per
            out[key] = [float(k) * per + shared for k in ks]  # a shared request: one call, one token
    if run.per_turn is not None:
        out["per_turn"] = run.per_turn
    return out
