"""Doing a run: its configuration, the multi-turn sampling loop, judging what a store holds,
selector specs, reading samples files, and ``execute_run`` (the library entry point that
``fireassay run`` and the benchmarks call).

- ``config``: :class:`RunConfig`, one validated value stored with the run.
- ``loop``: :class:`RunLoop`, generation and verification at the same time, every candidate
  and verdict committed as it appears, resumable.
- ``judging``: :func:`judge_missing`, a verifier over what it has not judged yet.
- ``selectors``: ``--selectors`` specs (``NAME[:key=value...]``): parsed, checked before any
  work, built, run.
- ``samples``: :func:`read_samples`, a samples JSONL file for ``fireassay verify``.
- ``checks``: engine and sampler options checked before any work.
- ``execute``: :func:`execute_run`; ``verify``: :func:`execute_verify` (``fireassay verify``).
- ``scale``: ``--cluster``: connecting to Ray (:mod:`loop.cluster`, imported only then) and
  placing the verifiers' work on it.
- ``sweep``: :func:`execute_sweep` (``fireassay run --sweep temperature=0.4,0.7,1.0``): one
  sub-run per value, same problems and seeds, one joint report.
"""
from __future__ import annotations

from .checks import check_engine, check_sampler
from .config import RESUMABLE, RunConfig, cluster_address
from .execute import RunError, RunResult, execute_run, feedback_label, open_cluster, open_run_store
from .judging import Tally, judge_missing
from .loop import RunLoop, Trajectory
from .progress import RunProgress
from .samples import read_samples
from .selectors import (
    EngineNextToken,
    SelectorSpec,
    SelectorSpecError,
    build_selector,
    check_selector_specs,
    judge_selectors,
    parse_selector_spec,
    parse_selector_specs,
)
from .sweep import SWEEP_FILE, Sweep, SweepResult, execute_sweep, is_sweep, read_sweep
from .verify import VerifyConfig, VerifyResult, execute_verify

__all__ = [
    "RESUMABLE",
    "cluster_address",
    "open_cluster",
    "SWEEP_FILE",
    "Sweep",
    "SweepResult",
    "EngineNextToken",
    "RunConfig",
    "RunError",
    "RunLoop",
    "RunProgress",
    "RunResult",
    "SelectorSpec",
    "SelectorSpecError",
    "Tally",
    "Trajectory",
    "VerifyConfig",
    "VerifyResult",
    "build_selector",
    "check_engine",
    "check_sampler",
    "check_selector_specs",
    "execute_run",
    "execute_sweep",
    "execute_verify",
    "feedback_label",
    "is_sweep",
    "judge_missing",
    "judge_selectors",
    "open_run_store",
    "parse_selector_spec",
    "parse_selector_specs",
    "read_samples",
    "read_sweep",
]
