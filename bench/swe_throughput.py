"""SWE judging throughput on fireassay's own task set: instances judged per minute, measured
side by side in one run:

- cold: our SWE images removed first, so the environment and every instance image are built
  (wheels stay cached on the host: PyPI is not part of the figure);
- fresh pools: images present, but a new judge (containers started on first use);
- warm: the same judge again, containers reused (what repeated sampling sees: many
  candidates per instance).

    .venv/bin/python bench/swe_throughput.py [--workers 2] [--rounds 2] [--keep-images]
                                             [--per-instance 4] [--json PATH]

Each phase judges every gold patch of the (non-flaky) task set; the warm phase judges
``--per-instance`` copies of each, like n samples per problem. Prints a table and the ratios.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from verifiers.swe.images import ENV_REPO, INST_REPO  # noqa: E402
from verifiers.swe.instance import SWEInstance  # noqa: E402
from verifiers.swe.judge import SWEJudge  # noqa: E402
from verifiers.swe.taskset import taskset_records  # noqa: E402


def remove_swe_images() -> int:
    from sandbox.docker_client import make_client

    client = make_client(retry_s=10)
    n = 0
    for repo in (INST_REPO, ENV_REPO):
        for img in client.images.list(name=repo):
            for tag in img.tags:
                client.images.remove(tag, force=True)
                n += 1
    return n


def phase(judge: SWEJudge, jobs: list[tuple[SWEInstance, str]]) -> dict[str, float]:
    t0 = time.monotonic()
    img0 = judge.image_seconds
    results = judge.judge_many(jobs, progress=False)
    wall = time.monotonic() - t0
    resolved = sum(r.resolved is True for r in results)
    for r in results:
        if r.resolved is not True:  # a gold patch that did not resolve: say why
            print(f"  {r.instance_id}: {r.status}: {r.reason[:300]}")
    test_s = sum((r.run.duration_s if r.run else 0.0) for r in results)
    return {"jobs": len(jobs), "resolved": resolved, "wall_s": wall, "per_min": 60 * len(jobs) / wall,
            "image_s": judge.image_seconds - img0, "mean_test_s": test_s / len(jobs),
            "mean_judge_s": sum(r.duration_s for r in results) / len(jobs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--per-instance", type=int, default=4, help="copies of each patch in the warm phase")
    ap.add_argument("--keep-images", action="store_true", help="skip the cold phase")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    insts = [SWEInstance.from_record(r) for r in taskset_records() if not r.get("flaky")]
    gold = [(i, i.patch) for i in insts]
    rows: dict[str, dict[str, float]] = {}
    if not args.keep_images:
        print(f"removed {remove_swe_images()} SWE image tags")
        with SWEJudge(timeout=120, workers=args.workers, pool_size=2) as j:
            rows["cold (build images)"] = phase(j, gold)
    with SWEJudge(timeout=120, workers=args.workers, pool_size=2) as j:
        rows["fresh pools"] = phase(j, gold)
        rows["warm"] = phase(j, gold * args.per_instance)

    table = Table(title=f"SWE judging, {len(insts)} instances, {args.workers} workers")
    for col in ("phase", "jobs", "resolved", "wall s", "judged/min", "image build s", "judge s (mean)", "tests s (mean)"):
        table.add_column(col, justify="right")
    for name, r in rows.items():
        table.add_row(name, str(r["jobs"]), str(r["resolved"]), f"{r['wall_s']:.1f}", f"{r['per_min']:.1f}",
                      f"{r['image_s']:.1f}", f"{r['mean_judge_s']:.2f}", f"{r['mean_test_s']:.2f}")
    con = Console()
    con.print(table)
    warm = rows["warm"]["per_min"]
    for name, r in rows.items():
        if name != "warm":
            con.print(f"warm / {name}: {warm / r['per_min']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
