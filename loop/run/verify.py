"""One ``fireassay verify`` as a library call: judge samples generated anywhere (or a dataset's
own reference solutions) with a task's oracle and selectors, into a run store.

    result = execute_verify(VerifyConfig(task="gsm8k", data="test.jsonl", samples="s.jsonl"), "runs/mine")

Everything is checked before the run directory is made (task, its options, the data, the
samples file line by line, the selector specs); ``resume=True`` judges only what is missing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxUnavailable
from verifiers import Candidate

from ..tasks import get_task
from .config import cluster_address
from .execute import INPUT_ERRORS, RunError, open_cluster, open_run_store
from .judging import Tally, judge_missing
from .samples import read_samples
from .scale import no_placement, watch_cluster
from .selectors import SelectorSpecError, check_selector_specs, judge_selectors, parse_selector_specs, stored_specs


@dataclass(frozen=True)
class VerifyConfig:
    task: str
    """Task name; its oracle judges."""
    samples: str | None = None
    """JSONL file of samples (``{"problem_id", "text"[, "sample_index", "turn", "score"]}``)."""
    reference: bool = False
    """Judge each problem's own reference solution instead of samples."""
    data: str | None = None
    """Dataset file; None: ``$FIREASSAY_DATA/<task>/`` or the hub."""
    selectors: tuple[str, ...] | None = None
    """Selector specs; None: the task's."""
    limit: int | None = None
    """The first ``limit`` problems only."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """Options of the task's oracle (``tests="base"``, ``repeat=R``)."""
    cluster: str | None = None
    """``ray`` or ``ray=ADDRESS``: judge on a Ray cluster's nodes (not stored: a verify may
    resume elsewhere)."""

    def __post_init__(self) -> None:
        if (self.samples is None) == (not self.reference):
            raise ValueError("give exactly one of --samples FILE or --reference")
        if self.cluster is not None:
            cluster_address(self.cluster)


@dataclass(frozen=True)
class VerifyResult:
    out: Path
    oracle: Tally  # the oracle's verdicts on every stored candidate
    judging: dict[str, str] = field(default_factory=dict)  # the oracle's rules (timing), stored


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def execute_verify(cfg: VerifyConfig, out: str | Path, *, resume: bool = False) -> VerifyResult:
    """Check everything, then store the candidates in ``out`` and judge them with the oracle
    and the selectors (``resume``: continue the verify stored there)."""
    out = Path(out)
    try:
        task = get_task(cfg.task, data=cfg.data, **cfg.task_options)  # options its oracle does not take are refused
        selector_names = list(cfg.selectors) if cfg.selectors is not None else list(task.default_selectors)
        specs = parse_selector_specs(selector_names)
        if not resume:  # a resumed run's specs are checked against its store, before any judging
            check_selector_specs(specs, have={task.oracle_name}, task=task)
        if cfg.reference:
            problems = task.load(limit=cfg.limit)
            cands = [Candidate(p.id, 0, task.reference_text(p), sampler={"name": "reference"}) for p in problems]
        else:
            cands = read_samples(cfg.samples, set(task.problem_ids(limit=cfg.limit)))  # type: ignore[arg-type]
            # only the problems that have samples are built (MBPP+ encodes every test input)
            problems = task.load(limit=cfg.limit, only={c.problem_id for c in cands})
    except INPUT_ERRORS as e:
        raise RunError(str(e)) from None
    # every node is checked before the run directory is made
    cluster = open_cluster(cfg.cluster, [task.oracle_name, *(s.selector for s in specs)]) \
        if cfg.cluster is not None else None
    place = cluster.verifier_options if cluster is not None else no_placement
    try:
        oracle = task.oracle(**place(task.oracle_name))
    except INPUT_ERRORS as e:
        if cluster is not None:
            cluster.close()
        raise RunError(str(e)) from None
    stored = {
        "command": "verify", "task": cfg.task, "data": cfg.data, "limit": cfg.limit,
        "samples": cfg.samples, "samples_sha256": file_digest(cfg.samples) if cfg.samples else None,
        "reference": cfg.reference, "selectors": selector_names, "options": dict(cfg.task_options),
        "judging": oracle.judging_rules(),  # the rules that judged it (compared on --resume)
    }
    try:
        store = open_run_store(out, stored, resume)
        try:
            if resume:
                try:
                    check_selector_specs(specs, stored=stored_specs(store), have=set(store.verifiers()), task=task)
                except SelectorSpecError as e:
                    raise RunError(str(e)) from None
            oracle.prepare()  # everything is checked: its sandboxes start while the input is stored
            used = {c.problem_id for c in cands}
            store.add_problems([p for p in problems if p.id in used])
            store.add_candidates(cands)
            try:
                judge_missing(store, task.oracle_name, oracle, "oracle",
                              watch=(lambda bars: watch_cluster(cluster, bars)) if cluster is not None else None)
            except SandboxUnavailable as e:  # Docker gone, or every cluster node lost
                raise RunError(f"SandboxUnavailable: {e}. Everything judged so far is stored; fix it and run "
                               f"the same verify with --resume") from None
            try:
                judge_selectors(store, specs, task, place=place)
            except SelectorSpecError as e:
                raise RunError(str(e)) from None
            return VerifyResult(out, Tally.of(store.verdicts(task.oracle_name).values()),
                                oracle.judging_rules())
        finally:
            store.close()
    finally:
        oracle.close()
        if cluster is not None:
            cluster.close()
