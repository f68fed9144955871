"""Math-verification throughput: the MATH oracle (worker pool, hard timeouts) against calling
math-verify in-process with no isolation, on real MATH-500 solutions, side by side in one run.

    python bench/math_verify_throughput.py [--data ../shared/data/math500/test.jsonl] [--copies 4]

Candidates: each problem's gold solution plus perturbed variants (another problem's solution),
``--copies`` of each so that repeated answers (as in repeated sampling) are present. Prints
candidates/s, cores used (CPU time / wall time over this process and its workers) and ratios.
"""
from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from loop.tasks import get_task
from verifiers import Candidate
from verifiers.extract import extract_math_answer
from verifiers.math_oracle import MathOracle, math_gold


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def in_process(items) -> int:
    """The contender: math-verify called directly, one check per candidate, no pool, no dedupe."""
    from math_verify import parse, verify

    ok = 0
    for problem, cands in items:
        gold = parse("\\boxed{" + math_gold(problem.reference) + "}")
        for c in cands:
            ans = extract_math_answer(c.text)
            if ans is not None and verify(gold, parse("\\boxed{" + ans + "}")):
                ok += 1
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500" / "test.jsonl"
    ap.add_argument("--data", default=str(default))
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--limit", type=int, default=500)
    args = ap.parse_args()
    task = get_task("math500", data=args.data)
    problems = task.load(limit=args.limit)
    items = []
    for i, p in enumerate(problems):
        own = task.reference_text(p)
        other = task.reference_text(problems[(i + 1) % len(problems)])
        texts = [own, other] * args.copies
        items.append((p, [Candidate(p.id, j, t) for j, t in enumerate(texts)]))
    total = sum(len(c) for _, c in items)
    print(f"{len(problems)} problems, {total} candidates ({args.copies} copies of gold + perturbed), {os.cpu_count()} cores")

    rows = []
    for label, fn in [
        ("in-process math-verify (no isolation)", lambda: in_process(items)),
        ("oracle, 1 worker", lambda: _oracle(items, 1)),
        (f"oracle, {os.cpu_count()} workers", lambda: _oracle(items, os.cpu_count())),
    ]:
        c0, t0 = cpu_seconds(), time.perf_counter()
        passed = fn()
        wall = time.perf_counter() - t0
        cores = (cpu_seconds() - c0) / wall
        rows.append((label, total / wall, cores, passed))
        print(f"  {label:42s} {total / wall:8.1f} candidates/s  cores used {cores:4.2f}  passed {passed}")
    base = rows[0][1]
    for label, rate, _, _ in rows[1:]:
        print(f"  ratio {label} / in-process: {rate / base:.2f}x")


def _oracle(items, workers: int) -> int:
    with MathOracle(workers=workers) as o:
        return sum(v.passed is True for vs in o.verify_many(items) for v in vs)


if __name__ == "__main__":
    main()
