"""Samplers: how n samples of a prompt are drawn from an :class:`~loop.engines.Engine`.

A sampler is a frozen, validated configuration value. ``sample(engine, prompts, n, seeds)``
returns, per prompt, ``n`` :class:`~loop.engines.Completion` values whose ``meta`` records:

* ``sampler``: the sampler's spec (``{"name": ..., **params}``; ``parse_sampler(**spec)``
  rebuilds it),
* ``first_token``: the text of the first generated token,
* ``tokens``: the number of generated tokens,

plus what the sampler adds (FIRE: ``hot_token``, ``hot_position``; cot-decoding:
``confidence``).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence, Union

from loop.engines.base import Completion, Engine, EngineError, Message, SamplingParams

Prompt = Union[Sequence[Message], Sequence[int]]  # chat messages or token ids


def prompt_ids(engine: Engine, prompt: Prompt) -> list[int]:
    items = list(prompt)
    if items and all(isinstance(t, int) for t in items):
        return [int(t) for t in items]
    return engine.chat_token_ids(items)  # type: ignore[arg-type]


def derive_seed(seed: int | None, *parts: int) -> int | None:
    """A request seed that depends only on ``seed`` and ``parts`` (None stays None)."""
    if seed is None:
        return None
    h = seed & 0xFFFFFFFF
    for p in parts:
        h = (h * 1_000_003 + (p & 0xFFFFFFFF) + 0x9E3779B1) % 2_147_483_647
    return h


def end_ids(engine: Engine) -> frozenset[int]:
    """The engine's end-of-sequence ids, for a sampler that picks tokens itself; an
    :class:`EngineError` when it cannot tell them (it would continue past an EOS)."""
    eog = engine.stop_token_ids()
    if not eog:
        raise EngineError(f"engine {engine.name!r} knows no end-of-sequence token ids; FIRE and cot-decoding need them")
    return frozenset(eog)


def joined_text(engine: Engine, ids: Sequence[int], eog: frozenset[int]) -> str:
    """The text of ``ids`` decoded as one sequence (end-of-sequence ids left out): a character
    whose bytes are split over two tokens (a hot token and its continuation) decodes whole,
    where joining the pieces' texts would give two replacement characters."""
    return engine.detokenize([t for t in ids if t not in eog])


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cut = min((k for k in (text.find(s) for s in stop if s) if k >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


@dataclass(frozen=True)
class Sampler(ABC):
    """Regular sampling knobs shared by every sampler, plus ``max_tokens`` and ``stop``."""

    sampling: SamplingParams = field(default_factory=SamplingParams)
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    logprobs: bool = False  # keep each generated token's raw logprob in Completion.token_logprobs

    name: ClassVar[str]
    needs_stop_token_ids: ClassVar[bool] = False  # picks tokens itself: must not continue past an EOS

    def __post_init__(self) -> None:
        if not isinstance(self.sampling, SamplingParams):
            raise TypeError("sampling must be a SamplingParams")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))

    @property
    def label(self) -> str:
        return self.name

    def own_params(self) -> dict[str, Any]:
        """The sampler-specific parameters (beyond the shared ones)."""
        shared = {f.name for f in dataclasses.fields(Sampler)}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in shared}

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.label,
            **self.sampling.to_dict(),
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            **self.own_params(),
        }

    # -- sampling ---------------------------------------------------------------------------
    def sample(
        self,
        engine: Engine,
        prompts: Sequence[Prompt],
        n: int,
        seeds: int | None | Sequence[int | None] = None,
    ) -> list[list[Completion]]:
        """``n`` completions per prompt. ``seeds``: one per prompt, or one for all prompts
        (a prompt's samples then depend only on the prompt and its seed)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        if seeds is None or isinstance(seeds, int):
            seed_list: list[int | None] = [seeds] * len(prompts)
        else:
            seed_list = list(seeds)
            if len(seed_list) != len(prompts):
                raise ValueError(f"{len(seed_list)} seeds for {len(prompts)} prompts")
        ids = [prompt_ids(engine, p) for p in prompts]
        with engine.unit():  # one unit: its calls share the prompts' evaluation
            out = self._sample(engine, ids, n, seed_list)
        spec = self.spec()
        return [[self._finalize(engine, c, spec) for c in row] for row in out]

    def sample_one(self, engine: Engine, prompt: Prompt, n: int, seed: int | None = None) -> list[Completion]:
        return self.sample(engine, [prompt], n, [seed])[0]

    @abstractmethod
    def _sample(
        self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None]
    ) -> list[list[Completion]]: ...

    def _finalize(self, engine: Engine, c: Completion, spec: Mapping[str, Any]) -> Completion:
        meta = dict(c.meta)
        meta["sampler"] = spec
        if "first_token" not in meta:
            meta["first_token"] = engine.detokenize(c.token_ids[:1]) if c.token_ids else ""
        meta["tokens"] = c.completion_tokens
        return dataclasses.replace(c, meta=meta)
