"""The selection study: why selectors fall short of coverage.

- Gap to coverage at each k: ``coverage@k - selection@k`` (``SelectorReport.gap``, computed in
  ``loop.report`` with a paired bootstrap). A correct pick implies a correct candidate in the
  subset, so per problem the gap IS the probability that the k-subset held a correct candidate
  and the selector picked a wrong one ("missed"). Shown here as a table and a plot.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .metrics import RunData, SelectorData

if TYPE_CHECKING:
    from .report import Report, RunReport

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


def vote_shares(correct: Sequence[np.ndarray], unjudged: Sequence[np.ndarray], selector: SelectorData) -> VoteShares:
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
    return {name: vote_shares(run.correct, run.unjudged, sel) for name, sel in run.selectors.items() if sel.rule == "vote"}


# --------------------------------------------------------------------------- report parts


def study_json(run: "RunReport") -> dict[str, Any]:
    """The study's part of a run in ``report.json`` (the per-k gap is under ``selectors``)."""
    return {
        "missed_given_covered": {s: _finite(missed_given_covered(run.coverage_per_problem, sr.result.per_problem))
                                 for s, sr in run.selection.items()},
        "vote_shares": {s: vs.to_dict() for s, vs in run.vote_shares.items()},
    }


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


def render_study(report: "Report") -> list[str]:
    """Markdown: gap to coverage at each k, missed given covered, vote-share tables."""
    from .report import _pct, _table

    out: list[str] = []
    for r in report.runs:
        if not r.selection or not all(sr.gap for sr in r.selection.values()):
            continue
        names = list(r.selection)
        out += [f"## Study: {r.name}: gap to coverage (points of %)", "",
                "gap = coverage − selection accuracy at k = the share of problems whose k-subset held a correct "
                "candidate while the selector picked a wrong one; [paired bootstrap interval].", ""]
        rows = [[str(k), _pct(r.coverage[j].mean)] + [
            f"{_pct(r.selection[s].gap[j].mean)} [{_pct(r.selection[s].gap[j].lo)}, {_pct(r.selection[s].gap[j].hi)}]"
            for s in names] for j, k in enumerate(r.ks)]
        out += _table(["k", "coverage"] + [f"gap: {s}" for s in names], rows)
        out += _table(
            ["selector", "rule", f"missed at k={r.n} (% of problems)", "missed given covered (%)", "ties",
             "tie decides", "unscored candidates", "oracle-unjudged candidates"],
            [[s, sr.rule, _pct(sr.missed), _pct(missed_given_covered(r.coverage_per_problem, sr.result.per_problem)),
              str(sr.result.ties), str(sr.result.ties_mixed), str(sr.result.unscored), str(r.unjudged.candidates)]
             for s, sr in r.selection.items()])
        for s, vs in r.vote_shares.items():
            c, total = vs.counts, len(vs.status)
            d = vs.to_dict()
            out += [f"### {r.name}: {s}: the correct answer's vote share (all {r.n_max if r.n == r.n_max else f'{r.n}–{r.n_max}'} candidates)", "",
                    "plurality: the correct answer has the most votes; tied: as many as the largest wrong answer (the "
                    "tie break decides); minority: fewer (majority vote cannot pick it); no correct: no candidate with "
                    "an answer was correct. Unjudged candidates count as not correct.", ""]
            out += _table(["status", "problems", "% of problems"],
                          [[st.replace("_", " "), str(c[st]), _pct(c[st] / total) if total else "–"] for st in STATUSES])
            hist = vs.histogram()
            edges = d["bins"]
            out += _table(["correct answer's share", "plurality", "tied", "minority"],
                          [[f"{round(100 * edges[i])}–{round(100 * edges[i + 1])}%", str(hist["plurality"][i]),
                            str(hist["tied"][i]), str(hist["minority"][i])] for i in range(len(edges) - 1)])
            out += [f"mean share {_pct(d['mean_share'])}%, median {_pct(d['median_share'])}%; unjudged candidates: "
                    f"{vs.unjudged}; problems where one answer class mixes correct and wrong candidates: {vs.mixed}", ""]
    return out


def study_plots(report: "Report", out_dir: Path) -> list[Path]:
    """``gap_<run>.png`` (gap to coverage per selector against k) and ``vote_share_<run>_<sel>.png``
    (histogram of the correct answer's vote share, stacked by status)."""
    import matplotlib.pyplot as plt

    from .plots import _colors, _curve, _MARKERS, _save, _setup_axes, _STYLES, _unique_slugs

    paths: list[Path] = []
    runs = list(report.runs)
    for r, slug in zip(runs, _unique_slugs([r.name for r in runs])):
        if not r.selection or not all(sr.gap for sr in r.selection.values()):
            continue
        fig, ax = plt.subplots(figsize=(8, 5))
        colors = _colors(len(r.selection) + 1)
        for i, (name, sr) in enumerate(r.selection.items()):
            _curve(ax, r.ks, sr.gap, f"{name} ({sr.rule})", colors[i + 1],
                   style=_STYLES[(i + 1) % len(_STYLES)], marker=_MARKERS[(i + 1) % len(_MARKERS)])
        _setup_axes(ax, list(r.ks), f"{r.name}: gap to coverage (correct candidate present, wrong pick)",
                    "coverage − selection accuracy")
        top = max(max(iv.hi for iv in sr.gap) for sr in r.selection.values())
        ax.set_ylim(-0.02, min(1.02, max(0.1, top * 1.15)))
        ax.legend(loc="best", fontsize=9)
        paths.append(_save(fig, out_dir / f"gap_{slug}.png"))
        for sname, vs in r.vote_shares.items():
            hist = vs.histogram()
            edges = np.asarray(vs.to_dict()["bins"])
            centers, width = (edges[:-1] + edges[1:]) / 2, (edges[1] - edges[0]) * 0.9
            fig, ax = plt.subplots(figsize=(8, 5))
            bottom = np.zeros(len(centers))
            c = vs.counts
            for st, color in zip(("plurality", "tied", "minority"), ("#2ca02c", "#ff7f0e", "#d62728")):
                vals = np.asarray(hist[st], dtype=float)
                ax.bar(centers, vals, width=width, bottom=bottom, color=color, label=f"{st} ({c[st]} problems)")
                bottom += vals
            ax.set_xlim(0, 1)
            ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
            ax.set_xlabel("correct answer's share of all votes")
            ax.set_ylabel("problems")
            ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
            ax.set_title(f"{r.name}: {sname}: correct answer's vote share "
                         f"({c['no_correct']} problems with no correct answer not shown)", fontsize=10)
            ax.legend(loc="best", fontsize=9)
            paths.append(_save(fig, out_dir / f"vote_share_{slug}_{_unique_slugs([sname])[0]}.png"))
    return paths
