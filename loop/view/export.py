"""``fireassay view --export DIR``: the same pages as static files in one flat folder that opens
from disk (relative links only, Plotly's JavaScript copied beside them, no server)."""
from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Callable, Mapping

from ..store import DB_NAME
from .app import STATIC, plotly_js
from .index import RunIndex
from .links import ExportLinks
from .pages import PER_PAGE, TRAJ_PER_PAGE, Pages
from .source import ViewError

MARKER = ".fireassay-view-export"


def check_export_dir(out: Path) -> None:
    """Refuse a folder that holds a run, or other files (an earlier export is overwritten)."""
    if (out / DB_NAME).exists():
        raise ViewError(f"--export {out} is a run directory; export into a new folder")
    if out.exists() and not out.is_dir():
        raise ViewError(f"--export {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ViewError(f"--export {out} is not empty; give a new or empty folder (or an earlier export to overwrite)")


def export_site(runs: Mapping[str, RunIndex], out: str | Path,
                progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write every page; return the files written."""
    out = Path(out)
    check_export_dir(out)
    if (out / MARKER).exists():  # an earlier export: its pages go, so none is left stale
        for old in out.glob("*.html"):
            old.unlink()
    (out / "static").mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by fireassay view --export\n")
    pages = Pages(runs, ExportLinks())
    links = pages.links
    written: list[Path] = []

    def put(name: str | None, html: str) -> None:
        if name is None:
            return
        path = out / name
        path.write_text(html, encoding="utf-8")
        written.append(path)

    for name, src in (("view.css", STATIC / "view.css"), ("view.js", STATIC / "view.js"), ("plotly.min.js", plotly_js())):
        shutil.copyfile(src, out / "static" / name)
        written.append(out / "static" / name)
    for idx in runs.values():
        idx.refresh(force=True)
    put(links.home(), pages.runs_page())
    put(links.curves(list(runs)), pages.curves_page(list(runs)))
    for rid, idx in runs.items():
        if progress is not None:
            progress(f"run {rid}")
        put(links.run(rid), pages.run_page(rid))
        for f in pages.filters(idx):
            n = max(1, math.ceil(len(pages.problem_list(idx, f.key)) / PER_PAGE))
            for page in range(1, n + 1):
                put(links.problems(rid, f.key, page=page), pages.problems_page(rid, f.key, page=page))
        for info in idx.infos:
            p = idx.problems.get(info.pid)
            n = max(1, math.ceil((p.begun.size if p is not None else 0) / TRAJ_PER_PAGE))
            for page in range(1, n + 1):
                put(links.problem(rid, info.position, page=page), pages.problem_page(rid, info.position, page=page))
    ids = list(runs)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            for show in pages.COMPARE:
                first = pages.compare_page(a, b, show)
                put(links.compare(a, b, show), first)
                rows = _compare_pages(pages, a, b, show)
                for page in range(2, rows + 1):
                    put(links.compare(a, b, show, page), pages.compare_page(a, b, show, page))
    return written


def _compare_pages(pages: Pages, a: str, b: str, show: str) -> int:
    page = 1
    while True:  # pages are few; ask until the next one does not exist
        try:
            pages.compare_page(a, b, show, page + 1)
        except LookupError:
            return page
        page += 1
