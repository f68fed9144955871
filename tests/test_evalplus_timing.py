"""``--timing evalplus|cpu``: EvalPlus's wall-clock rule beside the CPU rule, from the clock to
the CLI.

The rule's unit tests are pure logic (:class:`sandbox.runner.CallClock`, ``CodeLimits``, the
expected-output cache). The runner tests run the real runner on the UNSAFE host executor
(sleepers only: harmless). The end-to-end tests run ``fireassay verify`` on a real MBPP+
record in real Docker (marker ``docker``); the hostile versions (forked waiters, honest
neighbours in the same exec) are in tests/adversarial/test_limits.py.
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from loop.store import RunStore
from sandbox.plain import encode
from sandbox.runner import CallClock, Timing
from verifiers.code.execution import TIMINGS, CallGroup, CodeLimits, check_timing, job_timeout
from verifiers.code.executors import HostExecutor
from verifiers.code.expected import CACHE_VERSION, Expected, ExpectedStore

FIREASSAY = [sys.executable, "-m", "loop.cli"]
REPO = Path(__file__).resolve().parents[1]


# -- the rule ----------------------------------------------------------------------------------

def test_the_wall_rule_ends_a_call_at_its_limit_without_reading_the_cpu():
    clock = CallClock(3.0, Timing.WALL)
    assert clock.wall_factor == 1.0 and not clock.counts_cpu
    assert clock.deadlines(10.0, 1.0, 100.0) == (11.0, 11.0)
    assert clock.deadlines(10.0, 1.0, 10.5) == (10.5, 10.5)  # never past the budget
    assert clock.budget_end(10.0, 5.0) == 15.0

    def cpu_read() -> float:
        raise AssertionError("the wall rule read the CPU")

    assert clock.next_deadline(11.0, 1.0, cpu_read, 11.0) is None
    # the budget is wall seconds: CPU spent does not end it, the clock does
    assert not clock.over_budget(14.9, 15.0, cpu_spent=99.0, cpu_budget=5.0)
    assert clock.over_budget(15.0, 15.0, cpu_spent=0.0, cpu_budget=5.0)


def test_the_cpu_rule_stretches_wall_time_up_to_three_times():
    clock = CallClock(3.0, Timing.CPU)
    assert clock.wall_factor == 3.0 and clock.counts_cpu
    assert clock.deadlines(10.0, 1.0, 100.0) == (11.0, 13.0)
    assert clock.next_deadline(11.0, 1.0, lambda: 0.25, 13.0) == 11.75  # 0.75 CPU s left
    assert clock.next_deadline(11.0, 1.0, lambda: 1.0, 13.0) is None  # over its limit
    assert clock.next_deadline(11.0, 1.0, lambda: None, 13.0) is None  # unreadable: over
    assert clock.next_deadline(13.0, 1.0, lambda: 0.0, 13.0) is None  # the wall cap
    assert clock.over_budget(0.0, 15.0, cpu_spent=5.0, cpu_budget=5.0)
    assert CallClock(10.0).wall_factor == CallClock.MAX_WALL_FACTOR == 3.0
    with pytest.raises(ValueError, match="timing rule 'evalplus'"):
        CallClock(3.0, "evalplus")  # the runner's rules are wall and cpu


def test_timing_names_limits_and_budgets():
    assert set(TIMINGS) == {"evalplus", "cpu"}
    with pytest.raises(ValueError) as e:
        check_timing("wall")
    assert "timing='wall' is not a timing rule" in str(e.value)
    assert "'evalplus'" in str(e.value) and "'cpu'" in str(e.value)
    with pytest.raises(ValueError, match="timing="):
        CodeLimits(timing="EvalPlus")
    ev, cpu = CodeLimits(timing="evalplus"), CodeLimits(timing="cpu")
    assert ev.runner_limits()["timing"] == "wall" and cpu.runner_limits()["timing"] == "cpu"
    # EvalPlus: base and plus are two processes, each min(60, its limits' sum) + 2
    assert ev.budget_parts([1.0, 1.0, 8.0, 1.0, 1.0], n_base=2) == ((2, 4.0), (3, 12.0))
    assert ev.budget_parts([1.0] * 100, n_base=40) == ((40, 42.0), (60, 62.0))
    assert ev.budget_parts([1.0, 1.0], n_base=2) == ((2, 4.0),)  # tests="base"
    assert cpu.budget_parts([1.0, 1.0, 8.0], n_base=2) == ()  # one budget over all
    group = CallGroup("f", (), (), (("p", ""),), 5.0, budget_parts=((2, 4.0), (3, 12.0)))
    assert group.to_json()["budget_parts"] == [[2, 4.0], [3, 12.0]]
    assert "budget_parts" not in replace(group, budget_parts=()).to_json()
    assert group.with_programs([("q", "x")]).budget_parts == group.budget_parts
    # a job's own timeout covers both parts, unstretched under the wall rule
    assert job_timeout([group], ev) == ev.import_time_limit + 16.0 + 1.0 + 10.0
    assert job_timeout([replace(group, budget_parts=())], cpu) == \
        cpu.import_time_limit + 5.0 * 3.0 + 1.0 + 10.0


def test_the_cache_stores_wall_times_and_rebuilds_older_versions(tmp_path):
    assert CACHE_VERSION == 3
    exp = Expected(("a", "b"), (0.001, 0.2), 1, (), (0.0015, 0.3))
    assert exp.times_for("cpu") == (0.001, 0.2) and exp.times_for("evalplus") == (0.0015, 0.3)
    store = ExpectedStore(tmp_path)
    store.save("k", {"P/1": exp})
    assert ExpectedStore(tmp_path).load("k") == {"P/1": exp}
    # a version-2 cache (CPU times only) is not misread as wall times: it is recomputed
    old = {"version": 2, "problems": {"P/1": {"outputs": ["a", "b"], "times": [0.001, 0.2],
                                              "n_base": 1, "errors": []}}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert ExpectedStore(tmp_path).load("old") == {}
    # a damaged one (wall times missing or short) neither
    bad = {"version": 3, "problems": {"P/1": {**old["problems"]["P/1"], "wall_times": [0.1]}}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert ExpectedStore(tmp_path).load("bad") == {}


# -- the runner, on the host (sleepers only) ---------------------------------------------------

SLEEPER = "import time\ndef f(s):\n    time.sleep(s)\n    return s\n"


def run_host(group: CallGroup, limits: CodeLimits):
    ex = HostExecutor(workers=1)
    return ex.run([group], limits)["p"]


def test_a_sleep_past_the_limit_fails_on_the_wall_clock_and_passes_on_the_cpu_rule():
    group = CallGroup("f", (encode([0.0]), encode([2.0])), (1.0, 1.0), (("p", SLEEPER),), 5.0)
    wall = run_host(group, CodeLimits(timing="evalplus"))
    assert [o.status for o in wall.outcomes] == ["ok", "timeout"]
    cpu = run_host(group, CodeLimits(timing="cpu"))  # no CPU used: 2 s < 3 x 1 s of wall
    assert [o.status for o in cpu.outcomes] == ["ok", "ok"] and cpu.outcomes[1].value == 2.0


def test_each_part_of_the_inputs_has_a_budget_of_its_own():
    """EvalPlus's base and plus processes: 2 x 0.6 s per part fits a 1.5 s budget per part;
    the same 2.4 s under one budget of 1.5 s does not."""
    inputs = tuple(encode([0.6]) for _ in range(4))
    limits = CodeLimits(timing="evalplus")
    parts = CallGroup("f", inputs, (1.0,) * 4, (("p", SLEEPER),), 1.5,
                      budget_parts=((2, 1.5), (2, 1.5)))
    assert [o.status for o in run_host(parts, limits).outcomes] == ["ok"] * 4
    whole = [o.status for o in run_host(replace(parts, budget_parts=()), limits).outcomes]
    assert whole[:2] == ["ok", "ok"] and "ok" not in whole[2:], whole


# -- the CLI, on a real MBPP+ record in Docker -------------------------------------------------

def cli(*args: object, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([*FIREASSAY, *map(str, args)], capture_output=True, text=True,
                       timeout=600, cwd=REPO)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


@pytest.fixture(scope="module")
def mbpp2(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """Mbpp/2 alone, and samples: its canonical solution, and the same sleeping 2 s on one
    plus input (an input no other is equal to)."""
    work = tmp_path_factory.mktemp("timing")
    with gzip.open(shared_data / "evalplus" / "MbppPlus.jsonl.gz", "rt") as fh:
        rec = next(json.loads(line) for line in fh if '"Mbpp/2"' in line)
    data = work / "MbppPlus.jsonl"
    data.write_text(json.dumps(rec) + "\n")
    code = rec["prompt"] + rec["canonical_solution"]
    trigger = json.dumps(rec["plus_input"][3])
    sleeper = ("import json, time\n" + code.replace(
        "def similar_elements(test_tup1, test_tup2):\n",
        "def similar_elements(test_tup1, test_tup2):\n"
        f"  if json.dumps([list(test_tup1), list(test_tup2)]) == {trigger!r}:\n"
        "    time.sleep(2)\n", 1))
    assert sleeper.count("time.sleep(2)") == 1
    samples = work / "s.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": "Mbpp/2", "text": f"```python\n{c}\n```"})
                               + "\n" for c in (code, sleeper)))
    return data, samples


@pytest.mark.docker
@pytest.mark.parametrize("timing", [None, "cpu"])
def test_verify_judges_by_the_named_rule_and_says_so(tmp_path, mbpp2, timing):
    data, samples = mbpp2
    out = tmp_path / "run"
    extra = ["--timing", timing] if timing else []
    p = cli("verify", "--task", "mbppplus", "--data", data, "--samples", samples, "--out", out,
            "--selectors", "", *extra)
    rule = timing or "evalplus"  # the default of the code tasks
    assert f"(timing: {rule})" in p.stdout, p.stdout
    with RunStore.open(out) as store:
        assert store.config()["judging"] == {"timing": rule}
        stored = store.verdicts("evalplus")
    verdicts = [stored[k] for k in sorted(stored, key=lambda k: k[1])]
    assert verdicts[0].passed is True
    assert all(v.details["timing"] == rule for v in verdicts)
    if rule == "evalplus":  # EvalPlus's wall clock: 2 s > max(1 s, 4 x ~0 s)
        assert verdicts[1].passed is False
        first = verdicts[1].details["first_failure"]
        assert (first["suite"], first["index"], first["kind"]) == ("plus", 3, "timeout")
        assert verdicts[1].details["base_passed"] is True
    else:  # no CPU used; 2 s of wall is within 3 x the 1 s limit
        assert verdicts[1].passed is True
    cli("report", out, "--out", tmp_path / "report")
    assert f"timing={rule}" in (tmp_path / "report" / "report.md").read_text()
    # a resume under another rule is refused (one run, one rule)
    other = "cpu" if rule == "evalplus" else "evalplus"
    p = cli("verify", "--task", "mbppplus", "--data", data, "--samples", samples, "--out", out,
            "--selectors", "", "--timing", other, "--resume", check=False)
    assert p.returncode == 2 and "timing" in p.stderr, p.stderr


def test_an_unknown_timing_is_one_clear_error_before_any_work(tmp_path, mbpp2):
    data, samples = mbpp2
    out = tmp_path / "run"
    p = cli("verify", "--task", "mbppplus", "--data", data, "--samples", samples, "--out", out,
            "--timing", "wall", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    msg = " ".join(p.stderr.split())
    assert "timing='wall' is not a timing rule; use one of: 'evalplus'" in msg and "'cpu'" in msg
    assert not out.exists()
    p = cli("run", "--task", "mbppplus", "--data", data, "--out", out, "--timing", "fast",
            check=False)
    assert p.returncode == 2 and "timing='fast' is not a timing rule" in " ".join(p.stderr.split())
    assert not out.exists()
    # a task whose oracle has no timing refuses the option
    p = cli("verify", "--task", "gsm8k", "--reference", "--out", out, "--timing", "cpu",
            check=False)
    assert p.returncode == 2 and "timing" in p.stderr and not out.exists()


def test_numpy_is_imported_before_a_program_that_names_it_runs():
    """EvalPlus's worker is forked from an evaluator that imported numpy: a candidate's
    `import numpy` costs none of an input's wall-clock limit there. Here the child imports it
    before loading a program whose code names it (its load pays), and only then."""
    code = "import sys\nHAD = sorted(m for m in ('numpy', 'nu' + 'mpy') if m in sys.modules)\n" \
           "def f():\n    return HAD\n"
    quiet = code.replace("'numpy', ", "")
    group = CallGroup("f", (encode([]),), (5.0,), (("p", code), ("q", quiet)), 10.0)
    got = HostExecutor(workers=1).run([group], CodeLimits(timing="evalplus"))
    assert got["p"].outcomes[0].value == ["numpy", "numpy"]
    assert got["q"].outcomes[0].value == []
