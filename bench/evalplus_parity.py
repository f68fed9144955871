"""fireassay's evalplus oracle beside the official EvalPlus evaluator on the same candidates:
agreement (per mutant kind) and both wall times, both at parallelism 2.

The set is the parity test's (tests/evalplus_parity.py): deterministic AST mutants of canonical
solutions of MBPP+ and HumanEval+ problems. Both evaluators first judge the canonical solutions
alone (that computes and caches their expected outputs: the "cold" line), then the whole set
with their caches warm (the timed comparison). Each is a process of its own, timed from spawn to
exit: ``python -c 'evalplus.evaluate.evaluate(...)'`` in ``.venv-evalplus`` (``make
venv-evalplus``) and ``python -m loop.cli verify``.

    python bench/evalplus_parity.py [--data ../shared/data] [--parallel 2] [--work DIR]

Targets (issue 14): identical verdicts except the documented lists; fireassay <= 0.8x the
official wall time on the whole set (14b).
"""
from __future__ import annotations

import argparse
import os
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--work", default=None, help="folder for the sets, runs and caches")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="fireassay-parity-"))
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


if __name__ == "__main__":
    main()
