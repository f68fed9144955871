"""PNG plots of a report (matplotlib, Agg backend): coverage and selection accuracy against k on
a log-2 axis, with bootstrap bands.

- ``coverage.png``: coverage of every run on one plot (e.g. FIRE beside regular).
- ``effective_answers.png``: #EA@k of every run (expected distinct answers in a k-subset).
- ``selection_<selector>.png``: one selector's accuracy for every run that has it, with each
  run's coverage dotted in the same colour for reference.
- ``study_<run>.png``: one run, coverage beside every selector.
- ``gap_<run>.png``: one run, each selector's gap to coverage (correct candidate present,
  wrong pick) against k.
- ``vote_share_<run>_<selector>.png``: a vote selector's histogram of the correct answer's vote
  share (``loop.analysis.vote_shares``).
- ``coverage_vs_tokens.png``, ``coverage_vs_calls.png``: coverage against compute spent.
- ``coverage_beyond_n.png``: the power-law fit past n (dashed, with the refits' band), the
  predictions at 10n and 100n.
- ``paired_<b>_vs_<a>.png``: run b minus run a on their shared problems, per k, paired intervals.
- ``sweep_<key>.png``: the runs of a ``--sweep``: coverage@k and selection against the value.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..analysis import Interval, VoteShares
from .model import Comparison, Report, RunReport, sweep_groups
from .text import slug, unique_slugs

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@functools.cache
def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported when the first plot is drawn: importing
    matplotlib costs about 0.4 s, which every CLI command would pay at start otherwise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _figure() -> tuple[Figure, Axes]:
    return _pyplot().subplots(figsize=(8, 5))

_STYLES = ["-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (6, 2))]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _k_label(k: float) -> str:
    return str(int(round(k)))


def _setup_axes(ax: Axes, ks: Sequence[int], title: str, ylabel: str) -> None:
    ax.set_xscale("log", base=2)
    ticks = [k for k in ks if k & (k - 1) == 0]  # powers of two
    last = max(ks)
    if not ticks or last / ticks[-1] >= 1.4:
        ticks.append(last)
    plt = _pyplot()
    ax.xaxis.set_major_locator(plt.FixedLocator(ticks))
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: _k_label(v)))
    ax.set_xlim(0.85, last * 1.15)
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    ax.set_xlabel("k (samples per problem, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=12)
    ax.grid(True, which="major", alpha=0.3)
    if len(ticks) > 12:
        for lab in ax.get_xticklabels():
            lab.set_rotation(45)


def _curve(
    ax: Axes,
    ks: Sequence[int],
    ivs: Sequence[Interval],
    label: str,
    color: Any,  # a matplotlib colour
    style: object = "-",
    marker: str = "o",
    band: bool = True,
    lw: float = 2.0,
    alpha: float = 1.0,
) -> None:
    mean = [iv.mean for iv in ivs]
    ax.plot(
        ks, mean, linestyle=style, marker=marker, markersize=4, color=color, label=label, lw=lw, alpha=alpha
    )
    if band:
        ax.fill_between(ks, [iv.lo for iv in ivs], [iv.hi for iv in ivs], color=color, alpha=0.15, lw=0)


def _all_ks(runs: Sequence[RunReport]) -> list[int]:
    return sorted({k for r in runs for k in r.ks})


def _colors(n: int) -> list[tuple[float, ...]]:
    cmap = _pyplot().get_cmap("tab10")
    return [tuple(cmap(i % 10)) for i in range(n)]


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def plot_coverage(runs: Sequence[RunReport], path: Path) -> Path:
    fig, ax = _figure()
    for r, color in zip(runs, _colors(len(runs))):
        _curve(ax, r.ks, r.coverage, f"{r.name} ({r.problems} problems)", color)
    _setup_axes(ax, _all_ks(runs), "Coverage (pass@k)", "problems solved by any of k samples")
    ax.legend(loc="lower right", fontsize=9)
    return _save(fig, path)


def plot_effective_answers(runs: Sequence[RunReport], path: Path) -> Path | None:
    """#EA@k of every run on one plot (expected distinct answers in a k-subset)."""
    have = [r for r in runs if r.effective_answers_at_k]
    if not have:
        return None
    fig, ax = _figure()
    for r, color in zip(have, _colors(len(have))):
        _curve(ax, r.ks, r.effective_answers_at_k, f"{r.name} (classes: {r.effective_answers_classes})", color)
    _setup_axes(ax, _all_ks(have), "Effective answers #EA@k", "expected distinct answers among k samples")
    top = max(iv.hi for r in have for iv in r.effective_answers_at_k)
    ax.set_ylim(0, max(1.0, top) * 1.08)
    ax.yaxis.set_major_formatter(_pyplot().FuncFormatter(lambda v, _: f"{v:g}"))
    ax.legend(loc="upper left", fontsize=9)
    return _save(fig, path)


def plot_beyond_n(runs: Sequence[RunReport], path: Path) -> Path | None:
    """Measured coverage (markers), the power-law fit up to n (solid) and past it (dashed, with
    the refits' band), the 10n and 100n predictions with their intervals; every run with a fit."""
    have = [r for r in runs if r.forecast is not None and r.power_law.a is not None]
    if not have:
        return None
    fig, ax = _figure()
    for r, color in zip(have, _colors(len(have))):
        fc = r.forecast
        assert fc is not None
        ax.plot(r.ks, [iv.mean for iv in r.coverage], "o", color=color, markersize=4, label=f"{r.name}: measured")
        inside = np.geomspace(1, r.n, 40)
        ax.plot(inside, r.power_law.predict(inside), "-", color=color, lw=1.5, alpha=0.8)
        ax.plot(fc.ks, [iv.mean for iv in fc.curve], "--", color=color, lw=2,
                label=f"{r.name}: fit past n = {r.n}")
        ax.fill_between(fc.ks, [iv.lo for iv in fc.curve], [iv.hi for iv in fc.curve], color=color, alpha=0.12, lw=0)
        for f, iv in fc.at.items():
            ax.errorbar([f * r.n], [iv.mean], yerr=[[iv.mean - iv.lo], [iv.hi - iv.mean]], fmt="D", color=color,
                        markersize=5, capsize=3)
    top = max(max(r.forecast.ks) for r in have if r.forecast is not None)
    plt = _pyplot()
    ax.set_xscale("log", base=2)
    ax.set_xlim(0.85, top * 1.2)
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: _k_label(v)))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    ax.set_xlabel("k (samples per problem, log scale)")
    ax.set_ylabel("coverage (pass@k)")
    ax.set_title("Coverage beyond n: power-law fit extrapolated (dashed), 10n and 100n predicted", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_sweep(key: str, members: Sequence[tuple[Any, RunReport]], path: Path) -> Path:
    """Coverage@k (a line per k, solid) and each selector's accuracy at the largest shared k
    (dashed) against the swept value."""
    fig, ax = _figure()
    ks = sorted(set.intersection(*(set(r.ks) for _, r in members)))
    sels = [s for s in members[0][1].selection if all(s in r.selection for _, r in members)]
    xs = [v for v, _ in members]
    colors = _colors(len(ks) + len(sels))
    for i, k in enumerate(ks):
        ivs = [r.coverage[r.ks.index(k)] for _, r in members]
        ax.errorbar(xs, [iv.mean for iv in ivs], yerr=[[iv.mean - iv.lo for iv in ivs], [iv.hi - iv.mean for iv in ivs]],
                    marker="o", color=colors[i], capsize=3, label=f"coverage@{k}")
    if ks:
        for j, s in enumerate(sels):
            ivs = [r.selection[s].accuracy[r.ks.index(ks[-1])] for _, r in members]
            ax.plot(xs, [iv.mean for iv in ivs], linestyle="--", marker="s", color=colors[len(ks) + j],
                    label=f"{s}@{ks[-1]}")
    plt = _pyplot()
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    ax.set_xticks(xs)
    ax.set_xlabel(key)
    ax.set_ylabel("share of problems")
    ax.set_title(f"Sweep over {key} (same problems and seeds)", fontsize=12)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_comparison(c: Comparison, path: Path) -> Path:
    """``b - a`` against k: coverage and each shared selector, with the paired intervals."""
    fig, ax = _figure()
    colors = _colors(len(c.selection) + 1)
    _curve(ax, c.ks, c.coverage, "coverage", colors[0], lw=2.5)
    for i, (name, ivs) in enumerate(c.selection.items()):
        _curve(ax, c.ks, ivs, f"selection: {name}", colors[i + 1], style=_STYLES[(i + 1) % len(_STYLES)],
               marker=_MARKERS[(i + 1) % len(_MARKERS)])
    _setup_axes(ax, list(c.ks), f"{c.b} − {c.a} on {c.problems} shared problems (paired bootstrap)",
                "difference (points of %)")
    lo = min(iv.lo for ivs in [c.coverage, *c.selection.values()] for iv in ivs)
    hi = max(iv.hi for ivs in [c.coverage, *c.selection.values()] for iv in ivs)
    pad = max(0.02, 0.1 * (hi - lo))
    ax.set_ylim(min(lo, 0.0) - pad, max(hi, 0.0) + pad)
    ax.axhline(0.0, color="black", lw=1)
    ax.yaxis.set_major_formatter(_pyplot().FuncFormatter(lambda v, _: f"{100 * v:+.0f}"))
    ax.legend(loc="best", fontsize=9)
    return _save(fig, path)


def plot_selector(runs: Sequence[RunReport], selector: str, path: Path) -> Path:
    have = [r for r in runs if selector in r.selection]
    fig, ax = _figure()
    colors = _colors(len(runs))
    for r in have:
        color = colors[runs.index(r)]
        _curve(
            ax,
            r.ks,
            r.coverage,
            f"{r.name}: coverage",
            color,
            style=":",
            marker="",
            band=False,
            lw=1.5,
            alpha=0.8,
        )
        _curve(ax, r.ks, r.selection[selector].accuracy, f"{r.name}: {selector}", color)
    rule = have[0].selection[selector].rule if have else ""
    _setup_axes(
        ax,
        _all_ks(have or runs),
        f"Selection accuracy: {selector} ({rule})",
        "problems where the pick is correct",
    )
    ax.legend(loc="best", fontsize=9)
    return _save(fig, path)


def _selector_curves(ax: Axes, run: RunReport, value: str) -> None:
    """One curve per selector of ``run`` against k: its ``accuracy`` or its ``gap`` to coverage
    (colour 0 is left for coverage)."""
    colors = _colors(len(run.selection) + 1)
    for i, (name, sr) in enumerate(run.selection.items()):
        _curve(ax, run.ks, getattr(sr, value), f"{name} ({sr.rule_label})", colors[i + 1],
               style=_STYLES[(i + 1) % len(_STYLES)], marker=_MARKERS[(i + 1) % len(_MARKERS)])


def plot_study(run: RunReport, path: Path) -> Path:
    fig, ax = _figure()
    _curve(ax, run.ks, run.coverage, "coverage (pass@k)", _colors(1)[0], lw=2.5)
    _selector_curves(ax, run, "accuracy")
    _setup_axes(
        ax,
        list(run.ks),
        f"{run.name}: coverage vs selectors ({run.problems} problems, {run.task})",
        "share of problems",
    )
    ax.legend(loc="best", fontsize=9)
    return _save(fig, path)


def plot_gap(run: RunReport, path: Path) -> Path:
    """Each selector's gap to coverage (correct candidate present, wrong pick) against k."""
    fig, ax = _figure()
    _selector_curves(ax, run, "gap")
    _setup_axes(ax, list(run.ks), f"{run.name}: gap to coverage (correct candidate present, wrong pick)",
                "coverage − selection accuracy")
    top = max(max(iv.hi for iv in sr.gap) for sr in run.selection.values())
    ax.set_ylim(-0.02, min(1.02, max(0.1, top * 1.15)))
    ax.legend(loc="best", fontsize=9)
    return _save(fig, path)


def vote_share_figure(run_name: str, selector: str, vs: VoteShares) -> Figure:
    """Histogram of the correct answer's vote share, stacked by status; with no problem to show
    (no correct answer anywhere), a figure that says so in words instead of empty axes."""
    c = vs.counts
    fig, ax = _figure()
    title = f"{run_name}: {selector}: correct answer's vote share"
    shown = c["plurality"] + c["tied"] + c["minority"]
    if shown == 0:
        ax.set_axis_off()
        ax.set_title(title, fontsize=10)
        ax.text(0.5, 0.5, f"No data: none of the {len(vs.status)} problems has a correct answer among its "
                "candidates' answers,\nso there is no vote share to show.",
                ha="center", va="center", fontsize=11, wrap=True, transform=ax.transAxes)
        return fig
    hist = vs.histogram()
    edges = np.asarray(vs.to_dict()["bins"])
    centers, width = (edges[:-1] + edges[1:]) / 2, (edges[1] - edges[0]) * 0.9
    bottom = np.zeros(len(centers))
    for st, color in zip(("plurality", "tied", "minority"), ("#2ca02c", "#ff7f0e", "#d62728")):
        vals = np.asarray(hist[st], dtype=float)
        ax.bar(centers, vals, width=width, bottom=bottom, color=color, label=f"{st} ({c[st]} problems)")
        bottom += vals
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.1)
    plt = _pyplot()
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    ax.set_xlabel("correct answer's share of all votes")
    ax.set_ylabel("problems")
    ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    hidden = f" ({c['no_correct']} problems with no correct answer not shown)" if c["no_correct"] else ""
    ax.set_title(title + hidden, fontsize=10)
    ax.legend(loc="best", fontsize=9)
    return fig


def study_plots(report: Report, out_dir: Path) -> list[Path]:
    """``gap_<run>.png`` (gap to coverage per selector against k) and ``vote_share_<run>_<sel>.png``
    (histogram of the correct answer's vote share, stacked by status)."""
    paths: list[Path] = []
    runs = list(report.runs)
    for r, run_slug in zip(runs, unique_slugs([r.name for r in runs])):
        if not r.selection or not all(sr.gap for sr in r.selection.values()):
            continue
        paths.append(plot_gap(r, out_dir / f"gap_{run_slug}.png"))
        for sname, vs in r.vote_shares.items():
            paths.append(_save(vote_share_figure(r.name, sname, vs), out_dir / f"vote_share_{run_slug}_{slug(sname)}.png"))
    return paths


def plot_compute(runs: Sequence[RunReport], key: str, path: Path) -> Path | None:
    """Coverage against compute spent (``key``: "tokens" or "calls"), all runs on one plot."""
    have = [r for r in runs if r.compute_matched and r.compute_matched.get(key)]
    if not have:
        return None
    fig, ax = _figure()
    for r, color in zip(have, _colors(len(have))):
        cm = r.compute_matched
        ax.plot(cm[key], [100 * c for c in cm["coverage"]], marker="o", color=color,
                label=f"{r.name} ({cm[key + '_per_trajectory']:.3g} {key}/trajectory)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel({"tokens": "generated tokens per problem (k × mean per trajectory)",
                   "calls": "model calls per problem (k × mean turns per trajectory)"}[key])
    ax.set_ylabel("coverage (pass@k, %)")
    ax.set_title(f"Compute-matched coverage ({key})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def write_plots(report: Report, out_dir: Path) -> list[Path]:
    runs = list(report.runs)
    paths = [plot_coverage(runs, out_dir / "coverage.png")]
    ea = plot_effective_answers(runs, out_dir / "effective_answers.png")
    if ea is not None:
        paths.append(ea)
    sel_names = report.selector_names
    for name, s in zip(sel_names, unique_slugs(sel_names)):
        paths.append(plot_selector(runs, name, out_dir / f"selection_{s}.png"))
    for r, s in zip(runs, unique_slugs([r.name for r in runs])):
        if r.selection:
            paths.append(plot_study(r, out_dir / f"study_{s}.png"))
    paths += study_plots(report, out_dir)
    for key in ("tokens", "calls"):
        p = plot_compute(runs, key, out_dir / f"coverage_vs_{key}.png")
        if p is not None:
            paths.append(p)
    for key, members in sweep_groups(runs).items():
        paths.append(plot_sweep(key, members, out_dir / f"sweep_{slug(key)}.png"))
    beyond = plot_beyond_n(runs, out_dir / "coverage_beyond_n.png")
    if beyond is not None:
        paths.append(beyond)
    slugs = dict(zip([r.name for r in runs], unique_slugs([r.name for r in runs])))
    for c in report.comparisons:
        paths.append(plot_comparison(c, out_dir / f"paired_{slugs[c.b]}_vs_{slugs[c.a]}.png"))
    return paths
