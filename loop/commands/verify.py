"""``fireassay verify``: judge samples generated anywhere (or the dataset's own solutions)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import typer

from verifiers import Candidate

from ..run import (
    RunError,
    SelectorSpecError,
    check_selector_specs,
    judge_missing,
    judge_selectors,
    open_run_store,
    parse_selector_specs,
    read_samples,
)
from ..tasks import get_task
from ._common import console, fail, split_names


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


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
    repeat: int = typer.Option(1, "--repeat", help="SWE: judge each patch R times and mark flaky instances."),
) -> None:
    """Verify candidates with the task's oracle and selectors; store everything in --out."""
    if (samples is None) == (not reference):
        fail("give exactly one of --samples FILE or --reference")
    options = {k: v for k, v in {"tests": tests, "repeat": repeat if repeat != 1 else None}.items() if v is not None}
    try:  # everything is checked before the run directory is made
        t = get_task(task, data=data, **options)  # options its oracle does not take are refused
        selector_names = split_names(selectors) if selectors is not None else list(t.default_selectors)
        specs = parse_selector_specs(selector_names)  # NAME or NAME:key=value:... (loop/run/selectors.py)
        if not resume:
            check_selector_specs(specs)
        problems = t.load(limit=limit)
        by_id = {p.id: p for p in problems}
        if reference:
            cands = [Candidate(p.id, 0, t.reference_text(p), sampler={"name": "reference"}) for p in problems]
        else:
            cands = read_samples(samples, by_id)  # type: ignore[arg-type]
        oracle = t.oracle()
    except (ValueError, KeyError) as e:  # DataError, UnknownOptionError, SelectorSpecError; UnknownNameError
        fail(str(e))
    config = {
        "command": "verify", "task": task, "data": str(data) if data else None, "limit": limit,
        "samples": str(samples) if samples else None,
        "samples_sha256": _file_digest(samples) if samples else None,
        "reference": reference, "selectors": selector_names, "options": options,
    }
    try:
        try:
            store = open_run_store(out, config, resume)
        except RunError as e:
            fail(str(e))
        try:
            used = {c.problem_id for c in cands}
            store.add_problems([p for p in problems if p.id in used])
            store.add_candidates(cands)
            judge_missing(store, t.oracle_name, oracle, "oracle")
            try:
                judge_selectors(store, specs, t)
            except SelectorSpecError as e:
                fail(str(e))
            verdicts = store.verdicts(t.oracle_name)
            p = sum(v.passed is True for v in verdicts.values())
            f = sum(v.passed is False for v in verdicts.values())
            u = sum(v.passed is None for v in verdicts.values())
            print(f"verified {len(verdicts)} candidates: {p} passed, {f} failed, {u} unjudged")
            console.print(f"run stored in {out}; next: fireassay report {out} --out {out}/report", highlight=False)
        finally:
            store.close()
    finally:
        oracle.close()


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
