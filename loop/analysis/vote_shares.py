"""The selection study: why selectors fall short of coverage.

- Gap to coverage at each k: ``coverage@k - selection@k`` (``SelectorReport.gap``, computed in
  ``loop.report.model`` with a paired bootstrap). A correct pick implies a correct candidate in
  the subset, so per problem the gap IS the probability that the k-subset held a correct
  candidate and the selector picked a wrong one ("missed"). The report shows it as a table
  (``loop.report.markdown``) and a plot (``loop.report.plots``).
- Missed given covered (at k = n): of the problems where some candidate is correct, the share
  where the pick is wrong (sum of gaps / sum of coverage).
- Vote shares (selectors with ``subset_rule == "vote"``, i.e. majority): on each problem's full
  candidate set, the correct answer's votes = the size of the largest answer class holding a
  correct candidate; its share = votes / n (no-answer candidates count in n). Status: ``plurality``
  (more votes than every class without a correct member), ``tied`` (equal to the largest such
  class: the tie break decides), ``minority`` (fewer: majority vote cannot pick it), or
  ``no_correct`` (no correct candidate with an answer). Unjudged candidates (oracle could not
  judge) are not correct and are counted; ``mixed`` counts problems where one answer class holds
  both correct and wrong candidates (the oracle and the vote key disagree on equivalence).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .metrics import RunData, SelectorData

STATUSES = ("plurality", "tied", "minority", "no_correct")
SHARE_BINS = np.linspace(0.0, 1.0, 11)  # 10 bins of 10 points


def missed_given_covered(coverage_pp: np.ndarray, selection_pp: np.ndarray) -> float:
    """At the last k: wrong picks among problems that had a correct candidate (nan if none had)."""
    cov = float(coverage_pp[:, -1].sum())
    return float((coverage_pp[:, -1] - selection_pp[:, -1]).sum() / cov) if cov > 0 else float("nan")


@dataclass(frozen=True, eq=False)
class VoteShares:
    shares: np.ndarray  # per problem: correct answer's vote share (nan where no_correct)
    status: tuple[str, ...]  # per problem, one of STATUSES
    margin: np.ndarray  # per problem: correct votes - largest wrong class votes (nan where no_correct)
    unjudged: int  # candidates the oracle could not judge (counted as not correct)
    mixed: int  # problems with an answer class holding both correct and wrong candidates

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(x == s for x in self.status) for s in STATUSES}

    def histogram(self) -> dict[str, list[int]]:
        """Per status (not no_correct): counts of problems per share bin (SHARE_BINS)."""
        out = {}
        for s in STATUSES[:3]:
            vals = self.shares[np.array([x == s for x in self.status], dtype=bool)]
            out[s] = np.histogram(vals, bins=SHARE_BINS)[0].astype(int).tolist()
        return out

    def to_dict(self) -> dict[str, Any]:
        have = ~np.isnan(self.shares)
        return {
            "counts": self.counts, "unjudged_candidates": self.unjudged, "mixed_class_problems": self.mixed,
            "problems": len(self.status),
            "mean_share": float(self.shares[have].mean()) if have.any() else None,
            "median_share": float(np.median(self.shares[have])) if have.any() else None,
            "bins": SHARE_BINS.round(2).tolist(), "histogram": self.histogram(),
        }


def vote_share_study(correct: Sequence[np.ndarray], unjudged: Sequence[np.ndarray], selector: SelectorData) -> VoteShares:
    shares, status, margin = [], [], []
    mixed = 0
    n_unjudged = 0
    for corr, unj, cls in zip(correct, unjudged, selector.classes):
        corr = np.asarray(corr, dtype=bool)
        cls = np.asarray(cls, dtype=np.int64)
        n_unjudged += int(np.count_nonzero(unj))
        n = corr.size
        real = cls >= 0
        labels = np.unique(cls[real])
        right_votes, wrong_votes = 0, 0
        has_mixed = False
        for lab in labels:
            members = cls == lab
            size = int(members.sum())
            nc = int(np.count_nonzero(corr & members))
            if nc:
                right_votes = max(right_votes, size)
                has_mixed |= nc < size
            else:
                wrong_votes = max(wrong_votes, size)
        mixed += has_mixed
        if right_votes == 0:
            shares.append(np.nan)
            margin.append(np.nan)
            status.append("no_correct")
            continue
        shares.append(right_votes / n)
        margin.append(float(right_votes - wrong_votes))
        status.append("plurality" if right_votes > wrong_votes else "tied" if right_votes == wrong_votes else "minority")
    return VoteShares(np.asarray(shares, dtype=float), tuple(status), np.asarray(margin, dtype=float), n_unjudged, mixed)


def vote_share_studies(run: RunData) -> dict[str, VoteShares]:
    return {name: vote_share_study(run.correct, run.unjudged, sel) for name, sel in run.selectors.items() if sel.rule == "vote"}
