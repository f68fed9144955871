"""``fireassay view RUN_DIR [RUN_DIR ...]``: browse runs in a web browser (read-only, live), or
``--export DIR`` to write the same pages as static files."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List, Optional

import typer

from ._common import console, fail, styled

BACKGROUND_ROWS = 500_000  # stores with more candidates + verdicts are indexed while the server answers


def build_indexes(indexes, progress: bool = False) -> None:
    t0 = time.perf_counter()
    if progress:
        with console.status("indexing runs") as status:
            for idx in indexes.values():
                idx.refresh(force=True, progress=lambda i, n, rid=idx.rid: status.update(f"indexing {rid}: {i}/{n} problems"))
    else:
        for idx in indexes.values():
            idx.refresh(force=True)
    console.print(f"indexed {len(indexes)} run(s) in {time.perf_counter() - t0:.1f} s", highlight=False)


def view_command(
    runs: List[Path] = typer.Argument(..., help="Run directories (what `fireassay run/verify --out` wrote)."),
    port: int = typer.Option(7860, "--port", help="TCP port (0: any free port, printed)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback exposes the runs to the network."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write static pages into this folder instead of serving."),
) -> None:
    """Browse runs: runs, curves, problems, candidates with turns and verdicts, compare; live while a run writes."""
    if not 0 <= port <= 65535:
        fail(f"--port {port}: give a port between 1 and 65535 (or 0 for any free port)")
    try:
        from ..view import ViewError, export_site, open_runs, serve, stored_rows
        from ..view.app import is_loopback
        from ..view.export import check_export_dir
    except ImportError as e:  # the web stack is a core dependency; a broken install says so
        fail(f"fireassay view needs starlette, uvicorn, jinja2 and plotly ({e}); reinstall fireassay: pip install -e .")
    try:
        if export is not None:
            check_export_dir(export)  # before the (possibly long) indexing
        indexes = open_runs(runs, build=False)  # every store is checked here, before anything else
        background = export is None and stored_rows(indexes) > BACKGROUND_ROWS
        if not background:
            build_indexes(indexes, progress=True)
        if export is not None:
            files = export_site(indexes, export)
            console.print(f"wrote {len(files)} files; open {export / 'index.html'}", highlight=False)
            return
    except ViewError as e:
        fail(str(e))
    if not is_loopback(host):
        console.print(styled("bold yellow", "warning:", f" --host {host} serves these runs (prompts, model outputs, "
                             "gold answers) to every machine that can reach this address, without a password"),
                      highlight=False)
    if background:  # large runs: pages answer at once and fill in as the index is read
        console.print("large runs: indexing in the background; pages show how far it got", highlight=False)
        threading.Thread(target=build_indexes, args=(indexes,), daemon=True).start()
    try:
        serve(indexes, host=host, port=port, announce=lambda msg: print(msg, flush=True))
    except OSError as e:
        fail(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port or --host")


def register(app: typer.Typer) -> None:
    app.command("view")(view_command)
