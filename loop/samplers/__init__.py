"""Samplers by name: ``regular``, ``fire``, ``fire@sentence:N``, ``fire@step``, ``cot-decoding``; third
parties register through the entry-point group ``fireassay.samplers`` (a Sampler subclass).

``parse_sampler("fire", temperature=0.7, top_p=0.95, max_tokens=512)`` builds one; the flat
regular knobs (temperature, top_p, top_k, min_p) go into its :class:`SamplingParams`;
``parse_sampler(**sampler.spec())`` rebuilds a sampler from its recorded spec.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from loop.engines.base import SamplingParams
from sandbox.registry import Registry

from .base import Prompt, Sampler, derive_seed, prompt_ids

SAMPLERS: Registry[type[Sampler]] = Registry(
    "sampler",
    "fireassay.samplers",
    {
        "regular": "loop.samplers.regular:RegularSampler",
        "fire": "loop.samplers.fire:FireSampler",
        "cot-decoding": "loop.samplers.cot:CoTDecodingSampler",
    },
)

_SAMPLING_KEYS = {f.name for f in dataclasses.fields(SamplingParams)}
_SENTENCE = re.compile(r"fire@sentence:(\d+)")


def parse_sampler(name: str, **params: Any) -> Sampler:
    """Build a sampler from its name (``fire@sentence:N`` included) and flat parameters."""
    m = _SENTENCE.fullmatch(name.strip())
    if name.strip() == "fire@step":
        if params.get("step", True) is not True:
            raise ValueError(f"{name!r} conflicts with step={params['step']}")
        params["step"] = True
        cls = SAMPLERS.get("fire")
    elif m:
        n = int(m.group(1))
        if n < 1:
            raise ValueError("fire@sentence:N needs N >= 1 (plain 'fire' is the first token)")
        if params.get("sentence", n) != n:
            raise ValueError(f"{name!r} conflicts with sentence={params['sentence']}")
        params["sentence"] = n
        cls = SAMPLERS.get("fire")
    elif name.startswith("fire@"):
        raise ValueError(f"unknown FIRE variant {name!r}; use fire, fire@sentence:N (N >= 1) or fire@step")
    else:
        cls = SAMPLERS.get(name.strip())
    sampling = params.pop("sampling", None)
    knobs = {k: params.pop(k) for k in list(params) if k in _SAMPLING_KEYS}
    if sampling is None:
        sampling = SamplingParams(**knobs)
    elif knobs:
        sampling = dataclasses.replace(sampling, **knobs)
    if "stop" in params and params["stop"] is not None:
        params["stop"] = tuple([params["stop"]] if isinstance(params["stop"], str) else params["stop"])
    known = {f.name for f in dataclasses.fields(cls)} - {"sampling"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for sampler {name!r}; "
            f"known: {', '.join(sorted(known | _SAMPLING_KEYS))}"
        )
    return cls(sampling=sampling, **params)


__all__ = ["SAMPLERS", "Prompt", "Sampler", "derive_seed", "parse_sampler", "prompt_ids"]
