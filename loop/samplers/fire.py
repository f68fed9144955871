"""``fire`` and ``fire@sentence:N`` (FIRE, arXiv 2410.21236).

The hot token is drawn here, exactly, from the engine's raw top-k log-probabilities:
``softmax(logprob / T)`` over the top ``k`` tokens is what temperature ``T`` plus top-k does
(top-p 1 and min-p 0 for that token). The rest is regular sampling with ``sampling``,
conditioned on the hot token as token ids: a continuation request's prompt is
``prompt (+ prefix) + [hot token]``. Identical hot tokens of a prompt share one request with
``n = count`` so continuations batch.

``fire@sentence:N`` (``sentence=N``): regular sampling up to the end of sentence N (a '.'
followed by white space), then the hot token, then regular sampling. A sample that ends
before sentence N is an ordinary regular sample (``meta["hot_position"] is None``).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from loop.engines.base import GREEDY, Completion, Engine, GenerationRequest
from loop.engines.sampling_math import draw, seed_rng

from .base import Sampler, cut_at_stop, derive_seed

# The engine stops a prefix round at the first of these; the cut is then placed right after
# the token holding the '.', so the hot token is the first token of the next sentence.
SENTENCE_STOPS = (". ", ".\n", ".\t", ".\r")
_SENTENCE_END = re.compile(r"\.\s")


@dataclass(frozen=True)
class HotDraw:
    """One drawn hot token: its id, its raw log-probability, and its probability under the hot
    distribution (temperature + top-k) it was drawn from."""

    token: int
    logprob: float
    prob: float


@dataclass(frozen=True)
class HotGroup:
    """The samples of one context that drew the same hot token: ``count`` continuations of
    ``context + (token,)`` seeded with ``seed``; ``before``: tokens generated before the hot
    one (they count against ``max_tokens``)."""

    context: tuple[int, ...]
    token: int
    count: int
    seed: int | None
    before: int


def hot_distribution(top: tuple[tuple[int, str, float], ...], temperature: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, probabilities) of temperature-``temperature`` sampling over the top ``k``
    of raw ``(id, text, logprob)`` entries."""
    if not top:
        raise RuntimeError("the engine returned no first-token log-probabilities; it cannot run FIRE")
    top = tuple(sorted(top, key=lambda e: -e[2]))[:k]
    ids = np.array([t for t, _, _ in top])
    lp = np.array([lp for _, _, lp in top], dtype=np.float64) / temperature
    p = np.exp(lp - lp.max())
    return ids, p / p.sum()


def sentence_cut(pieces: list[str], start: int, count: int) -> int | None:
    """Token index right after the ``count``-th sentence end found at or after token
    ``start`` (a sentence end is '.' then white space); None if there are fewer."""
    text = "".join(pieces)
    offsets = np.cumsum([0] + [len(p) for p in pieces])
    pos = int(offsets[start])
    found = 0
    for m in _SENTENCE_END.finditer(text, max(0, pos - 1)):
        if m.start() < pos:
            continue
        found += 1
        if found == count:
            # smallest j whose text covers the '.'
            return int(np.searchsorted(offsets, m.start() + 1, side="left"))
    return None


@dataclass(frozen=True)
class FireSampler(Sampler):
    hot_temperature: float = 30.0
    hot_top_k: int = 16
    sentence: int = 0  # 0: the hot token is the first generated token

    name = "fire"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.hot_temperature, (int, float)) and 0 < self.hot_temperature < float("inf")):
            raise ValueError(f"hot_temperature must be a finite number > 0, got {self.hot_temperature!r}")
        if isinstance(self.hot_top_k, bool) or not isinstance(self.hot_top_k, int) or self.hot_top_k < 1:
            raise ValueError(f"hot_top_k must be an integer >= 1, got {self.hot_top_k!r}")
        if isinstance(self.sentence, bool) or not isinstance(self.sentence, int) or self.sentence < 0:
            raise ValueError(f"sentence must be an integer >= 0, got {self.sentence!r}")

    @property
    def label(self) -> str:
        return self.name if self.sentence == 0 else f"fire@sentence:{self.sentence}"

    # -- hot token --------------------------------------------------------------------------
    def _top(self, engine: Engine, contexts: list[tuple[int, ...]], seeds: list[int | None]) -> list[tuple]:
        reqs = [
            GenerationRequest(prompt_token_ids=c, n=1, sampling=GREEDY, max_tokens=1, seed=s,
                              top_logprobs_first=self.hot_top_k)
            for c, s in zip(contexts, seeds)
        ]
        return [row[0].first_token_top_logprobs or () for row in engine.generate(reqs)]

    def _continue(
        self, engine: Engine, groups: list[HotGroup]
    ) -> dict[tuple[tuple[int, ...], int], list[Completion | None]]:
        """Continue each group with regular sampling: (context, hot token) -> ``count``
        continuations (None where nothing follows: the hot token ended the text or used the
        last token)."""
        eog = engine.stop_token_ids()
        out: dict[tuple[tuple[int, ...], int], list[Completion | None]] = {}
        reqs, keys = [], []
        for g in groups:
            budget = self.max_tokens - g.before - 1
            if g.token in eog or budget < 1:
                out[(g.context, g.token)] = [None] * g.count
                continue
            reqs.append(GenerationRequest(
                prompt_token_ids=g.context + (g.token,), n=g.count, sampling=self.sampling, stop=self.stop,
                max_tokens=budget, seed=g.seed, logprobs=1 if self.logprobs else 0,
            ))
            keys.append((g.context, g.token))
        for key, row in zip(keys, engine.generate(reqs) if reqs else []):
            out[key] = row
        return out

    def _join(
        self, engine: Engine, prompt_len: int, prefix: list[int], d: HotDraw, cont: Completion | None,
        eog: frozenset[int],
    ) -> Completion:
        hot = d.token
        hot_text = "" if hot in eog else engine.detokenize([hot])
        prefix_text = engine.detokenize(prefix) if prefix else ""
        if cont is None:
            ids: tuple[int, ...] = tuple(prefix) + (hot,)
            text, stopped = cut_at_stop(prefix_text + hot_text, self.stop)
            finish = "stop" if hot in eog or stopped else "length"
            n_tok, lps = len(ids), None
        else:
            ids = tuple(prefix) + (hot,) + cont.token_ids
            text, stopped = cut_at_stop(prefix_text + hot_text + cont.text, self.stop)
            finish = "stop" if stopped else cont.finish_reason
            n_tok = len(prefix) + 1 + cont.completion_tokens
            lps = cont.token_logprobs
        first = engine.detokenize(ids[:1]) if ids[0] not in eog else ""
        meta: dict[str, Any] = dict(cont.meta) if cont is not None else {}
        meta.update(first_token=first, hot_token=hot_text, hot_token_id=int(hot), hot_position=len(prefix),
                    hot_char=len(prefix_text),  # where the hot token starts in the text (the view marks it)
                    hot_logprob=float(d.logprob), hot_prob=float(d.prob))
        return Completion(
            text=text, token_ids=ids, finish_reason=finish, prompt_tokens=prompt_len,
            completion_tokens=n_tok, first_token_top_logprobs=None,
            token_logprobs=None if (lps is None or prefix) else (float(d.logprob), *lps),
            meta=meta,
        )

    # -- sampling ---------------------------------------------------------------------------
    def _sample(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None]) -> list[list[Completion]]:
        if self.sentence == 0:
            return self._sample_first(engine, prompts, n, seeds)
        return self._sample_sentence(engine, prompts, n, seeds)

    def _draw_hot(self, top: tuple, count: int, rng: np.random.Generator) -> list[HotDraw]:
        ids, p = hot_distribution(top, self.hot_temperature, self.hot_top_k)
        raw = {t: lp for t, _, lp in top}
        picks = [draw(ids, p, rng) for _ in range(count)]
        prob = dict(zip(ids.tolist(), p.tolist()))
        return [HotDraw(t, raw[t], prob[t]) for t in picks]

    def _sample_first(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None]) -> list[list[Completion]]:
        eog = engine.stop_token_ids()
        ctxs = [tuple(p) for p in prompts]
        tops = self._top(engine, ctxs, seeds)
        draws = [self._draw_hot(top, n, seed_rng(seed, "fire-hot")) for top, seed in zip(tops, seeds)]
        groups = []
        for ctx, seed, ds in zip(ctxs, seeds, draws):
            counts: OrderedDict[int, int] = OrderedDict()
            for d in ds:
                counts[d.token] = counts.get(d.token, 0) + 1
            groups += [HotGroup(ctx, t, c, derive_seed(seed, t), 0) for t, c in counts.items()]
        conts = self._continue(engine, groups)
        out = []
        for ctx, ds in zip(ctxs, draws):
            used: dict[int, int] = {}
            row = []
            for d in ds:
                k = used.get(d.token, 0)
                used[d.token] = k + 1
                row.append(self._join(engine, len(ctx), [], d, conts[(ctx, d.token)][k], eog))
            out.append(row)
        return out

    def _sample_sentence(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None]) -> list[list[Completion]]:
        eog = engine.stop_token_ids()
        stops = tuple(self.stop) + SENTENCE_STOPS
        # state per (prompt i, sample j): generated prefix, sentences found, or a final completion
        prefix: dict[tuple[int, int], list[int]] = {}
        final: dict[tuple[int, int], Completion] = {}
        found: dict[tuple[int, int], int] = {}
        for rnd in range(self.sentence):
            if rnd == 0:
                reqs = [GenerationRequest(prompt_token_ids=tuple(p), n=n, sampling=self.sampling, stop=stops,
                                          max_tokens=self.max_tokens, seed=derive_seed(s, 0))
                        for p, s in zip(prompts, seeds)]
                keys = [[(i, j) for j in range(n)] for i in range(len(prompts))]
            else:
                live = [(i, j) for i in range(len(prompts)) for j in range(n) if (i, j) not in final]
                if not live:
                    break
                reqs = [GenerationRequest(prompt_token_ids=tuple(prompts[i] + prefix[(i, j)]), n=1,
                                          sampling=self.sampling, stop=stops,
                                          max_tokens=max(1, self.max_tokens - len(prefix[(i, j)])),
                                          seed=derive_seed(seeds[i], rnd, j))
                        for i, j in live]
                keys = [[key] for key in live]
            for row, ks in zip(engine.generate(reqs), keys):
                for c, key in zip(row, ks):
                    old = prefix.get(key, [])
                    ids = old + list(c.token_ids)
                    pieces = [engine.detokenize([t]) if t not in eog else "" for t in ids]
                    cut = sentence_cut(pieces, len(old), 1) if c.finish_reason == "stop" else None
                    if cut is None or cut >= self.max_tokens:
                        # ended (EOS, user stop, length) before sentence rnd+1: a regular sample
                        full = engine.detokenize(ids)
                        text, _ = cut_at_stop(full, self.stop)
                        final[key] = Completion(
                            text=text, token_ids=tuple(ids), finish_reason=c.finish_reason,
                            prompt_tokens=len(prompts[key[0]]), completion_tokens=len(ids),
                            meta={**c.meta, "hot_position": None, "sentences": rnd},
                        )
                    else:
                        prefix[key] = ids[:cut]
                        found[key] = rnd + 1
        live = [(i, j) for i in range(len(prompts)) for j in range(n) if (i, j) not in final]
        ctxs = [tuple(prompts[i] + prefix[(i, j)]) for i, j in live]
        tops = self._top(engine, ctxs, [derive_seed(seeds[i], 99, j) for i, j in live])
        hot = {key: self._draw_hot(top, 1, seed_rng(seeds[key[0]], "fire-hot", key[1]))[0]
               for key, top in zip(live, tops)}
        members: OrderedDict[tuple[tuple[int, ...], int], list[tuple[int, int]]] = OrderedDict()
        for key, ctx in zip(live, ctxs):
            members.setdefault((ctx, hot[key].token), []).append(key)
        groups = [
            HotGroup(ctx, t, len(keys), derive_seed(seeds[keys[0][0]], keys[0][1], t), len(prefix[keys[0]]))
            for (ctx, t), keys in members.items()
        ]
        conts = self._continue(engine, groups)
        used: dict[tuple[tuple[int, ...], int], int] = {}
        for key, ctx in zip(live, ctxs):
            d = hot[key]
            k = used.get((ctx, d.token), 0)
            used[(ctx, d.token)] = k + 1
            final[key] = self._join(engine, len(prompts[key[0]]), prefix[key], d, conts[(ctx, d.token)][k], eog)
        return [[final[(i, j)] for j in range(n)] for i in range(len(prompts))]
