"""``fireassay rft RUN_DIR [RUN_DIR...] --out train.jsonl``: RFT training data from verified runs."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..rft import RFTError, RFTResult, SelectOptions, build_rft, write_export
from ..store import StoreError
from ._common import console, defaults_of, fail

D = defaults_of(SelectOptions)


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def print_stats(result: RFTResult) -> None:
    table = result.k_table()
    t = Table(title="distinct reasoning paths per problem, first k samples")
    t.add_column("source")
    t.add_column("n", justify="right")
    for k in table.ks:
        t.add_column(f"k={k}", justify="right")
    for src, row in table.rows.items():
        n = table.samples.get(src)
        t.add_row(src, "" if n is None else str(n), *(_fmt(row[k]) for k in table.ks))
    console.print(t)


def print_sources(result: RFTResult) -> None:
    t = Table(title="per source (keys: distinct paths; only here: keys no other source has)")
    cols = ["candidates", "correct", "unjudged", "dropped_arithmetic", "distinct_keys", "only_this_source", "kept"]
    heads = ["samples", "correct", "unjudged", "bad arith.", "keys", "only here", "kept"]
    t.add_column("source")
    for h in heads:
        t.add_column(h, justify="right")
    for src, counts in result.per_source.items():
        d = counts.as_dict()
        t.add_row(src, *(str(d[c]) for c in cols))
    tot = result.totals
    t.add_row("all", *(str(tot.get(c, "")) for c in cols), style="bold")
    console.print(t)


def rft_command(
    runs: List[Path] = typer.Argument(..., help="Verified run directories to pool (one source each)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Chat-format JSONL to write (a <stem>.stats.json sidecar goes beside it)."),
    max_per_problem: Optional[int] = typer.Option(D["max_per_problem"], "--max-per-problem", help="Keep at most N distinct paths per problem (the most different ones)."),
    min_per_problem: int = typer.Option(D["min_per_problem"], "--min-per-problem", help="Leave out problems with fewer than M kept paths."),
    seed: int = typer.Option(D["seed"], "--seed", help="Seed of the order in which equal paths are compared."),
    stats: bool = typer.Option(False, "--stats", help="Print distinct paths per problem against k (1, 3, 6, 12, 25, 50, 100)."),
    mode: str = typer.Option(D["mode"], "--mode", help="reference: gsm8k-ScRel exactly (GSM8K; <<...>> annotations, absolute 1e-3, online edit-distance rule, source order); extended: plain-text equations too, code AST keys, seeded order, --max/--min-per-problem."),
    include_original: Optional[bool] = typer.Option(None, "--include-original/--no-include-original", help="Write each problem's own solution first (default: on in reference mode, off in extended)."),
) -> None:
    """Keep correct paths with sound arithmetic, one per distinct equation list (code: AST),
    the most different first; pool runs; export chat-format JSONL for SFT."""
    if out is None and not stats:
        fail("give --out FILE.jsonl to write the training set (or --stats to only print the table)")
    try:
        options = SelectOptions(max_per_problem=max_per_problem, min_per_problem=min_per_problem, seed=seed,
                                mode=mode, include_original=include_original)
    except ValueError as e:
        fail(str(e))
    try:
        result = build_rft(runs, options, progress=console.is_terminal)
    except (RFTError, StoreError) as e:
        fail(str(e))
    print_sources(result)
    if stats:
        print_stats(result)
    if out is not None:
        path, side, n = write_export(result, out)
        tot = result.totals
        console.print(
            f"--mode {options.mode}: wrote {n} rows ({tot.get('originals', 0)} own solutions); "
            f"kept {n - tot.get('originals', 0)} paths of {tot['problems_kept']} problems "
            f"({tot['candidates']} candidates, {tot['correct']} correct, {tot['dropped_arithmetic']} dropped for arithmetic, "
            f"{tot['distinct_keys']} distinct keys) -> {path}; counts in {side}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.command("rft")(rft_command)
