"""The report's model: every number of one or more runs (coverage, selection accuracy, power law,
#EA, counts, the selection study) as frozen values, and ``to_dict()`` for ``report.json``.

    report = build_report([run_a, run_b], ReportConfig(seed=0))
    paths = write_report(report, "out/")      # loop.report.write

The layout of ``report.json`` is in ``loop/report/__init__.py``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..analysis import (
    Forecast,
    Interval,
    MetricsError,
    PowerLawFit,
    RunData,
    SelectionConfig,
    SelectionResult,
    UnjudgedCounts,
    VoteShares,
    answer_classes,
    bootstrap_intervals,
    bootstrap_weights,
    compute_matched,
    coverage_per_problem,
    effective_answers,
    effective_answers_at_k,
    excludes_zero,
    fit_grid,
    fit_power_law,
    forecast_coverage,
    k_grid,
    missed_given_covered,
    paired_difference,
    pass_at_k,
    selection_per_problem,
    shared_problems,
    stable_seed,
    unjudged_counts,
    vote_share_studies,
)
from ..progress import Counter, ProgressBars

SCHEMA = "fireassay.report/1"


@dataclass(frozen=True)
class ReportConfig:
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    bootstrap: int = 1000  # problem-level bootstrap resamples for every interval
    confidence: float = 0.95
    seed: int = 0  # draws, tie breaks and bootstrap are reproducible per seed
    fit_points: int = 40  # coverage points (log-spaced k) for the power-law fit
    progress: bool = True  # rich progress bar over problems (stderr)
    forecast_resamples: int = 200  # problem-bootstrap refits of the power law for coverage past n
    max_all_pairs: int = 6  # up to this many runs every pair is compared; beyond, each with the first

    def __post_init__(self) -> None:
        if self.bootstrap < 1:
            raise MetricsError(f"bootstrap resamples must be >= 1 (got {self.bootstrap})")
        if not 0.0 < self.confidence < 1.0:
            raise MetricsError(f"confidence must be between 0 and 1 (got {self.confidence})")
        if self.fit_points < 2:
            raise MetricsError(f"fit_points must be >= 2 (got {self.fit_points})")
        if self.forecast_resamples < 0:
            raise MetricsError(f"forecast_resamples must be >= 0 (got {self.forecast_resamples})")

    def to_dict(self) -> dict[str, Any]:
        s = self.selection
        return {
            "bootstrap": self.bootstrap,
            "confidence": self.confidence,
            "seed": self.seed,
            "fit_points": self.fit_points,
            "forecast_resamples": self.forecast_resamples,
            "selection": {"total_draws": s.total_draws, "min_draws": s.min_draws, "max_draws": s.max_draws},
        }


@dataclass(frozen=True, eq=False)
class SelectorReport:
    rule: str
    accuracy: tuple[Interval, ...]  # one per k of the run's grid
    result: SelectionResult  # per-problem accuracies and counts
    missed: float  # at k = n: share of problems with a correct candidate where the pick is wrong
    # coverage - accuracy per k, with a paired bootstrap interval (same resamples): the share of
    # problems where a correct candidate was among the k but the selector picked a wrong one
    gap: tuple[Interval, ...] = ()
    # candidates a vote left in classes of their own, uncompared (unreadable in time / the
    # problem's grouping time cap), and in how many problems: stated, never hidden
    not_grouped: Mapping[str, int] = field(default_factory=dict)
    not_grouped_problems: int = 0
    transform: str | None = None  # weighted_vote: the selector's score -> weight transform

    @property
    def rule_label(self) -> str:
        """The rule as the report shows it: ``weighted_vote (transform raw)``."""
        return f"{self.rule} (transform {self.transform})" if self.transform else self.rule

    def stats(self, ks: tuple[int, ...] = ()) -> dict[str, Any]:
        r = self.result
        return {
            "gap": {str(k): iv.to_dict() for k, iv in zip(ks, self.gap)},
            "rule": r.rule,
            "transform": self.transform,
            "draws": r.draws,
            "ties": r.ties,
            "ties_mixed": r.ties_mixed,
            "no_basis": r.no_basis,
            "unscored": r.unscored,
            "missed": self.missed,
            "not_grouped": {**self.not_grouped, "problems": self.not_grouped_problems},
        }


@dataclass(frozen=True, eq=False)
class RunReport:
    name: str
    task: str
    n: int  # k grid goes up to n = min candidates per problem
    n_max: int
    problems: int
    ks: tuple[int, ...]
    coverage: tuple[Interval, ...]
    selection: dict[str, SelectorReport]  # name -> intervals per k, counts, per-problem values
    power_law: PowerLawFit
    effective_answers: float
    unjudged: UnjudgedCounts
    meta: dict[str, Any]
    coverage_per_problem: np.ndarray  # (problems, len(ks)), for later studies
    compute_matched: dict[str, Any] | None = None
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)  # stage -> (wall s, CPU s)
    vote_shares: dict[str, VoteShares] = field(default_factory=dict)  # vote selectors (loop.analysis.vote_shares)
    effective_answers_at_k: tuple[Interval, ...] = ()  # expected distinct answers in a k-subset, per k
    effective_answers_classes: str = "oracle"  # whose answer classes #EA counts: a vote selector's, or "oracle"
    problem_ids: tuple[str, ...] = ()  # rows of coverage_per_problem and of each selector's per_problem
    forecast: Forecast | None = None  # coverage past n under the power law (None: no fit)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "n": self.n,
            "n_max": self.n_max,
            "problems": self.problems,
            "coverage": {str(k): iv.mean for k, iv in zip(self.ks, self.coverage)},
            "coverage_ci": {str(k): {"lo": iv.lo, "hi": iv.hi} for k, iv in zip(self.ks, self.coverage)},
            "selection": {
                s: {str(k): iv.to_dict() for k, iv in zip(self.ks, sr.accuracy)}
                for s, sr in self.selection.items()
            },
            "selectors": {s: sr.stats(self.ks) for s, sr in self.selection.items()},
            "power_law": self.power_law.to_dict(),
            "effective_answers": self.effective_answers,
            "effective_answers_at_k": {str(k): iv.to_dict() for k, iv in zip(self.ks, self.effective_answers_at_k)},
            "effective_answers_classes": self.effective_answers_classes,
            "unjudged": self.unjudged.to_dict(),
            "meta": self.meta,
            "study": study_json(self),
        }
        if self.compute_matched is not None:
            d["compute_matched"] = self.compute_matched
        if self.forecast is not None:
            d["forecast"] = self.forecast.to_dict()
        return d


@dataclass(frozen=True, eq=False)
class Comparison:
    """Run ``b`` minus run ``a`` over the problems both have: coverage@k and each shared
    selector's accuracy@k, per k both grids have, with paired bootstrap intervals (the same
    resampled problems for both runs and for every metric)."""

    a: str
    b: str
    problems: int  # shared problems
    ks: tuple[int, ...]
    coverage: tuple[Interval, ...]
    selection: dict[str, tuple[Interval, ...]]

    def to_dict(self) -> dict[str, Any]:
        def cells(ivs: tuple[Interval, ...]) -> dict[str, Any]:
            return {str(k): {**iv.to_dict(), "excludes_zero": excludes_zero(iv)} for k, iv in zip(self.ks, ivs)}

        return {"a": self.a, "b": self.b, "difference": "b - a", "problems": self.problems,
                "coverage": cells(self.coverage), "selection": {s: cells(v) for s, v in self.selection.items()}}


@dataclass(frozen=True, eq=False)
class Report:
    runs: tuple[RunReport, ...]
    config: ReportConfig
    comparisons: tuple[Comparison, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "config": self.config.to_dict(), "runs": [r.to_dict() for r in self.runs],
                "comparisons": [c.to_dict() for c in self.comparisons]}

    @property
    def selector_names(self) -> list[str]:
        names: list[str] = []
        for r in self.runs:
            names += [s for s in r.selection if s not in names]
        return names


# --------------------------------------------------------------------------- building


def unique_names(runs: Sequence[RunData]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for r in runs:
        base = r.name or "run"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return out


def build_run_report(
    run: RunData,
    config: ReportConfig,
    progress: Counter | None = None,
    name: str | None = None,
) -> RunReport:
    """All metrics of one run (see ``build_report``). Random draws are seeded by
    (config.seed, run name, selector name): a run's numbers do not depend on the other runs."""
    run.validate()
    name = name or run.name
    timings: dict[str, tuple[float, float]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    sizes = run.sizes
    n = int(sizes.min())
    ks = k_grid(n)
    weights = bootstrap_weights(
        len(run.problem_ids), config.bootstrap, [config.seed, stable_seed(name), 0xB007]
    )

    cov_pp = coverage_per_problem(run, ks)
    coverage = tuple(bootstrap_intervals(cov_pp, weights, config.confidence))
    ea_at_k = tuple(bootstrap_intervals(effective_answers_at_k(run, ks), weights, config.confidence))
    timings["coverage"] = (time.perf_counter() - t0, time.process_time() - c0)

    t0, c0 = time.perf_counter(), time.process_time()
    fks = fit_grid(n, config.fit_points)
    c = np.fromiter((int(np.count_nonzero(x)) for x in run.correct), dtype=np.int64, count=len(run.correct))
    fit_pp = pass_at_k(sizes[:, None], c[:, None], fks[None, :])
    power_law = fit_power_law(fks, fit_pp.mean(axis=0))
    forecast = forecast_coverage(power_law, fks, fit_pp, n, config.forecast_resamples,
                                 seed=[config.seed, stable_seed(name), 0xF0CA], confidence=config.confidence)
    timings["power_law"] = (time.perf_counter() - t0, time.process_time() - c0)

    selection: dict[str, SelectorReport] = {}
    for sname, sel in run.selectors.items():
        t0, c0 = time.perf_counter(), time.process_time()
        if progress is not None:
            progress.describe(f"{name}: {sname}")
        res = selection_per_problem(
            sel,
            run.correct,
            ks,
            config.selection,
            seed=stable_seed(config.seed, name, sname),
            advance=progress.advance if progress is not None else None,
        )
        acc = tuple(bootstrap_intervals(res.per_problem, weights, config.confidence))
        # a correct pick implies a correct candidate in the subset, so the share of problems where
        # one existed but the pick was wrong is coverage - selection (per problem, at k = n)
        gap = tuple(bootstrap_intervals(cov_pp - res.per_problem, weights, config.confidence))
        selection[sname] = SelectorReport(sel.rule, acc, res, gap[-1].mean, gap, sel.not_grouped,
                                          sel.not_grouped_problems, transform=sel.transform)
        timings[f"selection:{sname}"] = (time.perf_counter() - t0, time.process_time() - c0)

    return RunReport(
        name=name,
        task=run.task,
        n=n,
        n_max=int(sizes.max()),
        problems=len(run.problem_ids),
        ks=tuple(int(k) for k in ks),
        coverage=coverage,
        selection=selection,
        power_law=power_law,
        effective_answers=effective_answers(run),
        unjudged=unjudged_counts(run),
        meta=dict(run.meta),
        coverage_per_problem=cov_pp,
        compute_matched=compute_matched(run, ks),
        timings=timings,
        vote_shares=vote_share_studies(run),
        effective_answers_at_k=ea_at_k,
        effective_answers_classes=answer_classes(run)[1],
        problem_ids=tuple(run.problem_ids),
        forecast=forecast,
    )


def sweep_groups(runs: Sequence[RunReport]) -> dict[str, list[tuple[Any, RunReport]]]:
    """Runs that are values of one swept parameter (``fireassay run --sweep``), by parameter,
    sorted by value; only parameters with at least two runs."""
    groups: dict[str, list[tuple[Any, RunReport]]] = {}
    for r in runs:
        sw = r.meta.get("sweep")
        if isinstance(sw, dict) and isinstance(sw.get("key"), str) and isinstance(sw.get("value"), (int, float)):
            groups.setdefault(sw["key"], []).append((sw["value"], r))
    return {k: sorted(v, key=lambda item: item[0]) for k, v in groups.items() if len(v) >= 2}


def compare_runs(ra: RunReport, rb: RunReport, config: ReportConfig) -> Comparison | None:
    """``rb - ra`` over their shared problems (None: other tasks, or fewer than 2 shared)."""
    if ra.task != rb.task:
        return None
    ia, ib = shared_problems(ra.problem_ids, rb.problem_ids)
    ks = tuple(k for k in ra.ks if k in rb.ks)
    if ia.size < 2 or not ks:
        return None
    ca, cb = [ra.ks.index(k) for k in ks], [rb.ks.index(k) for k in ks]
    seed = [config.seed, stable_seed(ra.name), stable_seed(rb.name), 0xDA1D]  # one resampling for all metrics

    def diff(pa: np.ndarray, pb: np.ndarray) -> tuple[Interval, ...]:
        return tuple(paired_difference(pa[ia][:, ca], pb[ib][:, cb], config.bootstrap, seed, config.confidence))

    selection = {s: diff(sr.result.per_problem, rb.selection[s].result.per_problem)
                 for s, sr in ra.selection.items() if s in rb.selection}
    return Comparison(ra.name, rb.name, int(ia.size), ks, diff(ra.coverage_per_problem, rb.coverage_per_problem),
                      selection)


def comparisons(runs: Sequence[RunReport], config: ReportConfig) -> tuple[Comparison, ...]:
    """Every pair of runs that share problems (later run minus earlier); with more than
    ``config.max_all_pairs`` runs, each run against the first only."""
    if len(runs) <= config.max_all_pairs:
        pairs = [(i, j) for i in range(len(runs)) for j in range(i + 1, len(runs))]
    else:
        pairs = [(0, j) for j in range(1, len(runs))]
    found = (compare_runs(runs[i], runs[j], config) for i, j in pairs)
    return tuple(c for c in found if c is not None)


def build_report(runs: Sequence[RunData], config: ReportConfig | None = None) -> Report:
    """Compute every metric for every run. Runs with the same name get " #2", " #3" appended."""
    config = config or ReportConfig()
    runs = list(runs)
    if not runs:
        raise MetricsError("no runs to report on; pass at least one run directory")
    for r in runs:
        r.validate()
    names = unique_names(runs)
    total = sum(len(r.problem_ids) * len(r.selectors) for r in runs)
    with ProgressBars(enabled=config.progress and total > 0, transient=True) as bars:
        bar = bars.counter("selection", total=total)
        reports = tuple(build_run_report(r, config, bar, names[i]) for i, r in enumerate(runs))
    return Report(reports, config, comparisons(reports, config))


def study_json(run: RunReport) -> dict[str, Any]:
    """The selection study's part of a run in ``report.json`` (the per-k gap is under ``selectors``)."""
    return {
        "missed_given_covered": {s: finite_or_none(missed_given_covered(run.coverage_per_problem, sr.result.per_problem))
                                 for s, sr in run.selection.items()},
        "vote_shares": {s: vs.to_dict() for s, vs in run.vote_shares.items()},
    }


def finite_or_none(x: float) -> float | None:
    return x if np.isfinite(x) else None
