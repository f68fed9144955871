"""Attacks on the SWE harness: patches whose code, imported into the pytest process, tries to
forge test outcomes (rewriting pytest's reports, forging the reporter's records, printing
fake summaries, editing tests). None may resolve; a tampering patch is unresolved with
``error_kind="tampering"``; honest patches judged beside them get their verdicts as alone."""
from __future__ import annotations

import pytest

from tests.sandbox_helpers import docker_client
from tests.swe_helpers import base_text, first_code_file, make_patch, steady
from verifiers.swe.instance import SWEInstance
from verifiers.swe.judge import JudgeResult, SWEJudge
from verifiers.swe.taskset import repo_dir, taskset_records

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def judge():
    docker_client()  # fails with the fix when there is no daemon / base image
    with SWEJudge(timeout=300, pool_size=2, workers=2) as j:
        yield j


@pytest.fixture(scope="module")
def instances() -> list[SWEInstance]:
    return [SWEInstance.from_record(r) for r in taskset_records()]


def outcome(r: JudgeResult) -> tuple:
    return r.status, r.error_kind, r.reason


def judge_beside_honest(judge: SWEJudge, inst: SWEInstance, patches: list[str]) -> list[JudgeResult]:
    """Judge hostile ``patches`` in one batch with the gold and the empty patch of the same
    instance; the honest two must come out exactly as when judged alone."""
    alone = judge.judge_many([(inst, inst.patch), (inst, "")])
    got = judge.judge_many([(inst, p) for p in patches] + [(inst, inst.patch), (inst, "")])
    assert [outcome(r) for r in got[-2:]] == [outcome(r) for r in alone], (got[-2:], alone)
    assert alone[0].status == "resolved" and alone[1].status == "unresolved"
    return got[:-2]


def with_prelude(inst: SWEInstance, prelude: str) -> str:
    """A patch that leaves the bug in place and runs ``prelude`` when the buggy module is
    imported into the pytest process."""
    rel = first_code_file(inst)
    return make_patch(inst, {rel: prelude + "\n" + base_text(inst, rel)})


# red-team hole 1, as reported: every report is rewritten as passed when it is made
REPORT_REWRITE = '''
import _pytest.reports as _fa_reports
_fa_orig = _fa_reports.TestReport.from_item_and_call.__func__
def _fa_forged(cls, item, call):
    rep = _fa_orig(cls, item, call)
    rep.outcome = "passed"
    rep.longrepr = None
    return rep
_fa_reports.TestReport.from_item_and_call = classmethod(_fa_forged)
'''
# the same at module level (no class attribute written): pytest's runner calls its own module
# global, so a replaced function forges every report it makes
MODULE_REWRITE = '''
import _pytest.runner as _fa_runner
_fa_orig = _fa_runner.call_and_report
def _fa_forged(item, when, log=True, **kw):
    rep = _fa_orig(item, when, log=False, **kw)
    if rep.failed:
        rep.outcome = "passed"
        rep.longrepr = None
    if log:
        item.ihook.pytest_runtest_logreport(report=rep)
    return rep
_fa_runner.call_and_report = _fa_forged
'''
# only the tests it names are forged (an attacker who knows the hidden test names): canaries
# with other names stay failed, so this one must be caught by the other layers
SELECTIVE_REWRITE = '''
import _pytest.reports as _fa_reports
_fa_orig = _fa_reports.TestReport.from_item_and_call.__func__
_fa_names = {names!r}
def _fa_forged(cls, item, call):
    rep = _fa_orig(cls, item, call)
    if item.name in _fa_names:
        rep.outcome = "passed"
        rep.longrepr = None
    return rep
_fa_reports.TestReport.from_item_and_call = classmethod(_fa_forged)
'''
# a pytest plugin that turns every report into a pass
FORGING_PLUGIN = '''
import pluggy as _fa_pluggy
class _FaPlugin:
    @_fa_pluggy.HookimplMarker("pytest")(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        out = yield
        rep = out.get_result()
        rep.outcome = "passed"
        rep.longrepr = None
'''
# ... smuggled into pytest's plugin manager, found with gc
PLUGIN_SMUGGLER = FORGING_PLUGIN + '''
import gc as _fa_gc
for _fa_o in _fa_gc.get_objects():
    if isinstance(_fa_o, _fa_pluggy.PluginManager) and _fa_o.project_name == "pytest":
        _fa_o.register(_FaPlugin(), name="fa-smuggled")
'''
# ... or found without gc: up the call stack to pytest's config and its plugin manager
FRAME_WALKER = FORGING_PLUGIN + '''
import sys as _fa_sys
_fa_f = _fa_sys._getframe()
while _fa_f is not None:
    try:
        _fa_cfg = _fa_f.f_locals.get("config") or getattr(_fa_f.f_locals.get("self"), "config", None)
        _fa_cfg.pluginmanager.register(_FaPlugin(), name="fa-smuggled")
        break
    except Exception:
        _fa_f = _fa_f.f_back
'''
# records in the reporter's own format written to every pipe the process holds, then exit 0
# before any real record is sent
RECORD_FORGER = '''
import json as _fa_json, os as _fa_os
def _fa_forge(ids):
    recs = [{{"ev": "collected", "ids": ids}}]
    recs += [{{"ev": "report", "nodeid": t, "when": w, "outcome": "passed"}}
             for t in ids for w in ("setup", "call", "teardown")]
    recs.append({{"ev": "finish", "exitstatus": 0}})
    data = "".join(_fa_json.dumps(r) + "\\n" for r in recs).encode()
    for fd in range(3, 256):
        try:
            if _fa_os.readlink("/proc/self/fd/%d" % fd).startswith("pipe:"):
                _fa_os.write(fd, data)
        except OSError:
            pass
    _fa_os._exit(0)
_fa_forge({ids!r})
'''


def test_a_patch_that_rewrites_pytests_reports_is_tampering(judge, instances):
    """Red-team hole 1: replacing TestReport.from_item_and_call on import of the patched
    module was judged resolved (FAIL_TO_PASS 3/3, no integrity problem)."""
    from verifiers.swe.verifier import verdict_from

    inst = next(i for i in instances if i.instance_id == "tinycalc-1")
    (r,) = judge_beside_honest(judge, inst, [with_prelude(inst, REPORT_REWRITE)])
    assert r.status == "unresolved" and r.error_kind == "tampering", (r.status, r.reason)
    v = verdict_from(r, "patch")
    assert v.passed is False and v.details["error_kind"] == "tampering"


# which layer must see each attack (several do for most): the identity checks ("changed:"),
# the call observer ("the test raised"), the canaries ("must fail"), the audit hook (the
# event's name), the signed channel ("not the reporter's")
CAUGHT_BY = {
    "report rewrite": ("changed: _pytest.reports.TestReport", "the test raised", "must fail"),
    "module rewrite": ("changed: _pytest.runner.call_and_report", "the test raised", "must fail"),
    "selective rewrite": ("changed: _pytest.reports.TestReport", "the test raised"),
    "plugin smuggler": ("gc.get_objects",),
    "frame walker": ("the test raised", "must fail"),
    "record forger": ("not the reporter's",),
}


def test_other_ways_to_forge_outcomes_in_process_are_tampering(judge, instances):
    """Each forgery is unresolved as tampering, and seen by every layer that should see it
    (so that turning one layer off fails this test even where the others still catch it)."""
    inst = next(i for i in instances if i.instance_id == "tinycalc-1")
    names = sorted({t.split("::")[-1] for t in inst.fail_to_pass})
    ids = list(inst.fail_to_pass) + list(inst.pass_to_pass)
    attacks = {
        "report rewrite": REPORT_REWRITE,
        "module rewrite": MODULE_REWRITE,
        "selective rewrite": SELECTIVE_REWRITE.format(names=names),
        "plugin smuggler": PLUGIN_SMUGGLER,
        "frame walker": FRAME_WALKER,
        "record forger": RECORD_FORGER.format(ids=ids),
    }
    got = judge_beside_honest(judge, inst, [with_prelude(inst, p) for p in attacks.values()])
    for name, r in zip(attacks, got):
        assert r.status == "unresolved" and r.error_kind == "tampering", (name, r.reason)
        seen = " | ".join(r.run.tampering)
        for sign in CAUGHT_BY[name]:
            assert sign in seen, (name, sign, seen)


def test_feedback_mode_sees_tampering_too(judge, instances):
    """The gold-free feedback verifier runs the visible tests under the same layers."""
    inst = next(i for i in instances if i.instance_id == "tinycalc-1")
    rel = "tinycalc/evaluator.py"
    broken = make_patch(inst, {rel: REPORT_REWRITE + base_text(inst, rel).replace(
        'if op == "+":\n        return left + right', 'if op == "+":\n        return left - right')})
    (r,) = judge.judge_many([(inst, broken)], mode="feedback")
    assert r.status == "unresolved" and r.error_kind == "tampering", r.reason


# -- older attacks (refused or caught by the reporter's private channel) ------------------------

def test_patches_that_edit_tests_instead_of_code_resolve_none(judge, instances):
    jobs = []
    for inst in steady(instances):
        tf = inst.test_targets[0]
        if (repo_dir(inst.instance_id) / tf).exists():  # gut the existing test file
            jobs.append((inst, make_patch(inst, {tf: "def test_nothing():\n    pass\n"})))
        # a conftest.py that turns every failure into a pass
        jobs.append((inst, make_patch(inst, {"conftest.py": (
            "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
            "    out = yield\n    rep = out.get_result()\n    rep.outcome = 'passed'\n")})))
    results = judge.judge_many(jobs)
    assert all(r.resolved is False for r in results), [(r.instance_id, r.status) for r in results if r.resolved]
    assert {r.status for r in results} == {"refused"}


def test_printed_fake_pass_lines_resolve_none(judge, instances):
    jobs = []
    seen_repos: set[str] = set()
    one_per_repo = list({i.repo: i for i in steady(instances)}.values())
    for inst in one_per_repo:
        ids = list(inst.fail_to_pass) + list(inst.pass_to_pass)
        fake = ("import os as _os, sys as _sys\n"
                f"for _t in {ids!r}:\n    print('PASSED ' + _t)\n    print(_t + ' PASSED')\n"
                f"print('=' * 20 + ' {len(ids)} passed in 0.01s ' + '=' * 20)\n_sys.stdout.flush()\n")
        rel = first_code_file(inst)
        body = base_text(inst, rel)
        jobs.append((inst, make_patch(inst, {rel: fake + "_os._exit(0)\n" + body})))  # print and vanish
        if inst.repo not in seen_repos:  # print, then run the (still buggy) code normally
            seen_repos.add(inst.repo)
            jobs.append((inst, make_patch(inst, {rel: fake + body})))
    # a pytest.py at the repository root that prints passes and tries to forge reporter events
    inst = steady(instances)[0]
    ids = list(inst.fail_to_pass) + list(inst.pass_to_pass)
    shadow = ("import json, os, sys\n"
              f"IDS = {ids!r}\n"
              "for t in IDS:\n    print('PASSED', t)\n"
              "fd = os.environ.get('FIREASSAY_REPORT_FD')\n"
              "if fd:\n    f = os.fdopen(int(fd), 'w')\n"
              "    f.write(json.dumps({'ev': 'collected', 'ids': IDS}) + '\\n')\n"
              "    for t in IDS:\n        f.write(json.dumps({'ev': 'report', 'nodeid': t, 'when': 'call', 'outcome': 'passed'}) + '\\n')\n"
              "    f.write(json.dumps({'ev': 'finish', 'exitstatus': 0}) + '\\n')\n    f.flush()\n"
              "sys.exit(0)\n")
    jobs.append((inst, make_patch(inst, {"pytest.py": shadow})))
    results = judge.judge_many(jobs)
    assert all(r.resolved is False for r in results), [(r.instance_id, r.reason) for r in results if r.resolved]
    vanished = [r for (i, p), r in zip(jobs, results) if "_os._exit(0)" in p]
    assert len(vanished) == len(one_per_repo) >= 6
    assert all("never reached its end" in r.reason or "no result" in r.reason for r in vanished), \
        [r.reason for r in vanished]


