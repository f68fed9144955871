"""The code oracle end to end through the runner: honest and wrong candidates, base-only
judging, public-test feedback, digests of huge outputs, runner-killers in a batch, quiet pools.

Each test runs on the unsafe host executor (harmless payloads only) and on the real Docker
pool (marker ``docker``). The hostile candidates themselves (forged channels, exits, signals,
loops, leaks) are in ``tests/adversarial/``.
"""
from __future__ import annotations

import pytest

from verifiers.code.evalplus import EvalPlusOracle, make_reference
from verifiers.code.execution import CallGroup, CodeLimits
from verifiers.code.executors import HostExecutor
from verifiers.types import Candidate, Problem

LIMITS = CodeLimits(min_time_limit=0.5, import_time_limit=5.0, program_time_cap=10.0,
                    wall_factor=3.0, memory_mb=1024, max_output_bytes=1 << 20)
GOOD = "def add(a, b):\n    return a + b\n"
BASE = [(1, 2), (123456000, 789)]
PLUS = [(-5, 5), (10**20, 1), (2, 3)]


@pytest.fixture(scope="module", params=["host", pytest.param("docker", marks=pytest.mark.docker)])
def executor(request):
    if request.param == "host":
        ex = HostExecutor(workers=2)
    else:
        from sandbox.config import SandboxConfig
        from verifiers.code.executors import SandboxExecutor

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


def test_honest_candidate_passes_and_wrong_one_fails(oracle):
    good, wrong = judge(oracle, GOOD, "def add(a, b):\n    return a - b\n")
    assert good.passed and good.score == 1.0
    assert good.details["base_passed"] and good.details["plus_passed"]
    assert wrong.passed is False and wrong.details["first_failure"]["kind"] == "wrong_answer"


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
                        wall_factor=3.0, memory_mb=1024, max_output_bytes=1 << 20,
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
