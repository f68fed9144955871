"""Executors: where the runner's jobs run (:mod:`.execution` builds them and reads the results).

- :class:`SandboxExecutor`: a warm :class:`sandbox.pool.SandboxPool` (docker by default), one
  batch per lease; what verifiers use (:func:`make_executor`, :class:`LazyExecutor`);
- :class:`HostExecutor`: UNSAFE, a plain subprocess on this machine (unit tests, the bench's floor).
"""
from __future__ import annotations

import subprocess
import sys
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from sandbox.base import Sandbox
from sandbox.config import SandboxConfig
from sandbox.pool import SandboxPool

from .execution import MIB, CallGroup, CodeLimits, ProgramResult, make_batches, run_groups_with


class RunnerExecutor(ABC):
    """Runs batches of call groups, in parallel, and returns results by program id."""

    workers: int = 1
    """How many batches run at once (:meth:`run` makes about two batches per worker). Set by
    the constructor; never changed."""

    @abstractmethod
    def run_batches(self, batches: Sequence[Sequence[CallGroup]], limits: CodeLimits,
                    progress: bool = False) -> dict[str, ProgramResult]:
        """Run every batch (each one runner exec), in parallel over :attr:`workers`.

        Args:
            batches: the call groups of each runner exec; program ids are unique over all.
            limits: the limits every call runs under.
            progress: show a progress bar.

        Returns:
            Every program's result by its id (a program whose result never came back is
            ``lost``; one the infrastructure cut is ``unjudged``).

        Raises:
            SandboxUnavailable: the infrastructure failed past its retries.
        """

    def run(self, groups: Sequence[CallGroup], limits: CodeLimits,
            progress: bool = False) -> dict[str, ProgramResult]:
        """Run ``groups``, packed into batches by estimated cost (:func:`make_batches`)."""
        return self.run_batches(make_batches(groups, self.workers, limits.batch_programs),
                                limits, progress)

    def close(self) -> None:  # noqa: B027 - optional: an executor may hold nothing
        """Release sandboxes. Safe to call twice."""


class SandboxExecutor(RunnerExecutor):
    """Runs the runner in a warm :class:`sandbox.pool.SandboxPool` (one batch per lease).

    ``pool``: a pool to use (not ours to close); else one of ``backend`` with ``config`` (the
    EvalPlus 4 GiB by default) and ``backend_kw`` is made. ``runner``: the runner program
    (default :func:`sandbox.runner.runner_source`; a benchmark runs another version beside it).
    """

    def __init__(self, backend: str = "docker", pool_size: int | None = None,
                 config: SandboxConfig | None = None, pool: SandboxPool | None = None, *,
                 runner: str | None = None, **backend_kw: Any) -> None:
        if pool is None:
            config = config or SandboxConfig(memory="4g")  # evalplus allows 4 GiB
            if config.output_limit < 512 * MIB:  # result lines of big batches need room
                config = config.with_(output_limit=512 * MIB)
            pool = SandboxPool(pool_size, backend=backend, config=config, **backend_kw)
            self._owns = True
        else:
            self._owns = False
        self.pool: SandboxPool | None = pool
        self.workers = pool.size
        self.runner = runner

    def run_batches(self, batches: Sequence[Sequence[CallGroup]], limits: CodeLimits,
                    progress: bool = False) -> dict[str, ProgramResult]:
        pool = self.pool
        if pool is None:
            raise RuntimeError("run_batches on a closed SandboxExecutor")

        def job(sb: Sandbox, batch: Sequence[CallGroup]) -> dict[str, ProgramResult]:
            def exec_fn(argv: list[str], stdin: bytes, timeout: float) -> tuple[bytes, bool]:
                r = sb.exec(argv, stdin=stdin, timeout=timeout)
                return r.stdout, r.truncated

            def quiet(flag: bool) -> None:
                sb.quiet = flag

            # a sandbox of its own: the runner sweeps strays and wipes scratch and IPC between
            # programs, and counts the container's CPU
            return run_groups_with(exec_fn, batch, limits, python="python3",
                                   kill_strays=sb.owns_user, scratch=pool.config.scratch_dirs,
                                   before_retry=sb.reset, on_quiet=quiet, runner=self.runner)

        merged: dict[str, ProgramResult] = {}
        for part in pool.map(job, list(batches), progress=progress and len(batches) > 4):
            merged.update(part)
        return merged

    def close(self) -> None:
        if self._owns and self.pool is not None:
            self.pool.close()
        self.pool = None


class HostExecutor(RunnerExecutor):
    """UNSAFE: runs the runner as a plain subprocess on this machine, no isolation at all.

    For unit tests of trusted or deliberately hostile-but-harmless code, and as the
    unsandboxed floor in ``bench/sandbox_throughput.py``. Never for model output in real runs.
    """

    def __init__(self, workers: int = 1, python: str | None = None) -> None:
        self.workers = max(1, int(workers))
        self.python = python or sys.executable

    def exec_fn(self, argv: list[str], stdin: bytes, timeout: float) -> tuple[bytes, bool]:
        try:
            r = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return e.stdout or b"", False
        return r.stdout, False

    def run_batches(self, batches: Sequence[Sequence[CallGroup]], limits: CodeLimits,
                    progress: bool = False) -> dict[str, ProgramResult]:
        def one(batch: Sequence[CallGroup]) -> dict[str, ProgramResult]:
            return run_groups_with(self.exec_fn, batch, limits, python=self.python)

        merged: dict[str, ProgramResult] = {}
        with ThreadPoolExecutor(max_workers=self.workers) as ex:
            for part in ex.map(one, list(batches)):
                merged.update(part)
        return merged


def make_executor(backend: str = "docker", pool_size: int | None = None,
                  sandbox_config: SandboxConfig | None = None,
                  allow_unsafe: bool = False) -> RunnerExecutor:
    """The executor verifiers use: a warm sandbox pool of ``backend`` (``docker``, the
    default, or ``local``, which is not isolation and needs ``allow_unsafe``)."""
    kw: dict[str, Any] = {}
    if backend == "local" and allow_unsafe:
        kw["allow_unsafe"] = True
    return SandboxExecutor(backend=backend, pool_size=pool_size, config=sandbox_config, **kw)


@dataclass
class LazyExecutor:
    """Creates the executor on first use (verifiers are often built but never run)."""

    factory: Callable[[], RunnerExecutor]
    _executor: RunnerExecutor | None = field(default=None, init=False)
    owned: bool = True
    _starting: ThreadPoolExecutor | None = field(default=None, init=False)  # start()
    _made: "Future[RunnerExecutor] | None" = field(default=None, init=False)

    @classmethod
    def of(cls, executor: RunnerExecutor | None, backend: str, pool_size: int | None,
           sandbox_config: SandboxConfig | None, allow_unsafe: bool) -> "LazyExecutor":
        """A given executor (not ours to close), or one made on first use from the settings."""
        if executor is not None:
            return cls(lambda: executor, owned=False)
        return cls(lambda: make_executor(backend, pool_size, sandbox_config, allow_unsafe))

    def start(self) -> None:
        """Begin making the executor (a sandbox pool: containers to start) in the background;
        :meth:`get` waits for it. Once: later calls do nothing."""
        if self._executor is None and self._starting is None:
            self._starting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool-start")
            self._made = self._starting.submit(self.factory)

    def get(self) -> RunnerExecutor:
        if self._executor is None:
            if self._made is not None:  # started in the background: its result or its error
                made, self._made = self._made, None
                try:
                    self._executor = made.result()
                finally:
                    self._shut_starter()
            else:
                self._executor = self.factory()
        return self._executor

    def _shut_starter(self) -> None:
        if self._starting is not None:
            self._starting.shutdown(wait=True)
            self._starting = None

    def close(self) -> None:
        if self._made is not None:  # started, never used: wait for it, then close it
            made, self._made = self._made, None
            try:
                self._executor = made.result()
            except Exception:  # noqa: BLE001 - it failed to start: nothing to close
                self._executor = None
            self._shut_starter()
        if self._executor is not None and self.owned:
            self._executor.close()
        self._executor = None
