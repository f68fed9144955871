"""A pool of worker processes with a hard per-call timeout and a memory cap.

For checks that may hang or explode on hostile input (sympy on ``10^{10^{10^{10}}}``):
a call that overruns is answered with a timeout and its worker is killed and replaced; a worker
that dies (memory limit, segfault) is replaced too. Neither stalls the rest of the batch.

Workers are fresh interpreters (``python -m sandbox.procpool``: no inherited threads or locks,
and no re-import of the caller's ``__main__``) that call a function named
``"module:function"``; arguments and results must pickle.

Workers die with the process that made them, however it ends (``kill -9`` included): each holds
the read end of a lifeline pipe whose only writer is the parent, set up so that the kernel sends
the worker SIGKILL when that writer closes. A worker busy in a hostile check cannot outlive it.

A worker's Python log records (math-verify's "Timeout during parsing: <100 KB of input>") never
reach the terminal: each call's first few records come back, shortened, in ``CallResult.logs``.
"""
from __future__ import annotations

import fcntl
import importlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Sequence


@dataclass(frozen=True)
class CallResult:
    ok: bool
    value: Any = None
    error: str | None = None  # "timeout after 5.0s", "worker died (exit -9)", "ValueError: ..."
    logs: tuple[str, ...] = ()  # the call's first log records, each shortened (never printed)


LOG_RECORDS_KEPT = 5  # per call
LOG_RECORD_CHARS = 200
BUDGET_SPENT = "not judged: the time budget of this batch was spent"


class _CallLog(logging.Handler):
    """Keeps the current call's first few log records, shortened; prints nothing."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) >= LOG_RECORDS_KEPT:
            self.dropped += 1
            return
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not fit its format
            msg = str(record.msg)
        if len(msg) > LOG_RECORD_CHARS:
            msg = f"{msg[:LOG_RECORD_CHARS]}... ({len(msg)} chars)"
        self.records.append(f"{record.levelname} {record.name}: {msg}")

    def take(self) -> tuple[str, ...]:
        out = self.records + ([f"... and {self.dropped} more log records"] if self.dropped else [])
        self.records, self.dropped = [], 0
        return tuple(out)


def _die_with_parent(lifeline: int) -> None:
    """Have the kernel SIGKILL this process when the parent's end of ``lifeline`` closes.

    A pipe's readers get the F_SETSIG signal (O_ASYNC) when its last writer closes; that works
    while this process is deep in a C call holding the GIL, where a watchdog thread could not run.
    """
    fcntl.fcntl(lifeline, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(lifeline, fcntl.F_SETSIG, signal.SIGKILL)
    fcntl.fcntl(lifeline, fcntl.F_SETFL, fcntl.fcntl(lifeline, fcntl.F_GETFL) | os.O_ASYNC | os.O_NONBLOCK)
    if select.select([lifeline], [], [], 0)[0]:  # the parent was gone before we were set up
        os._exit(1)


def _worker_main(conn: Connection, fn_path: str, memory_mb: int | None) -> None:
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    log = _CallLog()
    logging.root.handlers[:] = [log]  # the root logger's only handler: nothing reaches stderr
    logging.root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    module, _, name = fn_path.partition(":")
    fn = getattr(importlib.import_module(module), name)
    log.take()
    conn.send(("ready", None, None, ()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        for idx, args in msg:
            try:
                value = fn(*args)
                conn.send((idx, True, value, log.take()))
            except MemoryError:
                conn.send((idx, False, "MemoryError: memory limit reached", log.take()))
            except Exception as e:  # noqa: BLE001 - the check's own failure, reported per call
                conn.send((idx, False, f"{type(e).__name__}: {e}"[:500], log.take()))


class _Worker:
    def __init__(self, fn_path: str, memory_mb: int | None) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        life_r, self._life_w = os.pipe()  # nobody writes: its closing is the message
        cmd = [sys.executable, "-m", "sandbox.procpool", fn_path, str(memory_mb or 0),
               str(to_child_r), str(from_child_w), str(life_r)]
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=(to_child_r, from_child_w, life_r), env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            for fd in (to_child_r, from_child_w, life_r):
                os.close(fd)
        self.conn = _Duplex(Connection(from_child_r), Connection(to_child_w))
        self.ready = False
        self.pending: deque[int] = deque()  # indices sent, not yet answered, in order
        self.deadline = 0.0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            self.conn.close()
            if self._life_w >= 0:
                os.close(self._life_w)
                self._life_w = -1


class _Duplex:
    """A reading and a writing Connection used as one (``wait`` sees the reading side)."""

    def __init__(self, rd: Connection, wr: Connection) -> None:
        self.rd, self.wr = rd, wr

    def fileno(self) -> int:
        return self.rd.fileno()

    def recv(self) -> Any:
        return self.rd.recv()

    def send(self, obj: Any) -> None:
        self.wr.send(obj)

    def close(self) -> None:
        for c in (self.rd, self.wr):
            try:
                c.close()
            except OSError:
                pass


class ProcessPool:
    """``map(args_list)`` -> one :class:`CallResult` per args tuple, in order."""

    def __init__(
        self,
        fn_path: str,
        workers: int | None = None,
        timeout: float = 10.0,
        memory_mb: int | None = 2048,
        chunk_size: int = 16,
        start_timeout: float = 120.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self.fn_path = fn_path
        self.n_workers = max(1, workers or os.cpu_count() or 1)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.chunk_size = max(1, chunk_size)
        self.start_timeout = start_timeout
        self._workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        w = _Worker(self.fn_path, self.memory_mb)
        w.deadline = time.monotonic() + self.start_timeout
        return w

    def _ensure_workers(self) -> None:
        self._workers = [w for w in self._workers if w.alive()]
        while len(self._workers) < self.n_workers:
            self._workers.append(self._spawn())

    def map(self, args_list: Sequence[tuple[Any, ...]], deadline: float | None = None) -> list[CallResult]:
        """Run every call; ``deadline`` (a ``time.monotonic()`` value) caps the whole batch: calls
        still queued then are answered :data:`BUDGET_SPENT` and calls in flight are killed."""
        results: list[CallResult | None] = [None] * len(args_list)
        todo: deque[int] = deque(range(len(args_list)))
        self._ensure_workers()

        def dispatch(w: _Worker) -> None:
            chunk = []
            while todo and len(chunk) < self.chunk_size:
                chunk.append(todo.popleft())
            if chunk:
                w.pending.extend(chunk)
                w.conn.send([(i, args_list[i]) for i in chunk])
                w.deadline = time.monotonic() + self.timeout

        def replace(w: _Worker, reason: str) -> None:
            # the call in flight gets the reason; the rest of its chunk goes back to the queue
            if w.pending:
                results[w.pending.popleft()] = CallResult(False, error=reason)
                todo.extendleft(reversed(w.pending))
                w.pending.clear()
            w.kill()
            self._workers[self._workers.index(w)] = self._spawn()

        for w in self._workers:
            if w.ready:
                dispatch(w)
        while any(r is None for r in results):
            if deadline is not None and time.monotonic() >= deadline:
                for w in [w for w in self._workers if w.pending]:
                    replace(w, BUDGET_SPENT)
                while todo:
                    results[todo.popleft()] = CallResult(False, error=BUDGET_SPENT)
                break
            busy = [w for w in self._workers if w.pending or not w.ready]
            if not busy:
                for w in self._workers:
                    dispatch(w)
                continue
            until = min(w.deadline for w in busy)
            if deadline is not None:
                until = min(until, deadline)
            ready_conns = wait([w.conn for w in busy], timeout=max(0.0, until - time.monotonic()))
            for w in list(busy):
                if w.conn in ready_conns:
                    try:
                        idx, ok, value, logs = w.conn.recv()
                    except (EOFError, OSError):
                        try:
                            code = w.proc.wait(timeout=1)
                        except subprocess.TimeoutExpired:
                            code = None
                        replace(w, f"worker died (exit {code}); memory limit or crash")
                        continue
                    if idx == "ready":
                        w.ready = True
                        dispatch(w)
                        continue
                    w.pending.remove(idx)
                    results[idx] = CallResult(True, value, logs=logs) if ok else CallResult(False, error=value, logs=logs)
                    w.deadline = time.monotonic() + self.timeout
                    if not w.pending:
                        dispatch(w)
                elif time.monotonic() >= w.deadline:
                    if not w.ready:
                        raise RuntimeError(f"worker for {self.fn_path} did not start in {self.start_timeout:.0f}s")
                    replace(w, f"timeout after {self.timeout:g}s")
        return results  # type: ignore[return-value]

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
            w.kill()
        self._workers = []

    def __enter__(self) -> "ProcessPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; close() is the contract
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at garbage collection nothing may raise
            pass


if __name__ == "__main__":
    _fn, _mem, _rd, _wr, _life = sys.argv[1:6]
    _die_with_parent(int(_life))
    _conn = _Duplex(Connection(int(_rd)), Connection(int(_wr)))
    _worker_main(_conn, _fn, int(_mem) or None)  # type: ignore[arg-type]
