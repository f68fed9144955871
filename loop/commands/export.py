"""``fireassay export RUN_DIR --out file.jsonl``: one line per candidate with every verdict."""
from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from ..store import RunStore, StoreError
from ._common import console, fail


def _num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def export_rows(run_dir: Path):
    with RunStore.open(run_dir) as store:
        roles = store.verifiers()
        oracle = next((n for n, v in roles.items() if v["role"] == "oracle"), None)
        for c, verdicts in store.iter_rows():
            top = verdicts.get(oracle) if oracle else None
            yield {
                "problem_id": c.problem_id, "sample_index": c.sample_index, "turn": c.turn, "text": c.text,
                "passed": top.passed if top else None, "score": _num(top.score) if top else None,
                "answer": top.answer if top else None,
                "sampler": c.sampler.get("name") if c.sampler else None,
                "first_token": c.meta.get("first_token"), "tokens": c.meta.get("tokens"),
                "verdicts": {n: {"passed": v.passed, "score": _num(v.score), "answer": v.answer}
                             for n, v in verdicts.items()},
            }


def export_command(
    run: Path = typer.Argument(..., help="Run directory."),
    out: Path = typer.Option(..., "--out", help="JSONL file to write."),
) -> None:
    """Every candidate with the oracle's verdict at top level and every verifier's under 'verdicts'."""
    try:
        n = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for row in export_rows(run):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
    except StoreError as e:
        fail(str(e))
    console.print(f"exported {n} candidates to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
