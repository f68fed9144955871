"""The report: coverage, selection accuracy, power law, #EA and counts for one or more runs,
written as ``report.json`` (everything), ``report.md`` (tables) and PNG plots.

    report = build_report([run_a, run_b], ReportConfig(seed=0))
    paths = write_report(report, "out/")

``report.json`` = ``{"schema": "fireassay.report/1", "config": {...}, "plots": [...],
"runs": [per run: name, task, n, n_max, problems, coverage {k: value}, coverage_ci {k: {lo, hi}},
selection {selector: {k: {mean, lo, hi}}}, selectors {selector: {gap {k: {mean, lo, hi}}, rule,
draws, ties, ties_mixed, no_basis, unscored, missed}}, power_law {a, b, r2, k90, k99, points}, effective_answers,
unjudged {candidates, problems, share}, meta]}``. Keys for k are decimal strings of ints.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .metrics import (
    Interval,
    MetricsError,
    RunData,
    UnjudgedCounts,
    bootstrap_intervals,
    bootstrap_weights,
    compute_matched,
    coverage_per_problem,
    effective_answers,
    fit_grid,
    k_grid,
    pass_at_k,
    unjudged_counts,
)
from .powerlaw import PowerLawFit, fit_power_law
from .study import VoteShares, render_study, study_json, vote_share_studies
from .selection import SelectionConfig, SelectionResult, selection_per_problem, stable_seed

SCHEMA = "fireassay.report/1"


@dataclass(frozen=True)
class ReportConfig:
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    bootstrap: int = 1000  # problem-level bootstrap resamples for every interval
    confidence: float = 0.95
    seed: int = 0  # draws, tie breaks and bootstrap are reproducible per seed
    fit_points: int = 40  # coverage points (log-spaced k) for the power-law fit
    progress: bool = True  # rich progress bar over problems (stderr)

    def __post_init__(self) -> None:
        if self.bootstrap < 1:
            raise MetricsError(f"bootstrap resamples must be >= 1 (got {self.bootstrap})")
        if not 0.0 < self.confidence < 1.0:
            raise MetricsError(f"confidence must be between 0 and 1 (got {self.confidence})")
        if self.fit_points < 2:
            raise MetricsError(f"fit_points must be >= 2 (got {self.fit_points})")

    def to_dict(self) -> dict[str, Any]:
        s = self.selection
        return {
            "bootstrap": self.bootstrap,
            "confidence": self.confidence,
            "seed": self.seed,
            "fit_points": self.fit_points,
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

    def stats(self, ks: tuple[int, ...] = ()) -> dict[str, Any]:
        r = self.result
        return {
            "gap": {str(k): iv.to_dict() for k, iv in zip(ks, self.gap)},
            "rule": r.rule,
            "draws": r.draws,
            "ties": r.ties,
            "ties_mixed": r.ties_mixed,
            "no_basis": r.no_basis,
            "unscored": r.unscored,
            "missed": self.missed,
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
    vote_shares: dict[str, VoteShares] = field(default_factory=dict)  # vote selectors (loop.study)

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
            "unjudged": self.unjudged.to_dict(),
            "meta": self.meta,
            "study": study_json(self),
        }
        if self.compute_matched is not None:
            d["compute_matched"] = self.compute_matched
        return d


@dataclass(frozen=True, eq=False)
class Report:
    runs: tuple[RunReport, ...]
    config: ReportConfig

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "config": self.config.to_dict(), "runs": [r.to_dict() for r in self.runs]}

    @property
    def selector_names(self) -> list[str]:
        names: list[str] = []
        for r in self.runs:
            names += [s for s in r.selection if s not in names]
        return names


# --------------------------------------------------------------------------- building


def _unique_names(runs: Sequence[RunData]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for r in runs:
        base = r.name or "run"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return out


class _Progress:
    """A rich progress bar over problems (stderr), or nothing."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled and total > 0:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.bar.add_task("selection", total=total)

    def __enter__(self) -> "_Progress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=text)

    def advance(self, steps: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, steps)


def build_run_report(
    run: RunData,
    config: ReportConfig,
    progress: _Progress | None = None,
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
    timings["coverage"] = (time.perf_counter() - t0, time.process_time() - c0)

    t0, c0 = time.perf_counter(), time.process_time()
    fks = fit_grid(n, config.fit_points)
    c = np.fromiter((int(np.count_nonzero(x)) for x in run.correct), dtype=np.int64, count=len(run.correct))
    fit_cov = pass_at_k(sizes[:, None], c[:, None], fks[None, :]).mean(axis=0)
    power_law = fit_power_law(fks, fit_cov)
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
        selection[sname] = SelectorReport(sel.rule, acc, res, gap[-1].mean, gap)
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
    )


def build_report(runs: Sequence[RunData], config: ReportConfig | None = None) -> Report:
    """Compute every metric for every run. Runs with the same name get " #2", " #3" appended."""
    config = config or ReportConfig()
    runs = list(runs)
    if not runs:
        raise MetricsError("no runs to report on; pass at least one run directory")
    for r in runs:
        r.validate()
    names = _unique_names(runs)
    total = sum(len(r.problem_ids) * len(r.selectors) for r in runs)
    with _Progress(total, config.progress) as bar:
        reports = tuple(build_run_report(r, config, bar, names[i]) for i, r in enumerate(runs))
    return Report(reports, config)


# --------------------------------------------------------------------------- writing


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return s or "run"


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}"


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "–" if x is None or not math.isfinite(x) else format(x, fmt)


def _table(header: list[str], rows: Iterator[list[str]] | list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i else ":---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def render_markdown(report: Report, plots: Sequence[str] = ()) -> str:
    cfg = report.config
    runs = report.runs
    conf = f"{round(100 * cfg.confidence)}%"
    out = [
        "# fireassay report",
        "",
        f"Coverage = unbiased pass@k. Selection accuracy = the oracle's verdict on the selector's pick "
        f"in a uniform random k-subset (votes recomputed in the subset), mean over problems; "
        f"[lo, hi] = {conf} bootstrap interval over problems ({cfg.bootstrap} resamples, seed {cfg.seed}). "
        "Unjudged candidates count as not correct. Values in %.",
        "",
        "## Runs",
        "",
    ]
    out += _table(
        ["run", "task", "problems", "n", "#EA", "distinct 1st tokens", "unjudged", "meta"],
        [
            [
                r.name,
                r.task,
                str(r.problems),
                str(r.n) if r.n == r.n_max else f"{r.n} (max {r.n_max})",
                f"{r.effective_answers:.2f}",
                str(r.meta.get("distinct_first_tokens", "–")),
                f"{r.unjudged.candidates} ({_pct(r.unjudged.share, 2)}%) in {r.unjudged.problems} problems",
                ", ".join(f"{k}={v}" for k, v in r.meta.items() if isinstance(v, (str, int, float, bool)))[
                    :120
                ]
                or "–",
            ]
            for r in runs
        ],
    )
    all_ks = sorted({k for r in runs for k in r.ks})
    out += ["## Coverage (pass@k, %)", ""]
    rows = []
    for k in all_ks:
        row = [str(k)]
        for r in runs:
            row.append(_pct(r.coverage[r.ks.index(k)].mean) if k in r.ks else "")
        rows.append(row)
    out += _table(["k"] + [r.name for r in runs], rows)

    for sname in report.selector_names:
        have = [r for r in runs if sname in r.selection]
        out += [f"## Selection accuracy: {sname} (%, [{conf} interval])", ""]
        header = ["k"]
        for r in have:
            header += [f"{r.name}", f"{r.name} coverage"]
        rows = []
        for k in all_ks:
            row = [str(k)]
            for r in have:
                if k in r.ks:
                    iv = r.selection[sname].accuracy[r.ks.index(k)]
                    row += [
                        f"{_pct(iv.mean)} [{_pct(iv.lo)}, {_pct(iv.hi)}]",
                        _pct(r.coverage[r.ks.index(k)].mean),
                    ]
                else:
                    row += ["", ""]
            rows.append(row)
        out += _table(header, rows)

    out += [
        "## Selectors: ties and counts",
        "",
        "ties: problems whose full-set pick is a tie (vote: >= 2 classes; argmax: >= 2 candidates); "
        "mixed: the tied candidates disagree, so the random tie break decides. no basis: no answer "
        "class (vote) or no score (argmax) at all: the pick is random. missed: share of problems with a "
        "correct candidate among n where the pick is wrong (= coverage - selection at k = n). "
        "draws: random permutations per problem (0 = computed exactly).",
        "",
    ]
    out += _table(
        ["run", "selector", "rule", "ties", "mixed", "no basis", "unscored", "missed %", "draws"],
        [
            [
                r.name,
                s,
                sr.rule,
                str(sr.result.ties),
                str(sr.result.ties_mixed),
                str(sr.result.no_basis),
                str(sr.result.unscored),
                _pct(sr.missed),
                str(sr.result.draws),
            ]
            for r in runs
            for s, sr in r.selection.items()
        ],
    )
    out += render_study(report)
    out += ["## Power-law fit of coverage: c(k) ≈ exp(a·k^b)", ""]
    out += _table(
        ["run", "a", "b", "R²", "k for 90%", "k for 99%", "points"],
        [
            [
                r.name,
                _num(r.power_law.a),
                _num(r.power_law.b),
                _num(r.power_law.r2, ".4f"),
                _num(r.power_law.k90, ".4g"),
                _num(r.power_law.k99, ".4g"),
                str(r.power_law.points),
            ]
            for r in runs
        ],
    )
    out += _compute_markdown(runs)
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(out)


def _compute_markdown(runs: Sequence[RunReport]) -> list[str]:
    """Compute-matched coverage and per-turn pass rates (runs that recorded compute)."""
    have = [r for r in runs if r.compute_matched]
    if not have:
        return []
    out = ["## Compute spent", "",
           "Coverage at k against the compute k trajectories cost: k × mean generated tokens and k × mean "
           "model calls per trajectory. Compare runs at equal cost, not equal k.", ""]
    out += _table(
        ["run", "feedback", "tokens / trajectory", "calls / trajectory", "k: coverage % @ tokens"],
        [[r.name, str(r.meta.get("feedback") or "-"),
          _num(r.compute_matched.get("tokens_per_trajectory")), _num(r.compute_matched.get("calls_per_trajectory")),
          "; ".join(f"{k}: {100 * c:.1f}" + (f" @ {t:,.0f}" if t is not None else "") for k, c, t in zip(
              r.compute_matched["k"], r.compute_matched["coverage"],
              r.compute_matched.get("tokens") or [None] * len(r.compute_matched["k"])))]
         for r in have],
    )
    rows = [[r.name, str(t["turn"]), str(t["candidates"]), str(t["passed"]), _pct(t["pass_rate"]), _pct(t["solved_by_turn"])]
            for r in have for t in r.compute_matched.get("per_turn") or []]
    if rows:
        out += ["## Per-turn pass rates", ""]
        out += _table(["run", "turn", "candidates", "passed", "pass rate %", "trajectories solved by this turn %"], rows)
    return out


def write_report(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md and the PNG plots into ``out_dir``; return the paths."""
    from .plots import write_plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out)
    names = [p.name for p in plots]
    data = report.to_dict()
    data["plots"] = names
    json_path = out / "report.json"
    json_path.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
    md_path = out / "report.md"
    md_path.write_text(render_markdown(report, names))
    return [json_path, md_path, *plots]
