"""The embedded ``llamacpp`` engine with the real SmolLM2-135M-Instruct GGUF."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from loop.engines import (
    ContextTooLongError,
    GenerationRequest,
    ModelNotFoundError,
    SamplingParams,
    create_engine,
)
from loop.engines.llamacpp import LlamaCppEngine, default_model_path
from loop.engines.sampling_math import log_softmax

pytestmark = pytest.mark.engine

MESSAGES = ({"role": "user", "content": "Name three colors."},)


@pytest.fixture(scope="module")
def engine():
    eng = create_engine("llamacpp")
    yield eng
    eng.close()


def raw_logits(engine: LlamaCppEngine, ids: list[int]) -> np.ndarray:
    """Logits after ``ids`` from llama-cpp-python's own context (independent of our decoding)."""
    llm = engine._llm
    llm.reset()
    llm.eval(ids)
    ptr = engine._lc.llama_get_logits_ith(llm._ctx.ctx, -1)
    arr = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(engine.n_vocab,))
    return arr.astype(np.float64).copy()


def test_default_model_is_the_packaged_smollm2():
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model file not found: .*nope.gguf; pass --model"):
        LlamaCppEngine(model=tmp_path / "nope.gguf")


def test_chat_template_from_gguf(engine):
    ids = engine.chat_token_ids(MESSAGES)
    text = engine._llm.detokenize(ids, special=True).decode()
    assert "<|im_start|>user\nName three colors.<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_generate_shapes_seeds_and_finish(engine):
    req = GenerationRequest(messages=MESSAGES, n=3, max_tokens=12, seed=7, sampling=SamplingParams(temperature=1.0))
    a, b = engine.generate([req, req])
    assert len(a) == 3 and [c.token_ids for c in a] == [c.token_ids for c in b]  # same seed, same samples
    assert len({c.token_ids for c in a}) > 1  # sample index changes the stream
    for c in a:
        assert c.prompt_tokens == len(engine.chat_token_ids(MESSAGES))
        assert c.completion_tokens == len(c.token_ids) <= 12
        assert c.finish_reason in ("stop", "length")
        assert c.text == engine.detokenize(c.token_ids)
    other = engine.generate([GenerationRequest(messages=MESSAGES, n=3, max_tokens=12, seed=8)])[0]
    assert [c.token_ids for c in other] != [c.token_ids for c in a]


def test_greedy_stop_and_length(engine):
    greedy = GenerationRequest(messages=MESSAGES, n=2, max_tokens=40, sampling=SamplingParams(temperature=0))
    c1, c2 = engine.generate([greedy])[0]
    assert c1.token_ids == c2.token_ids
    short = engine.generate([GenerationRequest(messages=MESSAGES, max_tokens=3, sampling=SamplingParams(temperature=0))])[0][0]
    assert short.finish_reason == "length" and short.token_ids == c1.token_ids[:3]
    # a stop string cuts the text where it begins and ends the sample
    word = c1.text.split()[1]
    stopped = engine.generate([GenerationRequest(messages=MESSAGES, max_tokens=40, stop=(word,),
                                                 sampling=SamplingParams(temperature=0))])[0][0]
    assert stopped.finish_reason == "stop" and word not in stopped.text and c1.text.startswith(stopped.text)


def test_first_token_logprobs_are_the_raw_models(engine):
    ids = engine.chat_token_ids(MESSAGES)
    ref = log_softmax(raw_logits(engine, ids))
    for temp in (0.3, 2.0):
        c = engine.generate([GenerationRequest(prompt_token_ids=ids, max_tokens=1, top_logprobs_first=16, seed=1,
                                               sampling=SamplingParams(temperature=temp, top_k=5))])[0][0]
        top = c.first_token_top_logprobs
        assert top is not None and len(top) == 16
        assert [t for t, _, _ in top] == list(np.argsort(-ref)[:16])
        np.testing.assert_allclose([lp for _, _, lp in top], np.sort(ref)[::-1][:16], atol=2e-3)
        assert all(text == engine.token_text(t) for t, text, _ in top)


def test_token_logprobs_of_greedy_are_the_top1(engine):
    c = engine.generate([GenerationRequest(messages=MESSAGES, max_tokens=8, logprobs=2,
                                           sampling=SamplingParams(temperature=0))])[0][0]
    assert len(c.token_logprobs) == len(c.token_top_logprobs) == len(c.token_ids)
    for tok, lp, top in zip(c.token_ids, c.token_logprobs, c.token_top_logprobs):
        assert top[0][0] == tok and top[0][1] == pytest.approx(lp) and len(top) == 2 and top[0][1] >= top[1][1]


def test_context_too_long_is_one_clear_error(engine):
    ids = engine.tokenize("hello " * 9000)
    with pytest.raises(ContextTooLongError, match="prompt is \\d+ tokens; the model's context is 8192"):
        engine.generate([GenerationRequest(prompt_token_ids=ids, max_tokens=4)])


def test_many_requests_batch_and_match_one_at_a_time(engine):
    prompts = [({"role": "user", "content": f"Count to {k}."},) for k in range(3, 8)]
    reqs = [GenerationRequest(messages=m, n=4, max_tokens=10, seed=3) for m in prompts]
    together = engine.generate(reqs)
    assert [len(r) for r in together] == [4] * 5
    alone = engine.generate(reqs[2:3])[0]
    # a sample's random stream depends on (seed, sample index), not on its batch slot: the
    # first tokens (drawn from the prompt's logits) agree exactly; later tokens may differ,
    # since batched matmuls of different batch shapes round differently
    assert [a.token_ids[0] for a in together[2]] == [b.token_ids[0] for b in alone]
    assert len({c.token_ids for r in together for c in r}) > 15


def test_a_unit_evaluates_each_prompt_once_and_starts_clean(engine):
    """FIRE's hot-token request and its continuations are one unit (``Sampler.sample``): each
    prompt is evaluated once for both calls; the next unit starts from an empty cache, so it
    evaluates its prompts again and draws what it drew the first time, whatever ran between."""
    from loop.samplers import parse_sampler

    prompts = [MESSAGES, ({"role": "user", "content": "Name two animals."},)]
    before = engine.prompt_eval_tokens
    parse_sampler("regular", max_tokens=4).sample(engine, prompts, n=2, seeds=1)  # one call
    once = engine.prompt_eval_tokens - before  # the second prompt shares the chat template's head
    assert 0 < once <= sum(len(engine.chat_token_ids(m)) for m in prompts)
    fire = parse_sampler("fire", max_tokens=10, temperature=0.7)
    before = engine.prompt_eval_tokens
    first = fire.sample(engine, prompts, n=6, seeds=[5, 6])
    assert engine.prompt_eval_tokens - before == once
    fire.sample(engine, [({"role": "user", "content": "Say hi."},)], n=5, seeds=1)  # other cells in between
    before = engine.prompt_eval_tokens
    again = fire.sample(engine, prompts, n=6, seeds=[5, 6])
    assert engine.prompt_eval_tokens - before == once
    assert [[c.token_ids for c in row] for row in again] == [[c.token_ids for c in row] for row in first]
