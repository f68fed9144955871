"""Container labels: which tool made a container, for which run, and which process owns it.

The owner is identified by host name, pid and the pid's start time (so a recycled pid does not
keep a dead run's containers alive).
"""
from __future__ import annotations

import os
import socket
from functools import lru_cache

TOOL = "fireassay"
L_TOOL = "fireassay.tool"
L_RUN = "fireassay.run_id"
L_PID = "fireassay.owner_pid"
L_START = "fireassay.owner_start"
L_HOST = "fireassay.owner_host"
L_KIND = "fireassay.kind"


def process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name is in parentheses and may contain spaces; fields follow the last ')'
    rest = data[data.rfind(b")") + 2 :].split()
    return rest[19].decode() if len(rest) > 19 else None


def hostname() -> str:
    return socket.gethostname()


@lru_cache(maxsize=None)
def _own_start(pid: int) -> str:
    return process_start_time(pid) or ""


def owner_labels(run_id: str | None, kind: str = "pool") -> dict[str, str]:
    pid = os.getpid()
    return {
        L_TOOL: TOOL,
        L_RUN: run_id or "",
        L_PID: str(pid),
        L_START: _own_start(pid),
        L_HOST: hostname(),
        L_KIND: kind,
    }


def owner_alive(labels: dict[str, str]) -> bool | None:
    """True/False when this host can tell; None when the owner lives on another host."""
    if labels.get(L_HOST, "") != hostname():
        return None
    try:
        pid = int(labels.get(L_PID, ""))
    except ValueError:
        return False
    start = process_start_time(pid)
    if start is None:
        return False
    recorded = labels.get(L_START, "")
    return not recorded or recorded == start
