"""SWE judging, the parts that need no Docker: instances, diffs, the patch chain, per-test
outcomes, the resolution rule, the log parsers, the task set and the task/loader."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verifiers.swe.diffs import extract_diff, files_in_diff, protected_files_touched
from verifiers.swe.flaky import merge_repeats
from verifiers.swe.grading import grade
from verifiers.swe.instance import InstanceError, SWEInstance
from verifiers.swe.patching import PatchRefused, apply_patches, check_patch
from verifiers.swe.results import (
    TestRun,
    find_result_line,
    outcomes_from_events,
    parse_django_log,
    parse_pytest_log,
    parse_sympy_log,
    run_from_supervisor,
)
from verifiers.types import Verdict

BASE = {"pkg/mod.py": b"def f(x):\n    return x + 1\n\n\ndef g(x):\n    return x * 2\n",
        "tests/test_mod.py": b"from pkg.mod import f\n\n\ndef test_f():\n    assert f(1) == 2\n"}
GOOD = ("diff --git a/pkg/mod.py b/pkg/mod.py\n"
        "--- a/pkg/mod.py\n"
        "+++ b/pkg/mod.py\n"
        "@@ -1,5 +1,5 @@\n"
        " def f(x):\n"
        "-    return x + 1\n"
        "+    return x + 2\n"
        " \n"  # context lines of blank source lines: a single space
        " \n"
        " def g(x):\n")


# -- instances -----------------------------------------------------------------------------
def rec(**kw):
    base = {"instance_id": "o__r-1", "repo": "o/r", "base_commit": "abc", "problem_statement": "x"}
    return {**base, **kw}


def test_test_lists_as_lists_json_strings_or_empty():
    a = SWEInstance.from_record(rec(FAIL_TO_PASS=["t::a"], PASS_TO_PASS='["t::b", "t::c"]'))
    assert a.fail_to_pass == ("t::a",) and a.pass_to_pass == ("t::b", "t::c")
    b = SWEInstance.from_record(rec(FAIL_TO_PASS="", PASS_TO_PASS=None))
    assert b.fail_to_pass == () and b.pass_to_pass == ()


def test_bad_records_name_the_field():
    with pytest.raises(InstanceError, match="FAIL_TO_PASS"):
        SWEInstance.from_record(rec(FAIL_TO_PASS="not json"))
    with pytest.raises(InstanceError, match="repo"):
        SWEInstance.from_record({"instance_id": "x", "base_commit": "a", "problem_statement": "p"})
    with pytest.raises(InstanceError, match="instance_id"):
        SWEInstance.from_record({"repo": "a/b"})


def test_shared_swe_files_load(shared_data):
    from loop.tasks import get_task
    from loop.tasks.data import DataWarning

    # swe-bench-dev-easy.json holds pylint-dev__astroid-1268 twice (records 1 and 3, identical):
    # used once, with a warning naming both records
    with pytest.warns(DataWarning, match=r"records 1 and 3 .*'pylint-dev__astroid-1268' appears twice, identical"):
        dev = get_task("swe", data=shared_data / "swe" / "swe-bench-dev-easy.json").load()
    assert [p.id for p in dev].count("pylint-dev__astroid-1268") == 1 and len(dev) == 4
    for name in ("swe-bench-lite-test.json", "human_eval.json"):
        task = get_task("swe", data=shared_data / "swe" / name)
        problems = task.load()
        assert len(problems) == 5
        for p in problems:
            inst = SWEInstance.from_record(p.reference)
            assert inst.instance_id == p.id and p.prompt[0]["content"].count("<issue>") == 1
    lite = get_task("swe", data=shared_data / "swe" / "swe-bench-lite-test.json").load()
    inst = SWEInstance.from_record(lite[0].reference)
    assert inst.test_files == ("tests/sitemaps_tests/test_http.py", "tests/sitemaps_tests/urls/http.py")
    assert SWEInstance.from_record({**lite[0].reference, "test_patch": "--- a/x/data.json\n+++ b/x/data.json\n"
                                    + lite[0].reference["test_patch"]}).test_targets == inst.test_files


# -- diffs ---------------------------------------------------------------------------------
def test_extract_diff_from_fence_bare_and_none():
    assert extract_diff(f"Here you go:\n```diff\n{GOOD}```\nDone.") == GOOD
    assert extract_diff(f"Explanation first.\n{GOOD}") == GOOD
    assert extract_diff("```python\nprint(1)\n```") == ""
    assert extract_diff("no diff at all") == ""
    two = f"```diff\n{GOOD}```\nand\n```patch\n{GOOD}```"
    assert extract_diff(two) == GOOD + GOOD


def test_files_in_diff_and_protected_files():
    assert files_in_diff(GOOD) == ("pkg/mod.py",)
    new = "--- /dev/null\n+++ b/conftest.py\n@@ -0,0 +1 @@\n+x = 1\n"
    assert files_in_diff(new) == ("conftest.py",)
    assert protected_files_touched(new, ()) == ["conftest.py"]
    assert protected_files_touched(GOOD, ("pkg/mod.py",)) == ["pkg/mod.py"]
    assert protected_files_touched(GOOD, ("tests/test_mod.py",)) == []


def test_check_patch_refuses_escapes_tests_and_pytest_config():
    with pytest.raises(PatchRefused, match="outside"):
        check_patch(GOOD.replace("pkg/mod.py", "../evil.py"), ())
    with pytest.raises(PatchRefused, match="test files"):
        check_patch(GOOD.replace("pkg/mod.py", "tests/test_mod.py"), ("tests/test_mod.py",))
    addopts = ('diff --git a/pyproject.toml b/pyproject.toml\n--- a/pyproject.toml\n+++ b/pyproject.toml\n'
               '@@ -1,2 +1,3 @@\n [tool.pytest.ini_options]\n+addopts = "-p pkg.evil"\n testpaths = ["tests"]\n')
    with pytest.raises(PatchRefused, match="pytest"):
        check_patch(addopts, ())
    with pytest.raises(PatchRefused):
        check_patch("--- /dev/null\n+++ b/sitecustomize.py\n@@ -0,0 +1 @@\n+import os\n", ())
    check_patch(GOOD, ("tests/test_mod.py",))  # an ordinary code patch passes


# -- the patch chain -----------------------------------------------------------------------
def test_git_apply_exact():
    out = apply_patches(BASE, GOOD, "")
    assert out.applied and out.method == "git apply"
    assert out.changes == {"pkg/mod.py": BASE["pkg/mod.py"].replace(b"x + 1", b"x + 2")}


def test_fuzzy_patch_falls_back_to_patch():
    # context line that no longer matches exactly (the model misremembered a blank line)
    fuzzy = GOOD.replace(" \n \n def g(x):", " \n def g(x):").replace("@@ -1,5 +1,5 @@", "@@ -1,4 +1,4 @@")
    fuzzy = fuzzy.replace(" def g(x):\n", " def g(y):\n")
    out = apply_patches(BASE, fuzzy, "")
    assert out.applied and out.method == "patch --fuzz", out.log
    assert b"x + 2" in out.changes["pkg/mod.py"]


def test_patch_that_does_not_apply_says_why():
    bad = GOOD.replace("-    return x + 1", "-    return x + 100")
    out = apply_patches(BASE, bad, "")
    assert not out.applied and out.method is None
    assert "git apply" in out.log and "patch --fuzz" in out.log


def test_new_and_deleted_files_and_test_patch():
    new = "diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1 @@\n+X = 1\n"
    rm = ("diff --git a/pkg/mod.py b/pkg/mod.py\ndeleted file mode 100644\n--- a/pkg/mod.py\n+++ /dev/null\n"
          "@@ -1,6 +0,0 @@\n" + "".join("-" + ln + "\n" for ln in BASE["pkg/mod.py"].decode().splitlines()))
    tp = ("diff --git a/tests/test_mod.py b/tests/test_mod.py\n--- a/tests/test_mod.py\n+++ b/tests/test_mod.py\n"
          "@@ -3,3 +3,7 @@ from pkg.mod import f\n \n def test_f():\n     assert f(1) == 2\n+\n+\n+def test_g():\n+    assert True\n")
    out = apply_patches(BASE, new + rm, tp, ("tests/test_mod.py",))
    assert out.applied
    assert out.changes["pkg/new.py"] == b"X = 1\n" and out.changes["pkg/mod.py"] is None
    assert b"def test_g" in out.changes["tests/test_mod.py"]


def test_symlink_patch_refused():
    link = ("diff --git a/pkg/link b/pkg/link\nnew file mode 120000\n--- /dev/null\n+++ b/pkg/link\n"
            "@@ -0,0 +1 @@\n+/etc/shadow\n\\ No newline at end of file\n")
    with pytest.raises(PatchRefused, match="symbolic link"):
        apply_patches(BASE, link, "")


# -- outcomes and integrity ----------------------------------------------------------------
def ev(nodeid, when, outcome, **kw):
    return {"ev": "report", "nodeid": nodeid, "when": when, "outcome": outcome, **kw}


def test_outcomes_fold_phases():
    events = [ev("a", "setup", "passed"), ev("a", "call", "passed"), ev("a", "teardown", "passed"),
              ev("b", "setup", "passed"), ev("b", "call", "failed", longrepr="AssertionError: 1 != 2"),
              ev("c", "setup", "failed", longrepr="fixture boom"),
              ev("d", "setup", "skipped"),
              ev("e", "setup", "passed"), ev("e", "call", "passed"), ev("e", "teardown", "failed"),
              ev("f", "setup", "passed"), ev("f", "call", "skipped", xfail=True)]
    status, errors = outcomes_from_events(events)
    assert status == {"a": "passed", "b": "failed", "c": "error", "d": "skipped", "e": "error", "f": "xfail"}
    assert "1 != 2" in errors["b"]


def payload(events, rc=0, **kw):
    return {"returncode": rc, "timed_out": False, "duration_s": 0.1, "events": events, **kw}


def seen(nodeid, raised=False):
    """The reporter's observer record of a test's call."""
    return {"ev": "call", "nodeid": nodeid, "raised": raised}


OK_EVENTS = [{"ev": "collected", "ids": ["t::a", "t::b"]}, seen("t::a"), ev("t::a", "call", "passed"),
             seen("t::b"), ev("t::b", "call", "passed"), {"ev": "finish", "exitstatus": 0},
             {"ev": "checked"}]


def test_resolution_rule():
    run = run_from_supervisor(payload(OK_EVENTS))
    assert run.integrity_problems() == []
    assert grade(run, ["t::a"], ["t::b"]).resolved
    g = grade(run, ["t::a", "t::missing"], ["t::b"])
    assert not g.resolved and g.f2p_failed == ("t::missing",)
    failing = [*OK_EVENTS[:3], seen("t::b", True), ev("t::b", "call", "failed"),
               {"ev": "finish", "exitstatus": 1}, {"ev": "checked"}]
    g = grade(run_from_supervisor(payload(failing, rc=1)), ["t::a"], ["t::b"])
    assert not g.resolved and g.p2p_failed == ("t::b",) and "PASS_TO_PASS" in g.reason


def test_integrity_checks_catch_early_exit_and_disagreeing_exit_code():
    no_finish = run_from_supervisor(payload(OK_EVENTS[:4]))  # os._exit(0) mid-run
    g = grade(no_finish, ["t::a"], ["t::b"])
    assert not g.resolved and "never reached its end" in g.reason
    unchecked = run_from_supervisor(payload(OK_EVENTS[:-1]))  # os._exit(0) after the session
    assert not grade(unchecked, ["t::a"], ["t::b"]).resolved
    assert "the test process ended before the judge's last check" in unchecked.integrity_problems()
    lying = run_from_supervisor(payload(OK_EVENTS, rc=1))
    assert any("disagrees" in p for p in lying.integrity_problems())
    unreported = run_from_supervisor(payload([{"ev": "collected", "ids": ["t::a", "t::b"]}, seen("t::a"),
                                              ev("t::a", "call", "passed"), {"ev": "finish", "exitstatus": 0},
                                              {"ev": "checked"}]))
    assert any("no result" in p for p in unreported.integrity_problems())
    nothing = run_from_supervisor(payload([{"ev": "collected", "ids": []}, {"ev": "finish", "exitstatus": 5}], rc=5))
    assert "no tests were collected" in nothing.integrity_problems()
    timed = run_from_supervisor({**payload(OK_EVENTS), "timed_out": True, "returncode": None})
    assert not grade(timed, ["t::a"], []).resolved


def test_forged_outcomes_are_tampering():
    """The reporter's own signs of tampering, a report the observer did not see pass, and
    records that were not the reporter's: each makes the run unresolved as tampering."""
    raised = [e if e != seen("t::a") else seen("t::a", True) for e in OK_EVENTS]
    unseen = [e for e in OK_EVENTS if e != seen("t::b")]
    flagged = [*OK_EVENTS, {"ev": "tamper", "what": "changed: _pytest.reports.TestReport"}]
    forged = [*OK_EVENTS, {"ev": "forged", "lines": 3}]
    for events, why in ((raised, "the test raised"), (unseen, "never observed"),
                        (flagged, "TestReport"), (forged, "not the reporter's")):
        run = run_from_supervisor(payload(events))
        g = grade(run, ["t::a"], ["t::b"])
        assert not g.resolved and g.tampering and why in g.reason, (why, g)
    assert not run_from_supervisor(payload(OK_EVENTS)).tampering


def test_canaries_hide_among_the_tests_and_catch_forged_passes():
    import random

    from verifiers.swe import canaries

    src = ("import pytest\n\n\ndef test_adds_numbers():\n    assert 1 + 1 == 2\n\n\n"
           "class TestParser:\n    @pytest.mark.parametrize('x', [1, 2])\n"
           "    def test_parses_tokens(self, x):\n        assert x\n\n"
           "    def test_rejects_garbage(self):\n        assert True\n")
    new, got = canaries.inject("tests/test_p.py", src, random.Random(7), per_file=4)
    assert len(got) == 4 and len({c.name for c in got}) == 4
    ns: dict = {}
    exec(compile(new, "test_p.py", "exec"), ns)  # it parses and runs: every canary fails
    for c in got:
        fn = getattr(ns[c.cls], c.name) if c.cls else ns[c.name]
        args = (ns[c.cls](),) if c.cls else ()
        with pytest.raises(AssertionError):
            fn(*args)
        # named with the words of the real tests of its class (or the module), or common ones
        words = set(c.name[len("test_"):].split("_"))
        assert words <= {"adds", "numbers", "parses", "tokens", "rejects", "garbage",
                         *canaries.FILLER_WORDS}, c.name
    ids = {f"tests/test_p.py::{c.cls}::{c.name}" if c.cls else f"tests/test_p.py::{c.name}": "failed"
           for c in got}
    real = {"tests/test_p.py::test_adds_numbers": "passed"}
    assert canaries.check(got, {**real, **ids}, None) == []
    forged = {**real, **{t: "passed" for t in ids}}
    assert len(canaries.check(got, forged, None)) == 4
    assert len(canaries.check(got, real, None)) == 4  # vanished while their file ran
    assert canaries.strip(got, [*ids, *real]) == list(real)
    assert canaries.inject("x.py", "def f(:\n", random.Random(1)) == ("def f(:\n", [])
    assert canaries.inject("x.py", "X = 1\n", random.Random(1)) == ("X = 1\n", [])


def test_result_line_needs_the_nonce():
    out = 'PASSED t::a\nabc {"returncode": 0}\n' + "n0nce " + json.dumps({"returncode": 3}) + "\n"
    assert find_result_line(out, "n0nce") == {"returncode": 3}
    assert find_result_line("PASSED t::a\n", "n0nce") is None


def test_parametrised_and_truncated_ids():
    run = TestRun(outcomes={"t::p[1]": "passed", "t::p[2]": "passed", "t::long test name with spaces": "passed"},
                  collected=None, finished=True, exitstatus=None, returncode=0, timed_out=False, duration_s=0)
    assert grade(run, ["t::p"], ["t::long test name with"]).resolved


# -- log parsers ---------------------------------------------------------------------------
def test_log_parsers():
    assert parse_pytest_log("PASSED a.py::t1\nFAILED a.py::t2 - assert 0\nSKIPPED [1] a.py:3: why\n") == {
        "a.py::t1": "passed", "a.py::t2": "failed"}
    dj = ("test_a (m.T) ... ok\ntest_b (m.T) ... FAIL\ntest_c (m.T) ... skipped 'x'\n"
          "test_d (m.T)\nA cached sitemap index can be rendered (#2713). ... ok\n")
    assert parse_django_log(dj) == {"test_a (m.T)": "passed", "test_b (m.T)": "failed", "test_c (m.T)": "skipped",
                                    "A cached sitemap index can be rendered (#2713).": "passed"}
    assert parse_sympy_log("test_x ok\ntest_y F\n") == {"test_x": "passed", "test_y": "failed"}


# -- repeats -------------------------------------------------------------------------------
def test_merge_repeats_marks_disagreement():
    yes, no = Verdict(1.0, True), Verdict(0.0, False, details={"reason": "t::a failed"})
    assert merge_repeats([yes, yes]).details["flaky"] is False and merge_repeats([yes, yes]).passed
    m = merge_repeats([yes, no, yes])
    assert m.details["flaky"] is True and m.passed is False and m.details["passed_runs"] == 2
    assert merge_repeats([Verdict.unjudged("x"), Verdict.unjudged("x")]).passed is None


# -- the task set --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def taskset(tmp_path_factory):
    from verifiers.swe.taskset.build import build_taskset

    return build_taskset(tmp_path_factory.mktemp("ts") / "a")


def test_taskset_shape_and_reproducibility(taskset, tmp_path):
    from verifiers.swe.taskset.build import build_taskset

    recs = json.loads((taskset / "instances.json").read_text())
    again = json.loads((build_taskset(tmp_path / "b") / "instances.json").read_text())
    assert recs == again  # same base commits, same diffs on every build
    bugfix = [r for r in recs if r["kind"] == "bugfix" and not r["flaky"]]
    assert len(bugfix) >= 10 and len({r["repo"] for r in bugfix}) >= 3
    assert sum(r["kind"] == "humaneval" for r in recs) >= 3 and sum(r["flaky"] for r in recs) == 1
    for r in recs:
        assert r["patch"].startswith("diff --git ") and r["test_patch"].startswith("diff --git ")
        assert r["FAIL_TO_PASS"] and not set(r["FAIL_TO_PASS"]) & set(r["PASS_TO_PASS"])
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=taskset / "repos" / r["instance_id"],
                              capture_output=True, text=True).stdout.strip()
        assert head == r["base_commit"]


@pytest.mark.slow
def test_taskset_tests_fail_before_and_pass_after_gold_on_the_host(taskset, tmp_path):
    """Our own code, run unsandboxed: FAIL_TO_PASS fail at base and pass with the gold patch;
    PASS_TO_PASS pass in both (the flaky instance is allowed to flake)."""
    import shutil

    recs = json.loads((taskset / "instances.json").read_text())
    for r in recs:
        for label, patches in (("base", [r["test_patch"]]), ("gold", [r["patch"], r["test_patch"]])):
            work = tmp_path / f"{r['instance_id']}-{label}"
            shutil.copytree(taskset / "repos" / r["instance_id"], work)
            for p in patches:
                subprocess.run(["git", "apply", "-"], input=p, text=True, cwd=work, check=True)
            files = SWEInstance.from_record(r).test_targets
            log = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-q", "-p", "no:cacheprovider", *files],
                                 cwd=work, capture_output=True, text=True).stdout
            st = parse_pytest_log(log)
            assert all(st.get(t) == "passed" for t in r["PASS_TO_PASS"]), (r["instance_id"], label, log[-2000:])
            if label == "base":
                assert all(st.get(t) == "failed" for t in r["FAIL_TO_PASS"]), (r["instance_id"], log[-2000:])
            elif not r["flaky"]:
                assert all(st.get(t) == "passed" for t in r["FAIL_TO_PASS"]), (r["instance_id"], log[-2000:])


# -- the task ------------------------------------------------------------------------------
def test_swe_task_defaults_to_own_set_and_reference_round_trips():
    from loop.tasks import get_task

    task = get_task("swe")
    problems = task.load()
    assert len(problems) >= 14
    p = problems[0]
    assert extract_diff(task.reference_text(p)) == p.reference["patch"]
    text = p.prompt[0]["content"]
    assert p.reference["problem_statement"].strip() in text and "[file: tinycalc/parser.py]" in text
    # hidden tests never reach the prompt
    for t in p.reference["FAIL_TO_PASS"]:
        assert t.split("::")[-1] not in text
    assert task.oracle().name == "swe" and task.feedback_verifier().name == "swe_feedback"
    assert task.oracle().uses_reference and not task.feedback_verifier().uses_reference


def test_retrieval_ranks_named_files_first():
    from loop.tasks.swe import rank_files

    files = ["a/__init__.py", "a/core.py", "a/util.py", "tests/test_core.py", "README.md"]
    reads = {"tests/test_core.py": "from a.util import x\n"}
    order = rank_files("Crash in a.core when ...", ("tests/test_core.py",), files, lambda p: reads.get(p, ""))
    assert order == ["a/core.py", "a/__init__.py", "tests/test_core.py", "a/util.py", "README.md"]


def test_jsonl_with_json_string_test_lists_loads(tmp_path):
    from loop.tasks import get_task

    rec = {"instance_id": "a__b-1", "repo": "a/b", "base_commit": "c0ffee", "problem_statement": "It breaks.",
           "patch": GOOD, "test_patch": "", "FAIL_TO_PASS": json.dumps(["t.py::test_a"]),
           "PASS_TO_PASS": json.dumps([]), "version": "0.1"}
    path = tmp_path / "inst.jsonl"
    path.write_text(json.dumps(rec) + "\n\n" + json.dumps({**rec, "instance_id": "a__b-2"}) + "\n")
    problems = get_task("swe", data=path).load()
    assert [p.id for p in problems] == ["a__b-1", "a__b-2"]
    assert SWEInstance.from_record(problems[0].reference).fail_to_pass == ("t.py::test_a",)
    assert "not available locally" in problems[0].prompt[0]["content"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rec, "FAIL_TO_PASS": "[oops"}) + "\n")
    from loop.tasks import DataError

    with pytest.raises(DataError, match="record 0.*FAIL_TO_PASS"):
        get_task("swe", data=bad).load()
