"""The runner's end of its processes: a child (:class:`Child`), the fork server
(:class:`ForkServer`) and what starts children with either (:class:`Spawner`).

A child is forked by the fork server where that works, else started as a fresh interpreter. The
runner talks to it over two pipes (:mod:`sandbox.runner.protocol`): it reads at most
``max_bytes`` per message, strictly parsed, within a deadline, and kills the child's whole
process group when done with it.
"""
from __future__ import annotations

import json
import os
import time

if __name__ != "__main__":  # on the host; in the sandbox every file is one program (runner_source)
    from sandbox.runner.forkserver import FORK_REQUEST, fork_server_serve
    from sandbox.runner.proc import started_as_child, stat_cpu
    from sandbox.runner.protocol import CHILD_ARG, FORK_SERVER_ARG, PIPE_HEADER, loads_strict

if not started_as_child():  # the runner's alone
    import select
    import signal
    import subprocess


class ChildGone(Exception):
    """The child closed the channel, died, or sent garbage."""


class Deadline(Exception):
    """The child did not answer in time."""


class TooLarge(Exception):
    """The child tried to send more than the output cap."""


class ForkServerGone(Exception):
    """The fork server did not answer (killed or stopped by a candidate, or never started)."""


GARBLED = "garbled message on the result channel"


class ForkServer:
    """The runner's end of the fork server (:mod:`sandbox.runner.forkserver`)."""

    REQUEST_S = 2.0  # a healthy fork server answers in milliseconds

    def __init__(self, source: str, python: str) -> None:
        """A fork server in a fresh interpreter (safe at any time)."""
        import socket

        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc: subprocess.Popen | None = subprocess.Popen(
                [python, "-I", "-c", source, FORK_SERVER_ARG, str(theirs.fileno())],
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
    def fork_of_this_process(cls) -> "ForkServer":
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
                fork_server_serve(theirs)
            finally:
                os._exit(0)
        theirs.close()
        self.proc = None
        self.pid = pid
        return self

    def fork(self, cmd_r: int, res_w: int) -> int:
        """A child on the pipe ends ``cmd_r`` and ``res_w``; its pid."""
        import socket

        try:
            os.kill(self.pid, signal.SIGCONT)  # a candidate may have stopped it
            self._sock.settimeout(self.REQUEST_S)
            socket.send_fds(self._sock, [FORK_REQUEST], [cmd_r, res_w])
            pid = int(self._sock.recv(64) or b"0")
        except (OSError, ValueError) as e:  # socket.timeout is an OSError
            raise ForkServerGone(str(e) or type(e).__name__) from None
        if pid <= 1:
            raise ForkServerGone("the fork server hung up")
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


class Spawner:
    """Starts children: forked by a fork server where it works, else fresh interpreters."""

    def __init__(self, source: str, python: str, fork_server: "ForkServer | None" = None) -> None:
        self.source, self.python = source, python
        self.fork_server = fork_server
        self.failures = 0

    def keep_pids(self) -> set[int]:
        """The processes of ours that are no program's (the fork server)."""
        return {self.fork_server.pid} if self.fork_server is not None else set()

    def child(self) -> "Child":
        if self.fork_server is None and self.failures < 3:
            try:
                self.fork_server = ForkServer(self.source, self.python)
            except OSError:
                self.failures += 1
        if self.fork_server is not None:
            try:
                return Child(self.source, self.python, self.fork_server)
            except ForkServerGone:
                self.failures += 1
                self.fork_server.close()
                self.fork_server = None
        return Child(self.source, self.python)

    def close(self) -> None:
        if self.fork_server is not None:
            self.fork_server.close()
            self.fork_server = None


class Child:
    """One child process and the runner's ends of its two pipes."""

    def __init__(self, source: str, python: str, fork_server: "ForkServer | None" = None) -> None:
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.proc: subprocess.Popen | None = None
        try:
            if fork_server is not None:
                self.pid = fork_server.fork(cmd_r, res_w)
            else:
                self.proc = subprocess.Popen(
                    [python, "-I", "-c", source, CHILD_ARG, str(cmd_r), str(res_w)],
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
        """Send one message; :class:`Deadline` if the child does not take it in time."""
        data = json.dumps(obj, separators=(",", ":")).encode()
        view = memoryview(PIPE_HEADER.pack(len(data)) + data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline()
            _, w, _ = select.select([], [self.cmd_w], [], left)
            if not w:
                continue
            try:
                n = os.write(self.cmd_w, view)
            except BlockingIOError:
                continue
            except OSError as e:  # EPIPE: the child is gone
                raise ChildGone(f"child closed its input ({e.strerror})") from None
            view = view[n:]

    def recv(self, deadline: float, max_bytes: int) -> "tuple[dict, bytes | None]":
        """The next message: its JSON header (strictly parsed, a dict; nothing in it checked
        yet) and the raw value bytes after it (or None)."""
        need = PIPE_HEADER.size
        size = None
        while True:
            if size is None and len(self.buf) >= PIPE_HEADER.size:
                (size,) = PIPE_HEADER.unpack(bytes(self.buf[: PIPE_HEADER.size]))
                if size > max_bytes:
                    raise TooLarge(size)
                need = PIPE_HEADER.size + size
            if size is not None and len(self.buf) >= need:
                data = bytes(self.buf[PIPE_HEADER.size:need])
                del self.buf[:need]
                head, nl, raw = data.partition(b"\n")
                try:
                    msg = loads_strict(head)
                except (ValueError, RecursionError):
                    raise ChildGone(GARBLED) from None
                # the value travels in a line of its own framing: it may hold no newline
                if type(msg) is not dict or b"\n" in raw:
                    raise ChildGone(GARBLED)
                return msg, (raw if nl else None)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline()
            r, _, _ = select.select([self.res_r], [], [], left)
            if not r:
                continue
            chunk = os.read(self.res_r, 1 << 20)
            if not chunk:
                raise ChildGone(self._exit_text())
            self.buf += chunk

    def cpu(self) -> float | None:
        """CPU seconds of the child and of the children it has reaped, or None without /proc."""
        return stat_cpu(self.pid)

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
        """Kill the child's process group and the child, wait for it, close the pipes."""
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
