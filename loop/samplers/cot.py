"""``cot-decoding`` (Wang & Zhou, arXiv 2402.10200): branch on the top-k first tokens,
continue each branch greedily, score each by answer confidence.

Branch j starts with the j-th most likely first token (j < n; n is at most ``max_branches``)
and continues greedily. ``meta["confidence"]`` is the mean, over the answer span, of the gap
between the top two token probabilities (raw model) at each position; the answer span is the
last match of ``answer_pattern`` in the text (the last number by default, right for GSM8K),
or the whole text when nothing matches (``meta["confidence_span"]`` says which). A
``confidence`` selector picks the branch with the highest value.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from loop.engines.base import GREEDY, Completion, Engine, GenerationRequest

from .base import Sampler, cut_at_stop, end_ids, joined_text

LAST_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"


def top2_gap(top: tuple[tuple[int, float], ...] | tuple[tuple[int, str, float], ...]) -> float:
    lps = sorted((e[-1] for e in top), reverse=True)
    if not lps:
        return 0.0
    p1 = math.exp(lps[0])
    p2 = math.exp(lps[1]) if len(lps) > 1 else 0.0
    return p1 - p2


def answer_confidence(pieces: list[str], gaps: list[float], pattern: str) -> tuple[float, str, tuple[int, int] | None]:
    """(mean gap over the tokens covering the last ``pattern`` match, span kind, char span)."""
    text = "".join(pieces)
    matches = list(re.finditer(pattern, text))
    if not gaps:
        return 0.0, "none", None
    if not matches:
        return float(np.mean(gaps)), "all", None
    a, b = matches[-1].span()
    ends = np.cumsum([len(p) for p in pieces])
    starts = ends - np.array([len(p) for p in pieces])
    idx = [k for k in range(len(pieces)) if starts[k] < b and ends[k] > a and k < len(gaps)]
    if not idx:
        return float(np.mean(gaps)), "all", None
    return float(np.mean([gaps[k] for k in idx])), "answer", (a, b)


@dataclass(frozen=True)
class CoTDecodingSampler(Sampler):
    max_branches: int = 10
    answer_pattern: str = LAST_NUMBER

    name = "cot-decoding"
    needs_stop_token_ids = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.max_branches, int) or self.max_branches < 1:
            raise ValueError(f"max_branches must be an integer >= 1, got {self.max_branches!r}")
        try:
            re.compile(self.answer_pattern)
        except re.error as e:
            raise ValueError(f"answer_pattern is not a valid regular expression: {e}") from None

    def _sample(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None]) -> list[list[Completion]]:
        if n > self.max_branches:
            raise ValueError(f"cot-decoding draws at most max_branches={self.max_branches} branches; got n={n}")
        eog = end_ids(engine)  # before any request: a branch must not continue past an EOS
        first = engine.generate([
            GenerationRequest(prompt_token_ids=tuple(p), n=1, sampling=GREEDY, max_tokens=1, seed=s,
                              top_logprobs_first=n)
            for p, s in zip(prompts, seeds)
        ])
        branches: list[list[tuple[int, str, float]]] = []
        reqs, owners = [], []
        for i, (p, row) in enumerate(zip(prompts, first)):
            top = sorted(row[0].first_token_top_logprobs or (), key=lambda e: -e[2])[:n]
            if len(top) < n:
                raise RuntimeError(f"the engine returned {len(top)} first-token log-probabilities; cot-decoding needs {n}")
            branches.append(top)
            for j, (t, _, _) in enumerate(top):
                if t in eog or self.max_tokens == 1:
                    continue
                reqs.append(GenerationRequest(prompt_token_ids=tuple(p) + (t,), n=1, sampling=GREEDY, stop=self.stop,
                                              max_tokens=self.max_tokens - 1, logprobs=2, seed=seeds[i]))
                owners.append((i, j))
        conts = {key: row[0] for key, row in zip(owners, engine.generate(reqs) if reqs else [])}
        out: list[list[Completion]] = []
        for i, p in enumerate(prompts):
            first_gap = top2_gap(tuple(branches[i]))
            row = []
            for j, (t, t_text, t_lp) in enumerate(branches[i]):
                c = conts.get((i, j))
                hot_text = "" if t in eog else t_text
                cont_ids = c.token_ids if c else ()
                ids = (t,) + cont_ids
                text, stopped = cut_at_stop(joined_text(engine, ids, eog), self.stop)
                gaps = [first_gap] + [top2_gap(tp) for tp in (c.token_top_logprobs or ())] if c else [first_gap]
                pieces = [hot_text] + [engine.detokenize([x]) if x not in eog else "" for x in cont_ids]
                conf, kind, span = answer_confidence(pieces, gaps, self.answer_pattern)
                meta: dict[str, Any] = {
                    "first_token": hot_text, "branch": j, "branch_logprob": float(t_lp),
                    "confidence": conf, "confidence_span": kind,
                    "answer_span": list(span) if span else None,
                }
                row.append(Completion(
                    text=text, token_ids=ids,
                    finish_reason="stop" if (stopped or t in eog) else (c.finish_reason if c else "length"),
                    prompt_tokens=len(p), completion_tokens=len(ids),
                    token_logprobs=(float(t_lp), *c.token_logprobs) if c and c.token_logprobs and self.logprobs else None,
                    meta=meta,
                ))
            out.append(row)
        return out
