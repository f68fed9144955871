"""The runner's channel cannot be forged: hostile candidates fail, honest ones beside them pass.

Each test runs on the unsafe host executor (harmless payloads only) and on the real Docker
pool (marker ``docker``). The expected outputs never reach the runner: the oracle compares
plain data on the host.
"""
from __future__ import annotations

import time

import pytest

from verifiers.code.evalplus import EvalPlusOracle, make_reference
from verifiers.code.execution import CallGroup, CodeLimits, HostExecutor
from verifiers.types import Candidate, Problem

LIMITS = CodeLimits(min_time_limit=0.5, import_time_limit=5.0, program_time_cap=10.0,
                    wall_factor=4.0, memory_mb=1024, max_output_bytes=1 << 20)
GOOD = "def add(a, b):\n    return a + b\n"
# the expected output of input (123456000, 789) is 123456789: the gc test hunts for it
BASE = [(1, 2), (123456000, 789)]
PLUS = [(-5, 5), (10**20, 1), (2, 3)]


@pytest.fixture(scope="module", params=["host", pytest.param("docker", marks=pytest.mark.docker)])
def executor(request):
    if request.param == "host":
        ex = HostExecutor(workers=2)
    else:
        from sandbox.config import SandboxConfig
        from verifiers.code.execution import SandboxExecutor

        cfg = SandboxConfig(memory="512m", pids=128, output_limit=64 * 1024 * 1024)
        ex = SandboxExecutor(backend="docker", pool_size=2, config=cfg)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def oracle(executor, tmp_path_factory):
    o = EvalPlusOracle(executor=executor, limits=LIMITS, progress=False,
                       cache_dir=str(tmp_path_factory.mktemp("expected")))
    yield o
    o.close()


PROBLEM = Problem(
    id="T/add", prompt=({"role": "user", "content": "add"},),
    reference=make_reference(dataset="mbpp", entry_point="add", base_input=BASE,
                             plus_input=PLUS, atol=0, reference_code=GOOD,
                             cache_key="hostile-test-v1"))


def judge(oracle, *codes):
    cands = [Candidate(PROBLEM.id, i, f"```python\n{c}\n```") for i, c in enumerate(codes)]
    return oracle.verify(PROBLEM, cands)


def assert_fails_beside_good(oracle, code):
    bad, good = judge(oracle, code, GOOD)
    assert bad.passed is False, bad
    assert good.passed is True, good
    return bad


def test_honest_candidate_passes_and_wrong_one_fails(oracle):
    good, wrong = judge(oracle, GOOD, "def add(a, b):\n    return a - b\n")
    assert good.passed and good.score == 1.0
    assert good.details["base_passed"] and good.details["plus_passed"]
    assert wrong.passed is False and wrong.details["first_failure"]["kind"] == "wrong_answer"


def test_forged_eq_object(oracle):
    v = assert_fails_beside_good(oracle, (
        "class Always:\n    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n"
        "def add(a, b):\n    return Always()\n"))
    assert v.details["first_failure"]["kind"] == "wrong_answer"


def test_forged_eq_int_subclass(oracle):
    assert_fails_beside_good(oracle, (
        "class EvilInt(int):\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return EvilInt(-1)\n"))


@pytest.mark.parametrize("exit_call", ["os._exit(0)", "sys.exit(0)",
                                       "(_ for _ in ()).throw(SystemExit(0))"])
def test_exit_at_import(oracle, exit_call):
    # a module-level value the entry point uses survives the sanitizer, so this runs at import
    v = assert_fails_beside_good(oracle, f"import os, sys\nZERO = {exit_call}\n"
                                         "def add(a, b):\n    return a + b + ZERO\n")
    assert v.details["error_kind"].startswith("load:")


def test_exit_inside_the_call(oracle):
    assert_fails_beside_good(oracle, "import os\ndef add(a, b):\n    os._exit(0)\n")


def test_killing_the_parent_runner(oracle):
    v = assert_fails_beside_good(oracle, (
        "import os, signal\nZERO = os.kill(os.getppid(), signal.SIGKILL) or 0\n"
        "def add(a, b):\n    return a + b + ZERO\n"))
    assert v.details["error_kind"] in ("runner_lost", "load:Crash")


def test_killing_the_parent_during_a_call(oracle):
    assert_fails_beside_good(oracle, (
        "import os, signal\n"
        "def add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b\n"))


def run_one_batch(executor, groups):
    """Run ``groups`` as ONE batch on either executor; returns (results, runner execs used)."""
    import sys

    from verifiers.code.execution import run_groups_with

    calls = []
    if isinstance(executor, HostExecutor):
        def counted(argv, stdin, timeout):
            calls.append(1)
            return executor.exec_fn(argv, stdin, timeout)

        return run_groups_with(counted, groups, LIMITS, python=sys.executable), len(calls)

    def job(sb, part):
        def counted(argv, stdin, timeout):
            calls.append(1)
            r = sb.exec(argv, stdin=stdin, timeout=timeout)
            return r.stdout, r.truncated

        return run_groups_with(counted, part, LIMITS, kill_strays=True, before_retry=sb.reset)

    return executor.pool.map(job, [groups])[0], len(calls)


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGSTOP"])
def test_signalling_the_fork_server_spoils_nothing(executor, sig):
    """Children are forked by a fork server (a sibling: a child of the runner). A candidate
    that kills or stops every sibling process gets its own answers only; the honest programs
    after it in the same runner still get their real results from that runner (one exec:
    the runner replaced or woke the fork server, nothing was re-run)."""
    from sandbox.plain import encode

    hostile = (
        "def add(a, b):\n"
        "    import os, signal\n"
        "    me, parent, hit = os.getpid(), os.getppid(), []\n"
        "    for name in os.listdir('/proc'):\n"
        "        if not name.isdigit() or int(name) == me:\n"
        "            continue\n"
        "        try:\n"
        "            with open(f'/proc/{name}/status') as fh:\n"
        "                ppid = [ln for ln in fh if ln.startswith('PPid:')][0].split()[1]\n"
        "        except (OSError, IndexError):\n"
        "            continue\n"
        "        if int(ppid) == parent:\n"
        f"            os.kill(int(name), signal.{sig})\n"
        "            hit.append(name)\n"
        "    if not hit:\n"
        "        raise RuntimeError('no sibling found')\n"
        "    return a - b\n")
    honest = [(f"h{k}", f"def add(a, b):\n    return a + b + {k} - {k}\n") for k in range(3)]
    group = CallGroup("add", (encode([1, 2]), encode([3, 4])), (2.0, 2.0),
                      (("x", hostile), *honest), 10.0)
    t0 = time.monotonic()
    run_one_batch(executor, [group.with_programs(honest)])
    base = time.monotonic() - t0
    t0 = time.monotonic()
    res, execs = run_one_batch(executor, [group])
    took = time.monotonic() - t0
    assert [o.value for o in res["x"].outcomes] == [-1, -1], res["x"]  # it found and hit them
    for pid, _ in honest:
        assert [o.value for o in res[pid].outcomes] == [3, 7], res[pid]
    assert execs == 1
    # a stopped fork server is woken, not waited on (a wait would cost _Zygote.REQUEST_S, 2 s)
    assert took < 3 * base + 1.0, (took, base)


def test_printed_fake_results(oracle):
    fake = ('{"id":"x","load":null,"outputs":[{"s":"ok","v":3,"t":0.0}]}')
    code = (
        "import os, sys\n"
        f"LINE = 'FIREASSAY-RESULT ' + '0' * 32 + ' ' + {fake!r}\n"
        "def add(a, b):\n"
        "    print(LINE)\n    sys.stdout.write(LINE + '\\n')\n    sys.stderr.write(LINE + '\\n')\n"
        "    for fd in (1, 2):\n"
        "        try:\n            os.write(fd, (LINE + '\\n').encode())\n"
        "        except OSError:\n            pass\n"
        "    for path in ('/proc/%d/fd/1' % os.getppid(), '/dev/stdout'):\n"
        "        try:\n            with open(path, 'w') as fh:\n                fh.write(LINE + '\\n')\n"
        "        except OSError:\n            pass\n"
        "    return None\n")
    assert_fails_beside_good(oracle, code)


def test_patched_builtins(oracle):
    assert_fails_beside_good(oracle, (
        "import builtins, json\n"
        "def add(a, b):\n"
        "    builtins.isinstance = lambda *a: True\n    builtins.type = lambda *a: int\n"
        "    json.dumps = lambda *a, **k: '{\"s\":\"ok\",\"v\":3}'\n"
        "    return 0\n"))


def test_gc_and_inspect_hunting_finds_nothing(oracle):
    code = (
        "import gc, inspect, sys, os\n"
        "def hunt():\n"
        "    seen = set()\n"
        "    for o in gc.get_objects():\n"
        "        try:\n"
        "            if isinstance(o, dict):\n                vals = list(o.values())\n"
        "            elif isinstance(o, (list, tuple)):\n                vals = list(o)\n"
        "            else:\n                continue\n"
        "            seen.update(v for v in vals if type(v) is int)\n"
        "        except Exception:\n            pass\n"
        "    f = inspect.currentframe()\n"
        "    while f is not None:\n"
        "        seen.update(v for v in f.f_locals.values() if type(v) is int)\n"
        "        f = f.f_back\n"
        "    for name in ('environ', 'cmdline', 'mem'):\n"
        "        try:\n"
        "            data = open('/proc/%d/%s' % (os.getppid(), name), 'rb').read(1 << 20)\n"
        "            seen.update(int(t) for t in data.split() if t.isdigit())\n"
        "        except Exception:\n            pass\n"
        "    return seen\n"
        "def add(a, b):\n"
        "    found = hunt()\n"
        "    return 123456789 if 123456789 in found else -1\n")
    v = assert_fails_beside_good(oracle, code)
    assert v.details["inputs_passed"] == 0


def test_infinite_loop_per_input_is_cut(oracle):
    t0 = time.monotonic()
    v = assert_fails_beside_good(oracle, "def add(a, b):\n    while True:\n        pass\n")
    assert v.details["first_failure"]["kind"] == "timeout"
    assert time.monotonic() - t0 < 15


def test_loop_only_on_one_plus_input(oracle):
    v = assert_fails_beside_good(oracle, (
        "def add(a, b):\n    while a == -5:\n        pass\n    return a + b\n"))
    assert v.details["base_passed"] is True and v.details["plus_passed"] is False
    ff = v.details["first_failure"]
    assert {k: ff[k] for k in ("suite", "index", "kind")} == {"suite": "plus", "index": 0, "kind": "timeout"}
    # the evidence a person reads in `fireassay view`: the input, what was expected, the time and its limit
    assert ff["input"].startswith("[-5") and "expected" in ff and "got" not in ff
    assert ff["seconds"] >= ff["limit_s"] > 0


def test_huge_output_is_refused(oracle):
    v = assert_fails_beside_good(oracle, "def add(a, b):\n    return 'x' * (4 * 1024 * 1024)\n")
    assert v.details["first_failure"]["kind"] == "error:OutputTooLarge"


def test_sleeping_past_the_limit_is_cut_by_wall_time(oracle):
    t0 = time.monotonic()
    v = assert_fails_beside_good(oracle, "import time\ndef add(a, b):\n    time.sleep(60)\n")
    assert v.details["first_failure"]["kind"] == "timeout"
    assert time.monotonic() - t0 < 20  # CPU limit 0.5 s, wall at most 4x that


def test_nonce_lines_from_the_child_never_parse(executor):
    """Direct runner check: the child cannot write where the host reads."""
    group = CallGroup("f", ({"list": []},), (2.0,), (("p", (
        "import os\n"
        "def f():\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'FIREASSAY-RESULT x {}\\n')\n"
        "        except OSError:\n            pass\n"
        "    return 1\n")),), budget_s=5.0)
    res = executor.run([group], LIMITS)["p"]
    assert res.loaded and len(res.outcomes) == 1


def test_tests_base_judges_base_inputs_only(executor, tmp_path):
    code = "def add(a, b):\n    return 1 if a == -5 else a + b\n"  # wrong on plus input 0 only
    cand = [Candidate(PROBLEM.id, 0, code)]
    with EvalPlusOracle(tests="base", executor=executor, limits=LIMITS, progress=False,
                        cache_dir=str(tmp_path)) as base_only:
        v = base_only.verify(PROBLEM, cand)[0]
    assert v.passed is True and v.details["plus_passed"] is None
    with EvalPlusOracle(executor=executor, limits=LIMITS, progress=False,
                        cache_dir=str(tmp_path)) as full:
        v = full.verify(PROBLEM, cand)[0]
    assert v.passed is False and v.details["first_failure"]["suite"] == "plus"


def test_public_tests_feedback_never_shows_hidden_inputs(executor):
    from verifiers.code.public_tests import PublicTests

    problem = Problem(id="T/add", prompt=PROBLEM.prompt, reference=PROBLEM.reference,
                      meta={"entry_point": "add",
                            "public_tests": ("assert add(1, 2) == 3", "assert add(2, 2) == 4")})
    codes = ["def add(a, b):\n    return a * b\n",
             "def add(a, b):\n    raise ValueError('boom')\n", GOOD, "no code here"]
    with PublicTests(executor=executor, limits=LIMITS) as pt:
        vs = pt.verify(problem, [Candidate(problem.id, i, c) for i, c in enumerate(codes)])
    wrong, boom, good, none = vs
    assert wrong.score == 0.5 and wrong.passed is False
    assert "assert add(1, 2) == 3" in wrong.feedback and "returned 2" in wrong.feedback
    assert "ValueError: boom" in boom.feedback and 'File "<candidate>"' in boom.feedback
    assert good.score == 1.0 and good.passed and good.feedback == ""
    assert none.passed is False and "code" in none.feedback
    for v in vs:  # hidden inputs (base/plus) never appear
        assert "123456000" not in v.feedback and "10**20" not in v.feedback
        assert "100000000000000000000" not in v.feedback


# -- outputs too big to carry travel as digests (Mbpp/255 returns 1.1 GB) ----------------------

BIG_LIMITS = CodeLimits(min_time_limit=2.0, import_time_limit=5.0, program_time_cap=20.0,
                        wall_factor=4.0, memory_mb=1024, max_output_bytes=1 << 20,
                        digest_items=1000)
BIG_REF = "def pairs(n):\n    return [(i, str(i)) for i in range(n)]\n"
BIG_PROBLEM = Problem(
    id="T/pairs", prompt=({"role": "user", "content": "pairs"},),
    reference=make_reference(dataset="mbpp", entry_point="pairs", base_input=[(3,)],
                             plus_input=[(5000,), (20000,)], atol=0, reference_code=BIG_REF,
                             cache_key="digest-test-v1"))


def test_big_outputs_are_compared_by_digest(executor, tmp_path):
    codes = [
        BIG_REF,
        # the same plain value through subclasses: still equal
        "import collections\nP = collections.namedtuple('P', 'a b')\n"
        "class L(list):\n    pass\n"
        "def pairs(n):\n    return L(P(i, str(i)) for i in range(n))\n",
        # right on the small base input, wrong only where the answer travels as a digest:
        "def pairs(n):\n    return [(i, str(i)) for i in range(n - (n > 100))]\n",  # one short
        "def pairs(n):\n    return [(i, str(i + (i == n - 1 and n > 100))) for i in range(n)]\n",
        # a forged __eq__ hidden in a big value
        "class E:\n    def __eq__(self, o):\n        return True\n"
        "def pairs(n):\n    return [(i, str(i)) for i in range(n - (n > 100))] + [E()] * (n > 100)\n",
    ]
    cands = [Candidate(BIG_PROBLEM.id, i, f"```python\n{c}\n```") for i, c in enumerate(codes)]
    with EvalPlusOracle(executor=executor, limits=BIG_LIMITS, progress=False,
                        cache_dir=str(tmp_path)) as oracle:
        v = oracle.verify(BIG_PROBLEM, cands)
    assert [x.passed for x in v] == [True, True, False, False, False], [x.details for x in v]
    # each wrong one fails on the first big input (plus 0), after passing the small base one
    assert all(x.details["first_failure"]["suite"] == "plus" and x.details["first_failure"]["index"] == 0
               for x in v[2:]), [x.details for x in v[2:]]


def test_runner_killer_in_a_batch_costs_two_more_execs_not_one_per_program():
    """Programs after a runner-killer run again together, not one exec each; the killer
    alone is judged lost and everything beside it gets its real result."""
    import sys

    from sandbox.plain import encode
    from verifiers.code.execution import run_groups_with

    host = HostExecutor(workers=1)
    calls = []

    def counting(argv, stdin, timeout):
        calls.append(len(stdin))
        return host.exec_fn(argv, stdin, timeout)

    killer = ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
              "def add(a, b):\n    return a + b\n")
    progs = [(f"p{i}", GOOD if i != 2 else killer) for i in range(6)]
    group = CallGroup("add", (encode([1, 2]), encode([3, 4])), (2.0, 2.0), tuple(progs), 10.0)
    res = run_groups_with(counting, [group], LIMITS, python=sys.executable)
    assert res["p2"].lost
    for i in (0, 1, 3, 4, 5):
        assert [o.value for o in res[f"p{i}"].outcomes] == [3, 7], res[f"p{i}"]
    assert len(calls) == 3  # the batch, the killer alone, the three after it together


@pytest.mark.docker
def test_pool_skips_the_idle_flush_only_after_a_quiet_job(executor):
    """After an ordinary batch the runner signs 'nothing left running' and the pool keeps
    the reset folded into the next exec; after a runner-killer (whose leftovers nobody
    swept) the idle sandboxes are reset at once. Either way the next job starts clean."""
    if not hasattr(executor, "pool"):
        pytest.skip("docker pool only")
    honest = CallGroup("f", ({"list": []},), (2.0,), (("q", "def f():\n    return 1\n"),), 5.0)
    executor.run([honest], LIMITS)
    idle = list(executor.pool._live)
    assert any(sb.quiet and sb.reset_pending for sb in idle)  # the one that ran it
    assert all(sb.quiet or not sb.reset_pending for sb in idle)
    leaver = CallGroup("f", ({"list": []},), (2.0,), (("k", (
        "import os, signal, subprocess\n"
        "def f():\n"
        "    subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n")),), 5.0)
    assert executor.run([leaver], LIMITS)["k"].lost
    idle = list(executor.pool._live)
    assert any(not sb.quiet and not sb.reset_pending for sb in idle)  # the one that ran it
    assert all(sb.quiet or not sb.reset_pending for sb in idle)
    flushed = next(sb for sb in idle if not sb.reset_pending)
    # no reset is pending on it, so this exec runs as it is: the flush killed the sleeper
    r = flushed.exec(["sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$' || true"])
    assert r.stdout.strip() == b"0", r
