"""Running programs through the in-sandbox runner: limits, jobs, batches, results (the host's
side of :mod:`sandbox.runner.protocol`; where the jobs run is :mod:`.executors`).

The host builds a job (code + entry point + tagged inputs + per-input time limits + a fresh
nonce), hands it to ``python3 -I -c <runner>`` inside a sandbox, and parses only the lines that
carry its nonce. Expected outputs never leave the host. A program whose line is missing (its
code killed the runner) is run again alone on a freshly reset sandbox; if its line is still
missing it failed on every input (``ProgramResult.lost``). Infrastructure errors
(:class:`sandbox.errors.SandboxUnavailable`) are not results: they propagate.
"""
from __future__ import annotations

import heapq
import json
import math
import secrets
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from sandbox.plain import PlainDecodeError, Unserializable, decode
from sandbox.runner import (
    RESULT_PREFIX,
    CallClock,
    Job,
    Limit,
    Msg,
    Status,
    Timing,
    end_line,
    loads_strict,
    read_frame,
    runner_source,
    seconds,
    text,
)

MIB = 1024 * 1024


# The named timing rules of code judging (``--timing``): name -> what it means. The rule
# itself is :class:`sandbox.runner.CallClock`'s; these pick it and the reference times.
TIMINGS: dict[str, str] = {
    "evalplus": ("EvalPlus's rule: each input may take max(1 s, 4 x the canonical solution's "
                 "wall time on it) of wall-clock time, killed at that instant; base and plus "
                 "inputs each have a budget of min(60 s, their limits' sum) + 2 s"),
    Timing.CPU: ("CPU time of the candidate's whole process tree: max(1 s, 4 x the "
                 "canonical solution's CPU time) per input, wall time at most 3x that; one "
                 "budget of min(60 s, all limits' sum) + 2 s (steady on a busy machine)"),
}
# timing -> the CallClock rule it runs under ("cpu" is the runner's own rule of that name)
RUNNER_RULE = {"evalplus": Timing.WALL, Timing.CPU: Timing.CPU}


def check_timing(timing: object) -> str:
    """``timing`` if it names a rule of :data:`TIMINGS`, else a ValueError naming them."""
    if not isinstance(timing, str) or timing not in TIMINGS:
        raise ValueError(f"timing={timing!r} is not a timing rule; use one of: "
                         + "; ".join(f"{k!r} ({v})" for k, v in TIMINGS.items()))
    return timing


@dataclass(frozen=True)
class CodeLimits:
    """Time and resource limits for running candidate code (EvalPlus defaults).

    Per-input time limit: ``max(min_time_limit, gt_time_limit_factor * reference_time)``.
    ``timing`` (:data:`TIMINGS`) says what the limit counts: ``"evalplus"``, wall-clock time
    against the canonical solution's wall time (EvalPlus's exact rule); ``"cpu"``, CPU time of
    everything the candidate runs (its forked workers too) against the canonical solution's
    CPU time, wall time stretching to ``wall_factor`` (at most 3) times the limit while the
    machine is busy. The rule itself lives in one place, :class:`sandbox.runner.CallClock`.
    A program's budget: ``min(program_time_cap, sum(limits)) + 2`` (EvalPlus'
    ``EVALPLUS_TIMEOUT_PER_TASK``), under ``"evalplus"`` for the base and the plus inputs
    each (EvalPlus runs them as two processes), under ``"cpu"`` over all inputs.
    """

    timing: str = Timing.CPU
    min_time_limit: float = 1.0  # evalplus DEFAULT_MIN_TIME_LIMIT
    gt_time_limit_factor: float = 4.0  # evalplus DEFAULT_GT_TIME_LIMIT_FACTOR
    wall_factor: float = 3.0  # a call may use its limit in CPU seconds, wall <= this x limit
    program_time_cap: float = 60.0  # evalplus EVALPLUS_TIMEOUT_PER_TASK
    import_time_limit: float = 10.0  # loading (exec of) the code
    memory_mb: int = 4096  # RLIMIT_AS of the child interpreter (evalplus: 4 GiB)
    recursion_limit: int | None = None  # None: Python's default
    max_output_bytes: int = 128 * MIB  # one returned value, encoded
    # a returned value with more container items than this travels as a SHA-256 of its plain
    # text (Mbpp/255's reference returns 1.7M 77-tuples: 1.1 GB), hashed within this many CPU s
    digest_items: int = 4_000_000
    digest_time_limit: float = 60.0
    public_test_time_limit: float = 3.0  # per prompt-visible test (no reference time exists)
    reference_time_limit: float = 60.0  # per input when running canonical solutions
    batch_programs: int = 32  # most programs in one runner exec

    def __post_init__(self) -> None:
        check_timing(self.timing)
        if not isinstance(self.wall_factor, (int, float)) or not \
                1 <= self.wall_factor <= CallClock.MAX_WALL_FACTOR:
            raise ValueError(f"CodeLimits.wall_factor={self.wall_factor!r}: give a number from 1 "
                             f"to {CallClock.MAX_WALL_FACTOR:g} (wall seconds per CPU second of "
                             "the limit)")
        for name in ("min_time_limit", "gt_time_limit_factor", "program_time_cap",
                     "import_time_limit", "public_test_time_limit", "reference_time_limit",
                     "digest_time_limit"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"CodeLimits.{name}={v!r}: give a positive number of seconds")
        if not isinstance(self.memory_mb, int) or self.memory_mb < 64:
            raise ValueError(f"CodeLimits.memory_mb={self.memory_mb!r}: give an integer >= 64")
        if self.recursion_limit is not None and self.recursion_limit < 100:
            raise ValueError("CodeLimits.recursion_limit must be None or >= 100")
        if self.batch_programs < 1 or self.max_output_bytes < 1024:
            raise ValueError("CodeLimits.batch_programs >= 1 and max_output_bytes >= 1024")
        if not isinstance(self.digest_items, int) or self.digest_items < 1000:
            raise ValueError(f"CodeLimits.digest_items={self.digest_items!r}: give an integer "
                             ">= 1000")

    def time_limits(self, reference_times: Sequence[float]) -> list[float]:
        return [max(self.min_time_limit, self.gt_time_limit_factor * float(t))
                for t in reference_times]

    def budget(self, time_limits: Sequence[float]) -> float:
        return min(self.program_time_cap, float(sum(time_limits))) + 2.0

    def budget_parts(self, time_limits: Sequence[float], n_base: int
                     ) -> tuple[tuple[int, float], ...]:
        """The budget per part of the inputs (``CallGroup.budget_parts``): under ``"evalplus"``
        the base inputs (the first ``n_base``) and the plus inputs each get :meth:`budget` of
        their own limits, as EvalPlus's two processes do; under ``"cpu"`` none (one budget)."""
        if self.timing != "evalplus":
            return ()
        parts = (tuple(time_limits[:n_base]), tuple(time_limits[n_base:]))
        return tuple((len(p), self.budget(p)) for p in parts if p)

    def runner_limits(self) -> dict[str, Any]:
        """The job's ``limits`` (:class:`sandbox.runner.Limit`)."""
        return {Limit.MEMORY_MB: self.memory_mb, Limit.RECURSION_LIMIT: self.recursion_limit,
                Limit.IMPORT_S: self.import_time_limit, Limit.MAX_OUTPUT_BYTES: self.max_output_bytes,
                Limit.TIMING: RUNNER_RULE[self.timing], Limit.WALL_FACTOR: self.wall_factor,
                Limit.DIGEST_NODES: self.digest_items, Limit.DIGEST_S: self.digest_time_limit}


# -- jobs ---------------------------------------------------------------------------------------


# measured in Docker on 2 cores (runner with a fork server): ~15 ms per program, ~60 us per input
PROGRAM_OVERHEAD_S = 0.015
INPUT_OVERHEAD_S = 60e-6


@dataclass(frozen=True)
class CallGroup:
    """Programs that share one entry point, one input list and its time limits."""

    entry_point: str
    inputs: tuple[Any, ...]  # each: a tagged (sandbox.plain) list of positional arguments
    time_limits: tuple[float, ...]
    programs: tuple[tuple[str, str], ...]  # (program id, code)
    budget_s: float
    stop_on_error: bool = True
    # estimated seconds one program of this group takes (e.g. the reference's CPU time);
    # None: guessed from the number of inputs. Only balances batches, never limits anything.
    cost_s: float | None = None
    # a budget per part of the inputs instead of budget_s: ((inputs, seconds), ...), in order
    # (CodeLimits.budget_parts: EvalPlus's base and plus processes)
    budget_parts: tuple[tuple[int, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The group as the job carries it (:class:`sandbox.runner.Job`)."""
        out = {Job.ENTRY_POINT: self.entry_point, Job.INPUTS: list(self.inputs),
               Job.TIME_LIMITS: list(self.time_limits), Job.BUDGET_S: self.budget_s,
               Job.STOP_ON_ERROR: self.stop_on_error,
               Job.PROGRAMS: [{Job.ID: pid, Job.CODE: code} for pid, code in self.programs]}
        if self.budget_parts:
            out[Job.BUDGET_PARTS] = [[n, s] for n, s in self.budget_parts]
        return out

    def with_programs(self, programs: Sequence[tuple[str, str]]) -> "CallGroup":
        return replace(self, programs=tuple(programs))

    def program_cost(self) -> float:
        """Estimated seconds per program: start-up, transport per input, and the calls."""
        calls = self.cost_s if self.cost_s is not None else 1e-3 * len(self.inputs)
        return PROGRAM_OVERHEAD_S + INPUT_OVERHEAD_S * len(self.inputs) + max(0.0, calls)


@dataclass(frozen=True)
class CallOutcome:
    """What one call of the entry point did. ``tagged`` is the returned value as it came
    (tagged plain data, :mod:`sandbox.plain`); ``value`` decodes it on first use."""

    status: str  # "ok" | "error" | "timeout" | "crash" | "skipped"
    tagged: Any = None
    error_kind: str = ""
    message: str = ""
    traceback: str = ""
    seconds: float = 0.0  # measured by the child around the call (ok/error) else wall time
    cpu_seconds: float | None = None  # CPU time of the call, measured by the child (ok only)
    # CPU time the limit counts: every process of the program, measured by the runner
    tree_cpu_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def value(self) -> Any:
        """The returned value, decoded once (malformed data: :class:`Unserializable`)."""
        try:
            return self.__dict__["_value"]
        except KeyError:
            pass
        value = None
        if self.status == "ok":
            try:
                value = decode(self.tagged)
            except (PlainDecodeError, ValueError, TypeError, RecursionError):
                value = Unserializable("undecodable")
        object.__setattr__(self, "_value", value)  # a cache, not state: frozen stays frozen
        return value


@dataclass(frozen=True)
class ProgramResult:
    id: str
    outcomes: tuple[CallOutcome, ...] = ()
    load_error: dict[str, str] | None = None  # {"kind", "message", "traceback"}
    lost: bool = False  # no nonce-tagged line came back: every input failed
    unjudged: str | None = None  # the infrastructure lost the result (e.g. output cap hit)

    @property
    def loaded(self) -> bool:
        return self.load_error is None and not self.lost


def _outcome(raw: Any, value: bytes | None) -> CallOutcome:
    """One call's outcome from its header entry and (for "ok") its framed value bytes."""
    if not isinstance(raw, dict):
        return CallOutcome("crash", error_kind="garbled", message="garbled result")
    status = raw.get(Msg.STATUS)
    secs = seconds(raw.get(Msg.SECONDS))
    secs = secs if secs is not None else (seconds(raw.get(Msg.WALL)) or 0.0)
    tree_cpu = seconds(raw.get(Msg.TREE_CPU))
    if status == Status.OK:  # decoded on demand: a match with the expected tagged data needs none
        if value is None:
            return CallOutcome("crash", error_kind="garbled", message="a result without a value")
        try:
            tagged = loads_strict(value)
        except (ValueError, RecursionError):
            return CallOutcome("crash", error_kind="garbled",
                               message="the child sent a garbled value (not strict JSON)")
        return CallOutcome("ok", tagged=tagged, seconds=secs,
                           cpu_seconds=seconds(raw.get(Msg.CPU)), tree_cpu_seconds=tree_cpu)
    if status in Status.FAILED:
        return CallOutcome(status, error_kind=text(raw.get(Msg.KIND), 100) or status,
                           message=text(raw.get(Msg.MESSAGE), 1000),
                           traceback=text(raw.get(Msg.TRACEBACK), -4000), seconds=secs,
                           tree_cpu_seconds=tree_cpu)
    return CallOutcome("crash", error_kind="garbled", message="garbled result")


def _program_result(pid: str, head: dict[str, Any], values: list[bytes]) -> ProgramResult:
    load = head.get(Msg.LOAD)
    if load is not None:
        load = {k: text(load.get(k), 4000) for k in (Msg.KIND, Msg.MESSAGE, Msg.TRACEBACK)} \
            if isinstance(load, dict) else {Msg.KIND: "Error", Msg.MESSAGE: "", Msg.TRACEBACK: ""}
        return ProgramResult(pid, (), load)
    outs = []
    rest = iter(values)
    for o in head.get(Msg.OUTPUTS) or []:
        outs.append(_outcome(o, next(rest) if isinstance(o, dict) and Msg.VALUE_LEN in o else None))
    return ProgramResult(pid, tuple(outs))


def parse_runner_output(stdout: bytes, nonce: str, ids: Sequence[str]) -> dict[str, ProgramResult]:
    """Results from the lines that carry ``nonce``: at most one per program of ``ids``, and
    only in the order the runner was given them (a line is taken only if it is the next
    program's). A repeat, a line out of order, a line whose framing or header does not check
    out: ignored (programs without a line are run again by :func:`run_groups_with`, then
    counted lost). Everything else in ``stdout`` is ignored."""
    found: dict[str, ProgramResult] = {}
    prefix = RESULT_PREFIX.encode() + b" "
    pos = 0
    for line in stdout.split(b"\n"):
        if not line.startswith(prefix):
            continue
        framed = read_frame(line, nonce)
        if framed is None:
            continue
        head, values = framed
        pid = head.get(Job.ID)
        if pos >= len(ids) or pid != ids[pos]:
            continue  # not the next program: a repeat, out of order, or not ours
        pos += 1
        try:
            found[pid] = _program_result(pid, head, values)
        except Exception:  # noqa: BLE001 - a line we cannot read fails its program, nothing else
            continue
    return found


def build_job(groups: Sequence[CallGroup], limits: CodeLimits, nonce: str,
              kill_strays: bool, scratch: Sequence[str] = ()) -> bytes:
    return json.dumps({Job.NONCE: nonce, Job.LIMITS: limits.runner_limits(),
                       Job.KILL_STRAYS: kill_strays, Job.SCRATCH: list(scratch),
                       Job.GROUPS: [g.to_json() for g in groups]},
                      separators=(",", ":")).encode()


def program_ids(groups: Sequence[CallGroup]) -> list[str]:
    """The programs of ``groups`` in the order the runner runs them."""
    return [pid for g in groups for pid, _ in g.programs]


def job_timeout(groups: Sequence[CallGroup], limits: CodeLimits) -> float:
    stretch = CallClock(limits.wall_factor, RUNNER_RULE[limits.timing]).wall_factor

    def budget(g: CallGroup) -> float:
        return sum(s for _, s in g.budget_parts) if g.budget_parts else g.budget_s

    per = sum(len(g.programs) * (limits.import_time_limit + budget(g) * stretch + 1.0)
              for g in groups)
    return per + 10.0


# An exec function runs argv with stdin and a timeout and returns the runner's stdout and
# whether the sandbox truncated it (its output cap).
ExecFn = Callable[[list[str], bytes, float], tuple[bytes, bool]]


def run_groups_with(exec_fn: ExecFn, groups: Sequence[CallGroup], limits: CodeLimits, *,
                    python: str = "python3", kill_strays: bool = False,
                    scratch: Sequence[str] = (),
                    before_retry: Callable[[], None] | None = None,
                    on_quiet: Callable[[bool], None] | None = None,
                    runner: str | None = None) -> dict[str, ProgramResult]:
    """Run ``groups`` in one runner exec. If programs come back without a result line (one
    of them killed the runner), the first of those runs again alone on a reset sandbox (it
    was running when the runner died; still no line: it failed on every input) and the ones
    after it run again together. ``on_quiet`` hears whether the last exec's runner verified
    that nothing it started is left running (``kill_strays`` only). With ``kill_strays`` (a
    sandbox of our own) the runner empties the ``scratch`` folders between programs.
    ``runner``: the runner program (default :func:`sandbox.runner.runner_source`)."""
    argv = [python, "-I", "-c", runner or runner_source()]

    def once(part: Sequence[CallGroup]) -> tuple[dict[str, ProgramResult], bool]:
        nonce = secrets.token_hex(16)
        out, truncated = exec_fn(argv, build_job(part, limits, nonce, kill_strays, scratch),
                                 job_timeout(part, limits))
        if on_quiet is not None:  # the runner's last line, whole
            end = end_line(nonce)
            on_quiet(out == end or out.endswith(b"\n" + end))
        return parse_runner_output(out, nonce, program_ids(part)), truncated

    results, _ = once(groups)
    while True:
        missing = [(g, pid, code) for g in groups for pid, code in g.programs
                   if pid not in results]
        if not missing:
            return results
        g, pid, code = missing[0]
        if before_retry is not None:
            before_retry()
        got, truncated = once([g.with_programs([(pid, code)])])
        res = got.get(pid)
        if res is None and truncated:
            res = ProgramResult(pid, (), None, unjudged="the sandbox's output cap cut the "
                                "runner's result; raise SandboxConfig.output_limit")
        results[pid] = res if res is not None else ProgramResult(pid, (), None, lost=True)
        rest: list[CallGroup] = []
        for grp in groups:  # the others that never ran, in their order, as one batch
            left = [(p, c) for p, c in grp.programs if p not in results]
            if left:
                rest.append(grp.with_programs(left))
        if rest:
            if before_retry is not None:
                before_retry()
            got, _ = once(rest)
            results.update(got)


def make_batches(groups: Sequence[CallGroup], workers: int, max_programs: int,
                 per_worker: int = 2) -> list[list[CallGroup]]:
    """Pack the programs into about ``per_worker`` batches per worker (at most ``max_programs``
    programs each), balanced by estimated cost (:meth:`CallGroup.program_cost`, longest
    first onto the lightest batch); heaviest batch first. Every batch is one runner exec, so
    fewer batches save execs, and two per worker still even out a wrong estimate."""
    units = [(g.program_cost(), k, j) for k, g in enumerate(groups)
             for j in range(len(g.programs))]
    if not units:
        return []
    n = max(1, min(len(units), max(workers * per_worker, math.ceil(len(units) / max_programs))))
    load = [0.0] * n
    members: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    lightest = [(0.0, b) for b in range(n)]  # a heap of the batches that still have room
    for cost, k, j in sorted(units, key=lambda u: -u[0]):
        _, b = heapq.heappop(lightest)
        load[b] += cost
        members[b].append((k, j))
        if len(members[b]) < max_programs:
            heapq.heappush(lightest, (load[b], b))
    batches: list[tuple[float, list[CallGroup]]] = []
    for b in range(n):
        if not members[b]:
            continue
        by_group: dict[int, list[int]] = {}
        for k, j in sorted(members[b]):
            by_group.setdefault(k, []).append(j)
        batches.append((load[b], [groups[k].with_programs([groups[k].programs[j] for j in js])
                                  for k, js in by_group.items()]))
    batches.sort(key=lambda lb: -lb[0])
    return [b for _, b in batches]
