"""Exact token sampling from logits or log-probabilities, in numpy (no engine needed).

Order (vLLM V1's, ``vllm/v1/sample/sampler.py`` ``Sampler.sample``: temperature, then the
argmax-invariant logits processors, min-p among them, then ``apply_top_k_top_p``): divide by
temperature, then min-p (tokens with at least min_p times the top probability), then keep the
top-k, then top-p over what is left, renormalised (the smallest set of most likely tokens whose
probability reaches p), renormalise, draw. Temperature 0 is greedy (argmax). min-p and top-k
commute (both keep a most-likely prefix); top-p does not: min-p first removes the tail that
top-p would otherwise count, so the nucleus can be smaller than with top-p first.
"""
from __future__ import annotations

import numpy as np

from .base import SamplingParams

NUCLEUS_FLOOR = 1e-6  # top-p sorts only the tokens this likely, when they hold top_p of the mass


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def sampling_distribution(logits: np.ndarray, params: SamplingParams) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, probabilities) of the distribution ``params`` draws from (sorted by
    descending probability unless the set is large and top-p is off). ``logits`` may be raw
    logits or raw log-probabilities: the softmax is the same."""
    z = np.asarray(logits, dtype=np.float64)
    if params.greedy:
        i = int(np.argmax(z))
        return np.array([i]), np.array([1.0])
    z = z / params.temperature
    if params.min_p > 0.0:
        # p_i >= min_p * p_max  <=>  z_i >= z_max + log(min_p): no softmax of the whole vocabulary
        floor = z.max() + np.log(params.min_p)
        base: np.ndarray | None = np.flatnonzero(z >= floor)
        z = z[base]
    else:
        base = None
    k = params.top_k
    if 0 < k < z.size:
        ids: np.ndarray | None = np.argpartition(-z, k - 1)[:k]
        zs = z[ids]
    else:
        ids, zs = None, z
    p = np.exp(zs - zs.max())
    p /= p.sum()
    if params.top_p < 1.0:
        # the nucleus is a prefix of the tokens sorted by probability. Every token at or above
        # NUCLEUS_FLOOR comes before every token below it, so when those tokens already hold
        # top_p of the mass the nucleus lies among them: sort only them (the same set; one
        # comparison pass instead of a partition of the whole vocabulary), else sort all
        cand = np.flatnonzero(p >= NUCLEUS_FLOOR)
        if p[cand].sum() < params.top_p:
            cand = np.arange(p.size)
        sel = cand[np.argsort(-p[cand], kind="stable")]
        ps = p[sel]
        before = np.cumsum(ps) - ps  # mass strictly before each token
        keep = before < params.top_p
        sel, ps = sel[keep], ps[keep]
    elif p.size <= 4096:
        sel = np.argsort(-p, kind="stable")
        ps = p[sel]
    else:
        sel, ps = np.arange(p.size), p
    out_ids = sel if ids is None else ids[sel]
    if base is not None:
        out_ids = base[out_ids]
    return out_ids, ps / ps.sum()


def draw(ids: np.ndarray, probs: np.ndarray, rng: np.random.Generator) -> int:
    """One draw by inverse CDF (exact up to float rounding)."""
    if ids.size == 1:
        return int(ids[0])
    c = np.cumsum(probs)
    j = int(np.searchsorted(c, rng.random() * c[-1], side="right"))
    return int(ids[min(j, ids.size - 1)])


def sample_token(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    if params.greedy:
        return int(np.argmax(logits))
    ids, p = sampling_distribution(logits, params)
    return draw(ids, p, rng)


def top_logprobs(logprobs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k most likely (token id, logprob) pairs, descending."""
    lp = np.asarray(logprobs)
    k = min(k, lp.size)
    ids = np.argpartition(-lp, k - 1)[:k]
    ids = ids[np.argsort(-lp[ids], kind="stable")]
    return [(int(i), float(lp[i])) for i in ids]


def seed_rng(*parts: int | str | None) -> np.random.Generator:
    """A generator that depends only on ``parts`` (stable across runs and machines); a fresh
    unseeded one when any part is None (no seed given)."""
    if any(part is None for part in parts):
        return np.random.default_rng()
    words: list[int] = []
    for part in parts:
        if isinstance(part, str):
            words.extend(part.encode())
        else:
            words.append(int(part) & 0xFFFFFFFFFFFFFFFF)
    return np.random.default_rng(np.random.SeedSequence(words))
