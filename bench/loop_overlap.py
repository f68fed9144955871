"""Does the loop overlap generation and verification? Wall time of the full loop against
generation alone and verification alone, measured in one run on a code task.

    python bench/loop_overlap.py [--problems 12] [-n 8] [--max-tokens 256] [--task mbppplus]

1. generation alone: the same sampler and seeds, candidates stored, nothing judged;
2. verification alone: those exact candidates judged by the oracle and the feedback verifier
   (the warm sandbox pool), nothing generated;
3. the full loop (`execute_run`, what `fireassay run` calls, with one turn, no selectors and no
   report, on the warm engine and verifiers; it also reads the dataset, about 0.4 s for 12
   MBPP+ problems): both, concurrently.
Prints the three wall times and loop / max(generation, verification) (target: <= 1.15).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from loop.engines import create_engine
from loop.run import RunConfig, execute_run, judge_missing
from loop.samplers import derive_seed, parse_sampler
from loop.store import RunStore
from loop.tasks import get_task
from verifiers import Candidate


def main() -> None:
    ap = argparse.ArgumentParser()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    ap.add_argument("--task", default="mbppplus")
    ap.add_argument("--data", default=str(shared / "evalplus" / "MbppPlus.jsonl.gz"))
    ap.add_argument("--problems", type=int, default=12)
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()

    cfg = RunConfig(task=args.task, data=args.data, limit=args.problems, n=args.n, max_tokens=args.max_tokens,
                    sampler="regular", sampler_params={"temperature": 0.8, "top_p": 0.95}, show_progress=False,
                    model=args.model, selectors=(), report=False)
    task = get_task(cfg.task, data=cfg.data)
    problems = task.load(limit=cfg.limit)
    engine = create_engine(cfg.engine, **({"model": args.model} if args.model else {}))
    oracle, feedback = task.oracle(), task.feedback_verifier()
    # warm both sides once (model load, sandbox pool, expected outputs) so no column pays set-up
    warm = [(p, [Candidate(p.id, 0, task.reference_text(p))]) for p in problems]
    oracle.verify_many(warm)
    if feedback is not None:
        feedback.verify_many(warm)
    tmp = Path(tempfile.mkdtemp(prefix="loop-overlap-"))
    try:
        # 1. generation alone
        sampler = parse_sampler(cfg.sampler, max_tokens=cfg.max_tokens, **cfg.sampler_params)
        t0 = time.perf_counter()
        for i in range(0, len(problems), cfg.gen_batch):
            chunk = problems[i:i + cfg.gen_batch]
            sampler.sample(engine, [list(p.prompt) for p in chunk], cfg.n,
                           [derive_seed(cfg.seed, i + j) for j in range(len(chunk))])
        gen = time.perf_counter() - t0

        # 3. the full loop (its candidates are then re-judged alone for 2.)
        t0 = time.perf_counter()
        result = execute_run(cfg, tmp / "loop", engine=engine, oracle=oracle, feedback_verifier=feedback)
        full = time.perf_counter() - t0

        # 2. verification alone, on exactly the loop's candidates
        vstore = RunStore.create(tmp / "verify", {"task": cfg.task})
        vstore.add_problems(problems)
        with RunStore.open(tmp / "loop") as store:
            vstore.add_candidates(store.candidates())
        t0 = time.perf_counter()
        judge_missing(vstore, task.oracle_name, oracle, "oracle", show_progress=False)
        if feedback is not None:
            judge_missing(vstore, task.feedback_name, feedback, "feedback", show_progress=False)
        ver = time.perf_counter() - t0
    finally:
        engine.close()
        oracle.close()
        if feedback is not None:
            feedback.close()
    slower = max(gen, ver)
    print(f"{len(problems)} problems x n={cfg.n}, {result.generated} candidates, {result.tokens} tokens")
    print(f"  generation alone    {gen:7.1f} s")
    print(f"  verification alone  {ver:7.1f} s")
    print(f"  full loop           {full:7.1f} s")
    print(f"  loop / max(gen, verify) = {full / slower:.2f}  (target <= 1.15; serial would be "
          f"{(gen + ver) / slower:.2f})")


if __name__ == "__main__":
    main()
