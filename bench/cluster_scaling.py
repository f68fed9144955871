"""MBPP+ canonical solutions judged three ways side by side: the local warm pool, Ray with one
2-CPU node, Ray with two 1-CPU nodes; then the driver's own part (parsing, comparison, store
writes) alone. Prints candidates/s and the ratios.

All three judge with the same ``evalplus`` oracle code; only its executor differs
(:class:`verifiers.code.executors.SandboxExecutor` on 2 sandboxes, or
:class:`loop.cluster.ClusterExecutor` on the nodes' pools). One Ray cluster of this machine (a
head without CPUs, a 2-CPU raylet and two 1-CPU raylets; all idle but the one in use) serves
both Ray contenders. The candidates are split into rounds, each run by every contender in turn,
so background load hits all of them alike. Expected outputs are computed before timing.

It re-runs itself inside a private network namespace with only loopback (``unshare --net``; as
root): Ray then uses 127.0.0.1 and nothing leaves the machine.

    python bench/cluster_scaling.py [--limit N] [--rounds R]

Targets (issue 17): Ray one node >= 0.9x the local pool; two 1-CPU nodes >= 0.85x one 2-CPU node.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from evalplus_parity import SLOW  # noqa: E402

from loop.cluster import ClusterExecutor, Fleet, code_sandbox_config  # noqa: E402
from loop.store import RunStore  # noqa: E402
from loop.tasks import get_task  # noqa: E402
from verifiers.code.evalplus import EvalPlusOracle  # noqa: E402
from verifiers.code.execution import CodeLimits, ProgramResult, parse_runner_output, run_groups_with  # noqa: E402
from verifiers.code.executors import RunnerExecutor, SandboxExecutor  # noqa: E402
from verifiers.types import Candidate  # noqa: E402

REPEAT = 20  # candidates per problem when timing the driver's part (comparisons per candidate)


class Recording(RunnerExecutor):
    """Runs like the local pool and keeps every runner exec's (stdout, nonce, program ids), so
    the driver's part can be timed alone afterwards."""

    def __init__(self, inner: SandboxExecutor) -> None:
        self.inner = inner
        self.workers = inner.workers
        self.execs: list[tuple[bytes, str, list[str]]] = []
        self.results: dict[str, ProgramResult] = {}

    def run_batches(self, batches: Any, limits: CodeLimits, progress: bool = False) -> dict[str, ProgramResult]:
        def job(sb: Any, batch: Any) -> dict[str, ProgramResult]:
            def exec_fn(argv: list[str], stdin: bytes, timeout: float) -> tuple[bytes, bool]:
                r = sb.exec(argv, stdin=stdin, timeout=timeout)
                job = json.loads(stdin)
                self.execs.append((r.stdout, job["nonce"],
                                   [p["id"] for g in job["groups"] for p in g["programs"]]))
                return r.stdout, r.truncated

            return run_groups_with(exec_fn, batch, limits, kill_strays=True,
                                   scratch=self.inner.pool.config.scratch_dirs, before_retry=sb.reset)

        out: dict[str, ProgramResult] = {}
        for part in self.inner.pool.map(job, list(batches)):
            out.update(part)
        self.results.update(out)
        return out


class Replay(RunnerExecutor):
    """Hands back recorded results: what is left of a verify is the driver's own work."""

    workers = 2

    def __init__(self, results: dict[str, ProgramResult]) -> None:
        self.results = results

    def run_batches(self, batches: Any, limits: CodeLimits, progress: bool = False) -> dict[str, ProgramResult]:
        return {pid: self.results[pid] for b in batches for g in b for pid, _ in g.programs}


def in_namespace() -> None:
    """Re-run this script inside a private network namespace (only loopback), once."""
    if os.environ.get("FIREASSAY_IN_NETNS") == "1":
        return
    if os.geteuid() != 0:
        sys.exit("run as root: the bench makes a private network namespace (unshare --net) so that "
                 "Ray's traffic stays on loopback")
    cmd = f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()} " + " ".join(
        f"'{a}'" for a in sys.argv[1:])
    raise SystemExit(subprocess.call(["unshare", "--net", "sh", "-c", cmd],
                                     env={**os.environ, "FIREASSAY_IN_NETNS": "1"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "evalplus"))
    ap.add_argument("--limit", type=int, default=None, help="first N problems (default: all but the slow ones)")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    in_namespace()
    import ray
    from ray.cluster_utils import Cluster

    task = get_task("mbppplus", data=args.data)
    problems = [p for p in task.load() if p.id not in SLOW][: args.limit]
    items = [(p, [Candidate(p.id, 0, task.reference_text(p))]) for p in problems]
    limits = CodeLimits()
    cfg = code_sandbox_config()
    print(f"MBPP+ canonical solutions: {len(items)} candidates (EvalPlus' slow problems left out), "
          f"{args.rounds} interleaved rounds, image {cfg.image}; machine: {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)

    t0 = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    one = cluster.add_node(num_cpus=2)
    two = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="fireassay-bench", log_to_driver=False)
    fleets = {"one": Fleet(cfg, only={one.node_id}), "two": Fleet(cfg, only={n.node_id for n in two})}
    for f in fleets.values():
        f.refresh(strict=True)
        f.warm()
    local = Recording(SandboxExecutor(backend="docker", pool_size=2, config=cfg))
    print(f"  cluster up and pools warm in {time.perf_counter() - t0:.1f} s", flush=True)
    names = ["local warm pool (2 sandboxes)", "Ray, one 2-CPU node", "Ray, two 1-CPU nodes"]
    oracles = {names[0]: EvalPlusOracle(executor=local, limits=limits),
               names[1]: EvalPlusOracle(executor=ClusterExecutor(fleets["one"], cfg), limits=limits),
               names[2]: EvalPlusOracle(executor=ClusterExecutor(fleets["two"], cfg), limits=limits)}
    store = oracles[names[0]].store
    for o in oracles.values():
        o.store = store
    spent = dict.fromkeys(names, 0.0)
    count = dict.fromkeys(names, 0)
    verdicts: dict[str, list[Any]] = {n: [] for n in names}
    try:
        store.ensure([(p.id, p.reference) for p, _ in items], local.inner, limits)
        step = -(-len(items) // args.rounds)
        for r in range(args.rounds):
            chunk = items[r * step:(r + 1) * step]
            for name in names:
                t = time.perf_counter()
                got = oracles[name].verify_many(chunk)
                spent[name] += time.perf_counter() - t
                count[name] += len(chunk)
                verdicts[name] += [v[0].passed for v in got]
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{n.split(' (')[0]} {count[n] / spent[n]:.2f}/s" for n in names), flush=True)
    finally:
        local.inner.close()
        for f in fleets.values():
            f.close()
        ray.shutdown()
        cluster.shutdown()
    rate = {n: count[n] / spent[n] for n in names}
    same = verdicts[names[0]] == verdicts[names[1]] == verdicts[names[2]]
    print("\ncontender                          candidates   seconds   cand./s   passed")
    for n in names:
        print(f"  {n:<32} {count[n]:>8} {spent[n]:>9.1f} {rate[n]:>9.2f}   {sum(v is True for v in verdicts[n])}")
    print(f"  verdicts identical across the three: {same}")
    print("\nratios (candidates/s):")
    print(f"  Ray one 2-CPU node / local pool          {rate[names[1]] / rate[names[0]]:5.2f}x (target >= 0.9)")
    print(f"  Ray two 1-CPU nodes / one 2-CPU node     {rate[names[2]] / rate[names[1]]:5.2f}x (target >= 0.85)")

    # the driver's part alone: parse the runner's bytes, compare with the expected outputs,
    # write the verdicts to a run store
    # (each problem's candidate repeated REPEAT times, as samples of one problem are: identical
    # programs run once, but each candidate is compared and stored)
    t = time.perf_counter()
    parsed = sum(len(parse_runner_output(out, nonce, ids)) for out, nonce, ids in local.execs)
    t_parse = (time.perf_counter() - t) / max(1, parsed)
    many = [(p, [Candidate(p.id, i, cs[0].text) for i in range(REPEAT)]) for p, cs in items]
    replay = EvalPlusOracle(executor=Replay(local.results), limits=limits)
    replay.store = store
    replay.verify_many(many[:1])  # the per-problem decoding of expected outputs is cached after the first
    t = time.perf_counter()
    judged = replay.verify_many(many)
    n = sum(len(cs) for _, cs in many)
    t_judge = (time.perf_counter() - t) / n
    with tempfile.TemporaryDirectory() as tmp, RunStore.create(Path(tmp) / "r", {"command": "bench"}) as rs:
        rs.add_problems([p for p, _ in many])
        rs.add_candidates([c for _, cs in many for c in cs])
        t = time.perf_counter()
        for (_, cs), vs in zip(many, judged):
            rs.add_verdicts("evalplus", list(zip(cs, vs)))
        t_store = (time.perf_counter() - t) / n
    per = t_parse + t_judge + t_store
    print(f"\ndriver's part per candidate ({REPEAT} per problem): parse {1e3 * t_parse:.2f} ms (per "
          f"program run), compare {1e3 * t_judge:.2f} ms, store {1e3 * t_store:.3f} ms (one transaction "
          f"per problem) = {1 / per:,.0f} candidates/s on one driver core")
    print(f"  per sandbox core: {rate[names[0]] / 2:.2f} candidates/s -> the driver keeps up with about "
          f"{(1 / per) / (rate[names[0]] / 2):,.0f} sandbox cores")


if __name__ == "__main__":
    main()
