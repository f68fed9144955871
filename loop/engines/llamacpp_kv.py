"""The llama.cpp side of the embedded engine (:mod:`loop.engines.llamacpp`): one context with a
KV stream per sequence, batched ``llama_decode``, and the cache of evaluated prompts.

Sequences ``0 .. n_parallel-1`` are the slots samples decode in; the next ``prompt_cache`` hold
evaluated prompts (least recently used first out), matched by longest common prefix. Each
sequence has its own stream of ``n_ctx`` cells, so a token's attention reads only its own
sequence; a stream is copied whole (llama.cpp copies across streams only whole), then cut.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .base import EngineError, SamplingParams
from .sampling_math import log_softmax


@dataclass(frozen=True, slots=True)
class DecodeRow:
    """One token of a ``llama_decode`` batch: ``token`` at position ``pos`` of sequence
    ``seq``; ``logits``: return the logits after it."""

    token: int
    pos: int
    seq: int
    logits: bool


@dataclass(eq=False)
class PromptEntry:
    """An evaluated prompt: the sequence holding its cells and the logits after it."""

    seq: int
    tokens: list[int]
    logits: np.ndarray  # raw logits after the last prompt token (float32 copy)
    dists: dict[SamplingParams, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # first-token draws
    _logprobs: np.ndarray | None = None

    @property
    def logprobs(self) -> np.ndarray:
        if self._logprobs is None:
            self._logprobs = log_softmax(self.logits)
        return self._logprobs


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


class KVContext:
    """A llama.cpp context for ``n_parallel`` decoding slots plus ``prompt_cache`` prompts."""

    def __init__(self, lc: Any, ctx: Any, batch: Any, n_vocab: int, n_ctx: int, n_batch: int,
                 n_parallel: int, prompt_cache: int, settings: dict[str, int]) -> None:
        self._lc = lc
        self._ctx = ctx  # llama_cpp._internals.LlamaContext
        self._batch = batch  # llama_cpp._internals.LlamaBatch
        self._mem = lc.llama_get_memory(ctx.ctx)
        self.n_vocab = n_vocab
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.settings = settings
        self._prompt_seqs = list(range(n_parallel, n_parallel + prompt_cache))
        self._free_prompt_seqs = list(self._prompt_seqs)
        self.entries: list[PromptEntry] = []  # most recently used last
        self.eval_tokens = 0  # tokens run through the model (prompt + generated), for benchmarks
        self.prompt_eval_tokens = 0  # of which prompt tokens evaluated in a prefill
        # called before every llama_decode: a benchmark interleaves its own work with the
        # engine's steps, so that both see the same machine load
        self.step_hook: Callable[[], None] | None = None

    # -- sequences ----------------------------------------------------------------------------
    def seq_rm(self, seq: int, p0: int = 0, p1: int = -1) -> None:
        self._lc.llama_memory_seq_rm(self._mem, seq, p0, p1)

    def seq_copy(self, src: int, dst: int, keep: int) -> None:
        """``dst`` becomes the first ``keep`` positions of ``src``."""
        self._lc.llama_memory_seq_rm(self._mem, dst, -1, -1)
        self._lc.llama_memory_seq_cp(self._mem, src, dst, -1, -1)
        self._lc.llama_memory_seq_rm(self._mem, dst, keep, -1)

    def clear(self) -> None:
        """Empty every sequence and forget every cached prompt.

        The cells are marked empty, their data is not zeroed (``data=False``): llama.cpp masks
        an empty cell out of attention (flash attention skips it; the plain path multiplies its
        finite values by an exact 0), so what it held never reaches a result, and zeroing the
        1.9 GB buffer took 0.24-0.35 s per generation unit (measured, 2 loaded cores)."""
        self._lc.llama_memory_clear(self._mem, False)
        self.entries = []
        self._free_prompt_seqs = list(self._prompt_seqs)

    # -- decoding -----------------------------------------------------------------------------
    def decode(self, rows: Sequence[DecodeRow]) -> None:
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

    def all_logits(self, n: int) -> np.ndarray:
        """The logits of the last decode's ``n`` output rows (a view, valid until the next decode)."""
        ptr = self._lc.llama_get_logits(self._ctx.ctx)
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n, self.n_vocab))

    def logits(self, i: int) -> np.ndarray:
        ptr = self._lc.llama_get_logits_ith(self._ctx.ctx, i)
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))

    # -- the prompt cache ---------------------------------------------------------------------
    def prompt(self, tokens: list[int], pinned: set[int]) -> PromptEntry:
        """The cache entry for ``tokens``, evaluating only what no cached prompt shares;
        ``pinned``: sequences of entries that must stay."""
        best, best_len = None, 0
        for e in self.entries:
            k = shared_prefix(e.tokens, tokens)
            if k == len(tokens) == len(e.tokens):
                self.entries.remove(e)
                self.entries.append(e)
                return e
            if k > best_len:
                best, best_len = e, k
        if best_len == len(tokens):  # a strict prefix of a cached prompt: re-run its last token
            best_len -= 1
        seq = self._take_prompt_seq(pinned | ({best.seq} if best else set()))
        self.seq_rm(seq)
        if best is not None and best_len > 0:
            self.seq_copy(best.seq, seq, best_len)
        rest = tokens[best_len:]
        chunk: list[int] = []
        for i in range(0, len(rest), self.n_batch):
            chunk = rest[i : i + self.n_batch]
            last = i + len(chunk) == len(rest)
            self.decode(
                [DecodeRow(t, best_len + i + j, seq, last and j == len(chunk) - 1) for j, t in enumerate(chunk)]
            )
        self.prompt_eval_tokens += len(rest)
        entry = PromptEntry(seq=seq, tokens=list(tokens), logits=self.logits(len(chunk) - 1).copy())
        self.entries.append(entry)
        return entry

    def longest_cached(self, tokens: list[int]) -> tuple[PromptEntry | None, int]:
        """The cached prompt that is the longest prefix of ``tokens``, and its length."""
        best, best_len = None, 0
        for e in self.entries:
            k = shared_prefix(e.tokens, tokens)
            if k == len(e.tokens) and k > best_len:  # the whole cached prompt is a prefix
                best, best_len = e, k
        return best, best_len

    def _take_prompt_seq(self, keep: set[int]) -> int:
        if self._free_prompt_seqs:
            return self._free_prompt_seqs.pop()
        for e in self.entries:  # least recently used first
            if e.seq not in keep:
                self.entries.remove(e)
                self.seq_rm(e.seq)
                return e.seq
        raise EngineError("prompt cache exhausted; raise prompt_cache")

    def close(self) -> None:
        for obj in (self._batch, self._ctx):
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
        self.entries = []
