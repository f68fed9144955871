"""``fireassay select RUN_DIR --selectors a,b:key=value,...``: add gold-free selectors to an
existing run without resampling. Each selector judges only the candidates it has not judged yet
and writes its verdicts to the run store; ``fireassay report`` then shows it beside the others.
Syntax of a selector and its options: ``loop/run/selectors.py``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..run import RunError, SelectorSpecError, judge_selectors, open_cluster, parse_selector_specs
from ..store import RunStore, StoreError
from ..tasks import get_task
from ._common import CLUSTER_HELP, console, fail


def select_command(
    run_dir: Path = typer.Argument(..., help="A run directory (made by `fireassay verify` or `fireassay run`)."),
    selectors: str = typer.Option(..., "--selectors", help=(
        "Comma-separated selectors, each NAME or NAME:key=value[:key=value]; e.g. "
        "'majority,reward_model:model=PATH,weighted_majority:weights=reward_model,llm_judge:engine=llamacpp'. "
        "as=NAME stores it under another name.")),
    seed: int = typer.Option(0, "--seed", help="Seed for tie breaks."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP),
) -> None:
    """Add selectors to a run without resampling (scores are computed once and stored)."""
    try:
        specs = parse_selector_specs(selectors)
    except SelectorSpecError as e:
        fail(str(e))
    if not specs:
        fail("--selectors is empty; name at least one selector")
    try:
        store = RunStore.open(run_dir)
    except StoreError as e:
        fail(str(e))
    session = None
    try:
        if cluster is not None:
            try:
                session = open_cluster(cluster, [s.selector for s in specs])
            except RunError as e:
                fail(str(e))
        config = store.config()
        task = None
        if config.get("task"):
            try:
                task = get_task(str(config["task"]), data=config.get("data"), **(config.get("options") or {}))
            except KeyError as e:
                fail(f"{run_dir}: the run's task is not available here ({e}); install the package that provides it")
        try:  # every spec is checked (against the store too) before any is run
            done = judge_selectors(store, specs, task, seed=seed,
                                   place=session.verifier_options if session is not None else None)
        except (SelectorSpecError, ValueError) as e:
            fail(str(e))
        except RuntimeError as e:  # backend errors (missing model, unreachable server)
            fail(f"{type(e).__name__}: {e}")
        for spec in specs:
            verdicts = store.verdicts(spec.name)
            unscored = sum(v.score != v.score for v in verdicts.values())  # nan
            console.print(f"{spec.name}: judged {done[spec.name]} new candidates; {len(verdicts)} stored, "
                          f"{unscored} without a score", highlight=False)
        console.print(f"next: fireassay report {run_dir} --out {run_dir}/report", highlight=False)
    finally:
        store.close()
        if session is not None:
            session.close()


def register(app: typer.Typer) -> None:
    app.command("select")(select_command)
