"""``fire`` and ``fire@sentence:N`` (FIRE, arXiv 2410.21236).

The hot token is drawn here, exactly, from the engine's raw top-k log-probabilities:
``softmax(logprob / T)`` over the top ``k`` tokens is what temperature ``T`` plus top-k does
(top-p 1 and min-p 0 for that token). The rest is regular sampling with ``sampling``,
conditioned on the hot token as token ids: a continuation request's prompt is
``prompt (+ prefix) + [hot token]``. Identical hot tokens of a prompt share one request with
``n = count`` so continuations batch.

``fire@sentence:N`` (``sentence=N``): regular sampling up to the end of sentence N (a '.'
followed by white space), then the hot token, then regular sampling. A sample that ends
before sentence N is an ordinary regular sample (``meta["hot_position"] is None``); a '.'
after a numbered-list marker ("1. ") or a common abbreviation ("e.g. ", "Dr. ") ends no sentence.

``fire@step`` (``step=True``, the paper's per-step view): a hot token at the start of every
line (step) of the response: hot token, regular sampling up to and including the token that
holds the next line break, hot token (the first token after it), ... until an end-of-sequence
token, a stop string or ``max_tokens``.
``meta["hot_positions"]`` / ``meta["hot_token_ids"]`` list every hot token (``hot_position`` /
``hot_token_id`` are the first, at 0). The first step's hot tokens of a prompt come from one
shared request, as for ``fire``; each later step makes one request per sample.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from loop.engines.base import GREEDY, Completion, Engine, EngineError, GenerationRequest
from loop.engines.sampling_math import draw, seed_rng

from .base import Sampler, cut_at_stop, derive_seed, end_ids, joined_text

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
    if len(top) < k or len({t for t, _, _ in top}) < len(top):
        raise EngineError(f"the engine returned {len(top)} top log-probabilities for the hot token "
                          f"({len({t for t, _, _ in top})} distinct tokens); FIRE's top-k needs {k}")
    top = tuple(sorted(top, key=lambda e: -e[2]))[:k]
    ids = np.array([t for t, _, _ in top])
    lp = np.array([lp for _, _, lp in top], dtype=np.float64) / temperature
    p = np.exp(lp - lp.max())
    return ids, p / p.sum()


# a '.' after one of these words is no sentence end ("e.g. this", "Dr. Smith"); nor after a
# list marker ("1. " at the start of a line) or single letters with dots ("U.S. ")
# ("etc." and "no." are left out: they end sentences as often as not)
ABBREVIATIONS = frozenset({
    "e.g", "i.e", "vs", "cf", "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "fig", "figs", "eq", "eqs",
    "approx", "vol", "p", "pp", "resp", "al", "jan", "feb", "aug", "sept", "oct", "nov", "dec",
})
_LAST_WORD = re.compile(r"(\S*)$")
_DOTTED_LETTERS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_LIST_MARKER = re.compile(r"(?:^|\n)[ \t]*\d{1,3}$")


def is_sentence_end(text: str, dot: int) -> bool:
    """Whether the '.' at ``text[dot]`` (followed by white space) ends a sentence: not after a
    common abbreviation, dotted initials or a numbered-list marker at the start of a line."""
    before = text[:dot]
    if _LIST_MARKER.search(before):
        return False
    word = _LAST_WORD.search(before).group(1).lstrip("([{\"'*_")  # type: ignore[union-attr]
    if word.lower() in ABBREVIATIONS or _DOTTED_LETTERS.fullmatch(word):
        return False
    return True


def sentence_ends(pieces: list[str], start: int) -> list[int]:
    """Token indices right after each sentence end at or after token ``start`` (a sentence end
    is '.' then white space, not after an abbreviation or a list marker: :func:`is_sentence_end`);
    each index is that of the token after the one holding the '.'."""
    text = "".join(pieces)
    offsets = np.cumsum([0] + [len(p) for p in pieces])
    pos = int(offsets[start])
    out = []
    for m in _SENTENCE_END.finditer(text, max(0, pos - 1)):
        if m.start() >= pos and is_sentence_end(text, m.start()):
            # smallest j whose text covers the '.'
            out.append(int(np.searchsorted(offsets, m.start() + 1, side="left")))
    return out


def sentence_cut(pieces: list[str], start: int, count: int) -> int | None:
    """Token index right after the ``count``-th sentence end at or after token ``start``
    (:func:`sentence_ends`); None if there are fewer."""
    ends = sentence_ends(pieces, start)
    return ends[count - 1] if len(ends) >= count else None


@dataclass(frozen=True)
class FireSampler(Sampler):
    hot_temperature: float = 30.0
    hot_top_k: int = 16
    sentence: int = 0  # 0: the hot token is the first generated token
    step: bool = False  # fire@step: a hot token at the start of every line

    name = "fire"
    needs_stop_token_ids = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.hot_temperature, (int, float)) and 0 < self.hot_temperature < float("inf")):
            raise ValueError(f"hot_temperature must be a finite number > 0, got {self.hot_temperature!r}")
        if isinstance(self.hot_top_k, bool) or not isinstance(self.hot_top_k, int) or self.hot_top_k < 1:
            raise ValueError(f"hot_top_k must be an integer >= 1, got {self.hot_top_k!r}")
        if isinstance(self.sentence, bool) or not isinstance(self.sentence, int) or self.sentence < 0:
            raise ValueError(f"sentence must be an integer >= 0, got {self.sentence!r}")
        if not isinstance(self.step, bool):
            raise ValueError(f"step must be true or false, got {self.step!r}")
        if self.step and self.sentence:
            raise ValueError("fire@step and fire@sentence:N do not combine; choose one")

    @property
    def label(self) -> str:
        if self.step:
            return "fire@step"
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
        self, engine: Engine, groups: list[HotGroup], eog: frozenset[int], stop: tuple[str, ...] | None = None,
    ) -> dict[tuple[tuple[int, ...], int], list[Completion | None]]:
        """Continue each group with regular sampling: (context, hot token) -> ``count``
        continuations (None where nothing follows: the hot token ended the text or used the
        last token). Greedy continuations are identical: one is asked for (``n=1``) and used
        ``count`` times."""
        greedy = self.sampling.greedy
        out: dict[tuple[tuple[int, ...], int], list[Completion | None]] = {}
        reqs, keys = [], []
        for g in groups:
            budget = self.max_tokens - g.before - 1
            if g.token in eog or budget < 1:
                out[(g.context, g.token)] = [None] * g.count
                continue
            reqs.append(GenerationRequest(
                prompt_token_ids=g.context + (g.token,), n=1 if greedy else g.count, sampling=self.sampling,
                stop=self.stop if stop is None else stop, max_tokens=budget, seed=g.seed, logprobs=1 if self.logprobs else 0,
            ))
            keys.append((g.context, g.token, g.count))
        for (ctx, tok, count), row in zip(keys, engine.generate(reqs) if reqs else []):
            out[(ctx, tok)] = list(row) * count if greedy else list(row)
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
            text, stopped = cut_at_stop(joined_text(engine, ids, eog), self.stop)
            finish = "stop" if hot in eog or stopped else "length"
            n_tok, lps = len(ids), None
        else:
            ids = tuple(prefix) + (hot,) + cont.token_ids
            # decoded as one sequence: a character split between the hot token and the
            # continuation decodes whole (the pieces' texts would not)
            text, stopped = cut_at_stop(joined_text(engine, ids, eog), self.stop)
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
        eog = end_ids(engine)  # before any request: FIRE must not continue past an EOS
        if self.step:
            return self._sample_step(engine, prompts, n, seeds, eog)
        if self.sentence == 0:
            return self._sample_first(engine, prompts, n, seeds, eog)
        return self._sample_sentence(engine, prompts, n, seeds, eog)

    def _draw_hot(self, top: tuple, count: int, rng: np.random.Generator) -> list[HotDraw]:
        ids, p = hot_distribution(top, self.hot_temperature, self.hot_top_k)
        raw = {t: lp for t, _, lp in top}
        picks = [draw(ids, p, rng) for _ in range(count)]
        prob = dict(zip(ids.tolist(), p.tolist()))
        return [HotDraw(t, raw[t], prob[t]) for t in picks]

    def _sample_first(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None],
                      eog: frozenset[int]) -> list[list[Completion]]:
        ctxs = [tuple(p) for p in prompts]
        tops = self._top(engine, ctxs, seeds)
        draws = [self._draw_hot(top, n, seed_rng(seed, "fire-hot")) for top, seed in zip(tops, seeds)]
        groups = []
        for ctx, seed, ds in zip(ctxs, seeds, draws):
            counts: OrderedDict[int, int] = OrderedDict()
            for d in ds:
                counts[d.token] = counts.get(d.token, 0) + 1
            groups += [HotGroup(ctx, t, c, derive_seed(seed, t), 0) for t, c in counts.items()]
        conts = self._continue(engine, groups, eog)
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

    def _sample_sentence(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None],
                         eog: frozenset[int]) -> list[list[Completion]]:
        stops = tuple(self.stop) + SENTENCE_STOPS
        # state per (prompt i, sample j): generated prefix, sentences found, or a final completion.
        # A round generates up to the next '.'+space; one that stopped on a '.' that ends no
        # sentence (a list marker, an abbreviation) goes on in the next round.
        prefix: dict[tuple[int, int], list[int]] = {}
        final: dict[tuple[int, int], Completion] = {}
        found: dict[tuple[int, int], int] = {}
        ready: set[tuple[int, int]] = set()
        rnd = 0
        while True:
            if rnd == 0:
                reqs = [GenerationRequest(prompt_token_ids=tuple(p), n=n, sampling=self.sampling, stop=stops,
                                          max_tokens=self.max_tokens, seed=derive_seed(s, 0))
                        for p, s in zip(prompts, seeds)]
                keys = [[(i, j) for j in range(n)] for i in range(len(prompts))]
            else:
                live = [(i, j) for i in range(len(prompts)) for j in range(n) if (i, j) not in final and (i, j) not in ready]
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
                    need = self.sentence - found.get(key, 0)
                    ends = [e for e in sentence_ends(pieces, len(old)) if e < self.max_tokens]
                    if len(ends) >= need:
                        prefix[key], found[key] = ids[: ends[need - 1]], self.sentence
                        ready.add(key)
                        continue
                    new_text = "".join(pieces[len(old):])
                    on_sentence_stop = (
                        c.finish_reason == "stop" and len(ids) > len(old) and ids[-1] not in eog
                        and len(ids) < self.max_tokens
                        and _SENTENCE_END.search("".join(pieces[max(0, len(old) - 1):])) is not None
                        and not cut_at_stop(new_text, self.stop)[1]
                    )
                    if on_sentence_stop:  # stopped at a '.' that ends no sentence: go on
                        prefix[key], found[key] = ids, found.get(key, 0) + len(ends)
                        continue
                    # ended (EOS, user stop, length) before sentence N: a regular sample, no hot token
                    text, _ = cut_at_stop(joined_text(engine, ids, eog), self.stop)
                    final[key] = Completion(
                        text=text, token_ids=tuple(ids), finish_reason=c.finish_reason,
                        prompt_tokens=len(prompts[key[0]]), completion_tokens=len(ids),
                        meta={**c.meta, "hot_position": None, "sentences": found.get(key, 0) + len(ends)},
                    )
            rnd += 1
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
        conts = self._continue(engine, groups, eog)
        used: dict[tuple[tuple[int, ...], int], int] = {}
        for key, ctx in zip(live, ctxs):
            d = hot[key]
            k = used.get((ctx, d.token), 0)
            used[(ctx, d.token)] = k + 1
            final[key] = self._join(engine, len(prompts[key[0]]), prefix[key], d, conts[(ctx, d.token)][k], eog)
        return [[final[(i, j)] for j in range(n)] for i in range(len(prompts))]

    def _sample_step(self, engine: Engine, prompts: list[list[int]], n: int, seeds: list[int | None],
                     eog: frozenset[int]) -> list[list[Completion]]:
        stops = tuple(self.stop) + ("\n",)
        gen: dict[tuple[int, int], list[int]] = {(i, j): [] for i in range(len(prompts)) for j in range(n)}
        hots: dict[tuple[int, int], list[tuple[int, HotDraw]]] = {key: [] for key in gen}
        finish: dict[tuple[int, int], str] = {}
        # step 0: one shared top-k request per prompt, n draws (as plain FIRE)
        tops = self._top(engine, [tuple(p) for p in prompts], seeds)
        draws = {(i, j): d for i, (top, seed) in enumerate(zip(tops, seeds))
                 for j, d in enumerate(self._draw_hot(top, n, seed_rng(seed, "fire-hot")))}
        step = 0
        while draws:
            members: OrderedDict[tuple[tuple[int, ...], int], list[tuple[int, int]]] = OrderedDict()
            for key, d in draws.items():
                ctx = tuple(prompts[key[0]]) + tuple(gen[key])
                hots[key].append((len(gen[key]), d))
                members.setdefault((ctx, d.token), []).append(key)
            # a hot token that ends its line (a line break) is followed by the next line's hot token
            breaks = {t for _, t in members if t not in eog and "\n" in engine.detokenize([t])}
            groups = [HotGroup(ctx, t, len(keys), derive_seed(seeds[keys[0][0]], step, keys[0][1], t), len(ctx) - len(prompts[keys[0][0]]))
                      for (ctx, t), keys in members.items() if t not in breaks]
            conts = self._continue(engine, groups, eog, stops)
            next_live: list[tuple[int, int]] = []
            for (ctx, t), keys in members.items():
                if t in breaks:
                    for key in keys:
                        gen[key].append(t)
                        if len(gen[key]) < self.max_tokens:
                            next_live.append(key)
                        else:
                            finish[key] = "length"
                    continue
                for key, c in zip(keys, conts[(ctx, t)]):
                    gen[key].append(t)
                    if c is None:  # the hot token ended the text, or the budget is spent
                        finish[key] = "stop" if t in eog else "length"
                        continue
                    gen[key] += list(c.token_ids)
                    new = c.token_ids
                    at_line_end = (c.finish_reason == "stop" and new and new[-1] not in eog
                                   and "\n" in joined_text(engine, new, eog)
                                   and not cut_at_stop(joined_text(engine, new, eog), self.stop)[1]
                                   and len(gen[key]) < self.max_tokens)
                    if at_line_end:
                        next_live.append(key)
                    else:
                        finish[key] = c.finish_reason
            step += 1
            if not next_live:
                break
            ctxs = [tuple(prompts[i]) + tuple(gen[(i, j)]) for i, j in next_live]
            tops = self._top(engine, ctxs, [derive_seed(seeds[i], 98, step, j) for i, j in next_live])
            draws = {key: self._draw_hot(top, 1, seed_rng(seeds[key[0]], "fire-step", step, key[1]))[0]
                     for key, top in zip(next_live, tops)}
        out = []
        for i in range(len(prompts)):
            row = []
            for j in range(n):
                key = (i, j)
                ids = tuple(gen[key])
                text, stopped = cut_at_stop(joined_text(engine, ids, eog), self.stop)
                first_pos, first = hots[key][0]
                row.append(Completion(
                    text=text, token_ids=ids, finish_reason="stop" if stopped else finish.get(key, "length"),
                    prompt_tokens=len(prompts[i]), completion_tokens=len(ids),
                    meta={"first_token": "" if ids[0] in eog else engine.detokenize(ids[:1]),
                          "hot_token": "" if first.token in eog else engine.detokenize([first.token]),
                          "hot_token_id": int(first.token), "hot_position": first_pos, "hot_char": 0,
                          "hot_logprob": float(first.logprob), "hot_prob": float(first.prob),
                          "hot_positions": [p for p, _ in hots[key]],
                          "hot_token_ids": [int(d.token) for _, d in hots[key]]},
                ))
            out.append(row)
        return out
