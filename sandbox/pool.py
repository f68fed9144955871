"""A warm pool of sandboxes: one long-lived container per worker, reused across jobs.

Between jobs every process of the sandbox user is killed and the work dir wiped
(:meth:`Sandbox.reset`); a sandbox whose reset fails, that broke a limit or whose container
died is closed and replaced by a fresh one on the next lease. Infrastructure errors
(:class:`SandboxUnavailable`: daemon restart, API timeouts) are never results: :meth:`map`
waits for the daemon and runs the job again on a fresh sandbox.
"""
from __future__ import annotations

import logging
import queue
import threading
import uuid
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TypeVar

from sandbox.base import Sandbox, backend_class
from sandbox.config import SandboxConfig
from sandbox.errors import SandboxError, SandboxUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class PoolStats:
    leases: int = 0
    created: int = 0
    replaced: int = 0  # sandboxes thrown away because they broke or failed to reset
    infra_retries: int = 0  # jobs run again because of SandboxUnavailable


class SandboxPool:
    """``size`` warm sandboxes (default: ``config.pool_size`` or the number of cores).

    ``lease()`` hands out one sandbox for one job; ``map(fn, items)`` runs ``fn(sandbox, item)``
    for every item in parallel over the pool and returns the results in order. ``backend_kw``
    goes to the backend (e.g. ``allow_unsafe=True`` for ``local``); a keyword it does not take
    is refused before anything starts (:class:`~sandbox.options.UnknownOptionError`).
    """

    def __init__(self, size: int | None = None, backend: str = "docker",
                 config: SandboxConfig | None = None, run_id: str | None = None, *,
                 reap_on_start: bool = True, infra_attempts: int = 4, eager_reset: bool = False,
                 **backend_kw: Any) -> None:
        self.config = config or SandboxConfig()
        self.size = int(size or self.config.resolved_pool_size)
        if self.size < 1:
            raise SandboxError(f"pool size must be >= 1, got {size!r}")
        self.backend = backend
        self.backend_class = backend_class(backend, backend_kw)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.infra_attempts = infra_attempts
        self.eager_reset = eager_reset
        self.stats = PoolStats()
        self._backend_kw = backend_kw
        self._idle: queue.LifoQueue[Sandbox | None] = queue.LifoQueue()
        self._live: set[Sandbox] = set()
        self._lock = threading.Lock()
        self._closed = False
        if reap_on_start:
            reaped = self.backend_class.reap_leftovers()
            if reaped:
                log.info("reaped %d leftover sandboxes", reaped)
        # start the workers' sandboxes in parallel: the pool is warm when __init__ returns
        with ThreadPoolExecutor(max_workers=min(self.size, 8)) as ex:
            futures = [ex.submit(self._new) for _ in range(self.size)]
        errors = [f.exception() for f in futures if f.exception() is not None]
        for f in futures:
            if f.exception() is None:
                self._idle.put(f.result())
        if errors:
            self.close()
            raise errors[0]  # type: ignore[misc]

    # -- sandboxes ------------------------------------------------------------------------
    def _new(self) -> Sandbox:
        kw = {"run_id": self.run_id, "kind": "pool", **self._backend_kw}
        sb = self.backend_class(config=self.config, **kw)
        with self._lock:
            self._live.add(sb)
            self.stats.created += 1
        return sb

    def _discard(self, sb: Sandbox) -> None:
        with self._lock:
            self._live.discard(sb)
            self.stats.replaced += 1
        try:
            sb.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken one may fail; reap cleans up
            log.warning("closing a broken sandbox failed: %s", exc)

    @contextmanager
    def lease(self) -> Iterator[Sandbox]:
        """A warm, reset sandbox for one job. After the job it is reset (every process of the
        sandbox user killed, work dir wiped) and returned; if that fails, or the job raised
        :class:`SandboxUnavailable`, it is closed and replaced."""
        if self._closed:
            raise SandboxError("lease on a closed pool")
        sb = self._idle.get()
        try:
            if sb is None or sb.broken:
                if sb is not None:
                    self._discard(sb)
                sb = self._new()
        except BaseException:
            self._idle.put(None)  # keep the pool at its size; the next lease tries again
            raise
        with self._lock:
            self.stats.leases += 1
        sb.quiet = False
        try:
            yield sb
        except SandboxUnavailable:
            self._discard(sb)
            self._idle.put(None)
            raise
        except BaseException:
            self._release(sb)
            raise
        else:
            self._release(sb)

    def _release(self, sb: Sandbox) -> None:
        if self._closed:
            sb.close()
            return
        try:
            if self.eager_reset:
                sb.reset()
            else:  # folded into the next job's first command: one exec per job, not two
                sb.schedule_reset()
        except SandboxUnavailable as exc:  # SandboxBroken included
            log.info("replacing sandbox: %s", exc)
            self._discard(sb)
            self._idle.put(None)
            return
        self._idle.put(sb)

    # -- parallel map ---------------------------------------------------------------------
    def _run_one(self, fn: Callable[[Sandbox, T], R], item: T) -> R:
        last: SandboxUnavailable | None = None
        for attempt in range(self.infra_attempts):
            try:
                with self.lease() as sb:
                    return fn(sb, item)
            except SandboxUnavailable as exc:
                last = exc
                with self._lock:
                    self.stats.infra_retries += 1
                log.warning("infrastructure error (attempt %d/%d), job will run again: %s",
                            attempt + 1, self.infra_attempts, exc)
                self.backend_class.wait_until_available(self.config)
        raise SandboxUnavailable(
            f"gave up after {self.infra_attempts} attempts on infrastructure errors: {last}"
        ) from last

    def map(self, fn: Callable[[Sandbox, T], R], items: Sequence[T],
            progress: bool = False) -> list[R]:
        """``[fn(sandbox, item) for item in items]`` in parallel over the pool, in order.

        ``fn`` gets a reset sandbox of its own. Infrastructure errors re-run the item on a fresh
        sandbox (up to ``infra_attempts``); any other exception from ``fn`` stops the map and is
        raised."""
        items = list(items)
        results: list[Any] = [None] * len(items)
        if not items:
            return []
        bar = _progress(progress, len(items))
        with ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="sandbox") as ex:
            futures: dict[Future[R], int] = {
                ex.submit(self._run_one, fn, item): i for i, item in enumerate(items)
            }
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_EXCEPTION, timeout=0.5)
                    for f in done:
                        exc = f.exception()
                        if exc is not None:
                            for p in pending:
                                p.cancel()
                            raise exc
                        results[futures[f]] = f.result()
                        if bar is not None:
                            bar[0].advance(bar[1])
            finally:
                if bar is not None:
                    bar[0].stop()
        self.flush_resets()
        return results

    def flush_resets(self) -> None:
        """Carry out pending resets of idle sandboxes now, so that nothing a job left running
        keeps burning CPU while the pool waits (``map`` calls this at its end). Sandboxes whose
        job reported itself ``quiet`` keep the reset folded into their next command."""
        idle: list[Sandbox | None] = []
        while True:
            try:
                idle.append(self._idle.get_nowait())
            except queue.Empty:
                break

        def flush(sb: Sandbox | None) -> Sandbox | None:
            if sb is None or sb.quiet:  # its last job left nothing running: no CPU to save
                return sb
            try:
                sb.flush_reset()
                return sb
            except SandboxUnavailable as exc:
                log.info("replacing sandbox: %s", exc)
                self._discard(sb)
                return None

        if idle:
            with ThreadPoolExecutor(max_workers=min(len(idle), 8)) as ex:
                for sb in ex.map(flush, idle):
                    self._idle.put(sb)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        with self._lock:
            live = list(self._live)
            self._live.clear()
        if live:
            with ThreadPoolExecutor(max_workers=min(len(live), 8)) as ex:
                list(ex.map(lambda s: s.close(), live))

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _progress(enabled: bool, total: int) -> tuple[Any, Any] | None:
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    p = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), transient=False)
    p.start()
    return p, p.add_task("sandbox jobs", total=total)
