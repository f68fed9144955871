"""fireassay's evalplus oracle beside the official EvalPlus evaluator on the same candidates:
agreement (per mutant kind) and both wall times, both at parallelism 2.

The set is the parity test's (tests/evalplus_parity.py): deterministic AST mutants of canonical
solutions of MBPP+ and HumanEval+ problems. Both evaluators first judge the canonical solutions
alone (that computes and caches their expected outputs: the "cold" line), then the whole set
with their caches warm (the timed comparison). Each is a process of its own, timed from spawn to
exit: ``python -c 'evalplus.evaluate.evaluate(...)'`` in ``.venv-evalplus`` (``make
venv-evalplus``) and ``python -m loop.cli verify``.

Then the fixed cost of verifying ONE candidate (Mbpp/2's canonical solution against the whole
MbppPlus file, expected outputs cached): ``python -m loop.cli verify`` from spawn to its
verdict line and to its exit, median of ``--fixed-runs``, beside the bare interpreter start
(``python -c pass``), interleaved.

    python bench/evalplus_parity.py [--data ../shared/data] [--parallel 2] [--work DIR]
                                    [--fixed-only] [--fixed-runs 5]

Targets (issue 14): identical verdicts except the documented lists; fireassay <= 0.8x the
official wall time on the whole set, <= 1.0 s fixed cost for one candidate (14b).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.evalplus_parity import (  # noqa: E402
    EXPECTED_TO_DIFFER,
    KNOWN_UPSTREAM_BUGS,
    OFFICIAL_VERSION,
    Mutant,
    build_set,
    judge_both,
)


def fixed_cost(data: Path, work: Path, runs: int) -> None:
    """One candidate, process start to verdict line and to exit, beside `python -c pass`."""
    work.mkdir(parents=True, exist_ok=True)
    with gzip.open(data / "evalplus" / "MbppPlus.jsonl.gz", "rt", encoding="utf-8") as fh:
        rec = json.loads(fh.readline())
    samples = work / "one.jsonl"
    samples.write_text(json.dumps({"problem_id": rec["task_id"], "text": "```python\n"
                                   + rec["prompt"] + rec["canonical_solution"] + "\n```"}) + "\n")
    env = {**os.environ, "FIREASSAY_CACHE": str(work / "cache")}

    def once(k: int) -> tuple[float, float]:
        out = work / f"run{k}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "loop.cli", "verify", "--task", "mbppplus",
                              "--data", str(data / "evalplus"), "--samples", str(samples),
                              "--out", str(out), "--selectors", ""], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        verdict = None
        for line in p.stdout:  # type: ignore[union-attr]
            if line.startswith("verified 1 candidates: 1 passed"):
                verdict = time.perf_counter() - t0
        p.wait()
        if verdict is None or p.returncode != 0:
            raise RuntimeError(f"fireassay verify of one candidate failed ({p.returncode})")
        return verdict, time.perf_counter() - t0

    def bare() -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        return time.perf_counter() - t0

    once(0)  # expected outputs of Mbpp/2 computed and cached
    got, base = [], []
    for k in range(runs):
        base.append(bare())
        got.append(once(k + 1))
    v = statistics.median(g[0] for g in got)
    e = statistics.median(g[1] for g in got)
    print(f"fixed cost, one candidate (median of {runs}; load average {os.getloadavg()[0]:.1f}): "
          f"spawn to verdict {v:.2f} s, to exit {e:.2f} s; bare interpreter start "
          f"{statistics.median(base):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--work", default=None, help="folder for the sets, runs and caches")
    ap.add_argument("--fixed-only", action="store_true", help="only the one-candidate fixed cost")
    ap.add_argument("--fixed-runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="fireassay-parity-"))
    if args.fixed_only:
        fixed_cost(Path(args.data), work / "fixed", args.fixed_runs)
        return
    cache = work / "cache"
    print(f"evalplus {OFFICIAL_VERSION} vs fireassay; parallel {args.parallel}; load average "
          f"{os.getloadavg()[0]:.1f} at start; work {work}")
    sets = build_set(Path(args.data), work)

    canon = {d: (subset, [m for m in ms if m.kind == "canonical"])
             for d, (subset, ms) in sets.items()}
    _, cold = judge_both(canon, work / "cold", cache, args.parallel, log=lambda s: None)
    n_canon = sum(len(ms) for _, ms in canon.values())
    print(f"cold (expected outputs computed, {n_canon} canonical solutions): official "
          f"{cold['official']:.1f} s, fireassay {cold['ours']:.1f} s, ratio "
          f"{cold['ours'] / cold['official']:.2f}")

    t0 = time.perf_counter()
    comp, walls = judge_both(sets, work / "warm", cache, args.parallel)
    print(f"\n{comp.table()}\n")
    for cat, why in (("upstream_bug", KNOWN_UPSTREAM_BUGS), ("expected_to_differ",
                                                            EXPECTED_TO_DIFFER)):
        diff = comp.disagreements(cat)
        print(f"{cat}: {len(diff)} differ; " + " | ".join(why.values())[:400])
    bad: list[tuple[Mutant, bool, object]] = comp.disagreements("must_agree")
    for m, a, b in bad:
        print(f"DISAGREE {m.task_id} {m.kind}: official {a}, fireassay {b}")
    n = len(comp.mutants)
    must = sum(1 for *_, c in comp.rows() if c == "must_agree")
    print(f"\nagreement on must-agree candidates: {must - len(bad)}/{must}; all candidates: "
          f"{sum(a == b for a, b in zip(comp.official, comp.ours))}/{n}")
    print(f"warm wall time, {n} candidates: official {walls['official']:.1f} s, fireassay "
          f"{walls['ours']:.1f} s, ratio fireassay/official {walls['ours'] / walls['official']:.2f}"
          f" (bench {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f} "
          "at end)")
    fixed_cost(Path(args.data), work / "fixed", args.fixed_runs)


if __name__ == "__main__":
    main()
