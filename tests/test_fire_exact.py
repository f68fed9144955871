"""FIRE is exact, with the real SmolLM2-135M-Instruct: first tokens drawn by the samplers
follow the distributions they claim (chi-square), continuations start with their first token,
and FIRE's first tokens are more diverse than regular sampling's on GSM8K prompts."""
from __future__ import annotations

import ctypes
import json
from collections import Counter

import numpy as np
import pytest

from loop.engines import SamplingParams, create_engine
from loop.engines.sampling_math import log_softmax, sampling_distribution
from loop.samplers import parse_sampler
from tests.chisq import chisq_pvalue

pytestmark = pytest.mark.engine

PROMPT = ({"role": "user", "content": "Write one sentence about the sea."},)
DRAWS = 3000


@pytest.fixture(scope="module")
def engine():
    eng = create_engine("llamacpp")
    yield eng
    eng.close()


def independent_logprobs(engine, ids: list[int]) -> np.ndarray:
    """Raw log-probabilities from llama-cpp-python's own context, not our engine's decoding."""
    llm = engine._llm
    llm.reset()
    llm.eval(ids)
    ptr = engine._lc.llama_get_logits_ith(llm._ctx.ctx, -1)
    logits = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(engine.n_vocab,))
    return log_softmax(logits.astype(np.float64))


def first_tokens(rows) -> list[int]:
    return [c.token_ids[0] for c in rows]


def test_fire_first_token_is_temperature_30_top_16(engine):
    ids = engine.chat_token_ids(PROMPT)
    lp = independent_logprobs(engine, ids)
    top16 = np.argsort(-lp)[:16]
    expected = np.exp(lp[top16] / 30.0)
    expected /= expected.sum()
    fire = parse_sampler("fire", temperature=0.7, max_tokens=1)
    rows = fire.sample_one(engine, PROMPT, n=DRAWS, seed=2024)
    counts = Counter(first_tokens(rows))
    assert set(counts) <= set(top16.tolist()), "a FIRE first token outside the top 16"
    obs = np.array([counts.get(int(t), 0) for t in top16])
    p = chisq_pvalue(obs, expected)
    print(f"\nFIRE T=30 k=16: {DRAWS} draws over {len(counts)} tokens, chi-square p = {p:.4f}")
    assert p > 0.01
    # the temperature matters: the same counts reject plain T=1 over the top 16
    t1 = np.exp(lp[top16]) / np.exp(lp[top16]).sum()
    assert chisq_pvalue(obs, t1) < 1e-6


def test_regular_first_token_follows_its_own_temperature(engine):
    ids = engine.chat_token_ids(PROMPT)
    lp = independent_logprobs(engine, ids)
    params = SamplingParams(temperature=1.3, top_p=0.95)
    support, probs = sampling_distribution(lp, params)
    regular = parse_sampler("regular", temperature=1.3, top_p=0.95, max_tokens=1)
    rows = regular.sample_one(engine, PROMPT, n=DRAWS, seed=99)
    counts = Counter(first_tokens(rows))
    outside = sum(v for t, v in counts.items() if t not in set(support.tolist()))
    assert outside <= 2  # float32-vs-float64 edge of the nucleus at most
    obs = np.array([counts.get(int(t), 0) for t in support])
    p = chisq_pvalue(obs, probs)
    print(f"\nregular T=1.3 top_p=0.95: {DRAWS} draws over {len(counts)} tokens, chi-square p = {p:.4f}")
    assert p > 0.01


def test_every_continuation_starts_with_its_first_token(engine):
    fire = parse_sampler("fire", temperature=0.7, top_p=0.95, max_tokens=10)
    rows = fire.sample_one(engine, PROMPT, n=16, seed=5)
    assert len(rows) == 16
    for c in rows:
        assert c.token_ids[0] == c.meta["hot_token_id"] and c.meta["hot_position"] == 0
        assert c.meta["first_token"] == engine.detokenize(c.token_ids[:1])
        assert c.text.startswith(c.meta["first_token"])
        assert c.text == engine.detokenize(c.token_ids)
        assert c.completion_tokens == len(c.token_ids) <= 10
        assert c.meta["sampler"]["name"] == "fire" and c.meta["tokens"] == c.completion_tokens
    assert len({c.meta["hot_token_id"] for c in rows}) >= 6
    again = fire.sample_one(engine, PROMPT, n=16, seed=5)
    assert [c.token_ids for c in again] == [c.token_ids for c in rows]


def test_fire_sentence_variant_puts_the_hot_token_after_sentence_1(engine):
    # SmolLM2 often answers a short question in one sentence and stops: ask for several
    msgs = ({"role": "user", "content": "Write a paragraph of four sentences about the sun."},)
    rows = parse_sampler("fire@sentence:1", temperature=0.7, max_tokens=60).sample_one(engine, msgs, n=8, seed=1)
    hot = [c for c in rows if c.meta["hot_position"] is not None]
    assert len(hot) >= 1
    for c in hot:
        pos = c.meta["hot_position"]
        head = engine.detokenize(c.token_ids[:pos])
        assert head.rstrip().endswith(".") and c.token_ids[pos] == c.meta["hot_token_id"]
        assert c.text.startswith(head)


def test_cot_decoding_branches_on_the_top_first_tokens(engine):
    msgs = ({"role": "user", "content": "What is 7 + 5? Answer with a number."},)
    rows = parse_sampler("cot-decoding", max_tokens=12).sample_one(engine, msgs, n=5, seed=0)
    firsts = [c.token_ids[0] for c in rows]
    ids = engine.chat_token_ids(msgs)
    assert firsts == list(np.argsort(-independent_logprobs(engine, ids))[:5])
    assert all(0.0 <= c.meta["confidence"] <= 1.0 for c in rows)
    assert any(c.meta["confidence_span"] == "answer" for c in rows)


def test_fire_gives_more_distinct_first_tokens_on_gsm8k(engine, shared_data):
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:6]
    prompts = [({"role": "user", "content": "Solve step by step.\n\n" + json.loads(x)["question"]},) for x in lines]
    knobs = dict(temperature=0.7, top_p=0.95, max_tokens=1)
    fire = parse_sampler("fire", **knobs).sample(engine, prompts, n=16, seeds=0)
    reg = parse_sampler("regular", **knobs).sample(engine, prompts, n=16, seeds=0)
    d_fire = [len(set(first_tokens(r))) for r in fire]
    d_reg = [len(set(first_tokens(r))) for r in reg]
    print(f"\ndistinct first tokens per prompt (n=16): fire {d_fire} regular {d_reg}")
    assert sum(d_fire) > sum(d_reg)
