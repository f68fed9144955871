"""Verify every MBPP+ canonical solution three ways, side by side, and print the ratios.

1. warm pool: the ``evalplus`` oracle on a warm :class:`sandbox.pool.SandboxPool` (docker);
2. floor: the same runner as a plain host subprocess per candidate (no isolation);
3. cold: a fresh ``docker run --rm`` per candidate (same image, same limits).

Expected outputs are computed (or read from the cache) before timing; every contender judges
the same candidates with the same limits. The candidates are split into rounds and each round
is run by every contender in turn (interleaved, the order reversed every other round), so a
busy machine slows all of them alike.
``--cold-per-round K`` lets the cold contender run only the first K candidates of each round
(then its rate is over a different subset: the default is all). ``--runner-from REF`` adds two
contenders: the warm pool (batched, and one candidate per exec) running the runner program of
git commit ``REF`` (e.g. ``main``) on the same pool, to compare a change of the runner with what
it replaces.

    python bench/sandbox_throughput.py [--data DIR] [--limit N] [--workers W] [--rounds R]
                                       [--runner-from REF]

Targets (issue 3): warm pool within 1.3x of the floor, at least 5x faster than cold.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loop.tasks import get_task  # noqa: E402
from sandbox.config import SandboxConfig  # noqa: E402
from verifiers.code.evalplus import EvalPlusOracle  # noqa: E402
from verifiers.code.execution import CallGroup, CodeLimits, ProgramResult, run_groups_with  # noqa: E402
from verifiers.code.executors import HostExecutor, RunnerExecutor, SandboxExecutor  # noqa: E402
from verifiers.types import Candidate  # noqa: E402


class DockerRunExecutor(RunnerExecutor):
    """A fresh ``docker run --rm`` per batch (the bench uses one candidate per batch)."""

    def __init__(self, config: SandboxConfig, workers: int) -> None:
        self.config = config
        self.workers = workers

    def _argv(self) -> list[str]:
        c = self.config
        return ["docker", "run", "--rm", "-i", "--network", "none", "--memory", c.memory,
                "--memory-swap", c.memory, "--pids-limit", str(c.pids), "--cpus", str(c.cpus),
                "--read-only", "--tmpfs", f"{c.workdir}:size={c.workdir_size}",
                "--tmpfs", f"/tmp:size={c.tmp_size}", "--workdir", c.workdir,
                "--user", c.user, "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--label", "fireassay.bench=1",
                c.image]

    def exec_fn(self, argv: list[str], stdin: bytes, timeout: float) -> tuple[bytes, bool]:
        try:
            r = subprocess.run(self._argv() + argv, input=stdin, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return e.stdout or b"", False
        return r.stdout, False

    def run_batches(self, batches: Any, limits: CodeLimits,
                    progress: bool = False) -> dict[str, ProgramResult]:
        from concurrent.futures import ThreadPoolExecutor

        def one(batch: list[CallGroup]) -> dict[str, ProgramResult]:
            return run_groups_with(self.exec_fn, batch, limits, python="python3")

        merged: dict[str, ProgramResult] = {}
        with ThreadPoolExecutor(max_workers=self.workers) as ex:
            for part in ex.map(one, list(batches)):
                merged.update(part)
        return merged


def runner_at(ref: str) -> str:
    """The runner program as commit ``ref`` builds it: its own ``runner_source()``, run from a
    copy of its ``sandbox`` package."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "sandbox"],
                             capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        tarfile.open(fileobj=io.BytesIO(archive)).extractall(tmp, filter="data")
        code = ("import sys; sys.path.insert(0, sys.argv[1]); import sandbox.runner as r; "
                "assert r.__file__.startswith(sys.argv[1]), r.__file__; "
                "sys.stdout.write(r.runner_source())")
        return subprocess.run([sys.executable, "-c", code, tmp], capture_output=True, check=True,
                              text=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "evalplus"))
    ap.add_argument("--limit", type=int, default=None, help="first N problems (default all)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=6,
                    help="the candidates are split into this many chunks; every chunk is run by "
                         "every contender in turn, so background load hits all of them alike")
    ap.add_argument("--cold-per-round", type=int, default=0,
                    help="candidates per chunk for the docker-run-per-candidate contender "
                         "(default 0: all, so every contender judges the same candidates)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--runner-from", default=None, metavar="REF",
                    help="also run the warm pool (batched) with the runner of git commit REF")
    ap.add_argument("--skip", default="",
                    help="comma-separated problem ids to leave out (e.g. Mbpp/255: its answer on "
                         "one input is 1.1 GB, hashed in ~10 s, which measures hashing, not "
                         "sandboxes)")
    args = ap.parse_args()

    task = get_task("mbppplus", data=args.data)
    skip = {s for s in args.skip.split(",") if s}
    problems = [p for p in task.load() if p.id not in skip][: args.limit]
    items = [(p, [Candidate(p.id, 0, task.reference_text(p))]) for p in problems]
    cfg = SandboxConfig(memory="4g", output_limit=512 * 1024 * 1024)  # evalplus: 4 GiB
    batched = CodeLimits()
    per_candidate = CodeLimits(batch_programs=1)
    print(f"MBPP+ canonical solutions: {len(items)} candidates, {args.workers} workers, "
          f"{args.rounds} interleaved rounds, image {cfg.image}", flush=True)

    for attempt in range(3):  # the start-up reap can race other runs' containers going away
        try:
            pool = SandboxExecutor(backend="docker", pool_size=args.workers, config=cfg)
            break
        except Exception as e:  # noqa: BLE001
            if attempt == 2:
                raise
            print(f"  pool start failed ({type(e).__name__}: {e}); again", flush=True)
    names = ["floor (host subprocess/cand.)", "warm pool (batched)", "warm pool (1 cand./exec)",
             "cold docker run/cand."]
    old = None
    if args.runner_from:
        old = SandboxExecutor(pool=pool.pool, runner=runner_at(args.runner_from))
        names += [f"warm pool (batched, runner@{args.runner_from})",
                  f"warm pool (1 cand./exec, runner@{args.runner_from})"]
    spent = dict.fromkeys(names, 0.0)
    count = dict.fromkeys(names, 0)
    passed = dict.fromkeys(names, 0)
    try:
        oracles = {
            names[0]: EvalPlusOracle(executor=HostExecutor(workers=args.workers),
                                     limits=per_candidate, cache_dir=args.cache_dir),
            names[1]: EvalPlusOracle(executor=pool, limits=batched, cache_dir=args.cache_dir),
            names[2]: EvalPlusOracle(executor=pool, limits=per_candidate,
                                     cache_dir=args.cache_dir),
            names[3]: EvalPlusOracle(executor=DockerRunExecutor(cfg, args.workers),
                                     limits=per_candidate, cache_dir=args.cache_dir),
        }
        if old is not None:
            oracles[names[4]] = EvalPlusOracle(executor=old, limits=batched, cache_dir=args.cache_dir)
            oracles[names[5]] = EvalPlusOracle(executor=old, limits=per_candidate,
                                               cache_dir=args.cache_dir)
        store = oracles[names[1]].store
        for o in oracles.values():  # one in-memory copy of the expected outputs for all
            o.store = store
        t0 = time.perf_counter()
        store.ensure([(p.id, p.reference) for p, _ in items], pool, batched)
        print(f"  expected outputs ready in {time.perf_counter() - t0:.1f} s", flush=True)
        # REF's runner right beside this one's, so that the two meet the same load
        order = [names[0], names[1], *names[4:5], names[2], *names[5:6], names[3]]
        step = -(-len(items) // args.rounds)
        for r in range(args.rounds):
            chunk = items[r * step:(r + 1) * step]
            if not chunk:
                break
            for name in (order if r % 2 == 0 else order[::-1]):  # either order in turn
                part = chunk[: args.cold_per_round] if name == names[3] and args.cold_per_round else chunk
                t = time.perf_counter()
                verdicts = oracles[name].verify_many(part)
                spent[name] += time.perf_counter() - t
                count[name] += len(part)
                passed[name] += sum(v[0].passed is True for v in verdicts)
            short = {names[2]: "warm 1/exec", **({names[4]: f"warm@{args.runner_from}",
                                                  names[5]: f"warm 1/exec@{args.runner_from}"}
                                                 if old else {})}
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{short.get(n, n.split(' (')[0])} {count[n] / spent[n]:.2f}/s"
                for n in names), flush=True)
    finally:
        pool.close()
    rate = {n: count[n] / spent[n] for n in names}
    print("\ncontender                        candidates   seconds   cand./s   passed")
    for n in names:
        print(f"  {n:<30} {count[n]:>8} {spent[n]:>9.1f} {rate[n]:>9.2f}   {passed[n]}")
    print("\nratios (time per candidate):")
    print(f"  warm pool (batched) / floor       {rate[names[0]] / rate[names[1]]:6.2f}x "
          "(target <= 1.3)")
    print(f"  warm pool (1 cand./exec) / floor  {rate[names[0]] / rate[names[2]]:6.2f}x")
    print(f"  cold docker run / warm (batched)  {rate[names[1]] / rate[names[3]]:6.2f}x "
          "(target >= 5)")
    print(f"  cold docker run / warm (1/exec)   {rate[names[2]] / rate[names[3]]:6.2f}x")
    if old is not None:  # this runner's time per candidate over REF's
        print(f"  warm (batched): this runner / {args.runner_from}'s     "
              f"{rate[names[4]] / rate[names[1]]:6.3f}x (1.0: the same cost)")
        print(f"  warm (1 cand./exec): this runner / {args.runner_from}'s "
              f"{rate[names[5]] / rate[names[2]]:6.3f}x")


if __name__ == "__main__":
    main()
