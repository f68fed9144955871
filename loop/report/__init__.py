"""Presenting runs: the report's model (every number of one or more runs, from
``loop.analysis``), its markdown tables, its PNG plots, and writing them.

    report = build_report([load_run_data("runs/a"), load_run_data("runs/b")], ReportConfig(seed=0))
    paths = write_report(report, "out/")   # report.json, report.md, *.png

``report.json`` = ``{"schema": "fireassay.report/1", "config": {...}, "plots": [...],
"runs": [per run: name, task, n, n_max, problems, coverage {k: value}, coverage_ci {k: {lo, hi}},
selection {selector: {k: {mean, lo, hi}}}, selectors {selector: {gap {k: {mean, lo, hi}}, rule,
transform, draws, ties, ties_mixed, no_basis, unscored, missed}}, power_law {a, b, r2, k90, k99,
points}, effective_answers, effective_answers_at_k {k: {mean, lo, hi}}, effective_answers_classes,
unjudged {candidates, problems, share}, meta, study, compute_matched, forecast {n, at {10n, 100n:
{k, mean, lo, hi}}, curve, resamples, warnings}], "comparisons": [{a, b, difference: "b - a",
problems, coverage {k: {mean, lo, hi, excludes_zero}}, selection {selector: {k: ...}}}]}``.
Keys for k are decimal strings of ints.

Modules: ``model`` (the dataclasses and ``build_report``), ``markdown``, ``plots``, ``text``
(percentages, tables, slugs), ``write``.
"""
from __future__ import annotations

from .markdown import render_markdown
from .model import SCHEMA, Report, ReportConfig, RunReport, SelectorReport, build_report, build_run_report
from .plots import write_plots
from .write import write_report

__all__ = [
    "SCHEMA",
    "Report",
    "ReportConfig",
    "RunReport",
    "SelectorReport",
    "build_report",
    "build_run_report",
    "render_markdown",
    "write_plots",
    "write_report",
]
