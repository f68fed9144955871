"""The fork server: a process that never sees the nonce, an input or a program, and forks one
child per program (saving the ~20 ms start of a new interpreter each time).

The runner forks it from itself before it reads the job (or starts it as a fresh interpreter
with ``--fireassay-zygote``). A request ``b"fork"`` on its SOCK_SEQPACKET socket carries the
child's two pipe ends (SCM_RIGHTS); the answer is the child's pid in decimal. The child is
forked twice over, so it is reparented to the runner (a child subreaper): the runner waits for
it, and its ``getppid()`` is the runner, as for a child started directly. The fork server is
non-dumpable, and so is every child it forks (the flag is inherited), so same-uid code can
neither ptrace them nor open their fds; a candidate can only signal the fork server, and then
the runner starts a new one (or a fresh interpreter per program). The runner's end of it is
:class:`sandbox.runner.children.ForkServer`.
"""
from __future__ import annotations

import os

if __name__ != "__main__":  # on the host; in the sandbox every file is one program (runner_source)
    from sandbox.runner.child import child_main
    from sandbox.runner.proc import PR_SET_DUMPABLE, prctl

FORK_REQUEST = b"fork"


def fork_server_entry(argv: list[str]) -> None:
    """``--fireassay-zygote <socket fd>``: a fork server in a fresh interpreter."""
    import socket

    prctl(PR_SET_DUMPABLE, 0)
    fork_server_serve(socket.socket(fileno=int(argv[1])))


def fork_server_serve(sock: "object") -> None:
    """Answer fork requests on ``sock`` until it closes (then exit)."""
    import resource  # noqa: F401 - loaded once here, used by every child
    import socket
    import traceback  # noqa: F401

    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 4096, 4)
        except (OSError, ValueError):
            os._exit(0)
        if not data or data != FORK_REQUEST or len(fds) != 2:
            os._exit(3)
        pid = _fork_child(sock, fds)
        try:
            sock.send(pid or b"0")
        except OSError:
            os._exit(0)


def _fork_child(sock: "object", fds: "list[int]") -> bytes:
    """Fork a child on the pipe ends ``fds`` (twice over: it is handed to the runner); its pid
    in decimal, or b"" when it could not be had."""
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
                child_main(fds[0], fds[1])
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
    return got
