"""Process helpers the runner's three processes share: ``prctl`` and reading ``/proc``."""
from __future__ import annotations

import os
import sys

if __name__ != "__main__":  # on the host; in the sandbox every file is one program (runner_source)
    from sandbox.runner.protocol import CHILD_ARG, FORK_SERVER_ARG

PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
try:
    CLK_TCK = float(os.sysconf("SC_CLK_TCK"))
except (ValueError, OSError, AttributeError):
    CLK_TCK = 100.0


def started_as_child() -> bool:
    """True in a child or a fork server started as a fresh interpreter: they skip the imports
    only the runner needs."""
    return len(sys.argv) > 1 and sys.argv[1] in (CHILD_ARG, FORK_SERVER_ARG)


def prctl(option: int, value: int) -> None:
    """``prctl(option, value)``, best effort (no libc, no Linux: nothing happens)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:  # noqa: BLE001 - hardening that cannot be had is skipped, never fatal
        pass


def stat_fields(pid: "int | str") -> "tuple[int, int]":
    """(parent pid, CPU clock ticks) of a process from /proc/<pid>/stat: user + system time
    of the process and of the children it has reaped (a reaped child's time lives on there)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])


def stat_cpu(pid: int) -> "float | None":
    """CPU seconds of ``pid`` (with the children it reaped), or None without /proc."""
    try:
        return stat_fields(pid)[1] / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None
