"""``fireassay run``: sample n answers per problem, verify them (feeding failures back for up to
``--max-turns``), store everything as it appears, select, and report. Argument parsing only: the
work is ``loop.run.execute_run``; option defaults are ``RunConfig``'s."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, List, Optional, TypeVar

import typer

from ..run import RunConfig, RunError, RunResult, Sweep, SweepResult, execute_run, execute_sweep, is_sweep, read_sweep
from ..store import DB_NAME, RunStore
from ._common import CLUSTER_HELP, TIMING_HELP, console, defaults_of, fail, judged_by, split_names, styled

D = defaults_of(RunConfig)
S = D["sampler_params"]


def parse_params(items: list[str], flag: str) -> dict[str, Any]:
    """``["hot_temperature=30", "sentence=2"]`` -> ``{"hot_temperature": 30, "sentence": 2}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} "
                 + ("hot_temperature=30" if flag == "--param" else "base_url=http://127.0.0.1:8000/v1"))
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def run_command(
    task: Optional[str] = typer.Option(None, "--task", help="Task name (gsm8k, math500, mbppplus, humanevalplus, swe)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory to create."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory with its stored settings."),
    data: Optional[str] = typer.Option(D["data"], "--data", help="Dataset file; else $FIREASSAY_DATA or the hub."),
    engine: str = typer.Option(D["engine"], "--engine", help="llamacpp (embedded CPU default), vllm, openai."),
    model: Optional[str] = typer.Option(D["model"], "--model", help="GGUF path (llamacpp), model id/path (vllm), model name (openai)."),
    engine_option: List[str] = typer.Option([], "--engine-option", help="KEY=VALUE for the engine (e.g. base_url=http://127.0.0.1:8000/v1)."),
    sampler: str = typer.Option(D["sampler"], "--sampler", help="regular, fire, fire@sentence:N, fire@step, cot-decoding."),
    n: int = typer.Option(D["n"], "-n", "--n", help="Samples per problem (trajectories)."),
    limit: Optional[int] = typer.Option(D["limit"], "--limit", help="First P problems only."),
    max_tokens: int = typer.Option(D["max_tokens"], "--max-tokens", help="Tokens per turn."),
    seed: int = typer.Option(D["seed"], "--seed", help="Run seed (each sample's seed depends on it, the problem, the sample, the turn)."),
    temperature: float = typer.Option(S["temperature"], "--temperature", help="Regular sampling temperature (FIRE: after the hot token)."),
    top_p: float = typer.Option(S["top_p"], "--top-p"),
    top_k: int = typer.Option(S["top_k"], "--top-k", help="0 = off."),
    min_p: float = typer.Option(S["min_p"], "--min-p"),
    param: List[str] = typer.Option([], "--param", help="Sampler KEY=VALUE (hot_temperature=30, hot_top_k=16, max_branches=10)."),
    max_turns: int = typer.Option(D["max_turns"], "--max-turns", help="Turns per trajectory; failures get feedback and retry."),
    fire_turns: str = typer.Option(D["fire_turns"], "--fire-turns", help="FIRE on the first turn only, or on all turns."),
    feedback: str = typer.Option(D["feedback"], "--feedback", help="auto (task's gold-free feedback), none, retry (gold-decided; flagged)."),
    selectors: Optional[str] = typer.Option(None, "--selectors", help="Comma-separated selectors (default: the task's)."),
    name: Optional[str] = typer.Option(D["name"], "--name", help="Label of this run in reports."),
    no_report: bool = typer.Option(not D["report"], "--no-report", help="Skip writing RUN_DIR/report."),
    gen_batch: int = typer.Option(D["gen_batch"], "--gen-batch", help="Problems per generation call."),
    quiet: bool = typer.Option(not D["show_progress"], "--quiet", help="No progress bars."),
    cluster: Optional[str] = typer.Option(D["cluster"], "--cluster", help=CLUSTER_HELP),
    timing: Optional[str] = typer.Option(None, "--timing", help=TIMING_HELP),
    engine_replicas: int = typer.Option(D["engine_replicas"], "--engine-replicas",
                                        help="Engine replicas as Ray actors (needs --cluster)."),
    answer_format: Optional[str] = typer.Option(None, "--answer-format", help="GSM8K: flexible (default: boxed / 'answer is' / '#### x' parsed whole) or strict (only '#### x', as Large Language Monkeys)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="KEY=V1,V2,...: one sub-run per value of a sampling parameter (temperature, top_p, top_k, min_p; FIRE's hot_temperature, hot_top_k), same problems and seeds, into OUT/KEY=V/; OUT/report/ puts them on one plot."),
) -> None:
    """Sample, verify (with feedback turns), select and report, storing everything as it appears."""
    if resume is not None:
        if out is not None and out != resume:
            fail("give the run directory once: fireassay run --resume RUN_DIR")
        if is_sweep(resume):
            try:
                base, stored_sweep = read_sweep(resume)
                if sweep is not None and Sweep.parse(sweep) != stored_sweep:
                    fail(f"--resume with a different sweep: stored {stored_sweep.key}="
                         f"{','.join(map(str, stored_sweep.values))}, given {sweep}. Drop --sweep to resume as stored.")
                # where it runs may change on --resume
                base = dataclasses.replace(base, show_progress=not quiet, cluster=cluster,
                                           engine_replicas=engine_replicas)
            except (RunError, ValueError) as e:
                fail(str(e))
            refuse_changed(base, task=task, data=data, engine=engine, model=model, sampler=sampler, n=n, limit=limit,
                           max_tokens=max_tokens, seed=seed, max_turns=max_turns, selectors=selectors,
                           gen_batch=gen_batch)
            run_sweep(base, stored_sweep, resume, resume=True)
            return
        if sweep is not None:
            fail(f"{resume} is a single run, not a sweep; drop --sweep to resume it")
        if not (resume / DB_NAME).exists():
            fail(f"{resume} holds no run to resume; start one with fireassay run --task T --out {resume}")
        with RunStore.open(resume) as s:
            stored = s.config()
        if stored.get("command") != "run":
            fail(f"{resume} was made by `fireassay {stored.get('command')}`, not `fireassay run`")
        try:  # where it runs may change on --resume
            cfg = RunConfig.from_dict({**stored, "show_progress": not quiet, "cluster": cluster,
                                       "engine_replicas": engine_replicas})
        except ValueError as e:
            fail(str(e))
        refuse_changed(cfg, task=task, data=data, engine=engine, model=model, sampler=sampler, n=n, limit=limit,
                       max_tokens=max_tokens, seed=seed, max_turns=max_turns, selectors=selectors,
                       gen_batch=gen_batch)
        if answer_format is not None and cfg.task_options.get("answer_format", "flexible") != answer_format:
            fail(f"--resume with different settings: answer_format: stored "
                 f"{cfg.task_options.get('answer_format', 'flexible')!r}, given {answer_format!r}. "
                 "Drop --answer-format to resume as stored.")
        if timing is not None:  # the rule that judged the stored run stays the rule
            was = cfg.task_options.get("timing") or (stored.get("judging") or {}).get("timing")
            if was != timing:
                fail(f"--resume with different settings: timing: stored {was!r}, given {timing!r}. "
                     "Drop --timing to resume as stored.")
        execute(cfg, resume, resume=True)
        return
    if task is None or out is None:
        fail("fireassay run needs --task and --out (or --resume RUN_DIR)")
    sampler_params: dict[str, Any] = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "min_p": min_p}
    sampler_params.update(parse_params(param, "--param"))
    try:
        cfg = RunConfig(
            task=task, data=data, limit=limit, engine=engine, model=model,
            engine_options=parse_params(engine_option, "--engine-option"),
            sampler=sampler, sampler_params=sampler_params, n=n, max_tokens=max_tokens, seed=seed,
            max_turns=max_turns, fire_turns=fire_turns, feedback=feedback,
            selectors=tuple(split_names(selectors)) if selectors is not None else None,
            name=name, report=not no_report, gen_batch=gen_batch, show_progress=not quiet,
            cluster=cluster, engine_replicas=engine_replicas,
            task_options={**({"answer_format": answer_format} if answer_format is not None else {}),
                          **({"timing": timing} if timing is not None else {})},
        )
    except ValueError as e:
        fail(str(e))
    if sweep is not None:
        try:
            parsed = Sweep.parse(sweep)
        except ValueError as e:
            fail(str(e))
        run_sweep(cfg, parsed, out, resume=False)
        return
    execute(cfg, out, resume=False)


T = TypeVar("T")


def guarded(out: Path, work: Callable[[], T]) -> T:
    """``work()`` with a run's errors as the CLI says them (Ctrl-C: how to resume)."""
    try:
        return work()
    except RunError as e:
        fail(str(e))
    except KeyboardInterrupt:
        console.print(styled("yellow", "interrupted", ": everything generated so far is stored. Resume with: "
                             f"fireassay run --resume {out}"), highlight=False)
        raise SystemExit(130) from None


def say(r: RunResult, label: str, report: Path | None) -> None:
    o = r.oracle
    print(f"run {label}: {o.candidates} candidates ({r.generated} generated now, {r.tokens} tokens): "
          f"{o.passed} passed, {o.failed} failed, {o.unjudged} unjudged" + judged_by(r.judging))
    for line in o.notes():
        console.print(line, highlight=False)
    if report is not None:
        console.print(f"report: {report}", highlight=False)


def run_sweep(base: RunConfig, sweep: Sweep, out: Path, resume: bool) -> None:
    """``execute_sweep`` with its outcome and errors as the CLI says them."""
    r: SweepResult = guarded(out, lambda: execute_sweep(base, sweep, out, resume=resume))
    for value, run in zip(sweep.values, r.runs):
        say(run, f"{run.out} ({sweep.key}={value})", None)
    if r.report is not None:
        console.print(f"report: {r.report}", highlight=False)


def execute(cfg: RunConfig, out: Path, resume: bool) -> None:
    """``execute_run`` with its outcome and errors as the CLI says them."""
    r: RunResult = guarded(out, lambda: execute_run(cfg, out, resume=resume))
    say(r, str(out), r.report)


def refuse_changed(cfg: RunConfig, **given: Any) -> None:
    """On --resume, options left at their defaults are ignored; others must match the store."""
    diffs = []
    for key, value in given.items():
        if value is None or D.get(key) == value:
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
