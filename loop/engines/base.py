"""The Engine interface: token-level generation that every sampler builds on.

An engine turns :class:`GenerationRequest` values into :class:`Completion` values. Prompts are
either chat messages (the engine applies the model's chat template) or token ids (used as-is,
so that continuing a sequence never re-tokenizes it).

Contract every engine keeps (the samplers rely on it):

* ``generate(requests)`` returns one list per request, in request order, holding exactly
  ``request.n`` completions.
* Sampling follows :class:`SamplingParams` in vLLM V1's order (``vllm/v1/sample/sampler.py``):
  temperature scaling first, then min-p (tokens with at least ``min_p`` times the top
  probability), then top-k, then top-p on what min-p left (renormalised). ``temperature == 0``
  is greedy. The engines that sample themselves (``llamacpp``, the hot draws of ``vllm``) use
  :mod:`loop.engines.sampling_math`, which follows the same order.
* ``first_token_top_logprobs`` (asked with ``top_logprobs_first=k``) are the **raw** model's
  log-probabilities, ``log_softmax(logits)`` before any temperature or filtering, as
  ``(token_id, token_text, logprob)`` sorted by logprob descending. FIRE draws its hot first
  token from them, so a temperature-scaled value here would make FIRE wrong.
* ``token_logprobs`` / ``token_top_logprobs`` (asked with ``logprobs=k``, k >= 1) are likewise
  raw log-probabilities, one entry per generated token.
* With a ``seed`` the result is a deterministic function of (request, seed) for engines that
  can promise it (``llamacpp`` does; servers may not).
* ``with engine.unit():`` groups calls into one generation unit (a sampler's ``sample``: FIRE's
  hot-token request and its continuations). An engine that keeps state across calls (a
  prompt's KV cache) may share it between the calls of a unit; where it promises determinism,
  a unit's results depend only on the unit's own calls, whatever ran before it.
* ``finish_reason`` is ``"stop"`` (end-of-sequence token or a stop string; the stop string is
  not part of ``text``) or ``"length"`` (``max_tokens`` reached).

Errors a user can cause raise an :class:`EngineError` subclass with one clear message.
"""
from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, ContextManager, Mapping, Sequence

from verifiers.types import Message  # {"role": ..., "content": ...}; engines take it as given


# -- errors ---------------------------------------------------------------------------------
class EngineError(RuntimeError):
    """An engine problem a user can fix; ``str(err)`` is one line naming the fix."""


class ModelNotFoundError(EngineError):
    pass


class EngineUnreachableError(EngineError):
    pass


class ContextTooLongError(EngineError):
    pass


# -- values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplingParams:
    """Every sampling knob in one validated value (like vLLM's ``SamplingParams``).

    ``top_k`` 0 or -1 means off; ``top_p`` 1.0 and ``min_p`` 0.0 mean off; ``temperature`` 0
    means greedy. Any finite temperature >= 0 is accepted (FIRE's hot token uses 30).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0

    def __post_init__(self) -> None:
        t, p, k, m = self.temperature, self.top_p, self.top_k, self.min_p
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {t!r}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not (0.0 < p <= 1.0):
            raise ValueError(f"top_p must be in (0, 1] (1 = off), got {p!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < -1:
            raise ValueError(f"top_k must be an integer >= 1, or 0/-1 for off, got {k!r}")
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not (0.0 <= m <= 1.0):
            raise ValueError(f"min_p must be in [0, 1] (0 = off), got {m!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def top_k_or_none(self) -> int | None:
        return self.top_k if self.top_k > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GREEDY = SamplingParams(temperature=0.0)


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt, ``n`` samples. Give exactly one of ``messages`` or ``prompt_token_ids``."""

    messages: tuple[Message, ...] | None = None
    prompt_token_ids: tuple[int, ...] | None = None
    n: int = 1
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    max_tokens: int = 256
    seed: int | None = None
    top_logprobs_first: int = 0  # k > 0: return the first generated token's raw top-k logprobs
    logprobs: int = 0  # k > 0: each generated token's raw logprob, and the top-k at each step

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt_token_ids is None):
            raise ValueError("GenerationRequest needs exactly one of messages or prompt_token_ids")
        if self.messages is not None:
            object.__setattr__(self, "messages", tuple(self.messages))
            if not self.messages:
                raise ValueError("GenerationRequest.messages is empty")
        if self.prompt_token_ids is not None:
            object.__setattr__(self, "prompt_token_ids", tuple(int(t) for t in self.prompt_token_ids))
            if not self.prompt_token_ids:
                raise ValueError("GenerationRequest.prompt_token_ids is empty")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be an integer >= 1, got {self.n!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if self.top_logprobs_first < 0 or self.logprobs < 0:
            raise ValueError("top_logprobs_first and logprobs must be >= 0")
        if not isinstance(self.sampling, SamplingParams):
            raise TypeError("GenerationRequest.sampling must be a SamplingParams")


@dataclass(frozen=True)
class Completion:
    text: str
    token_ids: tuple[int, ...]
    finish_reason: str  # "stop" | "length"
    prompt_tokens: int
    completion_tokens: int
    first_token_top_logprobs: tuple[tuple[int, str, float], ...] | None = None
    token_logprobs: tuple[float, ...] | None = None
    token_top_logprobs: tuple[tuple[tuple[int, float], ...], ...] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


# -- the interface --------------------------------------------------------------------------
class Engine(ABC):
    """A model that generates. Construct through ``loop.engines.create_engine(name, ...)``."""

    name: ClassVar[str]
    model_name: str = ""  # what to record as the model (a path or hub id)

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """One list of ``request.n`` completions per request, in request order."""

    @abstractmethod
    def chat_token_ids(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        """The prompt's token ids after the model's chat template (with its BOS if any)."""

    @abstractmethod
    def tokenize(self, text: str) -> list[int]:
        """Token ids of plain text, no special tokens added."""

    @abstractmethod
    def detokenize(self, token_ids: Sequence[int]) -> str: ...

    def stop_token_ids(self) -> frozenset[int]:
        """Token ids that end a generation (EOS/EOT), never empty. Samplers that pick a token
        themselves (FIRE, cot-decoding) do not continue after one of these. An engine that
        cannot know them raises :class:`EngineError` naming the fix (the default does)."""
        raise EngineError(f"engine {self.name!r} does not say which tokens end a generation; "
                          "FIRE and cot-decoding need them (override Engine.stop_token_ids)")

    def prompt_token_ids(self, request: GenerationRequest) -> list[int]:
        if request.prompt_token_ids is not None:
            return list(request.prompt_token_ids)
        assert request.messages is not None
        return self.chat_token_ids(request.messages)

    def unit(self) -> ContextManager[None]:
        """A context in which calls form one generation unit (see the module docstring).
        Units may nest (the outermost one counts). The default keeps no state: a no-op."""
        return contextlib.nullcontext()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model; the engine is unusable afterwards."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
