"""``regular``: plain temperature / top-p / top-k / min-p sampling."""
from __future__ import annotations

from dataclasses import dataclass

from loop.engines.base import Completion, Engine, GenerationRequest

from .base import Sampler


@dataclass(frozen=True)
class RegularSampler(Sampler):
    name = "regular"

    def _sample(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None]) -> list[list[Completion]]:
        requests = [
            GenerationRequest(
                prompt_token_ids=tuple(p), n=n, sampling=self.sampling, stop=self.stop,
                max_tokens=self.max_tokens, seed=s, logprobs=1 if self.logprobs else 0,
            )
            for p, s in zip(prompts, seeds)
        ]
        return engine.generate(requests)

