"""Verify every MBPP+ canonical solution three ways, side by side, and print the ratios.

1. warm pool: the ``evalplus`` oracle on a warm :class:`sandbox.pool.SandboxPool` (docker);
2. floor: the same runner as a plain host subprocess per candidate (no isolation);
3. cold: a fresh ``docker run --rm`` per candidate (same image, same limits).

Expected outputs are computed (or read from the cache) before timing; every contender judges
the same candidates with the same limits, and the pass counts must agree.

    python bench/sandbox_throughput.py [--data DIR] [--limit N] [--workers W]

Targets (issue 3): warm pool within 1.3x of the floor, at least 5x faster than cold.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loop.tasks import get_task  # noqa: E402
from sandbox.config import SandboxConfig  # noqa: E402
from verifiers.code.evalplus import EvalPlusOracle  # noqa: E402
from verifiers.code.execution import (  # noqa: E402
    CallGroup, CodeLimits, HostExecutor, ProgramResult, RunnerExecutor, SandboxExecutor,
    run_groups_with,
)
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


def timed(name: str, oracle: EvalPlusOracle, items: list) -> tuple[float, int]:
    t0 = time.perf_counter()
    verdicts = oracle.verify_many(items)
    dt = time.perf_counter() - t0
    passed = sum(bool(v[0].passed) for v in verdicts)
    print(f"  {name:<28} {dt:8.2f} s  {len(items) / dt:8.1f} candidates/s  "
          f"passed {passed}/{len(items)}", flush=True)
    return dt, passed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "evalplus"))
    ap.add_argument("--limit", type=int, default=None, help="first N problems (default all)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cold-limit", type=int, default=None,
                    help="candidates for the docker-run-per-candidate contender (default all)")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()

    task = get_task("mbppplus", data=args.data)
    problems = task.load(limit=args.limit)
    items = [(p, [Candidate(p.id, 0, task.reference_text(p))]) for p in problems]
    cfg = SandboxConfig(memory="4g", output_limit=512 * 1024 * 1024)  # evalplus: 4 GiB
    batched = CodeLimits()
    per_candidate = CodeLimits(batch_programs=1)
    print(f"MBPP+ canonical solutions: {len(items)} candidates, {args.workers} workers, "
          f"image {cfg.image}")

    pool = SandboxExecutor(backend="docker", pool_size=args.workers, config=cfg)
    try:
        warm = EvalPlusOracle(executor=pool, limits=batched, cache_dir=args.cache_dir,
                              progress=False)
        t0 = time.perf_counter()
        warm.store.ensure([(p.id, p.reference) for p, _ in items], pool, batched)
        print(f"  (expected outputs ready in {time.perf_counter() - t0:.1f} s)")
        floor = EvalPlusOracle(executor=HostExecutor(workers=args.workers),
                               limits=per_candidate, cache_dir=args.cache_dir, progress=False)
        t_floor, p_floor = timed("floor (host subprocess)", floor, items)
        t_warm, p_warm = timed("warm pool (docker)", warm, items)
        t_warm1, p_warm1 = timed("warm pool, 1 cand./exec", EvalPlusOracle(
            executor=pool, limits=per_candidate, cache_dir=args.cache_dir, progress=False), items)
    finally:
        pool.close()
    cold_items = items[: args.cold_limit] if args.cold_limit else items
    cold = EvalPlusOracle(executor=DockerRunExecutor(cfg, args.workers), limits=per_candidate,
                          cache_dir=args.cache_dir, progress=False)
    t_cold, p_cold = timed(f"cold docker run ({len(cold_items)})", cold, cold_items)
    rate = {"floor": len(items) / t_floor, "warm": len(items) / t_warm,
            "warm1": len(items) / t_warm1, "cold": len(cold_items) / t_cold}
    print("\nratios (time per candidate):")
    print(f"  warm pool / floor            {rate['floor'] / rate['warm']:6.2f}x  (target <= 1.3)")
    print(f"  warm pool 1/exec / floor     {rate['floor'] / rate['warm1']:6.2f}x")
    print(f"  cold docker run / warm pool  {rate['warm'] / rate['cold']:6.2f}x  (target >= 5)")
    print(f"  cold docker run / warm 1/exec {rate['warm1'] / rate['cold']:5.2f}x")
    if len({p_floor, p_warm, p_warm1}) != 1 or (cold_items is items and p_cold != p_warm):
        print("WARNING: contenders disagree on pass counts", file=sys.stderr)


if __name__ == "__main__":
    main()
