"""Pure logic of --cluster (no Ray started): the address forms, the checks before any work,
the runner's quiet line the node actor recognises, and that nothing imports Ray without
--cluster. The cluster itself is tested for real in tests/cluster_cases.py."""
from __future__ import annotations

import subprocess
import sys

import pytest

from loop.cluster import quiet_marker, replica_resources
from loop.cluster.session import host_port
from loop.run import RunConfig, VerifyConfig, cluster_address
from sandbox.runner import END_PREFIX
from verifiers.code.execution import CallGroup, CodeLimits, build_job


def test_cluster_address_forms():
    assert cluster_address("ray") is None
    assert cluster_address("ray=auto") == "auto"
    assert cluster_address("ray=ray://10.1.2.3:10001") == "ray://10.1.2.3:10001"
    assert cluster_address("ray= 127.0.0.1:6379 ") == "127.0.0.1:6379"
    for bad in ("dask", "ray=", "rayy=auto", ""):
        with pytest.raises(ValueError, match="give ray or ray=ADDRESS"):
            cluster_address(bad)


def test_host_port_of_an_address():
    assert host_port("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert host_port("ray://head:10001") == ("head", 10001)
    assert host_port("[::1]:6379") == ("::1", 6379)
    assert host_port("auto") is None and host_port("") is None


def test_replicas_need_a_cluster_and_config_checks_the_spec():
    with pytest.raises(ValueError, match="--engine-replicas 2 needs --cluster"):
        RunConfig(task="gsm8k", engine_replicas=2)
    with pytest.raises(ValueError, match="give ray or ray=ADDRESS"):
        RunConfig(task="gsm8k", cluster="ray=")
    with pytest.raises(ValueError, match="engine_replicas must be an integer >= 1"):
        RunConfig(task="gsm8k", cluster="ray", engine_replicas=0)
    with pytest.raises(ValueError, match="give ray or ray=ADDRESS"):
        VerifyConfig(task="gsm8k", reference=True, cluster="slurm")
    cfg = RunConfig(task="gsm8k", cluster="ray=auto", engine_replicas=3)
    assert "cluster" not in cfg.stored() and "engine_replicas" not in cfg.stored()  # may change on resume


def test_replica_resources():
    assert replica_resources("vllm", {}) == {"num_gpus": 1, "num_cpus": 1}
    assert replica_resources("llamacpp", {}) == {"num_cpus": 1}
    assert replica_resources("llamacpp", {"n_threads": 4}) == {"num_cpus": 4}


def test_quiet_marker_is_the_runners_signed_line():
    job = build_job([CallGroup("f", (), (), (("p", "def f(): pass"),), 3.0)], CodeLimits(), "ab" * 16, True)
    assert quiet_marker(job) == f"{END_PREFIX} {'ab' * 16} quiet\n".encode()
    assert quiet_marker(b'{"limits":{}, "nonce":"abab"}') is None  # not where build_job puts it
    assert quiet_marker(b"garbage") is None


def test_nothing_imports_ray_without_cluster():
    code = ("import sys, loop.cli, loop.run, loop.commands.run, loop.commands.verify, loop.commands.select, "
            "loop.commands.doctor; from loop.run import execute_run, execute_verify; "
            "print('ray' in sys.modules, 'loop.cluster' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_cli_refuses_bad_cluster_options_before_any_work(tmp_path):
    out = tmp_path / "r"
    r = subprocess.run([sys.executable, "-m", "loop.cli", "run", "--task", "gsm8k", "--out", str(out),
                        "--engine-replicas", "2"], capture_output=True, text=True)
    assert r.returncode == 2 and "--engine-replicas 2 needs --cluster" in r.stderr and not out.exists()
    r = subprocess.run([sys.executable, "-m", "loop.cli", "verify", "--task", "gsm8k", "--reference",
                        "--out", str(out), "--cluster", "k8s"], capture_output=True, text=True)
    assert r.returncode == 2 and "give ray or ray=ADDRESS" in r.stderr and not out.exists()


def test_a_nodes_swe_image_answer_is_checked():
    from loop.cluster.fleet import NodeFault
    from loop.cluster.swe import checked_image
    from verifiers.swe.images import InstanceImage

    good = {"tag": "fireassay/swe-inst:tinycalc-1.ea6e34655094", "repo_dir": "/repo", "python": "python3",
            "official": False, "how": "existing"}
    assert checked_image(good) == InstanceImage(**good)
    assert checked_image({"unavailable": "x" * 10**6}) == "x" * 4000  # bounded
    for bad in ({**good, "tag": "alpine:latest"},  # not an image this judge makes
                {**good, "repo_dir": "/repo; rm -rf /"}, {**good, "python": "sh -c id"},
                {**good, "official": "yes"}, {**good, "how": "pulled"}, {**good, "extra": 1},
                {"unavailable": 3}, ["fireassay/swe-inst:a"], None):
        with pytest.raises(NodeFault):
            checked_image(bad)


def test_a_nodes_command_result_is_bounded_and_checked():
    from loop.cluster.fleet import NodeFault
    from loop.cluster.swe import checked_exec

    r = checked_exec((0, b"o" * 100, b"e" * 5, False, False, 1.5), cap=10)
    assert (r.stdout, r.stderr, r.truncated, r.returncode) == (b"o" * 10, b"e" * 5, True, 0)
    assert checked_exec((-9, b"", b"", True, False, 3), cap=10).timed_out
    for bad in ((0, "text", b"", False, False, 1.0), (True, b"", b"", False, False, 1.0),
                (0, b"", b"", 0, False, 1.0), (0, b"", b"", False, False, float("nan")),
                (10**9, b"", b"", False, False, 1.0), (0, b"", b""), "garbage", None):
        with pytest.raises(NodeFault):
            checked_exec(bad, cap=10)


def test_swe_verifiers_are_placed_on_the_nodes():
    from loop.run.scale import needs_sandboxes
    from verifiers.registry import verifier_options

    assert "judge_factory" in verifier_options("swe") and "judge_factory" in verifier_options("swe_feedback")
    assert needs_sandboxes(["swe"]) and needs_sandboxes([None, "swe_feedback"])
    assert needs_sandboxes(["evalplus"]) and not needs_sandboxes(["math", "majority", None])


def test_doctor_refuses_cluster_options_without_a_cluster():
    for args, message in ((["--fix"], "--fix only go with --cluster"),
                          (["--task", "swe", "--image", "x:1"], "--image, --task only go with --cluster"),
                          (["--cluster", "ray=127.0.0.1:1", "--data", "f.json"], "--data and --limit go with --task")):
        r = subprocess.run([sys.executable, "-m", "loop.cli", "doctor", *args], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


class FakeFleet:
    """A fake of loop.cluster.Fleet for the pure logic of ClusterSWEJudge.judge_many: every
    job it is handed faults on every try, so each gets the give-up result."""

    def __init__(self) -> None:
        self.handed: list = []

    def run_each(self, items, fn, give_up=None):
        from loop.cluster.fleet import NodeFault

        self.handed += list(items)
        return [give_up(i, NodeFault("lost with its node")) for i in items]


def test_cluster_swe_judge_keeps_refusals_on_the_driver_and_marks_faulted_patches():
    from loop.cluster.swe import ClusterSWEJudge
    from verifiers.swe.instance import SWEInstance
    from verifiers.swe.taskset import taskset_records

    inst = SWEInstance.from_record(next(r for r in taskset_records() if r["instance_id"] == "tinycalc-1"))
    test_file = inst.test_files[0]
    edit_tests = f"--- a/{test_file}\n+++ b/{test_file}\n@@ -1 +1 @@\n-x\n+y\n"
    fleet = FakeFleet()
    refused, faulted = ClusterSWEJudge(fleet).judge_many([(inst, edit_tests), (inst, inst.patch)])
    assert refused.status == "refused" and fleet.handed == [1]  # never sent to a node
    assert faulted.status == "error" and faulted.resolved is None and "lost with its node" in faulted.reason
