"""SWE judging against real Docker, on fireassay's own task set: gold patches resolve, the
empty patch resolves nothing, the flaky instance is caught, feedback never shows hidden tests,
and instances without an environment are reported as unjudgeable. Cheating patches are in
``tests/adversarial/test_swe_harness.py``."""
from __future__ import annotations

import pytest

try:  # tests/ is a package in some checkouts and a plain folder in others
    from tests.sandbox_helpers import docker_client
    from tests.swe_helpers import base_text, first_code_file, make_patch, steady
except ImportError:
    from sandbox_helpers import docker_client
    from swe_helpers import base_text, first_code_file, make_patch, steady
from verifiers.swe.instance import SWEInstance
from verifiers.swe.judge import SWEJudge
from verifiers.swe.taskset import repo_dir, taskset_records
from verifiers.swe.verifier import SWEFeedback, SWEOracle
from verifiers.types import Candidate, Problem

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def judge():
    docker_client()  # fails with the fix when there is no daemon / base image
    with SWEJudge(timeout=300, pool_size=2, workers=2) as j:  # generous: shared CI machines get slow
        yield j


@pytest.fixture(scope="module")
def instances() -> list[SWEInstance]:
    return [SWEInstance.from_record(r) for r in taskset_records()]


def problems_and_candidates(insts, patches):
    return [(Problem(id=i.instance_id, prompt=(), reference=i.to_record()),
             [Candidate(problem_id=i.instance_id, sample_index=0, text=f"```diff\n{p}```" if p else "")])
            for i, p in zip(insts, patches)]


def test_every_gold_patch_resolves_through_the_task_api(judge):
    from loop.tasks import get_task

    task = get_task("swe")
    problems = [p for p in task.load() if not p.meta["flaky"]]
    assert len(problems) >= 13
    oracle = SWEOracle(judge=judge)
    items = [(p, [Candidate(problem_id=p.id, sample_index=0, text=task.reference_text(p))]) for p in problems]
    verdicts = oracle.verify_many(items)
    failed = {p.id: v[0].details for p, v in zip(problems, verdicts) if v[0].passed is not True}
    assert not failed
    assert all(v[0].details["tests_collected"] > 0 for v in verdicts)


def test_empty_patch_resolves_none(judge, instances):
    results = judge.judge_many([(i, "") for i in instances])
    assert [r.status for r in results] == ["unresolved"] * len(instances), [r.reason for r in results]
    assert all(r.grade is not None and r.grade.f2p_failed for r in results)


def test_flaky_instance_is_caught_by_repeats(judge, instances):
    flaky = [i for i in instances if i.meta.get("flaky")]
    steady_one = steady(instances)[0]
    assert len(flaky) == 1
    # P(miss) = 2 * 0.5**10 = 0.2%
    ((vf,),) = SWEOracle(judge=judge, repeat=10).verify_many(problems_and_candidates(flaky, [flaky[0].patch]))
    ((vs,),) = SWEOracle(judge=judge, repeat=3).verify_many(problems_and_candidates([steady_one], [steady_one.patch]))
    assert vf.details["flaky"] is True and vf.passed is False and 0 < vf.details["passed_runs"] < 10
    assert vs.details["flaky"] is False and vs.passed is True and vs.details["runs"] == [True] * 3


def test_feedback_reports_apply_errors_and_visible_failures_never_hidden_tests(judge, instances):
    inst = next(i for i in instances if i.instance_id == "tinycalc-1")
    fb = SWEFeedback(judge=judge)
    broken = make_patch(inst, {"tinycalc/evaluator.py": base_text(inst, "tinycalc/evaluator.py").replace(
        'if op == "+":\n        return left + right', 'if op == "+":\n        return left - right')})
    garbage = "diff --git a/tinycalc/parser.py b/tinycalc/parser.py\n--- a/tinycalc/parser.py\n+++ b/tinycalc/parser.py\n@@ -1,3 +1,3 @@\n-no such line\n+x\n ctx\n"
    items = problems_and_candidates([inst] * 4, [garbage, broken, inst.patch, ""])
    (v_garbage,), (v_broken,), (v_gold,), (v_empty,) = fb.verify_many(items)
    assert v_garbage.passed is False and "does not apply" in v_garbage.feedback
    assert v_broken.passed is False and "test_precedence" in v_broken.feedback
    assert "assert" in v_broken.feedback  # the assertion message is shown
    assert v_gold.passed is True and v_empty.passed is True
    assert "No unified diff" in v_empty.feedback
    for v in (v_garbage, v_broken, v_gold, v_empty):
        for hidden in inst.fail_to_pass:
            assert hidden.split("::")[-1] not in v.feedback


def test_instances_without_an_environment_are_unjudged(judge, shared_data):
    from loop.tasks import get_task

    problems = get_task("swe", data=shared_data / "swe" / "swe-bench-lite-test.json").load(limit=2)
    items = [(p, [Candidate(problem_id=p.id, sample_index=0, text=f"```diff\n{p.reference['patch']}```")])
             for p in problems]
    verdicts = SWEOracle(judge=judge).verify_many(items)
    for (v,) in verdicts:
        assert v.passed is None and "environment unavailable" in v.details["error"]


# it hung once while other test sessions ran beside it (the dockerd-kill test restarts the daemon
# under a streaming build); bounded so a hang fails instead of eating CI's time
@pytest.mark.timeout(600)
def test_official_style_image_is_used_when_present(judge, instances):
    """An image named like SWE-bench's (``sweb.eval.x86_64.<id>``, repository in /testbed,
    python at /opt/miniconda3/envs/testbed/bin/python), built here from our own files."""
    import io
    import tarfile

    client = docker_client()
    env = judge.builder.environment()
    src = next(i for i in instances if i.instance_id == "invstore-2")
    fake_id = "fireassay-test__official-1"
    tag = f"sweb.eval.x86_64.{fake_id}:latest"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(repo_dir(src.instance_id), arcname="repo")
        df = (f"FROM {env}\nCOPY repo /testbed\nRUN mkdir -p /opt/miniconda3/envs/testbed/bin && "
              "ln -s /usr/bin/python3 /opt/miniconda3/envs/testbed/bin/python\n").encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(df)
        tar.addfile(info, io.BytesIO(df))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, network_mode="none")
    try:
        inst = SWEInstance.from_record({**src.to_record(), "instance_id": fake_id, "repo": "someone/else"})
        gold, empty, gold2 = judge.judge_many([(inst, inst.patch), (inst, ""), (inst, inst.patch)])
        assert gold.image.endswith(".official") and gold.status == "resolved", gold.reason
        assert empty.status == "unresolved" and gold2.status == "resolved"  # nothing leaks between jobs
    finally:
        for t in (tag, gold.image if "gold" in locals() else None):
            if t:
                client.images.remove(t, force=True)


def test_a_hanging_patch_times_out_as_unresolved_and_the_pool_survives(instances):
    inst = next(i for i in instances if i.instance_id == "textkit-2")
    rel = first_code_file(inst)
    hang = make_patch(inst, {rel: "import time\nwhile True:\n    time.sleep(0.1)\n" + base_text(inst, rel)})
    with SWEJudge(timeout=25, pool_size=1, workers=1) as j:
        slow, gold = j.judge_many([(inst, hang), (inst, inst.patch)])
    assert slow.status == "unresolved" and "timed out" in slow.reason, slow.reason
    assert gold.status == "resolved", gold.reason  # same (only) container, reset and reused
