"""Between two programs in a sandbox of our own (``kill_strays``): every process of ours killed
but the fork server, the scratch folders emptied, every SysV IPC object removed, so that
nothing one program leaves behind reaches the next (:func:`clean_between`)."""
from __future__ import annotations

import os
import stat
import time

if __name__ != "__main__":  # on the host; in the sandbox every file is one program (runner_source)
    from sandbox.runner.children import Spawner
    from sandbox.runner.proc import started_as_child, stat_fields

if not started_as_child():  # the runner's alone
    import signal

IPC_RMID = 0


def clean_between(spawner: "Spawner", scratch: "list[str]") -> bool:
    """Kill every process of ours but the fork server, empty ``scratch``, remove every IPC
    object. False: something survived."""
    gone = sweep_strays(spawner.keep_pids())
    return _wipe_dirs(scratch) & _wipe_ipc() & gone


def sweep_strays(spare: set[int]) -> bool:
    """Kill every process of our uid except us, our ancestors and ``spare`` (inside a container
    only): all are stopped first (a stopped process cannot fork, so a fork bomb stops
    growing), then killed. True when the last look found none left."""
    me = os.getpid()
    keep = {me, *spare}
    pid = me
    for _ in range(64):
        try:
            pid = stat_fields(pid)[0]
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
        reap_orphans()
        time.sleep(0.005)
    reap_orphans()
    return not ours()


def reap_orphans() -> None:
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
