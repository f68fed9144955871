"""The Ray cluster tests, run by tests/test_cluster.py inside a private network namespace.

Not collected on its own (no ``test_`` prefix): ``tests/test_cluster.py`` runs
``pytest tests/cluster_cases.py`` under ``unshare --net`` with only loopback up, where Ray uses
127.0.0.1 and nothing can leave the machine (Docker is reached through its unix socket). One
real multi-node Ray cluster (``ray.cluster_utils.Cluster``: a head without CPUs and two worker
nodes with 1 CPU each, each its own raylet) is shared by every test here, in file order.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loop.run import RunConfig, VerifyConfig, execute_run, execute_verify
from loop.store import RunStore

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from evalplus_parity import SLOW, load_records, make_mutants  # noqa: E402

if os.environ.get("FIREASSAY_IN_NETNS") != "1":
    pytest.skip("run through tests/test_cluster.py (inside unshare --net)", allow_module_level=True)

MBPP_PROBLEMS = 12  # MBPP+ problems judged (canonical + mutants each)


@pytest.fixture(scope="session")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    c.workers = [c.add_node(num_cpus=1) for _ in range(2)]
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="session")
def mbpp(shared_data, tmp_path_factory):
    """MBPP+ canonical solutions and their mutants as a samples file, and the verdicts of a
    verify of it without a cluster."""
    records = load_records(shared_data, "mbpp")
    keep = [r for i, r in enumerate(records) if i % 29 == 3 and r["task_id"] not in SLOW][:MBPP_PROBLEMS]
    mutants = [m for m in make_mutants("mbpp", keep) if m.kind not in ("loop", "sleep")]
    work = tmp_path_factory.mktemp("mbpp")
    counts: dict[str, int] = {}
    with (work / "samples.jsonl").open("w") as fh:
        for m in mutants:
            idx = counts[m.task_id] = counts.get(m.task_id, -1) + 1
            fh.write(json.dumps({"problem_id": m.task_id, "text": m.code, "sample_index": idx}) + "\n")
    data = shared_data / "evalplus" / "MbppPlus.jsonl.gz"
    local = work / "local"
    execute_verify(VerifyConfig(task="mbppplus", data=str(data), samples=str(work / "samples.jsonl"),
                                selectors=("public_tests",)), local)
    return data, work / "samples.jsonl", verdicts(local, "evalplus"), verdicts(local, "public_tests")


def verdicts(run: Path, name: str) -> dict:
    with RunStore.open(run) as s:
        return {k: (v.passed, v.details.get("error_kind")) for k, v in s.verdicts(name).items()}


def store_counts(run: Path) -> tuple[int, int, int]:
    """(candidate rows, distinct candidate keys, evalplus verdict rows)."""
    with RunStore.open(run) as s:
        rows = s._read("SELECT COUNT(*), COUNT(DISTINCT problem_id || '/' || sample_index || '/' || turn) "
                       "FROM candidates")[0]
        n_verdicts = len(s.verdicts("evalplus"))
    return rows[0], rows[1], n_verdicts


# -- verification across nodes ------------------------------------------------------------------

def test_mbpp_verdicts_on_the_cluster_equal_local(cluster, mbpp, tmp_path):
    """Canonical solutions and mutants judged on two nodes (oracle and the public_tests
    selector): the same verdicts, candidate by candidate, as without a cluster."""
    data, samples, local_oracle, local_public = mbpp
    assert len(local_oracle) > 2 * MBPP_PROBLEMS
    assert any(p for p, _ in local_oracle.values()) and any(p is False for p, _ in local_oracle.values())
    out = tmp_path / "on-cluster"
    r = execute_verify(VerifyConfig(task="mbppplus", data=str(data), samples=str(samples),
                                    selectors=("public_tests",), cluster=f"ray={cluster.address}"), out)
    assert verdicts(out, "evalplus") == local_oracle
    assert verdicts(out, "public_tests") == local_public
    assert r.oracle.candidates == len(local_oracle) and r.oracle.unjudged == 0


def test_math_oracle_checks_on_the_cluster(cluster, shared_data, tmp_path):
    """The MATH oracle's checks in the nodes' process pools: the same verdicts as locally."""
    data = shared_data / "math500" / "test.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()[:6]]
    samples = tmp_path / "s.jsonl"
    with samples.open("w") as fh:
        for r in rows:
            pid = r["unique_id"]
            for i, ans in enumerate([r["answer"], "42", r["answer"] + "+1"]):
                fh.write(json.dumps({"problem_id": pid, "text": f"so \\boxed{{{ans}}}", "sample_index": i}) + "\n")
    cfg = dict(task="math500", data=str(data), samples=str(samples), selectors=("majority",), limit=6)
    execute_verify(VerifyConfig(**cfg), tmp_path / "local")
    execute_verify(VerifyConfig(**cfg, cluster=f"ray={cluster.address}"), tmp_path / "cluster")
    local, remote = verdicts(tmp_path / "local", "math"), verdicts(tmp_path / "cluster", "math")
    assert local == remote and len(local) == 18 and sum(p is True for p, _ in local.values()) >= 6


class Starts(logging.Handler):
    """Which nodes the fleet has started jobs on (its debug log), as they start."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.nodes: set[str] = set()
        self.lost: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("job on node "):
            self.nodes.add(msg.split()[3])
        elif "lost" in msg:
            self.lost.append(msg)


def verify_with_a_fault(cfg: VerifyConfig, out: Path, nodes_busy: int, fault) -> None:
    """``execute_verify(cfg, out)`` in a thread; once jobs run on ``nodes_busy`` nodes,
    ``fault()``; the verify must finish without an error, having re-run lost work."""
    failure: list[BaseException] = []
    seen = Starts()
    logger = logging.getLogger("loop.cluster.fleet")
    logger.addHandler(seen)
    logger.setLevel(logging.DEBUG)

    def verify() -> None:
        try:
            execute_verify(cfg, out)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            failure.append(e)

    try:
        t = threading.Thread(target=verify)
        t.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and t.is_alive() and len(seen.nodes) < nodes_busy:
            time.sleep(0.05)
        assert t.is_alive() and len(seen.nodes) >= nodes_busy, f"no time for the fault: {seen.nodes}"
        fault()
        t.join(timeout=900)
    finally:
        logger.removeHandler(seen)
    assert not t.is_alive() and not failure, failure
    assert seen.lost, "no work was lost with the fault: nothing was re-run"


def swe_samples(path: Path) -> None:
    """A small SWE fixture from fireassay's own task set: gold, empty and non-applying patches,
    and a patch that rewrites pytest's reports (tampering) on the same instance."""
    from adversarial.test_swe_harness import REPORT_REWRITE, with_prelude

    from verifiers.swe.instance import SWEInstance
    from verifiers.swe.taskset import taskset_records

    insts = {r["instance_id"]: SWEInstance.from_record(r) for r in taskset_records()}
    calc, text = insts["tinycalc-1"], insts["textkit-1"]
    garbage = ("diff --git a/tinycalc/parser.py b/tinycalc/parser.py\n--- a/tinycalc/parser.py\n"
               "+++ b/tinycalc/parser.py\n@@ -1,3 +1,3 @@\n-no such line\n+x\n ctx\n")
    rows = [(calc, calc.patch), (calc, ""), (calc, with_prelude(calc, REPORT_REWRITE)), (calc, garbage),
            (text, text.patch), (text, "")]
    counts: dict[str, int] = {}
    with path.open("w") as fh:
        for inst, patch in rows:
            idx = counts[inst.instance_id] = counts.get(inst.instance_id, -1) + 1
            body = f"```diff\n{patch}```" if patch else "no patch"
            fh.write(json.dumps({"problem_id": inst.instance_id, "text": body, "sample_index": idx}) + "\n")


def test_swe_verdicts_on_the_cluster_equal_local_with_an_actor_killed(cluster, tmp_path):
    """SWE patches judged in containers on the nodes (the driver applies, adds the canaries,
    checks and grades): the same verdicts as without a cluster, the tampering patch included,
    while one node's actor is killed mid-verify (its patches are judged again elsewhere)."""
    import ray

    samples = tmp_path / "swe.jsonl"
    swe_samples(samples)
    cfg = dict(task="swe", samples=str(samples), selectors=(), limit=None)
    execute_verify(VerifyConfig(**cfg), tmp_path / "local")
    local = verdicts(tmp_path / "local", "swe")
    assert local == {("tinycalc-1", 0, 0): (True, None), ("tinycalc-1", 1, 0): (False, None),
                     ("tinycalc-1", 2, 0): (False, "tampering"), ("tinycalc-1", 3, 0): (False, None),
                     ("textkit-1", 0, 0): (True, None), ("textkit-1", 1, 0): (False, None)}, local
    out = tmp_path / "cluster"

    def kill_an_actor() -> None:
        names = sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                       if a["name"].startswith("fireassay-node-"))
        ray.kill(ray.get_actor(names[0], namespace="fireassay"), no_restart=True)

    verify_with_a_fault(VerifyConfig(**cfg, cluster=f"ray={cluster.address}"), out, 1, kill_an_actor)
    assert verdicts(out, "swe") == local
    with RunStore.open(out) as s:
        details = {k: v.details for k, v in s.verdicts("swe").items()}
    assert "tampering" in details[("tinycalc-1", 2, 0)] and details[("tinycalc-1", 0, 0)]["tests_collected"] > 0


def test_worker_node_removed_mid_verify(cluster, mbpp, tmp_path):
    """A node removed while its batches run: they run again on the other node; every candidate
    has exactly one verdict, equal to the local run's."""
    data, samples, local_oracle, _ = mbpp
    out = tmp_path / "node-lost"

    def remove_a_node() -> None:
        cluster.remove_node(cluster.workers[0], allow_graceful=False)

    try:
        verify_with_a_fault(VerifyConfig(task="mbppplus", data=str(data), samples=str(samples), selectors=(),
                                         cluster=f"ray={cluster.address}"), out, 2, remove_a_node)
    finally:
        cluster.workers[0] = cluster.add_node(num_cpus=1)  # the next tests get two nodes again
        cluster.wait_for_nodes()
    assert verdicts(out, "evalplus") == local_oracle
    rows, keys, n = store_counts(out)
    assert rows == keys == n == len(local_oracle)


# -- generation on engine replicas --------------------------------------------------------------

RUN = dict(task="mbppplus", limit=2, n=2, max_tokens=40, max_turns=2, seed=5, gen_batch=1,
           engine_options={"n_threads": 1}, show_progress=False, report=False)


@pytest.fixture(scope="session")
def local_run(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "local"
    execute_run(RunConfig(data=str(shared_data / "evalplus" / "MbppPlus.jsonl.gz"), **RUN), out)
    return out


def run_snapshot(run: Path) -> tuple[dict, dict]:
    with RunStore.open(run) as s:
        return ({c.key: c.text for c in s.candidates()},
                {k: v.passed for k, v in s.verdicts("evalplus").items()})


def test_replica_killed_mid_run(cluster, shared_data, local_run, tmp_path):
    """`fireassay run` with 2 replicas of the embedded engine, one replica killed (for good)
    mid-run: the same texts and verdicts as the local run, nothing lost or duplicated."""
    import ray

    out = tmp_path / "replicas"
    failure: list[BaseException] = []

    def run() -> None:
        try:
            execute_run(RunConfig(data=str(shared_data / "evalplus" / "MbppPlus.jsonl.gz"),
                                  cluster=f"ray={cluster.address}", engine_replicas=2, **RUN), out)
        except BaseException as e:  # noqa: BLE001
            failure.append(e)

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.monotonic() + 600
    while t.is_alive() and time.monotonic() < deadline and killed is None:
        if (out / "run.sqlite").exists() and store_counts(out)[0] >= 1:  # mid-run: kill a replica
            names = sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                           if a["name"].startswith("fireassay-engine-"))
            killed = names[0]
            ray.kill(ray.get_actor(killed, namespace="fireassay"), no_restart=True)
        time.sleep(0.1)
    t.join(timeout=900)
    assert killed and not failure, failure
    assert run_snapshot(out) == run_snapshot(local_run)
    rows, keys, _ = store_counts(out)
    assert rows == keys == len(run_snapshot(local_run)[0])


def test_sigkilled_driver_resumes_without_cluster(cluster, shared_data, local_run, tmp_path):
    """The driver of a cluster run SIGKILLed once it stored something; `fireassay run --resume`
    without a cluster finishes it: the same candidates and verdicts as the local run."""
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "loop.cli", "run", "--task", "mbppplus",
            "--data", str(shared_data / "evalplus" / "MbppPlus.jsonl.gz"), "--limit", "2", "-n", "2",
            "--max-tokens", "40", "--max-turns", "2", "--seed", "5", "--gen-batch", "1",
            "--engine-option", "n_threads=1", "--quiet", "--no-report", "--out", str(out),
            "--cluster", f"ray={cluster.address}", "--engine-replicas", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if (out / "run.sqlite").exists() and store_counts(out)[0] >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run([sys.executable, "-m", "loop.cli", "run", "--resume", str(out), "--quiet", "--no-report"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert run_snapshot(out) == run_snapshot(local_run)
    rows, keys, _ = store_counts(out)
    assert rows == keys == len(run_snapshot(local_run)[0])


# -- bad input: one message, nothing written ----------------------------------------------------

def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loop.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_unreachable_address_is_one_message(mbpp, tmp_path):
    data, samples, _, _ = mbpp
    out = tmp_path / "never"
    r = cli("verify", "--task", "mbppplus", "--data", str(data), "--samples", str(samples), "--out", str(out),
            "--cluster", "ray=127.0.0.1:1")
    assert r.returncode == 2 and "cannot connect to the Ray cluster at 127.0.0.1:1" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_cluster_without_the_image_is_one_message(cluster):
    from loop.cluster import ClusterError, ClusterSession, code_sandbox_config

    with pytest.raises(ClusterError, match="lacks the sandbox image fireassay/absent:0. Fix: on that node"):
        ClusterSession.connect(cluster.address, sandbox_config=code_sandbox_config().with_(image="fireassay/absent:0"))


def test_node_without_docker_is_one_message_and_doctor_names_it(cluster, mbpp, tmp_path):
    data, samples, _, _ = mbpp
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # the new node's raylet inherits it
    try:
        bad = cluster.add_node(num_cpus=1)
    finally:
        del os.environ["DOCKER_HOST"]
    try:
        out = tmp_path / "never"
        r = cli("verify", "--task", "mbppplus", "--data", str(data), "--samples", str(samples), "--out", str(out),
                "--cluster", f"ray={cluster.address}")
        assert r.returncode == 2 and "its Docker daemon does not answer" in r.stderr, r.stderr[-2000:]
        assert r.stderr.count("does not answer") == 1 and not out.exists()
        d = cli("doctor", "--cluster", f"ray={cluster.address}")
        assert d.returncode == 1, d.stderr[-2000:]
        assert d.stderr.count("FAIL") == 1 and "3 nodes checked, 1 failures" in d.stderr
        assert d.stderr.count("ok hello run") == 2
        from loop.cluster import ClusterSession

        with ClusterSession.connect(cluster.address, need_sandboxes=False) as s:  # math checks need no Docker
            assert len(s.fleet.live()) == 3
    finally:
        cluster.remove_node(bad)


def test_doctor_checks_every_node(cluster):
    d = cli("doctor", "--cluster", f"ray={cluster.address}")
    assert d.returncode == 0, d.stderr[-2000:]
    assert "2 nodes checked, 0 failures" in d.stderr and d.stderr.count("ok image") == 2
    assert d.stderr.count("ok hello run") == 2 and d.stderr.count("ok docker daemon") == 2


# -- images on the nodes: doctor --fix ----------------------------------------------------------

def test_an_image_shipped_through_the_object_store_loads_on_each_node(cluster):
    """docker save on the driver, chunks through Ray's object store, checked and docker loaded
    on each node. All nodes share one dockerd here, so the image is a tiny one of this test's
    own, removed after the save so that the nodes lack it. A transfer that does not check out
    (chunks swapped, one missing) loads nothing."""
    import io
    import secrets
    import tarfile
    from dataclasses import replace

    import ray

    from loop.cluster import ClusterSession
    from loop.cluster.images import ship_image
    from sandbox.docker_client import make_client
    from sandbox.errors import ImageBuildError

    client = make_client()
    tag = f"fireassay/cluster-test-load:{secrets.token_hex(6)}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY blob /blob\n"), ("blob", os.urandom(300_000))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, network_mode="none")
    try:
        with ClusterSession.connect(cluster.address, need_sandboxes=False) as s:
            sent = ship_image(tag, client, chunk_bytes=64 * 1024)
            assert len(sent.chunks) >= 4 and sent.image_id == image.id
            client.images.remove(tag)  # now no node has it

            def load(shipment):
                return s.fleet.on_each_node(lambda a, _: ray.get(a.load_image.remote(shipment), timeout=120))

            swapped = replace(sent, chunks=(sent.chunks[1], sent.chunks[0], *sent.chunks[2:]))
            short = replace(sent, chunks=sent.chunks[:-1], sums=sent.sums[:-1])
            for bad, why in ((swapped, "does not match its checksum"), (short, "does not match the one sent")):
                got = load(bad)
                assert len(got) == 2 and all(isinstance(g, ImageBuildError) and why in str(g) for _, g in got), got
                assert not any(tag in i.tags for i in client.images.list()), "a bad transfer was loaded"
            got = load(sent)
            assert [g for _, g in got] == [image.id, image.id], got
            assert client.images.get(tag).id == image.id
    finally:
        try:
            client.images.remove(tag)
        except Exception:  # noqa: BLE001 - already gone
            pass
        client.close()


def test_doctor_names_what_each_node_lacks_and_fix_gives_it(cluster, tmp_path):
    """An SWE instance whose image no node has (tinycalc-1 at a base commit of this test's own,
    so a tag of its own): doctor names it on each node with the command that fixes it; --fix
    builds it there (or loads the driver's); then every node has it. A sandbox image no node
    has is named the same way."""
    import secrets

    from verifiers.swe.images import inst_tag
    from verifiers.swe.instance import SWEInstance
    from verifiers.swe.taskset import taskset_records

    rec = {**next(r for r in taskset_records() if r["instance_id"] == "tinycalc-1"),
           "base_commit": secrets.token_hex(20)}
    data = tmp_path / "instances.json"
    data.write_text(json.dumps([rec]))
    tag = inst_tag(SWEInstance.from_record(rec))
    addr = f"ray={cluster.address}"
    try:
        d = cli("doctor", "--cluster", addr, "--task", "swe", "--data", str(data))
        assert d.returncode == 1, d.stderr[-2000:]
        assert d.stderr.count(f"SWE image of tinycalc-1: {tag} is missing (this node can build it)") == 2, d.stderr
        assert f"fireassay doctor --cluster {addr} --fix --task swe --data {data}" in d.stderr
        f = cli("doctor", "--cluster", addr, "--task", "swe", "--data", str(data), "--fix")
        assert f.returncode == 0, f.stderr[-3000:]
        assert f"{tag} built there" in f.stderr and f.stderr.count("SWE images: all 1 there") == 2
        absent = f"fireassay/cluster-test-absent:{secrets.token_hex(4)}"
        a = cli("doctor", "--cluster", addr, "--image", absent)
        assert a.returncode == 1 and a.stderr.count(f"image: {absent} does not exist") == 2, a.stderr[-2000:]
        assert f"fireassay doctor --cluster {addr} --fix --image {absent}" in a.stderr
    finally:
        from sandbox.docker_client import make_client

        client = make_client()
        try:
            client.images.remove(tag)
        except Exception:  # noqa: BLE001 - never built
            pass
        client.close()
