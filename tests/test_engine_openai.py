"""The ``openai`` engine against a real OpenAI-compatible server on loopback, with the real
SmolLM2 model behind it (tests/llamacpp_openai_server.py)."""
from __future__ import annotations

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
def server(local):
    with LlamaCppOpenAIServer(local) as srv:
        yield srv


@pytest.fixture()
def client(server):
    server.fail_next = []
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
