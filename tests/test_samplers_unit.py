"""Pure logic of sampling and samplers, with a FAKE engine (a tiny hashed bigram table, not a
model). Real-model tests live in test_engine_llamacpp.py / test_fire_exact.py."""
from __future__ import annotations

import numpy as np
import pytest

from loop.engines.base import Completion, Engine, GenerationRequest, SamplingParams
from loop.engines.sampling_math import log_softmax, sample_token, sampling_distribution, seed_rng
from loop.samplers import parse_sampler
from loop.samplers.cot import answer_confidence, top2_gap
from loop.samplers.fire import FireSampler, hot_distribution, is_sentence_end, sentence_cut
from tests.chisq import chisq_pvalue

VOCAB = ["<eos>", " a", " b", ".", " c", " d", "1", "2", " e", " f", "\n", " g"] + [f" w{i}" for i in range(20)]


class FakeBigramEngine(Engine):
    """FAKE engine for unit tests: logits depend on the last token through a fixed random table."""

    name = "fake"

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.table = rng.normal(0, 2.0, size=(len(VOCAB), len(VOCAB)))
        self.calls: list[list[GenerationRequest]] = []

    def logits(self, ctx: list[int]) -> np.ndarray:
        return self.table[ctx[-1] % len(VOCAB)]

    def generate(self, requests):  # type: ignore[override]
        self.calls.append(list(requests))
        out = []
        for r in requests:
            row = []
            for i in range(r.n):
                rng = seed_rng(r.seed, i)
                ctx = list(r.prompt_token_ids or [1])
                toks: list[int] = []
                first = None
                finish = "length"
                while len(toks) < r.max_tokens:
                    z = self.logits(ctx + toks)
                    if first is None and r.top_logprobs_first:
                        lp = log_softmax(z)
                        ids = np.argsort(-lp)[: r.top_logprobs_first]
                        first = tuple((int(t), VOCAB[t], float(lp[t])) for t in ids)
                    t = sample_token(z, r.sampling, rng)
                    toks.append(t)
                    if t == 0:
                        finish = "stop"
                        break
                    if any(st and st in self.detokenize(toks) for st in r.stop):  # as real engines do
                        finish = "stop"
                        break
                row.append(Completion(text=self.detokenize(toks), token_ids=tuple(toks), finish_reason=finish,
                                      prompt_tokens=len(ctx), completion_tokens=len(toks),
                                      first_token_top_logprobs=first))
            out.append(row)
        return out

    def chat_token_ids(self, messages, add_generation_prompt=True):  # type: ignore[override]
        return [1, 2]

    def tokenize(self, text):  # type: ignore[override]
        return [VOCAB.index(" a")] * len(text.split())

    def detokenize(self, token_ids):  # type: ignore[override]
        return "".join(VOCAB[t] for t in token_ids if t != 0)

    def stop_token_ids(self):  # type: ignore[override]
        return frozenset({0})


def test_sampling_params_validate():
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=1.5)
    with pytest.raises(ValueError, match="top_k"):
        SamplingParams(top_k=-2)
    with pytest.raises(ValueError, match="min_p"):
        SamplingParams(min_p=2)
    with pytest.raises(ValueError, match="exactly one"):
        GenerationRequest()
    assert SamplingParams(temperature=30, top_k=16).top_k_or_none == 16


def test_sampling_distribution_filters_in_vllm_order():
    logits = np.log(np.array([0.5, 0.2, 0.15, 0.1, 0.05]))
    ids, p = sampling_distribution(logits, SamplingParams(temperature=1.0, top_p=0.8))
    assert ids.tolist() == [0, 1, 2]  # 0.5 + 0.2 < 0.8, the third token reaches it
    np.testing.assert_allclose(p, np.array([0.5, 0.2, 0.15]) / 0.85)
    ids, _ = sampling_distribution(logits, SamplingParams(top_k=2))
    assert sorted(ids.tolist()) == [0, 1]
    ids, _ = sampling_distribution(logits, SamplingParams(min_p=0.25))
    assert sorted(ids.tolist()) == [0, 1, 2]  # >= 0.125
    ids, p = sampling_distribution(logits, SamplingParams(temperature=2.0, top_k=3))
    q = np.exp(logits[:3] / 2.0)
    np.testing.assert_allclose(p, q / q.sum())


def test_min_p_filters_before_top_p_as_vllm_v1_does():
    # vLLM V1 (vllm/v1/sample/sampler.py): temperature, then min-p (an argmax-invariant logits
    # processor), then top-k/top-p. min-p drops the 0.1s (< 0.3 x 0.5); top-p 0.6 over what is
    # left, [0.625, 0.375], keeps the first token alone. top-p first would keep two tokens.
    logits = np.log(np.array([0.5, 0.3, 0.1, 0.1]))
    ids, p = sampling_distribution(logits, SamplingParams(temperature=1.0, min_p=0.3, top_p=0.6))
    assert ids.tolist() == [0] and p.tolist() == [1.0]
    # min-p and top-k commute; the min-p threshold is relative to the top token
    ids, p = sampling_distribution(logits, SamplingParams(temperature=1.0, min_p=0.5, top_k=3))
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(p, [0.5 / 0.8, 0.3 / 0.8])
    # min-p acts on the tempered distribution: at T=2 the 0.1s are sqrt(0.1/0.5) = 0.45 of the top
    ids, _ = sampling_distribution(logits, SamplingParams(temperature=2.0, min_p=0.4))
    assert sorted(ids.tolist()) == [0, 1, 2, 3]


def _nucleus_by_full_sort(logits: np.ndarray, temperature: float, top_p: float) -> tuple[list[int], np.ndarray]:
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(p[order]) - p[order]
    keep = order[before < top_p]
    return keep.tolist(), p[keep] / p[keep].sum()


@pytest.mark.parametrize("scale", [0.3, 3.0, 12.0])  # flat (every token needed) to peaked
def test_top_p_nucleus_equals_a_full_sort_over_a_real_sized_vocabulary(scale):
    rng = np.random.default_rng(5)
    for _ in range(5):
        logits = (rng.standard_normal(49152) * scale).astype(np.float32)
        for temperature, top_p in ((0.7, 0.95), (1.0, 0.5), (1.3, 0.999)):
            ids, p = sampling_distribution(logits, SamplingParams(temperature=temperature, top_p=top_p))
            ref_ids, ref_p = _nucleus_by_full_sort(logits, temperature, top_p)
            assert ids.tolist() == ref_ids
            np.testing.assert_allclose(p, ref_p, rtol=1e-12)


def test_top_p_nucleus_reaching_into_the_unlikely_tail_is_still_exact():
    # 10 tokens hold 0.956, 49142 share 0.044 (each below the floor the fast path sorts): at
    # top_p 0.999 the nucleus needs tail tokens, so every token is sorted
    rng = np.random.default_rng(6)
    tail = rng.uniform(0.99, 1.01, 49142)
    p = np.concatenate([np.full(10, 0.0956), tail / tail.sum() * 0.044])
    logits = np.log(p).astype(np.float32)
    ids, q = sampling_distribution(logits, SamplingParams(temperature=1.0, top_p=0.999))
    ref_ids, ref_q = _nucleus_by_full_sort(logits, 1.0, 0.999)
    assert len(ref_ids) > 10 and ids.tolist() == ref_ids
    np.testing.assert_allclose(q, ref_q, rtol=1e-12)


def test_sample_token_matches_its_distribution():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=500)
    params = SamplingParams(temperature=0.8, top_k=20, top_p=0.95)
    ids, p = sampling_distribution(logits, params)
    g = seed_rng(7)
    draws = [sample_token(logits, params, g) for _ in range(4000)]
    counts = np.array([draws.count(int(i)) for i in ids])
    assert counts.sum() == 4000  # nothing outside the filtered set
    assert chisq_pvalue(counts, p) > 0.001


def test_hot_distribution_is_softmax_over_top_k():
    top = tuple((i, str(i), lp) for i, lp in enumerate([-0.1, -2.0, -3.0, -5.0]))
    ids, p = hot_distribution(top, 30.0, 3)
    q = np.exp(np.array([-0.1, -2.0, -3.0]) / 30.0)
    assert ids.tolist() == [0, 1, 2]
    np.testing.assert_allclose(p, q / q.sum())


def test_sentence_cut():
    pieces = ["Hi", ".", " There", " is", " 3", ".", "5", ".", "\n", "End", ".", " x"]
    assert sentence_cut(pieces, 0, 1) == 2  # after "Hi."
    assert sentence_cut(pieces, 0, 2) == 8  # "3.5" is no sentence end; ".\n" is
    assert sentence_cut(pieces, 2, 1) == 8
    assert sentence_cut(pieces, 0, 4) is None
    assert sentence_cut(["A", ".\n\n", "B"], 0, 1) == 2  # '.' and white space in one token


def test_sentence_ends_skip_list_markers_and_abbreviations():
    text = "Steps:\n1. Add 2 and 3, e.g. with Dr. Smith in the U.S. today. Then stop.\n 2. Go. Done. x"
    ends = [m for m in range(len(text) - 1) if text[m] == "." and text[m + 1].isspace() and is_sentence_end(text, m)]
    assert [text[: e + 1].rsplit(None, 1)[-1] for e in ends] == ["today.", "stop.", "Go.", "Done."]
    pieces = list(text)  # one character per token
    assert sentence_cut(pieces, 0, 1) == text.index("today.") + len("today.")
    assert sentence_cut(pieces, 0, 4) == text.index("Done.") + len("Done.")


def test_answer_confidence_uses_last_number():
    pieces = ["x", " is", " 1", "2", ".", " So", " 4", "2"]
    gaps = [0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.5, 0.7]
    conf, kind, span = answer_confidence(pieces, gaps, r"-?\d[\d,]*(?:\.\d+)?")
    assert kind == "answer" and conf == pytest.approx(0.6) and span == (12, 14)
    conf, kind, _ = answer_confidence(["no", " digits"], [0.2, 0.4], r"\d+")
    assert kind == "all" and conf == pytest.approx(0.3)
    assert top2_gap(((1, -0.1), (2, -3.0))) == pytest.approx(np.exp(-0.1) - np.exp(-3.0))


def test_parse_sampler_round_trip_and_errors():
    s = parse_sampler("fire@sentence:2", temperature=0.7, top_p=0.9, max_tokens=64)
    assert s.label == "fire@sentence:2" and s.sentence == 2 and s.sampling.top_p == 0.9
    assert parse_sampler(**s.spec()) == s
    assert parse_sampler("fire").spec()["hot_temperature"] == 30.0
    with pytest.raises(ValueError, match="unknown parameter"):
        parse_sampler("regular", hot_top_k=3)
    with pytest.raises(KeyError, match="unknown sampler"):
        parse_sampler("nucleus")
    with pytest.raises(ValueError, match="fire@sentence"):
        parse_sampler("fire@token:3")
    with pytest.raises(ValueError):
        parse_sampler("fire", hot_temperature=0)


def test_fire_on_fake_engine_groups_and_starts_with_hot_token():
    eng = FakeBigramEngine()
    s = FireSampler(sampling=SamplingParams(temperature=0.5), max_tokens=6)
    rows = s.sample(eng, [[3, 4], [5]], n=40, seeds=[11, 12])
    assert [len(r) for r in rows] == [40, 40]
    top_call, cont_call = eng.calls
    assert all(r.top_logprobs_first == 16 and r.max_tokens == 1 for r in top_call)
    for prompt, row in zip([[3, 4], [5]], rows):
        hots = [c.token_ids[0] for c in row]
        # one continuation request per distinct non-EOS hot token, n = its count
        conts = [r for r in cont_call if list(r.prompt_token_ids[:-1]) == prompt]
        assert sorted(r.prompt_token_ids[-1] for r in conts) == sorted(set(h for h in hots if h != 0))
        assert all(r.n == hots.count(r.prompt_token_ids[-1]) for r in conts)
        for c in row:
            assert c.meta["hot_token_id"] == c.token_ids[0]
            assert c.text.startswith(c.meta["first_token"])
            assert c.meta["sampler"]["name"] == "fire" and c.meta["tokens"] == c.completion_tokens <= 6
            assert len(c.token_ids) == c.completion_tokens
    again = FireSampler(sampling=SamplingParams(temperature=0.5), max_tokens=6).sample(FakeBigramEngine(), [[3, 4], [5]], 40, [11, 12])
    assert [[c.token_ids for c in r] for r in again] == [[c.token_ids for c in r] for r in rows]


def test_fire_sentence_on_fake_engine():
    eng = FakeBigramEngine()
    s = parse_sampler("fire@sentence:1", temperature=1.0, max_tokens=30)
    row = s.sample_one(eng, [3], n=30, seed=5)
    assert len(row) == 30
    hot = [c for c in row if c.meta["hot_position"] is not None]
    assert hot, "some samples should reach the end of sentence 1"
    for c in hot:
        pos = c.meta["hot_position"]
        assert c.token_ids[pos] == c.meta["hot_token_id"]
        before = eng.detokenize(c.token_ids[:pos])
        assert before.endswith(".") and before.count(".") >= 1


def test_fire_sentence_hot_tokens_follow_real_sentence_ends_on_fake_engine():
    # rounds that stop at a '.' ending no sentence go on; the hot token follows a real end
    eng = FakeBigramEngine()
    s = parse_sampler("fire@sentence:1", temperature=1.0, max_tokens=40)
    row = s.sample_one(eng, [10], n=60, seed=9)
    for c in row:
        pos = c.meta["hot_position"]
        if pos is None:
            assert c.meta["sentences"] == 0
            continue
        before = eng.detokenize(c.token_ids[:pos])
        dot = before.rstrip().rfind(".")
        assert dot >= 0 and is_sentence_end(before + " ", dot), before
    assert any(c.meta["hot_position"] is None for c in row) and any(c.meta["hot_position"] is not None for c in row)


def test_fire_step_puts_a_hot_token_at_the_start_of_every_line():
    eng = FakeBigramEngine()
    s = parse_sampler("fire@step", temperature=1.0, max_tokens=40)
    assert s.label == "fire@step" and parse_sampler(**s.spec()) == s
    rows = s.sample(eng, [[3, 4], [5]], n=12, seeds=[1, 2])
    multi = 0
    for row in rows:
        assert len(row) == 12
        for c in row:
            pos, hot = c.meta["hot_positions"], c.meta["hot_token_ids"]
            assert pos[0] == 0 == c.meta["hot_position"] and hot[0] == c.meta["hot_token_id"] == c.token_ids[0]
            assert [c.token_ids[p] for p in pos] == hot
            for p in pos[1:]:  # every later hot token starts a line
                assert eng.detokenize(c.token_ids[:p]).endswith("\n")
            starts = [k for k in range(1, len(c.token_ids)) if VOCAB[c.token_ids[k - 1]] == "\n"]
            assert starts == pos[1:]  # and every line starts with one
            multi += len(pos) > 1
    assert multi > 0
    with pytest.raises(ValueError, match="do not combine"):
        FireSampler(step=True, sentence=2)
