"""``fireassay verify``: judge samples generated anywhere (or the dataset's own solutions).
Argument parsing only: the work is ``loop.run.execute_verify``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..run import RunError, VerifyConfig, execute_verify
from ._common import CLUSTER_HELP, TIMING_HELP, console, fail, judged_by, split_names


def verify_command(
    task: str = typer.Option(..., "--task", help="Task name (gsm8k, math500, mbppplus, humanevalplus, swe, ...)."),
    out: Path = typer.Option(..., "--out", help="Run directory to write (SQLite run store)."),
    samples: Optional[Path] = typer.Option(None, "--samples", help="JSONL: {\"problem_id\", \"text\"[, \"sample_index\", \"score\"]}."),
    reference: bool = typer.Option(False, "--reference", help="Judge each problem's own reference solution instead of samples."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset file (jsonl, jsonl.gz, json); else $FIREASSAY_DATA or the hub."),
    selectors: Optional[str] = typer.Option(None, "--selectors", help="Comma-separated selectors; default: the task's."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N problems of the dataset."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted verify in --out: judge only what is missing."),
    tests: Optional[str] = typer.Option(None, "--tests", help="Code tasks: 'base' judges on base inputs only."),
    timing: Optional[str] = typer.Option(None, "--timing", help=TIMING_HELP),
    repeat: int = typer.Option(1, "--repeat", help="SWE: judge each patch R times and mark flaky instances."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP),
    answer_format: Optional[str] = typer.Option(None, "--answer-format", help="GSM8K: flexible (default: boxed / 'answer is' / '#### x' parsed whole) or strict (only '#### x', as Large Language Monkeys)."),
) -> None:
    """Verify candidates with the task's oracle and selectors; store everything in --out."""
    options = {k: v for k, v in {"tests": tests, "repeat": repeat if repeat != 1 else None,
                                 "answer_format": answer_format,
                                 "timing": timing}.items() if v is not None}
    try:
        cfg = VerifyConfig(task=task, samples=str(samples) if samples else None, reference=reference,
                           data=str(data) if data else None, limit=limit, task_options=options,
                           selectors=tuple(split_names(selectors)) if selectors is not None else None,
                           cluster=cluster)
        r = execute_verify(cfg, out, resume=resume)
    except (ValueError, RunError) as e:
        fail(str(e))
    o = r.oracle
    print(f"verified {o.candidates} candidates: {o.passed} passed, {o.failed} failed, {o.unjudged} unjudged"
          + judged_by(r.judging))
    for line in o.notes():
        console.print(line, highlight=False)
    console.print(f"run stored in {out}; next: fireassay report {out} --out {out}/report", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
