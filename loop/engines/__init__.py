"""Engines: the models that generate. Built-ins by name, third parties through the entry-point
group ``fireassay.engines`` (an entry point names an :class:`Engine` subclass)."""
from __future__ import annotations

from typing import Any

from sandbox.registry import Registry

from .base import (
    GREEDY,
    Completion,
    ContextTooLongError,
    Engine,
    EngineError,
    EngineUnreachableError,
    GenerationRequest,
    ModelNotFoundError,
    SamplingParams,
)

ENGINES: Registry[type[Engine]] = Registry(
    "engine",
    "fireassay.engines",
    {
        "llamacpp": "loop.engines.llamacpp:LlamaCppEngine",
        "openai": "loop.engines.openai_compat:OpenAIEngine",
        "vllm": "loop.engines.vllm_engine:VLLMEngine",
    },
)

DEFAULT_ENGINE = "llamacpp"


def create_engine(name: str = DEFAULT_ENGINE, **options: Any) -> Engine:
    """Build engine ``name``; options go to its constructor (``model=...`` for all built-ins)."""
    return ENGINES.create(name, **options)


__all__ = [
    "ENGINES",
    "DEFAULT_ENGINE",
    "GREEDY",
    "Completion",
    "ContextTooLongError",
    "Engine",
    "EngineError",
    "EngineUnreachableError",
    "GenerationRequest",
    "ModelNotFoundError",
    "SamplingParams",
    "create_engine",
]
