"""``reward_model``: an outcome reward model scores each (prompt, response) pair; best-of-N picks
the highest. Backends (transformers, vLLM, an HTTP pooling server) are in ``backends``."""
from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, ClassVar, Sequence

from ..base import SubsetRule, Verifier
from ..selectors import selection_verdicts
from ..types import Candidate, Problem, Verdict
from .backends import BackendConfig, RewardBackend, make_backend

RewardModelConfig = BackendConfig


def conversation(problem: Problem, candidate: Candidate) -> list[dict[str, str]]:
    """The problem's prompt messages followed by the candidate as the assistant's answer."""
    return [dict(m) for m in problem.prompt] + [{"role": "assistant", "content": candidate.text}]


def config_from_options(cls: type, options: dict[str, Any]) -> Any:
    """Build a config dataclass from CLI-style options (strings converted to the field types)."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    values: dict[str, Any] = {}
    for k, v in options.items():
        t = str(known[k].type)
        if isinstance(v, str):
            if t.startswith("bool"):
                v = v.lower() in ("1", "true", "yes", "on")
            elif t.startswith("int"):
                v = int(v)
            elif t.startswith("float"):
                v = float(v)
        values[k] = v
    return cls(**values)


class RewardModel(Verifier):
    """Score = the reward model's value for (prompt, candidate); ``details["weight"]`` too.

    Construct with ``RewardModel(model=PATH, backend="hf", head=0, batch_size=8, dtype=...,
    device=..., url=...)`` (see :class:`~verifiers.reward.backends.BackendConfig`) or give a
    ready ``backend=`` object (tests, or a model shared between selectors).
    """

    name: ClassVar[str] = "reward_model"
    uses_reference: ClassVar[bool] = False
    subset_rule: ClassVar[SubsetRule] = "argmax"

    def __init__(self, backend: RewardBackend | str | None = None, seed: int = 0, **options: Any) -> None:
        self.seed = seed
        if isinstance(backend, RewardBackend):
            self.backend = backend
            self.config = None
        else:
            if backend is not None:
                options["backend"] = backend
            self.config = config_from_options(BackendConfig, options)
            self.backend = make_backend(self.config)

    @classmethod
    def option_names(cls) -> frozenset[str]:
        return frozenset({"backend", "seed"} | {f.name for f in fields(BackendConfig)})

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        return self.verify_many([(problem, candidates)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]) -> list[list[Verdict]]:
        convs = [conversation(p, c) for p, cs in items for c in cs]
        flat = self.backend.score(convs) if convs else []
        out: list[list[Verdict]] = []
        pos = 0
        for problem, cands in items:
            scores = [float(s) if s is not None and not math.isnan(s) else math.nan for s in flat[pos:pos + len(cands)]]
            pos += len(cands)
            details = [{"weight": s} for s in scores]
            out.append(selection_verdicts(self.name, problem, scores, [None] * len(scores), details, self.seed))
        return out

    def close(self) -> None:
        self.backend.close()
