"""The ``openai`` engine against a real OpenAI-compatible server on loopback, with the real
SmolLM2 model behind it (tests/llamacpp_openai_server.py). ``make test-vllm`` runs the same
engine against a real ``vllm serve`` (tests/test_vllm_server.py)."""
from __future__ import annotations

import json
import socket

import pytest

from loop.engines import (
    ContextTooLongError,
    EngineError,
    EngineUnreachableError,
    GenerationRequest,
    SamplingParams,
    create_engine,
)
from loop.run import RunConfig, RunError, execute_run
from loop.samplers import parse_sampler
from tests.llamacpp_openai_server import LlamaCppOpenAIServer

pytestmark = pytest.mark.engine

MESSAGES = ({"role": "user", "content": "Name three colors."},)


@pytest.fixture(scope="module")
def local():
    eng = create_engine("llamacpp", n_parallel=8)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def model_dir(local, tmp_path_factory):
    """A model folder as vLLM serves it: its generation_config.json names the eos ids."""
    path = tmp_path_factory.mktemp("smollm2-folder")
    (path / "generation_config.json").write_text(json.dumps({"eos_token_id": sorted(local.stop_token_ids())}))
    return path


@pytest.fixture(scope="module")
def server(local, model_dir):
    with LlamaCppOpenAIServer(local, model_root=model_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def bare_server(local):
    """A server that does not tell its end-of-sequence ids (no model folder on this machine)."""
    with LlamaCppOpenAIServer(local) as srv:
        yield srv


@pytest.fixture()
def client(server):
    server.fail_next = []
    server.max_logprobs, server.token_ids = None, True
    eng = create_engine("openai", base_url=server.base_url, retry_wait=0.01, max_retries=4)
    yield eng
    eng.close()


def test_model_and_chat_tokens_come_from_the_server(client, local):
    assert client.model_name == "smollm2"
    assert client.chat_token_ids(MESSAGES) == local.chat_token_ids(MESSAGES)
    assert client.detokenize(client.tokenize("Hello world")) == "Hello world"
    assert client.stop_token_ids() == local.stop_token_ids()


def test_generate_over_http_matches_the_local_engine(client, local):
    greedy = GenerationRequest(messages=MESSAGES, n=2, max_tokens=16, sampling=SamplingParams(temperature=0))
    remote = client.generate([greedy])[0]
    here = local.generate([greedy])[0]
    assert [c.token_ids for c in remote] == [c.token_ids for c in here]
    assert remote[0].text == here[0].text and remote[0].finish_reason == here[0].finish_reason
    sampled = GenerationRequest(messages=MESSAGES, n=4, max_tokens=8, seed=3, top_logprobs_first=5, logprobs=2)
    rows = client.generate([sampled, sampled])
    assert [c.token_ids for c in rows[0]] == [c.token_ids for c in rows[1]]
    c = rows[0][0]
    assert len(c.first_token_top_logprobs) == 5 and len(c.token_logprobs) == len(c.token_ids)
    assert c.text == client.detokenize(c.token_ids)


def test_fire_through_the_openai_engine(client):
    rows = parse_sampler("fire", temperature=0.7, max_tokens=12).sample_one(client, MESSAGES, n=12, seed=1)
    for c in rows:
        assert c.token_ids[0] == c.meta["hot_token_id"] and c.text.startswith(c.meta["first_token"])


def test_retries_on_429_and_5xx(client, server):
    server.fail_next = [503, 429, 500]
    before = server.requests_seen
    out = client.generate([GenerationRequest(prompt_token_ids=(1, 2, 3), max_tokens=2)])
    assert len(out[0]) == 1 and server.requests_seen - before == 4


def test_no_retry_on_4xx(client, server):
    server.fail_next = [404, 404]
    before = server.requests_seen
    with pytest.raises(EngineError, match="rejected the request \\(HTTP 404\\)"):
        client.generate([GenerationRequest(prompt_token_ids=(1, 2, 3), max_tokens=2)])
    assert server.requests_seen - before == 1


def test_gives_up_after_persistent_5xx(client, server):
    server.fail_next = [502] * 4
    with pytest.raises(EngineError, match="kept failing \\(HTTP 502\\) after 4 tries"):
        client.generate([GenerationRequest(prompt_token_ids=(1, 2, 3), max_tokens=2)])


def test_context_too_long_is_one_clear_error(client, local):
    ids = tuple(local.tokenize("hello " * 9000))
    with pytest.raises(ContextTooLongError, match="does not fit the model's context"):
        client.generate([GenerationRequest(prompt_token_ids=ids, max_tokens=2)])


def test_unreachable_server_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineUnreachableError, match=f"cannot reach .*127.0.0.1:{port}/v1 after 2 tries"):
        create_engine("openai", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, retry_wait=0.01)


# -- FIRE against real servers (issue 16 items 5, 6, 7, 9) -----------------------------------
def test_eos_ids_come_from_the_served_model_folder_or_the_option(client, bare_server, local):
    # the model folder vLLM names as `root` in /v1/models holds generation_config.json
    assert client.stop_token_ids() == local.stop_token_ids()
    eng = create_engine("openai", base_url=bare_server.base_url, stop_token_ids=2)
    assert eng.stop_token_ids() == {2}
    eng = create_engine("openai", base_url=bare_server.base_url, stop_token_ids=[0, 2])
    assert eng.stop_token_ids() == {0, 2}
    with pytest.raises(EngineError, match="stop_token_ids must be"):
        create_engine("openai", base_url=bare_server.base_url, stop_token_ids=["eos"])


def test_unknown_eos_ids_refuse_fire_before_any_generation(bare_server):
    eng = create_engine("openai", base_url=bare_server.base_url)
    with pytest.raises(EngineError, match="cannot tell which tokens end a generation.*stop_token_ids=ID"):
        eng.stop_token_ids()
    before = len(bare_server.bodies)
    for name in ("fire", "fire@sentence:1", "cot-decoding"):
        with pytest.raises(EngineError, match="stop_token_ids=ID"):
            parse_sampler(name, max_tokens=8).sample_one(eng, MESSAGES, n=2, seed=1)
    assert len(bare_server.bodies) == before  # not one completion request went out
    # regular sampling needs no eos ids
    assert len(parse_sampler("regular", max_tokens=4).sample_one(eng, MESSAGES, n=2, seed=1)) == 2


def test_fire_run_with_unknown_eos_is_refused_before_anything_is_written(bare_server, shared_data, tmp_path):
    cfg = RunConfig(task="gsm8k", data=str(shared_data / "gsm8k" / "test.jsonl"), limit=1, n=2, max_tokens=8,
                    engine="openai", engine_options={"base_url": bare_server.base_url}, sampler="fire",
                    show_progress=False, report=False)
    before = len(bare_server.bodies)
    with pytest.raises(RunError, match="stop_token_ids=ID"):
        execute_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "run.sqlite").exists() and len(bare_server.bodies) == before


def test_every_sampling_field_is_sent(client, server):
    # vLLM fills a missing field from the model's generation_config: nothing may be left out
    before = len(server.bodies)
    parse_sampler("regular", temperature=0.7, max_tokens=4).sample_one(client, MESSAGES, n=2, seed=1)
    parse_sampler("fire", temperature=0.5, top_k=5, min_p=0.1, max_tokens=4).sample_one(client, MESSAGES, n=3, seed=1)
    bodies = server.bodies[before:]
    assert len(bodies) >= 3
    for body in bodies:
        for key in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "frequency_penalty",
                    "presence_penalty"):
            assert key in body, (key, body)
        assert body["repetition_penalty"] == 1.0 and body["frequency_penalty"] == body["presence_penalty"] == 0.0
    regular = bodies[0]
    assert (regular["temperature"], regular["top_p"], regular["top_k"], regular["min_p"]) == (0.7, 1.0, -1, 0.0)
    hot, conts = bodies[1], bodies[2:]
    assert hot["temperature"] == 0 and hot["logprobs"] == 16
    assert all((c["temperature"], c["top_k"], c["min_p"]) == (0.5, 5, 0.1) for c in conts)


def test_fewer_top_logprobs_than_asked_is_an_error(client, server):
    server.max_logprobs = 8  # a server that silently caps them
    with pytest.raises(EngineError, match="returned 8 top log-probabilities for the first token, asked for 16"):
        parse_sampler("fire", max_tokens=4).sample_one(client, MESSAGES, n=4, seed=1)
    with pytest.raises(EngineError, match="returned 8 top log-probabilities at token 0, asked for 10"):
        client.generate([GenerationRequest(messages=MESSAGES, max_tokens=2, logprobs=10)])


def test_greedy_continuations_are_asked_once(client, server):
    before = len(server.bodies)
    rows = parse_sampler("fire", temperature=0.0, max_tokens=10).sample_one(client, MESSAGES, n=24, seed=5)
    bodies = server.bodies[before:]
    assert all(b["n"] == 1 for b in bodies if b["temperature"] == 0), [b["n"] for b in bodies]
    by_hot: dict[int, set[tuple[int, ...]]] = {}
    for c in rows:
        by_hot.setdefault(c.token_ids[0], set()).add(c.token_ids)
    assert any(sum(1 for c in rows if c.token_ids[0] == t) > 1 for t in by_hot)  # repeated hot tokens
    assert all(len(v) == 1 for v in by_hot.values())  # greedy: one continuation per hot token
    # a greedy regular request with n > 1 too
    before = len(server.bodies)
    [row] = client.generate([GenerationRequest(messages=MESSAGES, n=3, max_tokens=6, sampling=SamplingParams(temperature=0))])
    assert len(row) == 3 and len({c.token_ids for c in row}) == 1
    assert [b["n"] for b in server.bodies[before:]] == [1]


def test_a_character_split_between_hot_token_and_continuation_decodes_whole(client, local):
    # SmolLM2 writes Japanese in byte tokens: 7 of this prompt's top 16 first tokens are a
    # character's leading bytes, whose continuation starts with the rest of that character
    msgs = ({"role": "user", "content": "Write the word 'thank you' in Japanese characters only."},)
    rows = parse_sampler("fire", temperature=0.7, max_tokens=8).sample_one(client, msgs, n=32, seed=4)
    split = [c for c in rows if "\ufffd" in local.token_text(c.meta["hot_token_id"]) and len(c.token_ids) > 1]
    assert split, "no hot token was a partial character"
    for c in rows:
        assert c.text == local.detokenize(c.token_ids)  # the ids decoded as one sequence
    assert any("\ufffd" not in c.text[:1] for c in split)  # a whole character where pieces give two halves


def test_fire_step_puts_a_hot_token_at_every_line_start(client, local):
    msgs = ({"role": "user", "content": "List three steps to make tea, one short line each."},)
    rows = parse_sampler("fire@step", temperature=0.7, max_tokens=48).sample_one(client, msgs, n=4, seed=6)
    assert any(len(c.meta["hot_positions"]) > 1 for c in rows)
    for c in rows:
        pos = c.meta["hot_positions"]
        assert pos[0] == 0 and [c.token_ids[p] for p in pos] == c.meta["hot_token_ids"]
        # the first token after each token holding a line break ("\n", ".\n", "\n   ")
        line_starts = [p for p in range(1, len(c.token_ids)) if "\n" in local.token_text(c.token_ids[p - 1])]
        assert pos[1:] == line_starts, (pos, line_starts, c.text)
        assert c.text == local.detokenize(c.token_ids)
