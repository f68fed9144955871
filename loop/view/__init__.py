"""``fireassay view``: the run stores in a web browser, read-only, live while a run writes.

    runs = open_runs(["runs/gsm8k-fire", "runs/gsm8k-regular"])   # checks each store first
    serve(runs, host="127.0.0.1", port=7860)                       # or: export_site(runs, "site/")

Pages: runs, curves (coverage and selection@k, Plotly), problems (filters, sort, search, pages),
one problem (answer classes, every candidate's turns and verdicts), compare two runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .app import create_app, serve
from .export import export_site
from .index import RunIndex, run_id
from .pages import NotFound, Pages
from .source import RunSource, ViewError

__all__ = ["NotFound", "Pages", "RunIndex", "RunSource", "ViewError", "create_app", "export_site", "open_runs", "serve",
           "stored_rows"]


def stored_rows(runs: dict[str, RunIndex]) -> int:
    """Candidates and verdicts stored in these runs (a cheap upper bound: the largest rowids)."""
    return sum(sum(idx.source.version()) for idx in runs.values())


def open_runs(run_dirs: Sequence[str | Path], progress: Callable[[str, int, int], None] | None = None,
              build: bool = True) -> dict[str, RunIndex]:
    """Open every run read-only (one clear ``ViewError`` for the first that is not a readable
    fireassay store, before anything is served) and index it (``build=False``: later, e.g. in a
    background thread while pages already answer)."""
    if not run_dirs:
        raise ViewError("give at least one run directory: fireassay view RUN_DIR [RUN_DIR ...]")
    sources = [RunSource(d) for d in run_dirs]
    taken: set[str] = set()
    runs: dict[str, RunIndex] = {}
    for src in sources:
        idx = RunIndex(src, run_id(src.run_dir, taken))
        if build:
            idx.refresh(force=True, progress=(lambda i, n, rid=idx.rid: progress(rid, i, n)) if progress else None)
        runs[idx.rid] = idx
    return runs
