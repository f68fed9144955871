"""The in-sandbox runner: calls untrusted code on inputs and reports outputs unforgeably.

Run as ``python3 -I -c <runner_source()>`` with one job as JSON on stdin (stdlib only; the
source of :mod:`sandbox.plain` is inlined). The job::

    {"nonce": "<hex>",                      # only this process ever holds it
     "limits": {"memory_mb": 4096, "recursion_limit": null, "import_s": 10.0,
                "max_output_bytes": 134217728, "wall_factor": 3,
                "digest_nodes": 4000000, "digest_s": 60.0},
     "kill_strays": false,                  # a container of our own (docker): see below
     "scratch": ["/work", "/tmp", ...],     # folders emptied between programs (kill_strays)
     "groups": [{"entry_point": "f", "inputs": [<tagged arg list>, ...],
                 "time_limits": [1.0, ...], "budget_s": 62.0, "stop_on_error": true,
                 # limits and budget are CPU seconds; wall time may reach wall_factor times
                 "programs": [{"id": "p0", "code": "def f(x): ..."}]}]}

For every program the trusted parent (this process) starts a fresh child (forked by a fork
server that never sees the nonce; a new interpreter if that fails), sends it the code over a
private pipe and, once it has loaded, all the inputs at once; the child calls the entry point
on each in turn and streams every answer (the tagged output, or the error) back on a second
private pipe without waiting for the parent, which times call i from answer i-1 (no round trip
per input). The child's stdin/stdout/stderr are ``/dev/null``; it is non-dumpable from its
start (no other process of the uid can ptrace it). A call that overruns its time limit (the
rule is :class:`CallClock`: CPU seconds of everything the program runs, :class:`_CpuMeter`;
wall time at most ``wall_factor`` <= 3 times the limit), or a child that dies or garbles the
channel, is killed (its whole process group) and a new child takes the remaining inputs.

Everything the child sends is checked here: headers are strict JSON (no repeated keys, no
NaN), every field is rebuilt from checked values (times are numbers in range, texts are
strings, capped), and a returned value is passed on as raw bytes that the result line frames
by length, so no value can be read as part of anything else. When a program is done the
parent prints exactly one line ``FIREASSAY-RESULT <nonce> <header length> <header><values>``
(:func:`frame_result`, read back by :func:`read_frame`), the header being::

    {"id": "p0", "load": null | {"kind", "message", "traceback"},
     "outputs": [{"s": "ok", "vlen": <bytes of its value>, "t": secs, "cpu": secs, "wall": secs,
                  "tree_cpu": secs}   # t, cpu: the child's own; tree_cpu: what the limit counts
                 # a value of over digest_nodes items comes as {"digest": [sha256, items]},
                 # hashed within digest_s CPU seconds more (sandbox.plain.encode_output)
                 | {"s": "error", "kind": "ValueError", "message": ..., "traceback": ...}
                 | {"s": "timeout"} | {"s": "crash", "message": ...}
                 | {"s": "skipped", "message": ...}, ...]}

With ``kill_strays`` (a container of our own) the runner, after each program, kills every
other process of its uid (the fork server excepted), empties the ``scratch`` folders and
removes every SysV IPC object, so nothing one program leaves behind reaches the next; if
anything survives it stops and the host runs the rest again after a full reset. The CPU of a
call is then the container's cgroup counter (minus the runner's own).

The host reads only lines carrying its nonce, one per program, in the order it sent them; a
program without one (the runner was killed, the line was garbled) counts as failed on every
input. Expected outputs never come here.
"""
from __future__ import annotations

import json
import os
import stat
import struct
import sys
import time

# the parent alone needs these; the child (same source) skips their import cost
if not (len(sys.argv) > 1 and sys.argv[1] in ("--fireassay-child", "--fireassay-zygote")):
    import select
    import signal
    import subprocess

if "encode" not in globals():  # imported as a module on the host; inlined in the sandbox
    from sandbox.plain import (  # noqa: F401
        DIGEST_NODES,
        count_nodes,
        decode,
        digest_of,
        encode,
    )

RESULT_PREFIX = "FIREASSAY-RESULT"
END_PREFIX = "FIREASSAY-END"  # "<END_PREFIX> <nonce> quiet": no process of ours is left
_HDR = struct.Struct(">I")
_TB_CHARS = 2000
try:
    _CLK_TCK = float(os.sysconf("SC_CLK_TCK"))
except (ValueError, OSError, AttributeError):
    _CLK_TCK = 100.0


# ---------------------------------------------------------------------------------------------
# child side: runs the untrusted code


def _child_main(cmd_fd: int, res_fd: int) -> None:
    def send(obj: object, value: object = None, with_value: bool = False) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode()
        if with_value:  # the (possibly huge) value travels raw after the header line
            data += b"\n" + json.dumps(value, separators=(",", ":")).encode()
        buf = _HDR.pack(len(data)) + data
        while buf:
            n = os.write(res_fd, buf)
            buf = buf[n:]

    def recv() -> object:
        head = _read_exact(cmd_fd, _HDR.size)
        (n,) = _HDR.unpack(head)
        return json.loads(_read_exact(cmd_fd, n))

    def describe(exc: BaseException) -> dict:
        import traceback

        try:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except BaseException:
            tb = ""
        try:
            msg = str(exc)[:500]
        except BaseException:
            msg = ""
        return {"kind": _type_name(exc), "message": msg, "traceback": tb[-_TB_CHARS:]}

    setup = recv()
    limits = setup.get("limits") or {}
    mem = limits.get("memory_mb")
    if mem:
        try:
            import resource

            lim = int(mem) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        except (ValueError, OSError, ImportError):
            pass
    if limits.get("recursion_limit"):
        sys.setrecursionlimit(int(limits["recursion_limit"]))
    cap = int(limits.get("digest_nodes") or DIGEST_NODES)

    namespace: dict = {"__name__": "__candidate__", "__builtins__": __builtins__}
    try:
        code = compile(setup["code"], "<candidate>", "exec")
        exec(code, namespace)
        fn = namespace[setup["entry_point"]] if setup["entry_point"] in namespace else None
        if fn is None:
            raise NameError(f"name {setup['entry_point']!r} is not defined by the code")
        if not callable(fn):
            raise TypeError(f"{setup['entry_point']!r} is not callable")
    except BaseException as e:  # SystemExit and KeyboardInterrupt included
        send({"load": describe(e)})
        return
    send({"load": None})
    # every remaining input arrives at once; the answers stream back as the calls finish, so
    # the parent never waits on a round trip per input (it times each call from the previous
    # answer: a call starts as soon as the one before it has been sent)
    try:
        req = recv()
    except (EOFError, OSError, ValueError):
        return
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list):
        return
    stop_on_error = bool(req.get("stop_on_error", True))
    send({"ready": len(req["inputs"])})  # parsing the inputs is nobody's call time
    for tagged in req["inputs"]:
        try:
            args = decode(tagged)
        except BaseException as e:
            send({"s": "error", **describe(e)})
            if stop_on_error:
                return
            continue
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            out = fn(*args)
            dt = time.perf_counter() - t0
            cpu = time.process_time() - c0
            try:
                if count_nodes(out, cap) > cap:
                    # the call is over: hashing a huge value gets its own allowance
                    send({"s": "ret", "t": dt, "cpu": cpu})
                    send({"s": "ok", "t": dt, "cpu": cpu}, encode(digest_of(out)), True)
                else:
                    send({"s": "ok", "t": dt, "cpu": cpu}, encode(out), True)
            except (TypeError, ValueError):  # e.g. a surrogate in a str
                send({"s": "ok", "t": dt, "cpu": cpu}, {"unserializable": _type_name(out)}, True)
        except BaseException as e:
            dt = time.perf_counter() - t0
            send({"s": "error", **describe(e), "t": dt})
            if stop_on_error:
                return


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        b = os.read(fd, min(n, 1 << 20))
        if not b:
            raise EOFError("pipe closed")
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def _type_name(value: object) -> str:
    try:
        return str(type(value).__name__)[:100]
    except BaseException:
        return "object"


def _child_entry(argv: list[str]) -> None:
    cmd_fd, res_fd = int(argv[1]), int(argv[2])
    _prctl(PR_SET_DUMPABLE, 0)  # before any candidate code (forked children are born so)
    try:
        _child_main(cmd_fd, res_fd)
    finally:
        os._exit(0)


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:
        pass


PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36


def _zygote_entry(argv: list[str]) -> None:
    """Fork server: a fresh interpreter that never sees the nonce, an input or a program; it
    forks one child per program (saving the ~20 ms start of a new interpreter each time).

    A request ``b"fork"`` on its SOCK_SEQPACKET socket carries the child's two pipe ends
    (SCM_RIGHTS); the answer is the child's pid in decimal. The child is forked twice over, so
    it is reparented to the runner (a child subreaper): the runner waits for it, and its
    ``getppid()`` is the runner, as for a child started directly. The fork server is
    non-dumpable, and so is every child it forks (the flag is inherited), so same-uid code can
    neither ptrace them nor open their fds; a candidate can only signal the fork server, and
    then the runner starts a new one (or a fresh interpreter per program)."""
    import socket

    _prctl(PR_SET_DUMPABLE, 0)
    _zygote_serve(socket.socket(fileno=int(argv[1])))


def _zygote_serve(sock: "object") -> None:
    import resource  # noqa: F401 - loaded once here, used by every child
    import socket
    import traceback  # noqa: F401

    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 4096, 4)
        except (OSError, ValueError):
            os._exit(0)
        if not data or data != b"fork" or len(fds) != 2:
            os._exit(3)
        r, w = os.pipe()
        mid = os.fork()
        if mid == 0:
            try:
                os.close(r)
                pid = os.fork()
                if pid == 0:
                    os.close(w)
                    sock.close()
                    os.setsid()
                    # stays non-dumpable (inherited from the fork server): a stray of an
                    # earlier program can neither ptrace it nor open its /proc files
                    _child_main(fds[0], fds[1])
                else:
                    os.write(w, str(pid).encode())
            finally:
                os._exit(0)
        os.close(w)
        for fd in fds:
            os.close(fd)
        got = b""
        while True:
            chunk = os.read(r, 64)
            if not chunk:
                break
            got += chunk
        os.close(r)
        os.waitpid(mid, 0)  # the child is now the runner's (its closest subreaper)
        try:
            sock.send(got or b"0")
        except OSError:
            os._exit(0)


# ---------------------------------------------------------------------------------------------
# parent side: trusted, holds the nonce


class _ChildGone(Exception):
    """The child closed the channel, died, or sent garbage."""


class _Deadline(Exception):
    """The child did not answer in time."""


class _TooLarge(Exception):
    """The child tried to send more than the output cap."""


# -- what the child sends, checked field by field ----------------------------------------------

_MAX_SECONDS = 1e7  # a reported time above this (or not a number) is no time at all
_KIND_CHARS, _MESSAGE_CHARS = 100, 1000


def _unique_keys(pairs: list) -> dict:
    """``object_pairs_hook``: refuse an object with a repeated key (``json.loads`` would
    silently keep the last one, which is how a spliced value once overrode a result's id)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("repeated key in a JSON object")
    return obj


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def loads_strict(data: "bytes | str") -> object:
    """``json.loads`` for data from inside the sandbox: no repeated keys, no NaN/Infinity."""
    return json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def _seconds(value: object) -> "float | None":
    """A time the child reports: a number of seconds in [0, 1e7], else None (a 401-digit int
    compares fine but would overflow ``float``; NaN compares False)."""
    if (type(value) is int or type(value) is float) and 0 <= value <= _MAX_SECONDS:
        return float(value)
    return None


def _text(value: object, limit: int) -> str:
    return value[:limit] if type(value) is str else ""


def _error_fields(head: dict) -> dict:
    return {"kind": _text(head.get("kind"), _KIND_CHARS) or "Error",
            "message": _text(head.get("message"), _MESSAGE_CHARS),
            "traceback": _text(head.get("traceback"), _TB_CHARS)}


def _clean_load(head: dict) -> "dict | None":
    """The child's load report, rebuilt from checked fields (None: the code loaded)."""
    if set(head) != {"load"}:
        raise _ChildGone("garbled message on the result channel")
    load = head["load"]
    if load is None:
        return None
    if type(load) is not dict:
        raise _ChildGone("garbled message on the result channel")
    return _error_fields(load)


def _clean_answer(head: dict, raw: "bytes | None") -> dict:
    """A call's answer rebuilt from checked fields only: nothing else the child wrote is
    passed on; the value stays raw bytes, framed by length in the result line."""
    status = head.get("s")
    t = _seconds(head.get("t")) or 0.0
    if status == "ok" or status == "ret":
        msg: dict = {"s": status, "t": t, "cpu": _seconds(head.get("cpu"))}
        if status == "ok":
            msg["v"] = raw if raw else b"null"
        return msg
    if status == "error":
        return {"s": "error", **_error_fields(head), "t": t}
    raise _ChildGone("garbled message on the result channel")


def frame_result(nonce: str, res: dict, values: "list[bytes]") -> bytes:
    """One result line (no newline): ``PREFIX nonce <header length> <header><values>``. The
    header is the runner's own JSON and gives each value's length (``vlen`` of the outputs
    that carry one, in order), so a value is never parsed as part of anything else."""
    head = json.dumps(res, separators=(",", ":")).encode()
    return b"".join([f"{RESULT_PREFIX} {nonce} {len(head)} ".encode(), head, *values])


def read_frame(line: bytes, nonce: str) -> "tuple[dict, list[bytes]] | None":
    """The header and the value bytes of a result line that carries ``nonce``; None for any
    other line, and for one whose header is not strict JSON or whose lengths do not add up."""
    import hmac

    parts = line.split(b" ", 3)
    if len(parts) != 4 or parts[0] != RESULT_PREFIX.encode():
        return None
    if not hmac.compare_digest(parts[1], nonce.encode()):
        return None
    if not parts[2].isdigit() or len(parts[2]) > 12:
        return None
    size, body = int(parts[2]), parts[3]
    if size > len(body):
        return None
    try:
        head = loads_strict(body[:size])
    except (ValueError, RecursionError):
        return None
    outputs = head.get("outputs") if type(head) is dict else None
    if type(outputs) is not list:
        return None
    lengths = []
    for out in outputs:
        if type(out) is dict and "vlen" in out:
            n = out["vlen"]
            if type(n) is not int or n < 0:
                return None
            lengths.append(n)
    if sum(lengths) != len(body) - size:
        return None
    values, pos = [], size
    for n in lengths:
        values.append(body[pos:pos + n])
        pos += n
    return head, values


class _ZygoteGone(Exception):
    """The fork server did not answer (killed or stopped by a candidate, or never started)."""


class _Zygote:
    """The parent's end of the fork server (see :func:`_zygote_entry`)."""

    REQUEST_S = 2.0  # a healthy fork server answers in milliseconds

    def __init__(self, source: str, python: str) -> None:
        """A fork server in a fresh interpreter (safe at any time)."""
        import socket

        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc: subprocess.Popen | None = subprocess.Popen(
                [python, "-I", "-c", source, "--fireassay-zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),), start_new_session=True, close_fds=True,
            )
        except BaseException:
            self._sock.close()
            raise
        finally:
            theirs.close()
        self.pid = self.proc.pid

    @classmethod
    def fork_of_this_process(cls) -> "_Zygote":
        """A fork server forked from this process: ONLY before the job (the nonce) is read;
        it saves starting and compiling a second interpreter per runner exec."""
        import socket

        self = cls.__new__(cls)
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                self._sock.close()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):  # the exec's stdin and the result channel stay ours
                    os.dup2(devnull, fd)
                keep = theirs.fileno()
                os.closerange(3, keep)
                os.closerange(keep + 1, 1 << 16)
                os.setsid()
                _zygote_serve(theirs)
            finally:
                os._exit(0)
        theirs.close()
        self.proc = None
        self.pid = pid
        return self

    def fork(self, cmd_r: int, res_w: int) -> int:
        import socket

        try:
            os.kill(self.pid, signal.SIGCONT)  # a candidate may have stopped it
            self._sock.settimeout(self.REQUEST_S)
            socket.send_fds(self._sock, [b"fork"], [cmd_r, res_w])
            pid = int(self._sock.recv(64) or b"0")
        except (OSError, ValueError) as e:  # socket.timeout is an OSError
            raise _ZygoteGone(str(e) or type(e).__name__) from None
        if pid <= 1:
            raise _ZygoteGone("the fork server hung up")
        return pid

    def close(self) -> None:
        try:
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait(timeout=5)
            else:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._sock.close()


class _Spawner:
    """Starts children: forked by a fork server where it works, else fresh interpreters."""

    def __init__(self, source: str, python: str, zygote: "_Zygote | None" = None) -> None:
        self.source, self.python = source, python
        self.zygote = zygote
        self.failures = 0

    def keep_pids(self) -> set[int]:
        return {self.zygote.pid} if self.zygote is not None else set()

    def child(self) -> "_Child":
        if self.zygote is None and self.failures < 3:
            try:
                self.zygote = _Zygote(self.source, self.python)
            except OSError:
                self.failures += 1
        if self.zygote is not None:
            try:
                return _Child(self.source, self.python, self.zygote)
            except _ZygoteGone:
                self.failures += 1
                self.zygote.close()
                self.zygote = None
        return _Child(self.source, self.python)

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None


class _Child:
    def __init__(self, source: str, python: str, zygote: _Zygote | None = None) -> None:
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.proc: subprocess.Popen | None = None
        self.zygote = zygote
        try:
            if zygote is not None:
                self.pid = zygote.fork(cmd_r, res_w)
            else:
                self.proc = subprocess.Popen(
                    [python, "-I", "-c", source, "--fireassay-child", str(cmd_r), str(res_w)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    pass_fds=(cmd_r, res_w),
                    start_new_session=True,
                    close_fds=True,
                )
                self.pid = self.proc.pid
        except BaseException:
            for fd in (self.cmd_w, self.res_r):
                os.close(fd)
            raise
        finally:
            os.close(cmd_r)
            os.close(res_w)
        os.set_blocking(self.cmd_w, False)
        self.buf = bytearray()  # amortised appends: a 40 MB answer arrives in 64 KiB reads

    def send(self, obj: object, deadline: float) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode()
        view = memoryview(_HDR.pack(len(data)) + data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Deadline()
            _, w, _ = select.select([], [self.cmd_w], [], left)
            if not w:
                continue
            try:
                n = os.write(self.cmd_w, view)
            except BlockingIOError:
                continue
            except OSError as e:  # EPIPE: the child is gone
                raise _ChildGone(f"child closed its input ({e.strerror})") from None
            view = view[n:]

    def recv(self, deadline: float, max_bytes: int) -> "tuple[dict, bytes | None]":
        """The next message: its JSON header (strictly parsed, a dict; nothing in it checked
        yet) and the raw value bytes after it (or None)."""
        need = _HDR.size
        size = None
        while True:
            if size is None and len(self.buf) >= _HDR.size:
                (size,) = _HDR.unpack(bytes(self.buf[: _HDR.size]))
                if size > max_bytes:
                    raise _TooLarge(size)
                need = _HDR.size + size
            if size is not None and len(self.buf) >= need:
                data = bytes(self.buf[_HDR.size:need])
                del self.buf[:need]
                head, nl, raw = data.partition(b"\n")
                try:
                    msg = loads_strict(head)
                except (ValueError, RecursionError):
                    raise _ChildGone("garbled message on the result channel") from None
                # the value travels in a line of its own framing: it may hold no newline
                if type(msg) is not dict or b"\n" in raw:
                    raise _ChildGone("garbled message on the result channel")
                return msg, (raw if nl else None)
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Deadline()
            r, _, _ = select.select([self.res_r], [], [], left)
            if not r:
                continue
            chunk = os.read(self.res_r, 1 << 20)
            if not chunk:
                raise _ChildGone(self._exit_text())
            self.buf += chunk

    def cpu(self) -> float | None:
        """CPU seconds of the child and of the children it has reaped, or None without /proc."""
        return _stat_cpu(self.pid)

    def _returncode(self, timeout: float) -> int | None:
        if self.proc is not None:
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        end = time.monotonic() + timeout
        pause = 0.0001
        while True:  # a forked child is ours too: the fork server made us its subreaper
            try:
                got, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if got:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= end:
                return None
            time.sleep(pause)  # a killed child is gone within microseconds to milliseconds
            pause = min(pause * 2, 0.01)

    def _exit_text(self) -> str:
        rc = self._returncode(0.5)
        if rc is None:
            return "the child closed the result channel"
        if rc < 0:
            try:
                return f"the child was killed by {signal.Signals(-rc).name}"
            except ValueError:
                return f"the child was killed by signal {-rc}"
        return f"the child exited with code {rc}"

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._returncode(5)
        for fd in (self.cmd_w, self.res_r):
            try:
                os.close(fd)
            except OSError:
                pass


def _stat_fields(pid: "int | str") -> "tuple[int, int]":
    """(parent pid, CPU clock ticks) of a process from /proc/<pid>/stat: user + system time
    of the process and of the children it has reaped (a reaped child's time lives on there)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])


def _stat_cpu(pid: int) -> "float | None":
    try:
        return _stat_fields(pid)[1] / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_cpu_file() -> "str | None":
    """This process's cgroup CPU counter (v2 ``cpu.stat``, v1 ``cpuacct.usage``), if readable."""
    try:
        with open("/proc/self/cgroup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    tries = []
    for ln in lines:
        parts = ln.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":  # cgroup v2
            tries += [f"/sys/fs/cgroup{parts[2].rstrip('/')}/cpu.stat", "/sys/fs/cgroup/cpu.stat"]
        elif "cpuacct" in parts[1].split(","):  # cgroup v1: the mount shows our own group
            for mount in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"):
                tries += [f"/sys/fs/cgroup/{mount}{parts[2].rstrip('/')}/cpuacct.usage",
                          f"/sys/fs/cgroup/{mount}/cpuacct.usage"]
    for path in tries:
        if _read_cgroup_cpu(path) is not None:
            return path
    return None


def _read_cgroup_cpu(path: str) -> "float | None":
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if path.endswith("cpuacct.usage"):
            return int(data) / 1e9
        for ln in data.splitlines():
            if ln.startswith(b"usage_usec "):
                return int(ln.split()[1]) / 1e6
    except (OSError, ValueError, IndexError):
        pass
    return None


class _CpuMeter:
    """CPU seconds used by everything the program under test runs: the child, whatever it
    forks or starts, daemons and orphans included. Read at every call's end (the budget)
    and whenever a call reaches a deadline (the per-call limit).

    In a container of our own (``kill_strays``), the container's cgroup CPU counter minus
    this runner's own CPU: exact, one small read. Elsewhere (the unsafe host executor), the
    child's /proc stat (with the children it reaped) at every read, and at a deadline also
    every live process below this runner (the fork server excluded) and the orphans it
    reaped: a process that outlives earlier calls of the same program is counted whole."""

    def __init__(self, in_container: bool, spawner: "_Spawner") -> None:
        self.path = _cgroup_cpu_file() if in_container else None
        self.spawner = spawner  # its fork server is not the program's

    def read(self, child: "_Child", deadline: bool = False) -> "float | None":
        if self.path is not None:
            total = _read_cgroup_cpu(self.path)
            if total is not None:
                t = os.times()
                return total - (t.user + t.system)
            self.path = None  # the counter went away: fall back for good
        own = child.cpu()
        if own is None:
            return None
        t = os.times()
        own += t.children_user + t.children_system  # orphans we reaped
        return own + self._others(child.pid) if deadline else own

    def _others(self, child_pid: int) -> float:
        """CPU of the live processes below this runner other than the child and the fork
        server (from one scan of /proc; each with the children it reaped)."""
        me = os.getpid()
        exclude = self.spawner.keep_pids()
        parent_of: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    parent_of[int(name)], ticks[int(name)] = _stat_fields(name)
                except (OSError, ValueError, IndexError):
                    continue
        total = 0
        for pid in parent_of:
            if pid == child_pid or pid in exclude or pid == me:
                continue
            p, seen = pid, 0
            while p in parent_of and p != me and seen < 64:  # is it below us?
                p, seen = parent_of[p], seen + 1
            if p == me:
                total += ticks[pid]
        return total / _CLK_TCK


class CallClock:
    """THE timing rule of one call (change it here, nowhere else): a call may use ``limit``
    CPU seconds of its program's whole process tree (:class:`_CpuMeter`); while the machine
    is busy its wall time may stretch to ``wall_factor`` times the limit (at most
    ``MAX_WALL_FACTOR``), never further, and never past the program's budget. The budget is
    the same rule over all the program's calls."""

    MAX_WALL_FACTOR = 3.0
    MIN_STEP_S = 0.05  # the shortest wait before the CPU is looked at again

    def __init__(self, wall_factor: float) -> None:
        self.wall_factor = min(max(1.0, float(wall_factor)), self.MAX_WALL_FACTOR)

    def budget_end(self, start: float, budget_s: float) -> float:
        return start + budget_s * self.wall_factor

    def deadlines(self, start: float, limit: float, budget_end: float) -> "tuple[float, float]":
        """(first deadline, hard deadline) of a call that started at ``start``: the first
        comes after ``limit`` wall seconds, the hard one after ``wall_factor`` times that."""
        return min(start + limit, budget_end), min(start + limit * self.wall_factor, budget_end)

    def next_deadline(self, now: float, limit: float, used: "float | None",
                      hard: float) -> "float | None":
        """After a deadline passed with ``used`` CPU seconds spent: the next one, or None
        when the call is over its limit (or its CPU cannot be read)."""
        if used is None or used >= limit or now >= hard:
            return None
        return min(now + max(limit - used, self.MIN_STEP_S), hard)


def _sweep_strays(spare: set[int]) -> bool:
    """Kill every process of our uid except us, our ancestors and ``spare`` (inside a container
    only): all are stopped first (a stopped process cannot fork, so a fork bomb stops
    growing), then killed. True when the last look found none left."""
    me = os.getpid()
    keep = {me, *spare}
    pid = me
    for _ in range(64):
        try:
            pid = _stat_fields(pid)[0]
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
        keep.add(pid)
    uid = str(os.getuid()).encode()

    def ours() -> list[int]:
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in keep or int(name) == 1:
                continue
            try:
                # the real uid from status (world-readable): a non-dumpable process's /proc
                # directory belongs to root, so its owner would hide it
                with open(f"/proc/{name}/status", "rb") as fh:
                    head = fh.read(1024)
            except OSError:
                continue
            state = uid_line = b""
            for ln in head.split(b"\n"):
                if ln.startswith(b"State:"):
                    state = ln
                elif ln.startswith(b"Uid:"):
                    uid_line = ln
            if uid_line.split()[1:2] == [uid] and b"zombie" not in state:
                found.append(int(name))
        return found

    for _round in range(10):
        pids = ours()
        if not pids:
            return True
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for _ in range(3 if sig == signal.SIGSTOP else 1):  # newborns of the first look too
                for p in pids:
                    try:
                        os.kill(p, sig)
                    except OSError:
                        pass
                pids = sorted(set(pids) | set(ours())) if sig == signal.SIGSTOP else pids
        _reap_orphans()
        time.sleep(0.005)
    _reap_orphans()
    return not ours()


def _reap_orphans() -> None:
    """Collect the exit status of dead orphans handed to us (we are a child subreaper)."""
    while True:
        try:
            got, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not got:
            return


def _remove_tree(path: str) -> None:
    """Remove ``path`` (a file, a link or a folder with all it holds) without following links;
    folders its owner made unreadable are opened up first. Iterative: nesting depth is free."""
    stack = [(path, False)]
    while stack:
        p, emptied = stack.pop()
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(p)
            continue
        if emptied:
            os.rmdir(p)
            continue
        if st.st_mode & 0o700 != 0o700:
            os.chmod(p, 0o700)
        stack.append((p, True))
        stack.extend((os.path.join(p, name), False) for name in os.listdir(p))


def _wipe_dirs(dirs: "list[str]") -> bool:
    """Empty every folder in ``dirs`` (what is in it, not the folder); True when all are
    empty afterwards."""
    clean = True
    for top in dirs:
        try:
            names = os.listdir(top)
        except OSError:
            continue
        if not names:
            continue
        for name in names:
            try:
                _remove_tree(os.path.join(top, name))
            except OSError:
                pass
        try:
            clean = clean and not os.listdir(top)
        except OSError:
            pass
    return clean


IPC_RMID = 0


def _wipe_ipc() -> bool:
    """Remove every SysV IPC object of this (the container's) IPC namespace: shared memory
    segments, semaphore sets, message queues. True when none is left. Costs three small
    reads when there is nothing to remove."""
    found = []
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        found += [(kind, int(r.split()[1])) for r in rows if r.strip()]
    if not found:
        return True
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for kind, ident in found:
        if kind == "shm":
            libc.shmctl(ident, IPC_RMID, None)
        elif kind == "sem":
            libc.semctl(ident, 0, IPC_RMID)
        else:
            libc.msgctl(ident, IPC_RMID, None)
    left = 0
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                left += sum(1 for r in fh.read().splitlines()[1:] if r.strip())
        except OSError:
            pass
    return left == 0


def _clean_between(spawner: "_Spawner", scratch: "list[str]") -> bool:
    """Between two programs of a batch (in a container of our own): every process of ours
    killed but the fork server, the scratch folders emptied, every IPC object removed, so
    that nothing one program leaves reaches the next. False: something survived."""
    gone = _sweep_strays(spawner.keep_pids())
    return _wipe_dirs(scratch) & _wipe_ipc() & gone


def _await(child: "_Child", clock: CallClock, meter: _CpuMeter, limit: float, start: float,
           cpu0: "float | None", budget_end: float, max_bytes: int) -> "tuple[dict, bytes | None]":
    """The child's next message, if it comes within the call's limit (:class:`CallClock`)."""
    deadline, hard = clock.deadlines(start, limit, budget_end)
    while True:
        try:
            return child.recv(deadline, max_bytes)
        except _Deadline:
            cpu1 = meter.read(child, deadline=True)
            used = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
            nxt = clock.next_deadline(time.monotonic(), limit, used, hard)
            if nxt is None:
                raise
            deadline = nxt


def _run_program(spawner: "_Spawner", group: dict, program: dict, limits: dict,
                 meter: _CpuMeter) -> "tuple[dict, list[bytes]]":
    """Run one program on every input of its group; its result (outputs rebuilt from checked
    fields) and the raw bytes of its returned values, in order."""
    inputs = group["inputs"]
    time_limits = group["time_limits"]
    n = len(inputs)
    stop_on_error = bool(group.get("stop_on_error", True))
    import_s = float(limits.get("import_s") or 10.0)
    max_bytes = int(limits.get("max_output_bytes") or (8 << 20))
    clock = CallClock(float(limits.get("wall_factor") or 1.0))
    hash_s = float(limits.get("digest_s") or 60.0)  # CPU seconds to hash a huge output
    cpu_budget = float(group.get("budget_s") or 1e9)  # CPU seconds over all inputs
    budget_end = clock.budget_end(time.monotonic(), cpu_budget)
    cpu_spent = 0.0
    outputs: list = [None] * n
    load = None
    stopped = None
    i = 0
    first = True
    while i < n and stopped is None:
        child = spawner.child()
        try:
            try:
                deadline = min(time.monotonic() + import_s, budget_end)
                child.send({"code": program["code"], "entry_point": group["entry_point"],
                            "limits": limits}, deadline)
                load = _clean_load(child.recv(deadline, max_bytes)[0])
            except _Deadline:
                load = {"kind": "Timeout", "message": f"loading the code took over {import_s:g}s"}
            except (_ChildGone, _TooLarge) as e:
                load = {"kind": "Crash", "message": str(e) or "the child died while loading"}
            if load is not None:
                if not first:  # a restart failed to load: the rest cannot run
                    stopped = f"restart failed: {load.get('kind')}: {load.get('message', '')}"
                    load = None
                break
            first = False
            lost = False
            try:
                deadline = min(time.monotonic() + import_s, budget_end)
                child.send({"inputs": inputs[i:], "stop_on_error": stop_on_error}, deadline)
                head = child.recv(deadline, max_bytes)[0]
                if set(head) != {"ready"} or head["ready"] != n - i:
                    raise _ChildGone("garbled message on the result channel")
            except (_Deadline, _ChildGone, _TooLarge):
                outputs[i] = {"s": "crash", "message": "the child did not take its inputs"}
                i += 1
                if stop_on_error:
                    stopped = "not run: stopped after the first failing input"
                continue  # a fresh child for the rest
            now = time.monotonic()
            cpu0 = meter.read(child)
            while i < n:
                if now >= budget_end or cpu_spent >= cpu_budget:
                    stopped = "the program's total time budget ran out"
                    break
                # call i started when answer i-1 was sent: its clock runs from that answer
                limit = float(time_limits[i])
                try:
                    msg = _clean_answer(*_await(child, clock, meter, limit, now, cpu0,
                                                budget_end, max_bytes))
                    if msg["s"] == "ret":  # returned a huge value; now it is being hashed
                        msg = _clean_answer(*_await(child, clock, meter, hash_s,
                                                    time.monotonic(), meter.read(child),
                                                    budget_end, max_bytes))
                        if msg["s"] == "ret":
                            raise _ChildGone("garbled message on the result channel")
                except _Deadline:
                    msg = {"s": "timeout"}
                    lost = True
                except _TooLarge as e:
                    msg = {"s": "error", "kind": "OutputTooLarge",
                           "message": f"the output is {e.args[0]} bytes, over the cap"}
                    lost = True
                except _ChildGone as e:
                    msg = {"s": "crash", "message": str(e)}
                    lost = True
                cpu1 = meter.read(child)
                t_end = time.monotonic()
                if cpu0 is not None and cpu1 is not None:
                    msg["tree_cpu"] = max(0.0, cpu1 - cpu0)
                    cpu_spent += msg["tree_cpu"]
                else:
                    cpu_spent += t_end - now
                msg["wall"] = t_end - now
                outputs[i] = msg
                i += 1
                now, cpu0 = t_end, cpu1
                if msg["s"] != "ok" and stop_on_error:
                    stopped = "not run: stopped after the first failing input"
                    break
                if lost:
                    break  # kill this child, start a fresh one for the rest
        finally:
            child.kill()
    if load is not None:
        return {"id": program["id"], "load": load, "outputs": []}, []
    values: list[bytes] = []
    for k in range(n):
        if outputs[k] is None:
            outputs[k] = {"s": "skipped", "message": stopped or "not run"}
        value = outputs[k].pop("v", None)
        if value is not None:
            outputs[k]["vlen"] = len(value)
            values.append(value)
    return {"id": program["id"], "load": None, "outputs": outputs}, values


def _harden() -> None:
    """Make this process non-dumpable: same-uid code can then neither ptrace it nor read
    /proc/<pid>/mem, environ or fd/ (where the nonce or our stdout would be). And a child
    subreaper: orphans of the code under test become our children (the fork server's children
    are handed to us that way; the stray sweep reaps the rest)."""
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _parent_main() -> int:
    _harden()
    try:  # before the job is read: the fork server must never hold the nonce
        zygote: _Zygote | None = _Zygote.fork_of_this_process()
    except OSError:
        zygote = None
    try:
        job = json.loads(sys.stdin.buffer.read())
    except ValueError as e:
        sys.stderr.write(f"runner: the job is not valid JSON ({e})\n")
        return 2
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # keep fd 0 taken: a pipe landing on it would be clobbered by Popen
    os.close(devnull)
    nonce = str(job["nonce"])
    source = sys.orig_argv[sys.orig_argv.index("-c") + 1]
    python = job.get("python") or sys.executable or "python3"
    limits = job.get("limits") or {}
    # in a container of our own: strays are swept, scratch folders and IPC wiped between
    # programs, and the CPU of the whole container counted
    own = bool(job.get("kill_strays"))
    scratch = [d for d in job.get("scratch") or () if isinstance(d, str) and d.startswith("/")
               and d.rstrip("/")] if own else []
    out = sys.stdout.buffer
    spawner = _Spawner(source, python, zygote)
    meter = _CpuMeter(own, spawner)
    try:
        for group in job["groups"]:
            for program in group["programs"]:
                res, values = _run_program(spawner, group, program, limits, meter)
                clean = _clean_between(spawner, scratch) if own else True
                out.write(frame_result(nonce, res, values) + b"\n")
                out.flush()
                if not clean:  # the rest run again after a full reset (the host sees them missing)
                    return 0
    finally:
        spawner.close()
    if own and _sweep_strays(set()):
        out.write(f"{END_PREFIX} {nonce} quiet\n".encode())
        out.flush()
    return 0


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "--fireassay-child":
        _child_entry(argv)
    if len(argv) >= 2 and argv[0] == "--fireassay-zygote":
        _zygote_entry(argv)
        os._exit(0)
    sys.exit(_parent_main())


def runner_source() -> str:
    """The self-contained runner program (this file with :mod:`sandbox.plain` inlined)."""
    global _SOURCE
    if _SOURCE is None:
        from pathlib import Path

        here = Path(__file__).resolve().parent
        plain = (here / "plain.py").read_text(encoding="utf-8")
        runner = (here / "runner.py").read_text(encoding="utf-8")
        plain = plain.replace("from __future__ import annotations\n", "")
        runner = runner.replace("from __future__ import annotations\n", "")
        _SOURCE = (
            "from __future__ import annotations\n" + plain + "\n" + runner
            + "\nif __name__ == '__main__':\n    main(sys.argv[1:])\n"
        )
    return _SOURCE


_SOURCE: str | None = None
