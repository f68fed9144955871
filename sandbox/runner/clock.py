"""How long a call may take: the timing rule (:class:`CallClock`, the one place it is written)
and the CPU it counts (:class:`CpuMeter`: everything the program under test runs)."""
from __future__ import annotations

import os

if __name__ != "__main__":  # on the host; in the sandbox every file is one program (runner_source)
    from typing import Callable

    from sandbox.runner.children import Child, Spawner
    from sandbox.runner.proc import CLK_TCK, stat_fields
    from sandbox.runner.protocol import Timing


class CallClock:
    """THE timing rule of one call (change it here, nowhere else). Two rules (``RULES``):

    - ``"wall"`` (EvalPlus's): a call may take ``limit`` wall-clock seconds, counted from the
      moment its input is the child's to the moment its answer is back; it is killed at that
      instant, whatever the machine's load or the CPU it used. The budget is wall seconds too.
    - ``"cpu"``: a call may use ``limit`` CPU seconds of its program's whole process tree
      (:class:`CpuMeter`); while the machine is busy its wall time may stretch to
      ``wall_factor`` times the limit (at most ``MAX_WALL_FACTOR``), never further, and never
      past the program's budget. The budget is the same rule over all the program's calls.
    """

    RULES = Timing.ALL
    MAX_WALL_FACTOR = 3.0
    MIN_STEP_S = 0.05  # the shortest wait before the CPU is looked at again

    def __init__(self, wall_factor: float, rule: str = Timing.CPU) -> None:
        if rule not in self.RULES:
            raise ValueError(f"timing rule {rule!r}: one of {', '.join(self.RULES)}")
        self.rule = rule
        self.counts_cpu = rule == Timing.CPU
        # the wall rule allows no stretch: its limits are wall seconds already
        self.wall_factor = min(max(1.0, float(wall_factor)), self.MAX_WALL_FACTOR) \
            if self.counts_cpu else 1.0

    def budget_end(self, start: float, budget_s: float) -> float:
        return start + budget_s * self.wall_factor

    def over_budget(self, now: float, budget_end: float, cpu_spent: float,
                    cpu_budget: float) -> bool:
        """Whether a program that spent ``cpu_spent`` CPU seconds has used up its budget."""
        return now >= budget_end or (self.counts_cpu and cpu_spent >= cpu_budget)

    def deadlines(self, start: float, limit: float, budget_end: float) -> "tuple[float, float]":
        """(first deadline, hard deadline) of a call that started at ``start``: the first
        comes after ``limit`` wall seconds, the hard one after ``wall_factor`` times that
        (the wall rule: the same instant)."""
        return min(start + limit, budget_end), min(start + limit * self.wall_factor, budget_end)

    def next_deadline(self, now: float, limit: float, used: "Callable[[], float | None]",
                      hard: float) -> "float | None":
        """After a deadline passed: the next one, or None when the call is over its limit.
        ``used()`` reads the CPU seconds the call spent (None: unreadable, which ends it);
        the wall rule never reads it (its first deadline is the last)."""
        if not self.counts_cpu or now >= hard:
            return None
        spent = used()
        if spent is None or spent >= limit:
            return None
        return min(now + max(limit - spent, self.MIN_STEP_S), hard)


class CpuMeter:
    """CPU seconds used by everything the program under test runs: the child, whatever it
    forks or starts, daemons and orphans included. Read at every call's end (the budget)
    and whenever a call reaches a deadline (the per-call limit).

    In a container of our own (``kill_strays``), the container's cgroup CPU counter minus
    this runner's own CPU: exact, one small read. Elsewhere (the unsafe host executor), the
    child's /proc stat (with the children it reaped) at every read, and at a deadline also
    every live process below this runner (the fork server excluded) and the orphans it
    reaped: a process that outlives earlier calls of the same program is counted whole."""

    def __init__(self, in_container: bool, spawner: "Spawner") -> None:
        self.path = _cgroup_cpu_file() if in_container else None
        self.spawner = spawner  # its fork server is not the program's

    def read(self, child: "Child", deadline: bool = False) -> "float | None":
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
                    parent_of[int(name)], ticks[int(name)] = stat_fields(name)
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
        return total / CLK_TCK


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
