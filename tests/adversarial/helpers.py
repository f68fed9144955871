"""Shared pieces of the adversarial suite: the problem, the honest neighbours, and a way to
judge hostile and honest candidates in ONE runner exec (hostile first, so whatever it leaves
behind meets the honest ones) and compare the honest verdicts with their verdicts alone."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

from sandbox.config import MIB, SandboxConfig
from verifiers.code.evalplus import EvalPlusOracle, make_reference
from verifiers.code.execution import CallGroup, CodeLimits, ProgramResult
from verifiers.code.executors import RunnerExecutor
from verifiers.types import Candidate, Problem, Verdict

LIMITS = CodeLimits(min_time_limit=0.5, import_time_limit=5.0, program_time_cap=10.0,
                    memory_mb=1024, max_output_bytes=1 << 20)
POOL_CONFIG = SandboxConfig(memory="512m", pids=128, output_limit=64 * MIB)
MARK = "HOSTILE"  # a hostile candidate carries this string (a docstring survives the sanitizer)

GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
# honest, but its answer depends on what it finds on disk: a memo file left by an earlier
# program with the same name would change it
MEMO = (
    "import json, os\n"
    "def add(a, b):\n"
    "    memo = {}\n"
    "    for path in ('/tmp/add-memo.json', 'add-memo.json'):\n"
    "        if os.path.exists(path):\n"
    "            with open(path) as fh:\n"
    "                memo.update(json.load(fh))\n"
    "    key = f'{a},{b}'\n"
    "    if key not in memo:\n"
    "        memo[key] = a + b\n"
    "        with open('/tmp/add-memo.json', 'w') as fh:\n"
    "            json.dump(memo, fh)\n"
    "    return memo[key]\n")
# honest, needs memory: 200 MB of the sandbox's 512 MB. Faulting in and zeroing its 51,200 pages
# costs it 0.15-0.35 CPU seconds a call, all its own (measured: the CPU the limit counts is its
# child's own CPU + at most 0.013 s, over 30 runs x 5 calls); on the shared 2-core machine, at a
# load of ~10, it got 12-25% of a CPU and 21 of 30 runs hit LIMITS' wall bound (3 x 0.5 s) with
# 0.22-0.25 CPU seconds used. It runs under BIG_ALLOC_LIMITS: the time it needs, whatever the load.
BIG_ALLOC = (
    "def add(a, b):\n"
    "    block = bytearray(200 * 1024 * 1024)\n"
    "    block[::4096] = b'x' * len(block[::4096])\n"
    "    return a + b + block.count(b'y')\n")
BIG_ALLOC_LIMITS = replace(LIMITS, min_time_limit=2.0)
# honest and a little slow: a stray has time to get at it
SLOW_GOOD = "import time\ndef add(a, b):\n    time.sleep(0.2)\n    return a + b\n"

BASE = [(1, 2), (123456000, 789)]  # the gc-hunting test looks for 123456789
PLUS = [(-5, 5), (10**20, 1), (2, 3)]
PROBLEM = Problem(
    id="Adv/add", prompt=({"role": "user", "content": "add"},),
    reference=make_reference(dataset="mbpp", entry_point="add", base_input=BASE,
                             plus_input=PLUS, atol=0, reference_code=GOOD,
                             cache_key="adversarial-v1"))


def hostile(body: str) -> str:
    """Mark ``def add(a, b):`` code as hostile (the marker is the function's docstring)."""
    head = "def add(a, b):\n"
    assert head in body, body
    return body.replace(head, head + f"    {MARK!r}\n", 1)


class OneBatch(RunnerExecutor):
    """A real executor, made to run every program of a call in ONE runner exec, hostile
    programs first (``hostile_first``) or last. Not a fake: the programs really run."""

    def __init__(self, inner: RunnerExecutor, hostile_first: bool = True) -> None:
        self.inner = inner
        self.workers = 1
        self.hostile_first = hostile_first

    def _key(self, program: tuple[str, str]) -> int:
        bad = MARK in program[1]
        return (0 if bad else 1) if self.hostile_first else (1 if bad else 0)

    def run_batches(self, batches: Sequence[Sequence[CallGroup]], limits: CodeLimits,
                    progress: bool = False) -> dict[str, ProgramResult]:
        return self.inner.run_batches(batches, limits, progress)

    def run(self, groups: Sequence[CallGroup], limits: CodeLimits,
            progress: bool = False) -> dict[str, ProgramResult]:
        ordered = [g.with_programs(sorted(g.programs, key=self._key)) for g in groups]
        return self.inner.run_batches([ordered], limits, progress)


def same_verdict(a: Verdict, b: Verdict) -> bool:
    """Equal verdicts, timings aside (a failure's evidence carries the seconds it took)."""
    return _judged(a) == _judged(b)


def _judged(v: Verdict) -> tuple[Any, ...]:
    details = dict(v.details)
    first = details.get("first_failure")
    if isinstance(first, dict):
        details["first_failure"] = {k: x for k, x in first.items() if k != "seconds"}
    return v.passed, v.score, details


class Bench:
    """Judges candidates of :data:`PROBLEM` with the EvalPlus oracle on a real executor."""

    def __init__(self, executor: RunnerExecutor, cache_dir: str) -> None:
        self.executor = executor
        self.cache_dir = cache_dir
        self._alone: dict[tuple[str, CodeLimits], Verdict] = {}

    def oracle(self, executor: RunnerExecutor, limits: CodeLimits) -> EvalPlusOracle:
        """The oracle under ``limits.timing`` (the suite's limits are on the CPU rule, whose
        wall stretch keeps honest neighbours steady on a loaded machine; the tests of the
        EvalPlus wall-clock rule pass limits with ``timing="evalplus"``)."""
        return EvalPlusOracle(executor=executor, limits=limits, progress=False,
                              cache_dir=self.cache_dir, timing=limits.timing)

    def alone(self, code: str, limits: CodeLimits = LIMITS) -> Verdict:
        key = (code, limits)
        if key not in self._alone:
            (v,) = self.oracle(self.executor, limits).verify(
                PROBLEM, [Candidate(PROBLEM.id, 0, code)])
            self._alone[key] = v
        return self._alone[key]

    def together(self, bad: Sequence[str], honest: Sequence[str] = (GOOD, WRONG), *,
                 limits: CodeLimits = LIMITS, hostile_first: bool = True,
                 check: Callable[[list[Verdict]], Any] | None = None) -> list[Verdict]:
        """Judge ``bad + honest`` in one runner exec; assert every honest candidate's verdict
        equals its verdict alone; return the hostile verdicts."""
        for code in bad:
            assert MARK in code, "mark hostile code with hostile()"
        alone = [self.alone(code, limits) for code in honest]
        codes = list(bad) + list(honest)
        cands = [Candidate(PROBLEM.id, i, f"```python\n{c}\n```") for i, c in enumerate(codes)]
        got = self.oracle(OneBatch(self.executor, hostile_first), limits).verify(PROBLEM, cands)
        for code, want, v in zip(honest, alone, got[len(bad):]):
            assert same_verdict(v, want), (
                f"an honest neighbour was judged differently beside hostile code:\n{code}\n"
                f"alone: {want}\nbeside: {v}")
        return got[:len(bad)]

