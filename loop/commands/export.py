"""``fireassay export RUN_DIR --out file.jsonl``: one line per candidate with every verdict
(rows from ``RunStore.export_rows``)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..store import RunStore, StoreError
from ._common import console, fail


def export_command(
    run: Path = typer.Argument(..., help="Run directory."),
    out: Path = typer.Option(..., "--out", help="JSONL file to write."),
) -> None:
    """Every candidate with the oracle's verdict at top level and every verifier's under 'verdicts'."""
    try:
        n = 0
        with RunStore.open(run) as store:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", encoding="utf-8") as fh:
                for row in store.export_rows():
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
    except StoreError as e:
        fail(str(e))
    console.print(f"exported {n} candidates to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
