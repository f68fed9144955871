"""The child: the one process that runs the untrusted code.

It is forked by the fork server (or started as a fresh interpreter with ``--fireassay-child``),
never holds the nonce, and talks to the runner over two private pipes only (its stdin, stdout and
stderr are ``/dev/null``). It loads the program, takes every input at once and streams one
answer per call back without waiting for the runner (:mod:`sandbox.runner.protocol`), so the
runner times call i from answer i-1 with no round trip per input. It is non-dumpable from its
start: no other process of the uid can ptrace it.
"""
from __future__ import annotations

import json
import os
import sys
import time

if __name__ != "__main__":  # on the host; in the sandbox every file is one program (runner_source)
    from sandbox.plain import DIGEST_NODES, Unserializable, count_nodes, decode, digest_of, encode, type_name
    from sandbox.runner.proc import PR_SET_DUMPABLE, prctl
    from sandbox.runner.protocol import PIPE_HEADER, TRACEBACK_CHARS, Job, Limit, Msg, Status


def child_entry(argv: list[str]) -> None:
    """``--fireassay-child <command fd> <result fd>``: a child in a fresh interpreter."""
    cmd_fd, res_fd = int(argv[1]), int(argv[2])
    prctl(PR_SET_DUMPABLE, 0)  # before any candidate code (forked children are born so)
    try:
        child_main(cmd_fd, res_fd)
    finally:
        os._exit(0)


def child_main(cmd_fd: int, res_fd: int) -> None:
    """Load the program the runner sends on ``cmd_fd``, call it on every input, answer on
    ``res_fd``. Returns when the inputs are done, the code failed to load, or (with
    stop_on_error) a call failed."""

    def send(obj: object, value: object = None, with_value: bool = False) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode()
        if with_value:  # the (possibly huge) value travels raw after the header line
            data += b"\n" + json.dumps(value, separators=(",", ":")).encode()
        buf = PIPE_HEADER.pack(len(data)) + data
        while buf:
            n = os.write(res_fd, buf)
            buf = buf[n:]

    def recv() -> object:
        head = _read_exact(cmd_fd, PIPE_HEADER.size)
        (n,) = PIPE_HEADER.unpack(head)
        return json.loads(_read_exact(cmd_fd, n))

    setup = recv()
    limits = setup.get(Job.LIMITS) or {}
    _apply_limits(limits)
    cap = int(limits.get(Limit.DIGEST_NODES) or DIGEST_NODES)

    fn = None
    try:
        fn = _load(setup[Job.CODE], setup[Job.ENTRY_POINT])
    except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        send({Msg.LOAD: _describe(e)})
        return
    send({Msg.LOAD: None})
    # every remaining input arrives at once; the answers stream back as the calls finish, so
    # the runner never waits on a round trip per input (it times each call from the previous
    # answer: a call starts as soon as the one before it has been sent)
    try:
        req = recv()
    except (EOFError, OSError, ValueError):
        return
    if not isinstance(req, dict) or not isinstance(req.get(Job.INPUTS), list):
        return
    stop_on_error = bool(req.get(Job.STOP_ON_ERROR, True))
    send({Msg.READY: len(req[Job.INPUTS])})  # parsing the inputs is nobody's call time
    for tagged in req[Job.INPUTS]:
        try:
            args = decode(tagged)
        except BaseException as e:  # noqa: BLE001 - a bad input fails its call only
            send({Msg.STATUS: Status.ERROR, **_describe(e)})
            if stop_on_error:
                return
            continue
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            out = fn(*args)
            dt = time.perf_counter() - t0
            cpu = time.process_time() - c0
            head = {Msg.STATUS: Status.OK, Msg.SECONDS: dt, Msg.CPU: cpu}
            try:
                if count_nodes(out, cap) > cap:
                    # the call is over: hashing a huge value gets its own allowance
                    send({Msg.STATUS: Status.RETURNED, Msg.SECONDS: dt, Msg.CPU: cpu})
                    send(head, encode(digest_of(out)), True)
                else:
                    send(head, encode(out), True)
            except (TypeError, ValueError):  # e.g. a surrogate in a str
                send(head, encode(Unserializable(type_name(out))), True)
        except BaseException as e:  # noqa: BLE001 - whatever the code raises is its answer
            dt = time.perf_counter() - t0
            send({Msg.STATUS: Status.ERROR, **_describe(e), Msg.SECONDS: dt})
            if stop_on_error:
                return


def _apply_limits(limits: dict) -> None:
    mem = limits.get(Limit.MEMORY_MB)
    if mem:
        try:
            import resource

            lim = int(mem) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        except (ValueError, OSError, ImportError):
            pass
    if limits.get(Limit.RECURSION_LIMIT):
        sys.setrecursionlimit(int(limits[Limit.RECURSION_LIMIT]))


# modules imported before a program that names them runs (its load, not its calls, pays for
# them): EvalPlus's worker process is forked from an evaluator that imported numpy, so there a
# candidate's `import numpy` costs nothing of an input's wall-clock limit
PRELOAD = ("numpy",)


def _load(code: str, entry_point: str) -> object:
    """Run the program's code; its entry point."""
    for name in PRELOAD:
        if name in code:
            try:
                __import__(name)
            except BaseException:  # noqa: BLE001 - missing or broken: the code's own import says so
                pass
    namespace: dict = {"__name__": "__candidate__", "__builtins__": __builtins__}
    exec(compile(code, "<candidate>", "exec"), namespace)
    fn = namespace[entry_point] if entry_point in namespace else None
    if fn is None:
        raise NameError(f"name {entry_point!r} is not defined by the code")
    if not callable(fn):
        raise TypeError(f"{entry_point!r} is not callable")
    return fn


def _describe(exc: BaseException) -> dict:
    """An exception as the error fields of an answer (reading it may raise: never fatal)."""
    import traceback

    try:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001 - a hostile exception may break its own formatting
        tb = ""
    try:
        msg = str(exc)[:500]
    except BaseException:  # noqa: BLE001 - likewise its __str__
        msg = ""
    return {Msg.KIND: type_name(exc), Msg.MESSAGE: msg, Msg.TRACEBACK: tb[-TRACEBACK_CHARS:]}


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        b = os.read(fd, min(n, 1 << 20))
        if not b:
            raise EOFError("pipe closed")
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)
