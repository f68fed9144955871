"""``fireassay report RUN_DIR [RUN_DIR ...] --out DIR``: report.json, report.md and PNG plots."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..analysis import MetricsError, load_run_data
from ..report import ReportConfig, build_report, write_report
from ..store import StoreError
from ._common import console, defaults_of, fail

D = defaults_of(ReportConfig)


def report_command(
    runs: List[Path] = typer.Argument(..., help="One or more run directories (e.g. FIRE and regular)."),
    out: Path = typer.Option(..., "--out", help="Folder for report.json, report.md and the plots."),
    names: Optional[str] = typer.Option(None, "--names", help="Comma-separated labels, one per run (default: folder names)."),
    seed: int = typer.Option(D["seed"], "--seed", help="Seed for subset draws, tie breaks and the bootstrap."),
    bootstrap: int = typer.Option(D["bootstrap"], "--bootstrap", help="Bootstrap resamples for confidence intervals."),
) -> None:
    """Coverage (pass@k), selection accuracy@k per selector, power-law fit and #EA, with plots."""
    labels = [s.strip() for s in names.split(",")] if names else [None] * len(runs)
    if len(labels) != len(runs):
        fail(f"--names has {len(labels)} labels for {len(runs)} runs; give one per run")
    try:
        data = [load_run_data(r, name=n) for r, n in zip(runs, labels)]
        report = build_report(data, ReportConfig(bootstrap=bootstrap, seed=seed))
    except (StoreError, MetricsError) as e:
        fail(str(e))
    try:  # the folder first: an unwritable --out is one message, before any file
        out.mkdir(parents=True, exist_ok=True)
        paths = write_report(report, out)
    except OSError as e:
        why = e.strerror or str(e)
        if e.filename and str(e.filename) != str(out):
            why += f": {e.filename}"
        fail(f"{out}: cannot be written ({why}); choose another --out")
    for p in paths:
        console.print(f"wrote {p}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
