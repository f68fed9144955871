"""``fireassay run``: sample n answers per problem, verify them (feeding failures back for up to
``--max-turns``), store everything as it appears, select, and report."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sandbox.errors import SandboxUnavailable

from ..engines import EngineError, create_engine
from ..metrics import MetricsError
from ..report import ReportConfig, build_report, write_report
from ..rundata import load_run_data
from ..runconfig import RESUMABLE, RunConfig
from ..runloop import RunLoop
from ..selector_specs import SelectorSpecError, judge_selectors, parse_selector_specs
from ..store import DB_NAME, RunStore, StoreError, writer_lock
from ..tasks import DataError, get_task
from ._common import console, fail, open_run_store, split_names


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["hot_temperature=30", "sentence=2"]`` -> ``{"hot_temperature": 30, "sentence": 2}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"--param {item!r}: expected KEY=VALUE, e.g. --param hot_temperature=30")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def execute(cfg: RunConfig, out: Path, resume: bool) -> None:
    """Open or create the store, run the loop, then the selectors and the report."""
    try:
        task = get_task(cfg.task, data=cfg.data, **cfg.task_options)
        problems = task.load(limit=cfg.limit)
    except (DataError, KeyError, ValueError) as e:
        fail(str(e))
    stored = cfg.stored()
    stored["feedback_used"] = feedback_label(cfg, task)
    try:  # a missing model or unreachable server is found before anything is written
        engine = create_engine(cfg.engine, **({"model": cfg.model} if cfg.model else {}), **cfg.engine_options)
    except EngineError as e:
        fail(str(e))
    try:
        store = open_run_store(out, stored, resume, ignore=RESUMABLE)
    except SystemExit:
        engine.close()
        raise
    held = writer_lock(out)  # `fireassay view` shows the run as running while this is held
    try:
        held.__enter__()
    except StoreError as e:
        store.close()
        engine.close()
        fail(str(e))
    store.add_problems(problems)
    oracle = task.oracle()
    feedback = task.feedback_verifier() if cfg.feedback == "auto" else None
    selector_names = list(cfg.selectors) if cfg.selectors is not None else list(task.default_selectors)
    try:
        store.set_config({"model_path": engine.model_name, "status": "running"})
        total = len(problems) * cfg.n
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                      disable=not cfg.show_progress, console=console) as bar:
            t_traj = bar.add_task("trajectories", total=total, rate="")
            t_samp = bar.add_task("samples", total=None, completed=store.count_candidates(), rate="")

            def progress(what: str, k: int, tok_s: float) -> None:
                bar.advance(t_traj if what == "trajectories" else t_samp, k)
                bar.update(t_samp, rate=f"{tok_s:,.0f} tok/s")

            loop = RunLoop(cfg, store, engine, problems, (task.oracle_name, oracle),
                           (task.feedback_name, feedback) if feedback is not None else None, progress)
            try:
                stats = loop.run()
            except KeyboardInterrupt:
                console.print(f"[yellow]interrupted[/]: everything generated so far is stored. Resume with: "
                              f"fireassay run --resume {out}", highlight=False)
                raise SystemExit(130)
            except (EngineError, SandboxUnavailable) as e:
                fail(f"{type(e).__name__}: {e}. Everything so far is stored; fix it and run: fireassay run --resume {out}")
            finally:
                engine.close()
        try:  # NAME or NAME:key=value:... (loop/selector_specs.py); scores stored once
            judge_selectors(store, parse_selector_specs(selector_names), task, show_progress=cfg.show_progress)
        except SelectorSpecError as e:
            fail(str(e))
        store.set_config({"status": "finished"})
        ov = store.verdicts(task.oracle_name)
        p = sum(v.passed is True for v in ov.values())
        f = sum(v.passed is False for v in ov.values())
        u = sum(v.passed is None for v in ov.values())
        print(f"run {out}: {len(ov)} candidates ({stats['generated']} generated now, {stats['tokens']} tokens): "
              f"{p} passed, {f} failed, {u} unjudged")
    finally:
        oracle.close()
        if feedback is not None:
            feedback.close()
        store.close()
        held.__exit__(None, None, None)
    if cfg.report:
        try:
            data = load_run_data(out, name=cfg.name)
            paths = write_report(build_report([data], ReportConfig(progress=False)), out / "report")
            console.print(f"report: {paths[1]}", highlight=False)
        except (StoreError, MetricsError) as e:
            fail(str(e))


def feedback_label(cfg: RunConfig, task) -> str:
    if cfg.max_turns == 1:
        return "none (single turn)"
    if cfg.feedback == "retry":
        return "retry: 'not correct, try again' decided by the GOLD answer (an oracle signal, not a fair result)"
    if cfg.feedback == "auto" and task.feedback_name:
        return f"{task.feedback_name} (gold-free: prompt-visible checks only)"
    return "none"


def run_command(
    task: Optional[str] = typer.Option(None, "--task", help="Task name (gsm8k, math500, mbppplus, humanevalplus, swe)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory to create."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory with its stored settings."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset file; else $FIREASSAY_DATA or the hub."),
    engine: str = typer.Option("llamacpp", "--engine", help="llamacpp (embedded CPU default), vllm, openai."),
    model: Optional[str] = typer.Option(None, "--model", help="GGUF path (llamacpp), model id/path (vllm), model name (openai)."),
    engine_option: List[str] = typer.Option([], "--engine-option", help="KEY=VALUE for the engine (e.g. base_url=http://127.0.0.1:8000/v1)."),
    sampler: str = typer.Option("regular", "--sampler", help="regular, fire, fire@sentence:N, cot-decoding."),
    n: int = typer.Option(8, "-n", "--n", help="Samples per problem (trajectories)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="First P problems only."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Tokens per turn."),
    seed: int = typer.Option(0, "--seed"),
    temperature: float = typer.Option(0.7, "--temperature", help="Regular sampling temperature (FIRE: after the hot token)."),
    top_p: float = typer.Option(0.95, "--top-p"),
    top_k: int = typer.Option(0, "--top-k", help="0 = off."),
    min_p: float = typer.Option(0.0, "--min-p"),
    param: List[str] = typer.Option([], "--param", help="Sampler KEY=VALUE (hot_temperature=30, hot_top_k=16, max_branches=10)."),
    max_turns: int = typer.Option(1, "--max-turns", help="Turns per trajectory; failures get feedback and retry."),
    fire_turns: str = typer.Option("first", "--fire-turns", help="FIRE on the first turn only, or on all turns."),
    feedback: str = typer.Option("auto", "--feedback", help="auto (task's gold-free feedback), none, retry (gold-decided; flagged)."),
    selectors: Optional[str] = typer.Option(None, "--selectors", help="Comma-separated selectors (default: the task's)."),
    name: Optional[str] = typer.Option(None, "--name", help="Label of this run in reports."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip writing RUN_DIR/report."),
    gen_batch: int = typer.Option(8, "--gen-batch", help="Problems per generation call."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Sample, verify (with feedback turns), select and report, storing everything as it appears."""
    if resume is not None:
        if out is not None and out != resume:
            fail("give the run directory once: fireassay run --resume RUN_DIR")
        if not (resume / DB_NAME).exists():
            fail(f"{resume} holds no run to resume; start one with fireassay run --task T --out {resume}")
        with RunStore.open(resume) as s:
            stored = s.config()
        if stored.get("command") != "run":
            fail(f"{resume} was made by `fireassay {stored.get('command')}`, not `fireassay run`")
        cfg = RunConfig.from_dict({**stored, "show_progress": not quiet})
        _refuse_changed(cfg, task=task, data=data, engine=engine, model=model, sampler=sampler, n=n, limit=limit,
                        max_tokens=max_tokens, seed=seed, max_turns=max_turns, selectors=selectors,
                        gen_batch=gen_batch)
        execute(cfg, resume, resume=True)
        return
    if task is None or out is None:
        fail("fireassay run needs --task and --out (or --resume RUN_DIR)")
    sampler_params: dict[str, Any] = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "min_p": min_p}
    sampler_params.update(parse_params(param))
    try:
        cfg = RunConfig(
            task=task, data=data, limit=limit, engine=engine, model=model, engine_options=parse_params(engine_option),
            sampler=sampler, sampler_params=sampler_params, n=n, max_tokens=max_tokens, seed=seed,
            max_turns=max_turns, fire_turns=fire_turns, feedback=feedback,
            selectors=tuple(split_names(selectors)) if selectors is not None else None,
            name=name, report=not no_report, gen_batch=gen_batch, show_progress=not quiet,
        )
        from ..samplers import parse_sampler
        parse_sampler(cfg.sampler, max_tokens=cfg.max_tokens, **cfg.sampler_params)  # validate early
    except (ValueError, KeyError) as e:
        fail(str(e))
    execute(cfg, out, resume=False)


def _refuse_changed(cfg: RunConfig, **given: Any) -> None:
    """On --resume, options left at their defaults are ignored; others must match the store."""
    defaults = {"engine": "llamacpp", "sampler": "regular", "n": 8, "max_tokens": 512, "seed": 0, "max_turns": 1,
                "gen_batch": 8}
    diffs = []
    for key, value in given.items():
        if value is None or defaults.get(key) == value:
            continue
        stored = getattr(cfg, key)
        if key == "selectors":
            value = tuple(split_names(value))
            stored = tuple(stored) if stored is not None else None
        if stored != value:
            diffs.append(f"{key}: stored {stored!r}, given {value!r}")
    if diffs:
        fail("--resume with different settings: " + "; ".join(diffs) + ". Drop those options to resume as stored.")


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
