"""``fireassay export RUN_DIR --out file.jsonl``: one line per candidate with every verdict
(rows from ``RunStore.export_rows``; ``--salvage``: what SQLite can still read of a damaged store)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..salvage import salvage
from ..store import RunStore, StoreError
from ._common import OutputError, console, fail, styled, write_lines


def export_command(
    run: Path = typer.Argument(..., help="Run directory."),
    out: Path = typer.Option(..., "--out", help="JSONL file to write."),
    salvage_rows: bool = typer.Option(False, "--salvage", help="Damaged store: write every candidate (and verdict) "
                                      "SQLite can still read, and say what could not be."),
) -> None:
    """Every candidate with the oracle's verdict at top level and every verifier's under 'verdicts'."""
    note = None
    try:
        if salvage_rows:
            saved = salvage(run)
            n = write_lines(out, (json.dumps(r, ensure_ascii=False) for r in saved.rows))
            note = saved.note
        else:
            with RunStore.open(run) as store:
                n = write_lines(out, (json.dumps(r, ensure_ascii=False) for r in store.export_rows()))
    except (StoreError, OutputError) as e:
        fail(str(e))
    if note is not None:
        console.print(styled("yellow", "damaged store:", f" {note}"), highlight=False)
    console.print(f"exported {n} candidates to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
