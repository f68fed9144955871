"""Selection accuracy@k: how often a gold-free selector, given a random k-subset of a problem's
candidates, picks a correct one. Votes are recomputed inside each subset; scores are the stored
per-candidate scores (computed once on the full run, reused by every subset).

Semantics (shared by all rules and checked against brute force in tests/test_metrics.py):
- A k-subset is uniform among all k-subsets of the problem's candidates.
- ``argmax``: the candidate with the highest score; nan scores rank lowest (all-nan subsets pick
  uniformly among them). Computed EXACTLY (no sampling): sort best first; the candidate ranked r
  (0-based) is the best of a uniform k-subset with probability ``C(n-1-r, k-1) / C(n, k)``, and
  members of a group of equal scores share the group's mean correctness (uniform tie break).
- ``vote``: the answer class with the most members in the subset. ``weighted_vote``: the class
  with the largest sum of weights in the subset, the weights as the selector stored them (its
  transform applied once on the full set, so every subset sees the same per-candidate weights;
  nan -> 0; negative weights allowed). Sums equal within 1e-9 x the problem's total absolute
  weight are ties.
- Class -1 (no answer) never wins unless every candidate in the subset has no answer; then the
  pick is a uniformly random candidate of the subset and counts as whatever the oracle said about
  it (usually wrong).
- Ties break uniformly at random among the tied CANDIDATES (as ``verifiers.selectors.pick`` does
  on the full set); for a plain vote that is also uniform among tied classes.
- The outcome of a pick is the oracle's ``correct`` value of the picked candidate (unjudged
  counts as not correct).

Sampling (vote rules): each draw is a random permutation; its first k elements are a uniform
k-subset, so one permutation answers every k of the grid. For each position we get the running
vote (or weight sum) of that element's own class by a stable sort on class ids; the pick for
prefix k is the LAST position j < k whose running value reaches the running maximum: that is the
last-arriving member among the tied top classes, i.e. a uniformly random tied candidate. Problems
with few answer classes skip the sort: ``bincount`` gives every prefix's class counts and the
outcome is the expectation over the tied candidates (``_dense_vote``; same mean, less noise); a
weighted vote with negative weights always takes that path (its class sums are not monotone). The
permutations are shared by all problems with the same n; each problem relabels its candidates
by its own random permutation first, so every problem still sees uniformly random permutations
and problems' estimates stay (all but) independent. k = 1 and
k = n (the full set) are computed exactly. Draws per problem: ``SelectionConfig.draws_for``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .metrics import MetricsError, SelectorData, log_comb_ratio

_REL_TOL = 1e-9
_CHUNK = 1 << 22  # candidate positions processed at once by the sampled vote (memory bound)
# count classes densely instead of sorting when classes x k values <= factor x k_max (measured
# break-even at n = 10,000: about 1,000 classes for votes, 2,000 for weighted votes)
_DENSE_FACTOR = 1.5


@dataclass(frozen=True)
class SelectionConfig:
    """How many random permutations each problem gets (vote rules; argmax is exact):
    ``total_draws // problems`` clamped to [min_draws, max_draws], then lowered (not below
    min_draws) so that problems x draws x k_max stays under ``max_positions``.

    Draw noise of a mean over problems shrinks with the total number of draws (problems x draws),
    so a fixed total keeps it at about the same level for every run size: with 8192 it is at most
    0.55 points (sd, worst case p = 0.5 per problem), well inside the bootstrap interval, which
    covers it anyway since draw noise enters each problem's estimate. One permutation answers
    every k, so the time of a sampled selector is about problems x draws x k_max x 50-100 ns:
    500 problems x 10,000 samples -> 16 draws, a few seconds; ``max_positions`` bounds the
    time of very large runs (about 10 s per selector at the default).
    """

    total_draws: int = 8192
    min_draws: int = 16
    max_draws: int = 4096
    max_positions: int = 1 << 27

    def __post_init__(self) -> None:
        if (
            self.total_draws < 1
            or self.min_draws < 1
            or self.max_draws < self.min_draws
            or self.max_positions < 1
        ):
            raise MetricsError(
                "selection draws: need total_draws >= 1, max_positions >= 1 and 1 <= min_draws <= max_draws "
                f"(got total_draws={self.total_draws}, min_draws={self.min_draws}, "
                f"max_draws={self.max_draws}, max_positions={self.max_positions})"
            )

    def draws_for(self, problems: int, k_max: int = 1) -> int:
        problems, k_max = max(1, problems), max(1, k_max)
        draws = min(self.max_draws, max(self.min_draws, self.total_draws // problems))
        return int(min(draws, max(self.min_draws, self.max_positions // (problems * k_max))))


@dataclass(frozen=True, eq=False)
class SelectionResult:
    rule: str
    per_problem: np.ndarray  # (problems, len(ks)): expected accuracy of each problem at each k
    draws: int  # random permutations per problem; 0 = exact everywhere
    ties: int  # problems whose full-set pick is a tie (>= 2 classes, or >= 2 candidates for argmax)
    ties_mixed: int  # ... where the tied candidates disagree on correctness (the coin decides)
    no_basis: int  # problems with no answer class at all (vote) / no score at all (argmax)
    unscored: int  # candidates with a nan score (argmax / weighted_vote)


# --------------------------------------------------------------------------- helpers


def stable_seed(*parts: object) -> int:
    """A seed from names and numbers that does not change between processes."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


def _compact(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Class ids -> dense codes 0..C-1 (uint16 where possible: numpy radix-sorts those)."""
    classes = np.asarray(classes, dtype=np.int64)
    uniq, codes = np.unique(classes, return_inverse=True)
    dtype = np.uint16 if uniq.size <= np.iinfo(np.uint16).max else np.int32
    return codes.reshape(-1).astype(dtype), classes < 0, int(uniq.size)


def vote_weights(scores: np.ndarray) -> np.ndarray:
    """Per-candidate weights for ``weighted_vote``: the stored weights, nan (and inf) -> 0. The
    selector applied its transform (``weighted_majority:transform=``) when it stored them;
    nothing is shifted here, so a raw-score vote with negative scores is summed as it is."""
    s = np.asarray(scores, dtype=np.float64)
    return np.where(np.isfinite(s), s, 0.0)


def _tie_tol(weights: np.ndarray | None) -> float:
    return 0.0 if weights is None else _REL_TOL * max(1.0, float(np.abs(weights).sum()))


# --------------------------------------------------------------------------- exact pieces


def argmax_kernel(n: int, ks: np.ndarray) -> np.ndarray:
    """(len(ks), n) matrix: entry [j, r] = P(the candidate ranked r-th of n (0-based) is the best of a
    uniform ks[j]-subset) = C(n-1-r, k-1) / C(n, k). Shared by every problem with n candidates."""
    ks = np.asarray(ks, dtype=np.int64)
    r = np.arange(n, dtype=np.int64)
    out = np.empty((len(ks), n))
    for j, k in enumerate(ks):
        out[j] = (k / n) * np.exp(log_comb_ratio(n - 1, int(k) - 1, r))
    return out


def argmax_accuracy(
    scores: np.ndarray, correct: np.ndarray, ks: np.ndarray, kernel: np.ndarray | None = None
) -> np.ndarray:
    """Exact expected accuracy of picking the highest score in a uniform k-subset, per k.

    Sort best first (nan last); within a group of equal scores the pick is uniform, so each
    member carries its group's share of correct candidates; then one product with the kernel.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    nan = np.isnan(s)
    order = np.lexsort((-np.where(nan, 0.0, s), nan))  # best first, nan last
    v = np.asarray(correct, dtype=np.float64)[order]
    ss, nn = s[order], nan[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (nn[1:] != nn[:-1]) | (~nn[1:] & (ss[1:] != ss[:-1]))
    if not new.all():  # ties: every member gets the group mean
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, n))
        v = np.repeat(np.add.reduceat(v, starts) / sizes, sizes)
    if kernel is None:
        kernel = argmax_kernel(n, ks)
    return kernel @ v


def _full_set_vote(
    codes: np.ndarray, none: np.ndarray, weights: np.ndarray | None, correct: np.ndarray, ncls: int
) -> tuple[float, bool, bool, bool]:
    """Exact accuracy on the whole candidate set, and (tie, tie_mixed, no_answer)."""
    real = ~none
    if not real.any():
        return float(correct.mean()), False, False, True
    present = np.bincount(codes[real], minlength=ncls) > 0
    totals = np.bincount(codes[real], weights=None if weights is None else weights[real], minlength=ncls)
    tol = _tie_tol(weights)
    top = totals[present].max()
    tied_cls = present & (totals >= top - tol)
    members = real & tied_cls[codes]
    picked = correct[members]
    tie = int(tied_cls.sum()) >= 2
    return float(picked.mean()), tie, bool(tie and picked.any() and not picked.all()), False


def _full_set_argmax(scores: np.ndarray, correct: np.ndarray) -> tuple[bool, bool, bool]:
    """(tie, tie_mixed, no_score) of the full-set argmax pick."""
    finite = ~np.isnan(scores)
    if not finite.any():
        return False, False, True
    members = finite & (scores == scores[finite].max())
    picked = correct[members]
    tie = int(members.sum()) >= 2
    return tie, bool(tie and picked.any() and not picked.all()), False


# --------------------------------------------------------------------------- sampled votes


def _sampled_vote(
    codes: np.ndarray,
    none: np.ndarray,
    weights: np.ndarray | None,
    correct: np.ndarray,
    ks: np.ndarray,
    base: np.ndarray,
    relabel: np.ndarray,
) -> np.ndarray:
    """Mean accuracy over the permutations ``relabel[base[d]]`` of each prefix length in ks."""
    kmax = int(ks[-1])
    d = base.shape[0]
    b = np.ascontiguousarray(base[:, :kmax])
    x = codes[relabel][b]
    # flat indices that sort each row by class, positions ascending within a class (stable)
    order = np.argsort(x, axis=1, kind="stable")
    row0 = (np.arange(d, dtype=np.int64) * kmax)[:, None]
    order += row0
    order = order.ravel()
    xs = x.ravel()[order].reshape(d, kmax)
    pos = np.arange(kmax, dtype=np.int32)
    first = np.empty((d, kmax), dtype=bool)
    first[:, 0] = True
    np.not_equal(xs[:, 1:], xs[:, :-1], out=first[:, 1:])
    start = np.where(first, pos, np.int32(0))
    np.maximum.accumulate(start, axis=1, out=start)  # where each class run starts (sorted space)
    if weights is None:
        run_sorted = pos - start
        run_sorted += 1  # running count of own class
    else:
        ws = weights[relabel][b].ravel()[order].reshape(d, kmax)
        cs = np.cumsum(ws, axis=1)
        before = (cs - ws).ravel()[(start + row0).ravel()].reshape(d, kmax)
        run_sorted = cs - before  # running weight of own class
    val = np.empty(d * kmax, dtype=run_sorted.dtype)
    val[order] = run_sorted.ravel()  # back to permutation order
    val = val.reshape(d, kmax)
    if none.any():  # no answer: below every real class (weights may be negative)
        val[none[relabel][b]] = -1 if weights is None else -np.inf
    best = np.maximum.accumulate(val, axis=1)
    reach = np.empty((d, kmax), dtype=bool)
    reach[:, 0] = True
    tol = _tie_tol(weights)
    np.greater_equal(val[:, 1:], best[:, :-1] - tol if tol else best[:, :-1], out=reach[:, 1:])
    last = np.where(reach, pos, np.int32(0))
    np.maximum.accumulate(last, axis=1, out=last)  # last position that reached the running max
    picked_pos = last[:, np.asarray(ks, dtype=np.int64) - 1]
    picked = relabel[np.take_along_axis(b, picked_pos, axis=1)]
    return correct[picked].mean(axis=0)


def _dense_vote(
    codes: np.ndarray,
    none: np.ndarray,
    weights: np.ndarray | None,
    correct: np.ndarray,
    ks: np.ndarray,
    base: np.ndarray,
    relabel: np.ndarray,
    ncls: int,
) -> np.ndarray:
    """Same prefixes as ``_sampled_vote``, for problems with few classes: class counts (and weight
    sums, and correct counts) of every prefix by ``bincount`` over the block up to each k, then the
    expected outcome of a uniformly random tied candidate given the prefix (Rao-Blackwellized:
    sum of correct over sum of members of the tied top classes). No sort."""
    kmax = int(ks[-1])
    d = base.shape[0]
    b = base[:, :kmax]
    x = codes[relabel].astype(np.int64)[b]
    x += (np.arange(d, dtype=np.int64) * ncls)[:, None]
    good_w = correct[relabel].astype(np.float64)[b]
    vote_w = None if weights is None else weights[relabel][b]
    size = d * ncls
    cnt, good = np.zeros(size), np.zeros(size)
    wsum = np.zeros(size) if weights is not None else cnt
    no_answer = bool(none.any())  # then class code 0 is "no answer" (-1 sorts first)
    tol = _tie_tol(weights)
    out = np.empty(len(ks))
    prev = 0
    for j, k in enumerate(np.asarray(ks, dtype=np.int64)):
        block = x[:, prev:k].ravel()
        cnt += np.bincount(block, minlength=size)
        good += np.bincount(block, weights=good_w[:, prev:k].ravel(), minlength=size)
        if vote_w is not None:
            wsum += np.bincount(block, weights=vote_w[:, prev:k].ravel(), minlength=size)
        prev = int(k)
        c, g = cnt.reshape(d, ncls), good.reshape(d, ncls)
        real = c > 0
        if no_answer:
            real[:, 0] = False
        val = np.where(real, wsum.reshape(d, ncls), -np.inf)
        top = val.max(axis=1)
        tied = val >= (top - tol)[:, None]
        e = np.where(tied, g, 0.0).sum(axis=1) / np.maximum(np.where(tied, c, 0.0).sum(axis=1), 1.0)
        if no_answer:  # nobody in the prefix answered: a uniformly random candidate of it
            e = np.where(np.isfinite(top), e, g[:, 0] / np.maximum(c[:, 0], 1.0))
        out[j] = e.mean()
    return out


# --------------------------------------------------------------------------- driver


def selection_per_problem(
    selector: SelectorData,
    correct: list[np.ndarray],
    ks: np.ndarray,
    config: SelectionConfig | None = None,
    seed: int = 0,
    advance: Callable[[int], None] | None = None,
) -> SelectionResult:
    """Selection accuracy of one selector for every problem (rows) and k (columns).

    ``ks`` must be sorted and not exceed any problem's candidate count. ``advance(1)`` is called
    after each problem (progress bars).
    """
    config = config or SelectionConfig()
    ks = np.asarray(ks, dtype=np.int64)
    rule = selector.rule
    out = np.empty((len(correct), len(ks)))
    ties = mixed = no_basis = unscored = 0
    used_draws = 0
    bases: dict[int, np.ndarray] = {}
    kernels: dict[int, np.ndarray] = {}
    kmax = int(ks[-1]) if ks.size else 1
    draws = config.draws_for(len(correct), kmax)
    for i, corr in enumerate(correct):
        corr = np.asarray(corr, dtype=bool)
        n = corr.size
        if rule == "argmax":
            scores = np.asarray(selector.scores[i], dtype=np.float64)
            unscored += int(np.isnan(scores).sum())
            if n not in kernels:
                kernels[n] = argmax_kernel(n, ks)
            out[i] = argmax_accuracy(scores, corr, ks, kernels[n])
            tie, mix, nob = _full_set_argmax(scores, corr)
        else:
            codes, none, ncls = _compact(selector.classes[i])
            weights = None
            if rule == "weighted_vote":
                raw = np.asarray(selector.scores[i], dtype=np.float64)
                unscored += int(np.isnan(raw).sum())
                weights = vote_weights(raw)
            full_acc, tie, mix, nob = _full_set_vote(codes, none, weights, corr, ncls)
            exact = (ks == 1) | (ks == n)
            row = np.where(ks == 1, corr.mean(), full_acc)
            if not exact.all():
                if n not in bases:  # first kmax positions of `draws` random permutations of n
                    brng = np.random.default_rng([seed, n, draws, 0xBA5E])
                    perms = brng.permuted(np.tile(np.arange(n, dtype=np.int32), (draws, 1)), axis=1)
                    bases[n] = np.ascontiguousarray(perms[:, :kmax])
                relabel = np.random.default_rng([seed, i]).permutation(n)
                need = ks[~exact]
                base = bases[n]
                acc = np.zeros(need.size)
                factor = _DENSE_FACTOR * (2.0 if weights is not None else 1.0)
                # few classes: no sort. Negative weights: class sums can fall as the prefix grows, so
                # the sort path's running maximum does not hold; the dense path sums every prefix.
                dense = ncls * need.size <= factor * int(need[-1]) or bool(weights is not None and (weights < 0).any())
                # bound memory: ~_CHUNK positions (dense: also class cells) at a time
                step = max(1, _CHUNK // max(int(need[-1]), ncls if dense else 1))
                for r0 in range(0, draws, step):
                    part = base[r0 : r0 + step]
                    if dense:
                        est = _dense_vote(codes, none, weights, corr, need, part, relabel, ncls)
                    else:
                        est = _sampled_vote(codes, none, weights, corr, need, part, relabel)
                    acc += part.shape[0] * est
                row[~exact] = acc / draws
                used_draws = draws
            out[i] = row
        ties += tie
        mixed += mix
        no_basis += nob
        if advance is not None:
            advance(1)
    return SelectionResult(rule, out, used_draws, ties, mixed, no_basis, unscored)
