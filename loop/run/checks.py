"""Checks made before a run does any work: the engine and the sampler exist and take the options
given (a misspelled key is refused naming the valid ones and the closest match). Selector specs
are checked in ``loop.run.selectors``."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from verifiers.options import check_options, constructor_options, lookup

from ..engines import ENGINES, Engine, EngineError, SamplingParams
from ..samplers import SAMPLERS, parse_sampler

SAMPLING_KEYS = frozenset(f.name for f in dataclasses.fields(SamplingParams))


def check_engine(name: str, options: Mapping[str, Any]) -> None:
    """Engine ``name`` exists and its constructor takes ``options`` (nothing is loaded)."""
    check_options(f"engine {name!r}", options, constructor_options(lookup(ENGINES, name)))


def check_sampler(name: str, params: Mapping[str, Any], max_tokens: int) -> None:
    """Sampler ``name`` exists, takes ``params`` and accepts their values."""
    base = name.strip()
    cls = lookup(SAMPLERS, "fire" if base.startswith("fire@") else base)
    own = ({f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls)
           else constructor_options(cls))
    valid = None if own is None else (set(own) - {"sampling", "max_tokens"}) | SAMPLING_KEYS
    check_options(f"sampler {name!r}", params, valid)
    parse_sampler(name, max_tokens=max_tokens, **params)


def check_engine_for_sampler(engine: Engine, name: str, params: Mapping[str, Any], max_tokens: int) -> None:
    """A sampler that picks tokens itself (FIRE, cot-decoding) needs the engine's end-of-sequence
    ids, or it would continue past one: :class:`EngineError` when the engine cannot tell them."""
    if parse_sampler(name, max_tokens=max_tokens, **params).needs_stop_token_ids and not engine.stop_token_ids():
        raise EngineError(f"engine {engine.name!r} knows no end-of-sequence token ids; sampler {name!r} needs them")
