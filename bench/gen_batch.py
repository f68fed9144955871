"""The embedded engine's throughput against the run's ``--gen-batch``: the same GSM8K prompts
(n samples each) generated in calls of P prompts, for each P, in one run.

    python bench/gen_batch.py                          # 8 prompts, P = 2, 4, 8, n = 16
    python bench/gen_batch.py --prompts 16 --sizes 4,8,16 --rounds 2 --json out.json

Every P does the same work (the run's units: prompts ``0..P-1``, then ``P..2P-1``, ...; each
call one generation unit from an empty KV cache, as ``fireassay run`` makes them). The P values
take turns call by call (round-robin over their lists of calls, the order reversed each round),
so a change in the machine's load falls on all of them; the load average is printed. Prints
generated tokens/s per P and against the best P. A call is coarse (minutes), so on a machine
whose load swings use ``--rounds 2`` or more: the reversed order evens out a trend.

Measured (2 cores shared with other work, load average 8.8..50.1; 8 prompts x 16 samples,
256 tokens, one round): P=2 40.3 tok/s (0.66 of the best), P=4 51.8 (0.85), P=8 60.9 (1.00).
With 32 decoding slots, P=2 x n=16 fills them once and the batch drains as samples finish;
from P=4 on, finished samples' slots take the next sample at once and only the call's end
drains. Hence the run's default ``--gen-batch 8``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from loop.engines import GenerationRequest, create_engine  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from engine_ceiling import gsm8k_requests  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--prompts", type=int, default=8, help="GSM8K prompts in all (a multiple of every size)")
    ap.add_argument("--sizes", default="2,4,8", help="prompts per call (--gen-batch values), comma-separated")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console(width=120)
    sizes = [int(x) for x in args.sizes.split(",")]
    if any(args.prompts % p for p in sizes):
        ap.error(f"--prompts {args.prompts} must be a multiple of every size in {sizes}")
    engine = create_engine("llamacpp")
    reqs = gsm8k_requests(args.data, args.prompts, args.n, args.max_tokens, 1000)
    engine.generate([GenerationRequest(messages=reqs[0].messages, n=2, max_tokens=8)])  # warm-up
    totals = {p: [0, 0.0] for p in sizes}
    loads = [os.getloadavg()[0]]
    for rnd in range(args.rounds):
        order = sizes if rnd % 2 == 0 else list(reversed(sizes))
        calls = {p: [reqs[i:i + p] for i in range(0, args.prompts, p)] for p in order}
        for k in range(max(len(c) for c in calls.values())):
            for p in order:
                if k >= len(calls[p]):
                    continue
                t = time.perf_counter()
                rows = engine.generate(calls[p][k])
                dt = time.perf_counter() - t
                tok = sum(c.completion_tokens for row in rows for c in row)
                totals[p][0] += tok
                totals[p][1] += dt
                loads.append(os.getloadavg()[0])
                console.print(f"round {rnd} P={p:2d} call {k}: {tok:6d} tokens {dt:7.1f} s {tok / dt:6.1f} tok/s "
                              f"(load {loads[-1]:.1f})")
    engine.close()
    best = max(tok / s for tok, s in totals.values())
    table = Table(title=f"llamacpp: --gen-batch P, {args.prompts} GSM8K prompts x n={args.n}, "
                        f"max_tokens={args.max_tokens}, {args.rounds} round(s)")
    for col in ("P", "tokens", "seconds", "tok/s", "/ best"):
        table.add_column(col, justify="right")
    result = {}
    for p, (tok, s) in totals.items():
        result[p] = {"tokens": tok, "seconds": s, "tok_s": tok / s}
        table.add_row(str(p), str(tok), f"{s:.1f}", f"{tok / s:.1f}", f"{tok / s / best:.3f}")
    console.print(table)
    console.print(f"load average {min(loads):.1f}..{max(loads):.1f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps({"sizes": result, "loads": loads, "args": {k: str(v) for k, v in vars(args).items()}},
                                        indent=2))


if __name__ == "__main__":
    main()
