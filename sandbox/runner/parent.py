"""The runner itself (the parent): trusted, the only process that holds the nonce.

It reads the job, runs every program of it in a child of its own (:class:`ProgramRun`), checks
every message the child sends field by field and prints one result line per program
(:mod:`sandbox.runner.protocol`). A call that overruns its time limit (:class:`CallClock`), or a
child that dies or garbles the channel, is killed (its whole process group) and a new child
takes the remaining inputs. In a sandbox of its own (``kill_strays``) it cleans up between
programs (:mod:`sandbox.runner.cleanup`) and counts the container's CPU.
"""
from __future__ import annotations

import json
import os
import sys
import time

if __name__ != "__main__":  # on the host; in the sandbox every file is one program (runner_source)
    from sandbox.runner.child import child_entry
    from sandbox.runner.children import GARBLED, Child, ChildGone, Deadline, ForkServer, Spawner, TooLarge
    from sandbox.runner.cleanup import clean_between, sweep_strays
    from sandbox.runner.clock import CallClock, CpuMeter
    from sandbox.runner.forkserver import fork_server_entry
    from sandbox.runner.proc import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, prctl
    from sandbox.runner.protocol import (
        CHILD_ARG,
        FORK_SERVER_ARG,
        Job,
        Limit,
        Msg,
        Status,
        Timing,
        end_line,
        error_fields,
        frame_result,
        seconds,
    )

STOPPED_ON_ERROR = "not run: stopped after the first failing input"


def main(argv: list[str]) -> None:
    """The runner program's entry (``argv`` without the program): a child, the fork server, or
    the runner."""
    if len(argv) >= 3 and argv[0] == CHILD_ARG:
        child_entry(argv)
    if len(argv) >= 2 and argv[0] == FORK_SERVER_ARG:
        fork_server_entry(argv)
        os._exit(0)
    sys.exit(runner_main())


def runner_main() -> int:
    """Run the job on stdin; one result line per program on stdout."""
    _harden()
    try:  # before the job is read: the fork server must never hold the nonce
        fork_server: ForkServer | None = ForkServer.fork_of_this_process()
    except OSError:
        fork_server = None
    try:
        job = json.loads(sys.stdin.buffer.read())
    except ValueError as e:
        sys.stderr.write(f"runner: the job is not valid JSON ({e})\n")
        return 2
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # keep fd 0 taken: a pipe landing on it would be clobbered by Popen
    os.close(devnull)
    nonce = str(job[Job.NONCE])
    source = sys.orig_argv[sys.orig_argv.index("-c") + 1]
    python = job.get(Job.PYTHON) or sys.executable or "python3"
    limits = job.get(Job.LIMITS) or {}
    # in a container of our own: strays are swept, scratch folders and IPC wiped between
    # programs, and the CPU of the whole container counted
    own = bool(job.get(Job.KILL_STRAYS))
    scratch = [d for d in job.get(Job.SCRATCH) or () if isinstance(d, str) and d.startswith("/")
               and d.rstrip("/")] if own else []
    out = sys.stdout.buffer
    spawner = Spawner(source, python, fork_server)
    meter = CpuMeter(own, spawner)
    try:
        for group in job[Job.GROUPS]:
            for program in group[Job.PROGRAMS]:
                res, values = ProgramRun(spawner, group, program, limits, meter).run()
                clean = clean_between(spawner, scratch) if own else True
                out.write(frame_result(nonce, res, values) + b"\n")
                out.flush()
                if not clean:  # the rest run again after a full reset (the host sees them missing)
                    return 0
    finally:
        spawner.close()
    if own and sweep_strays(set()):
        out.write(end_line(nonce))
        out.flush()
    return 0


def _harden() -> None:
    """Make this process non-dumpable: same-uid code can then neither ptrace it nor read
    /proc/<pid>/mem, environ or fd/ (where the nonce or our stdout would be). And a child
    subreaper: orphans of the code under test become our children (the fork server's children
    are handed to us that way; the stray sweep reaps the rest)."""
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)


class ProgramRun:
    """One program on every input of its group, in as many children as it takes: a child that
    times out, crashes or garbles the channel is killed and a fresh one takes the inputs left.
    :meth:`run` returns the result header (outputs rebuilt from checked fields) and the raw
    bytes of the returned values, in order."""

    def __init__(self, spawner: "Spawner", group: dict, program: dict, limits: dict,
                 meter: "CpuMeter") -> None:
        self.spawner, self.meter = spawner, meter
        self.program, self.limits = program, limits
        self.entry_point = group[Job.ENTRY_POINT]
        self.inputs = group[Job.INPUTS]
        self.time_limits = group[Job.TIME_LIMITS]
        self.stop_on_error = bool(group.get(Job.STOP_ON_ERROR, True))
        self.import_s = float(limits.get(Limit.IMPORT_S) or 10.0)
        self.max_bytes = int(limits.get(Limit.MAX_OUTPUT_BYTES) or (8 << 20))
        self.clock = CallClock(float(limits.get(Limit.WALL_FACTOR) or 1.0),
                               str(limits.get(Limit.TIMING) or Timing.CPU))
        self.hash_s = float(limits.get(Limit.DIGEST_S) or 60.0)  # seconds to hash a huge output
        # the budget: over all inputs, or one per part of them (EvalPlus: base, then plus)
        self.parts: list = []  # [(end, seconds)]: each part's budget, the inputs before end
        end = 0
        for n, secs in group.get(Job.BUDGET_PARTS) or ():
            end += int(n)
            self.parts.append((end, float(secs)))
        if not self.parts:
            self.parts.append((len(self.inputs), float(group.get(Job.BUDGET_S) or 1e9)))
        self.part_end, self.cpu_budget = self.parts.pop(0)  # seconds of the clock's rule
        self.budget_end = self.clock.budget_end(time.monotonic(), self.cpu_budget)
        self.cpu_spent = 0.0
        self.outputs: list = [None] * len(self.inputs)
        self.next = 0  # the first input not run yet
        self.load_error: dict | None = None  # the code did not load: no input ran
        self.stopped: str | None = None  # why the inputs left are not run

    def run(self) -> "tuple[dict, list[bytes]]":
        first = True
        while self.next < len(self.inputs) and self.stopped is None:
            self._enter_part(time.monotonic())
            child = self.spawner.child()
            try:
                load = self._load(child)
                if load is not None:
                    if first:
                        self.load_error = load
                    else:  # a restart failed to load: the rest cannot run
                        self.stopped = f"restart failed: {load.get(Msg.KIND)}: {load.get(Msg.MESSAGE, '')}"
                    break
                first = False
                if self._hand_inputs(child):
                    self._call_all(child)
            finally:
                child.kill()
        return self._result()

    def _enter_part(self, now: float) -> None:
        """Past the current part's inputs: the next part starts, with its own budget."""
        while self.next >= self.part_end and self.parts:
            self.part_end, self.cpu_budget = self.parts.pop(0)
            self.budget_end = self.clock.budget_end(now, self.cpu_budget)
            self.cpu_spent = 0.0

    def _load(self, child: "Child") -> "dict | None":
        """Send the code; the child's load error, or None when it loaded."""
        try:
            deadline = min(time.monotonic() + self.import_s, self.budget_end)
            child.send({Job.CODE: self.program[Job.CODE], Job.ENTRY_POINT: self.entry_point,
                        Job.LIMITS: self.limits}, deadline)
            return clean_load(child.recv(deadline, self.max_bytes)[0])
        except Deadline:
            return {Msg.KIND: "Timeout", Msg.MESSAGE: f"loading the code took over {self.import_s:g}s"}
        except (ChildGone, TooLarge) as e:
            return {Msg.KIND: "Crash", Msg.MESSAGE: str(e) or "the child died while loading"}

    def _hand_inputs(self, child: "Child") -> bool:
        """Send the inputs left; False (the next one failed, as a crash) when the child did not
        take them."""
        left = len(self.inputs) - self.next
        try:
            deadline = min(time.monotonic() + self.import_s, self.budget_end)
            child.send({Job.INPUTS: self.inputs[self.next:], Job.STOP_ON_ERROR: self.stop_on_error},
                       deadline)
            head = child.recv(deadline, self.max_bytes)[0]
            if set(head) != {Msg.READY} or head[Msg.READY] != left:
                raise ChildGone(GARBLED)
            return True
        except (Deadline, ChildGone, TooLarge):
            self.outputs[self.next] = {Msg.STATUS: Status.CRASH,
                                       Msg.MESSAGE: "the child did not take its inputs"}
            self.next += 1
            if self.stop_on_error:
                self.stopped = STOPPED_ON_ERROR
            return False

    def _call_all(self, child: "Child") -> None:
        """Record the child's answers until the inputs are done, the budget is spent, or the
        child is lost (then the caller starts a fresh one for the rest)."""
        now = time.monotonic()
        cpu0 = self.meter.read(child)
        while self.next < len(self.inputs):
            self._enter_part(now)
            if self.clock.over_budget(now, self.budget_end, self.cpu_spent, self.cpu_budget):
                self.stopped = "the program's total time budget ran out"
                return
            # call i started when answer i-1 was sent: its clock runs from that answer
            msg, lost = self._answer(child, float(self.time_limits[self.next]), now, cpu0)
            cpu1 = self.meter.read(child)
            t_end = time.monotonic()
            if cpu0 is not None and cpu1 is not None:
                msg[Msg.TREE_CPU] = max(0.0, cpu1 - cpu0)
                self.cpu_spent += msg[Msg.TREE_CPU]
            else:
                self.cpu_spent += t_end - now
            msg[Msg.WALL] = t_end - now
            self.outputs[self.next] = msg
            self.next += 1
            now, cpu0 = t_end, cpu1
            if msg[Msg.STATUS] != Status.OK and self.stop_on_error:
                self.stopped = STOPPED_ON_ERROR
                return
            if lost:
                return  # kill this child, start a fresh one for the rest

    def _answer(self, child: "Child", limit: float, start: float,
                cpu0: "float | None") -> "tuple[dict, bool]":
        """The answer to the call that started at ``start`` (checked), and whether the child is
        lost (timed out, sent too much or garbage)."""
        try:
            msg = clean_answer(*self._await(child, limit, start, cpu0))
            if msg[Msg.STATUS] == Status.RETURNED:  # returned a huge value; now it is being hashed
                msg = clean_answer(*self._await(child, self.hash_s, time.monotonic(),
                                                self.meter.read(child)))
                if msg[Msg.STATUS] == Status.RETURNED:
                    raise ChildGone(GARBLED)
            return msg, False
        except Deadline:
            return {Msg.STATUS: Status.TIMEOUT}, True
        except TooLarge as e:
            return {Msg.STATUS: Status.ERROR, Msg.KIND: "OutputTooLarge",
                    Msg.MESSAGE: f"the output is {e.args[0]} bytes, over the cap"}, True
        except ChildGone as e:
            return {Msg.STATUS: Status.CRASH, Msg.MESSAGE: str(e)}, True

    def _await(self, child: "Child", limit: float, start: float,
               cpu0: "float | None") -> "tuple[dict, bytes | None]":
        """The child's next message, if it comes within the call's limit (:class:`CallClock`)."""
        deadline, hard = self.clock.deadlines(start, limit, self.budget_end)
        while True:
            try:
                return child.recv(deadline, self.max_bytes)
            except Deadline:
                def used() -> "float | None":
                    cpu1 = self.meter.read(child, deadline=True)
                    return None if cpu0 is None or cpu1 is None else cpu1 - cpu0

                nxt = self.clock.next_deadline(time.monotonic(), limit, used, hard)
                if nxt is None:
                    raise
                deadline = nxt

    def _result(self) -> "tuple[dict, list[bytes]]":
        pid = self.program[Job.ID]
        if self.load_error is not None:
            return {Job.ID: pid, Msg.LOAD: self.load_error, Msg.OUTPUTS: []}, []
        values: list[bytes] = []
        for k, out in enumerate(self.outputs):
            if out is None:
                out = self.outputs[k] = {Msg.STATUS: Status.SKIPPED,
                                         Msg.MESSAGE: self.stopped or "not run"}
            value = out.pop(Msg.VALUE, None)
            if value is not None:
                out[Msg.VALUE_LEN] = len(value)
                values.append(value)
        return {Job.ID: pid, Msg.LOAD: None, Msg.OUTPUTS: self.outputs}, values


def clean_load(head: dict) -> "dict | None":
    """The child's load report, rebuilt from checked fields (None: the code loaded)."""
    if set(head) != {Msg.LOAD}:
        raise ChildGone(GARBLED)
    load = head[Msg.LOAD]
    if load is None:
        return None
    if type(load) is not dict:
        raise ChildGone(GARBLED)
    return error_fields(load)


def clean_answer(head: dict, raw: "bytes | None") -> dict:
    """A call's answer rebuilt from checked fields only: nothing else the child wrote is
    passed on; the value stays raw bytes, framed by length in the result line."""
    status = head.get(Msg.STATUS)
    t = seconds(head.get(Msg.SECONDS)) or 0.0
    if status == Status.OK or status == Status.RETURNED:
        msg: dict = {Msg.STATUS: status, Msg.SECONDS: t, Msg.CPU: seconds(head.get(Msg.CPU))}
        if status == Status.OK:
            msg[Msg.VALUE] = raw if raw else b"null"
        return msg
    if status == Status.ERROR:
        return {Msg.STATUS: Status.ERROR, **error_fields(head), Msg.SECONDS: t}
    raise ChildGone(GARBLED)
