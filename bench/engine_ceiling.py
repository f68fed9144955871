"""The embedded engine against llama.cpp's own batched decoding: generated tokens/s of
``LlamaCppEngine.generate`` for P GSM8K prompts x n samples, against a bare ``llama_decode``
loop through llama-cpp-python's low-level bindings (``llama_cpp.llama_decode`` on a raw
``llama_batch``) doing the same work, measured side by side in one run, interleaved step by
step.

    python bench/engine_ceiling.py                     # P = 1, 2, 4, 8 prompts, n = 16
    python bench/engine_ceiling.py --prompts 1,8 --rounds 3 --json out.json

Interleaved: a first engine pass draws the samples; then the engine generates them again
while, before each of its ``llama_decode`` calls, the bare loop makes one step of its replay
(the engine's ``step_hook``). Each side's time is the sum of its own stretches, so both see the
same machine load, moment by moment (this machine is shared).

"The same work": the bare loop replays the very token ids the engine drew (teacher forcing),
with the engine's context settings (KV cells and streams, batch, threads, flash attention) and
the engine's schedule: ``n_parallel`` sequences decoded together in each ``llama_decode`` step,
continuous batching (a finished sequence's slot takes the next sample at once), every prompt
evaluated once and copied to its samples (``llama_memory_seq_cp``). Per step it reads each
sequence's logits and takes their argmax in numpy (the least any sampler does). So it decodes
the same tokens; what it leaves out is the engine's own work: sampling, stop strings,
logprobs, bookkeeping. ``--opt key=value`` sets engine options (both contenders use them).

Prints tokens/s of both, engine / ceiling per P (target >= 0.8), and the prompt tokens the
engine evaluated against those it must (each prompt once; a head shared with an earlier prompt,
the chat template's, once).
"""
from __future__ import annotations

import argparse
import ctypes
import heapq
import json
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from loop.engines import GenerationRequest, SamplingParams, create_engine  # noqa: E402
from loop.tasks.data import read_records  # noqa: E402
from loop.tasks.gsm8k import PROMPT  # noqa: E402


class BareLoop:
    """A plain batched decoding loop on its own llama.cpp context (no engine code)."""

    def __init__(self, model_path: str, params: dict[str, int], parallel: int) -> None:
        import llama_cpp as lc

        self.lc = lc
        mp = lc.llama_model_default_params()
        mp.n_gpu_layers = 0
        self.model = lc.llama_model_load_from_file(model_path.encode(), mp)
        cp = lc.llama_context_default_params()
        for key, value in params.items():
            setattr(cp, key, value)
        self.ctx = lc.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise RuntimeError("llama_init_from_model failed")
        self.mem = lc.llama_get_memory(self.ctx)
        self.n_vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(self.model))
        self.n_batch = params["n_batch"]
        self.parallel = parallel
        self.prompt_seqs = params["n_seq_max"] - parallel  # the rest hold evaluated prompts
        self.batch = lc.llama_batch_init(max(self.n_batch, parallel), 0, 1)

    def _decode(self, rows: list[tuple[int, int, int, bool]]) -> None:
        b = self.batch
        b.n_tokens = len(rows)
        for i, (tok, pos, seq, want) in enumerate(rows):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, want
            b.seq_id[i][0] = seq
        if self.lc.llama_decode(self.ctx, b) != 0:
            raise RuntimeError("llama_decode failed")

    def _argmax(self, i: int) -> int:
        ptr = self.lc.llama_get_logits_ith(self.ctx, i)
        return int(np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,)).argmax())

    def steps(self, prompts: list[list[int]], samples: list[list[tuple[int, ...]]]) -> Iterator[int]:
        """Replay ``samples[p][j]`` (token ids) after ``prompts[p]``, yielding the rows decoded
        after each ``llama_decode`` (a step, or a chunk of a prompt).

        Slots are taken lowest first and rows go in slot order, and once nothing is left to
        start, sequences move down into freed slots: with a KV stream per sequence llama.cpp
        makes one pass per run of consecutive sequence ids."""
        lc = self.lc
        lc.llama_memory_clear(self.mem, True)
        queue = deque((p, ids) for p, row in enumerate(samples) for ids in row if ids)
        free = list(range(self.parallel))  # a heap
        held: dict[int, int] = {}  # prompt sequence -> the prompt it holds
        active: list[list] = []  # [slot, prompt index, ids, tokens known so far]
        while queue or active:
            while queue and free:
                p, ids = queue.popleft()
                seq = self.parallel + p % self.prompt_seqs
                if held.get(seq) != p:  # the prompt once, in its own sequence
                    lc.llama_memory_seq_rm(self.mem, seq, -1, -1)
                    toks = prompts[p]
                    for s in range(0, len(toks), self.n_batch):
                        chunk = toks[s:s + self.n_batch]
                        self._decode([(t, s + j, seq, s + j == len(toks) - 1) for j, t in enumerate(chunk)])
                        if s + len(chunk) < len(toks):
                            yield len(chunk)
                    self._argmax(len(chunk) - 1)
                    yield len(chunk)
                    held[seq] = p
                slot = heapq.heappop(free)
                lc.llama_memory_seq_rm(self.mem, slot, -1, -1)
                lc.llama_memory_seq_cp(self.mem, seq, slot, -1, -1)
                active.append([slot, p, ids, 1])  # the first token came from the prompt's logits
            for a in active:
                if a[3] >= len(a[2]):
                    lc.llama_memory_seq_rm(self.mem, a[0], -1, -1)
                    heapq.heappush(free, a[0])
            active = sorted((a for a in active if a[3] < len(a[2])), key=lambda a: a[0])
            while not queue and active and free and free[0] < active[-1][0]:
                a = active.pop()
                hole = heapq.heappop(free)
                lc.llama_memory_seq_cp(self.mem, a[0], hole, -1, -1)
                lc.llama_memory_seq_rm(self.mem, a[0], -1, -1)
                heapq.heappush(free, a[0])
                a[0] = hole
                active = sorted([a, *active], key=lambda x: x[0])
            if not active:
                continue
            self._decode([(ids[k - 1], len(prompts[p]) + k - 1, slot, True) for slot, p, ids, k in active])
            for i, a in enumerate(active):
                self._argmax(i)
                a[3] += 1
            yield len(active)

    def close(self) -> None:
        self.lc.llama_batch_free(self.batch)
        self.lc.llama_free(self.ctx)
        self.lc.llama_model_free(self.model)


class StepHook:
    """The engine's ``step_hook``: one step of the bare loop, timed, before each engine step."""

    def __init__(self, steps: Iterator[int]) -> None:
        self.steps = steps
        self.seconds = 0.0

    def __call__(self) -> None:
        t = time.perf_counter()
        next(self.steps, None)
        self.seconds += time.perf_counter() - t


def distinct_prefix_tokens(prompts: list[list[int]]) -> int:
    """Prompt tokens to evaluate when each prompt is evaluated once and a head it shares with
    an earlier prompt (the chat template's) is not evaluated again: the size of their trie."""
    seen: set[tuple[int, ...]] = set()
    for p in prompts:
        seen.update(tuple(p[:k]) for k in range(1, len(p) + 1))
    return len(seen)


def gsm8k_requests(data: Path, count: int, n: int, max_tokens: int, seed: int) -> list[GenerationRequest]:
    rows = read_records(data / "gsm8k" / "test.jsonl")[:count]
    return [
        GenerationRequest(messages=({"role": "user", "content": PROMPT.format(question=r["question"])},), n=n,
                          max_tokens=max_tokens, seed=seed + i, sampling=SamplingParams(temperature=0.7, top_p=0.95))
        for i, r in enumerate(rows)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--prompts", default="1,2,4,8", help="prompts per call (the run's --gen-batch), comma-separated")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved passes per prompt count")
    ap.add_argument("--opt", action="append", default=[], help="engine option key=value (repeatable)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console(width=130)
    sizes = [int(x) for x in args.prompts.split(",")]

    opts: dict[str, object] = {}
    for item in args.opt:
        key, _, value = item.partition("=")
        try:
            opts[key] = json.loads(value)
        except json.JSONDecodeError:
            opts[key] = value
    engine = create_engine("llamacpp", **opts)
    ceiling = BareLoop(engine.model_name, engine.context_settings(), engine.n_parallel)
    all_reqs = gsm8k_requests(args.data, max(sizes), args.n, args.max_tokens, 1000)
    engine.generate([GenerationRequest(messages=all_reqs[0].messages, n=2, max_tokens=8)])  # warm-up

    load = os.getloadavg()
    totals = {p: {"engine": [0, 0.0], "ceiling": [0, 0.0]} for p in sizes}
    evaluated: dict[int, tuple[int, int]] = {}
    for p in sizes:
        reqs = all_reqs[:p]
        prompts = [engine.prompt_token_ids(r) for r in reqs]
        # a first pass draws the samples the bare loop replays and counts prompt evaluation
        before = engine.prompt_eval_tokens
        replay = [[c.token_ids for c in row] for row in engine.generate(reqs)]
        evaluated[p] = (engine.prompt_eval_tokens - before, distinct_prefix_tokens(prompts))
        tok = sum(len(ids) for row in replay for ids in row)
        for rnd in range(args.rounds):
            # interleaved: before each of the engine's llama_decode calls the bare loop makes
            # one step, so both run under the same load, moment by moment
            hook = StepHook(ceiling.steps(prompts, replay))
            engine.step_hook = hook
            t = time.perf_counter()
            out = engine.generate(reqs)
            wall = time.perf_counter() - t
            engine.step_hook = None
            t = time.perf_counter()
            for _ in hook.steps:  # whatever steps the bare loop has left
                pass
            c_s = hook.seconds + time.perf_counter() - t
            e_s = wall - hook.seconds
            if [[c.token_ids for c in row] for row in out] != replay:
                console.print("[yellow]warning[/]: the engine drew other samples than in its first pass")
            totals[p]["engine"][0] += tok
            totals[p]["engine"][1] += e_s
            totals[p]["ceiling"][0] += tok
            totals[p]["ceiling"][1] += c_s
            console.print(f"P={p:2d} round {rnd}: {tok} tokens; engine {e_s:7.2f} s {tok / e_s:7.1f} tok/s, "
                          f"ceiling {c_s:7.2f} s {tok / c_s:7.1f} tok/s, ratio {c_s / e_s:.3f} "
                          f"(load {os.getloadavg()[0]:.1f})")
    load_after = os.getloadavg()
    ceiling.close()
    engine.close()

    table = Table(title=f"llamacpp engine vs bare llama_decode loop, n={args.n}, max_tokens={args.max_tokens}")
    for col in ("prompts/call", "tokens", "engine tok/s", "ceiling tok/s", "engine/ceiling",
                "prompt tokens evaluated / to evaluate"):
        table.add_column(col, justify="right")
    result = {}
    for p in sizes:
        e_tok, e_s = totals[p]["engine"]
        c_tok, c_s = totals[p]["ceiling"]
        ratio = (e_tok / e_s) / (c_tok / c_s)
        ev, pl = evaluated[p]
        result[p] = {"engine_tok_s": e_tok / e_s, "ceiling_tok_s": c_tok / c_s, "ratio": ratio,
                     "prompt_tokens_evaluated": ev, "prompt_tokens": pl}
        table.add_row(str(p), str(e_tok), f"{e_tok / e_s:.1f}", f"{c_tok / c_s:.1f}", f"{ratio:.3f}", f"{ev} / {pl}")
    console.print(table)
    console.print(f"load average before {load[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} cores; "
                  f"{args.rounds} rounds; engine settings {engine.context_settings()}")
    if args.json:
        args.json.write_text(json.dumps({"sizes": result, "load": [load, load_after], "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))


if __name__ == "__main__":
    main()
