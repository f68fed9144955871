"""``openai``: any OpenAI-compatible completions server (``vllm serve``, SGLang, llama.cpp).

Prompts go as token ids (``"prompt": [ids]`` on ``/v1/completions``) so that continuing a
sequence never re-tokenizes it; the chat template and tokenizer are the server's, through the
vLLM-style ``POST /tokenize`` (``{"messages": ..., "add_generation_prompt": true}`` or
``{"prompt": text}``) and ``POST /detokenize`` endpoints. Token ids of the output come from
``logprobs`` with ``return_tokens_as_token_ids`` (a vLLM extension our test server speaks too).

Requests of one ``generate`` call run concurrently (``max_concurrency``). Connection errors,
timeouts, 429 and 5xx are retried with exponential backoff (tenacity); other 4xx are not.
Log-probabilities are whatever the server returns: vLLM returns the raw model's by default
(``--logprobs-mode raw_logprobs``), which FIRE needs.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .base import (
    Completion,
    ContextTooLongError,
    Engine,
    EngineError,
    EngineUnreachableError,
    GenerationRequest,
    Message,
)

_CONTEXT_HINTS = ("context length", "context window", "maximum context", "too long", "max_model_len", "exceeds")


class _Retryable(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


def _error_message(resp: requests.Response) -> str:
    try:
        data = resp.json()
        err = data.get("error", data) if isinstance(data, dict) else data
        msg = err.get("message") if isinstance(err, dict) else None
        return str(msg or data)
    except ValueError:
        return resp.text[:500]


def _token_id(tok: str) -> int | None:
    if tok.startswith("token_id:"):
        try:
            return int(tok[len("token_id:"):])
        except ValueError:
            return None
    return None


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
        max_retries: int = 6,
        retry_wait: float = 1.0,
        max_concurrency: int = 16,
        stop_token_ids: Sequence[int] | None = None,
    ) -> None:
        url = base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1"
        self.base_url = url.rstrip("/")
        self.root_url = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        self.timeout = timeout
        self.max_retries = max(1, max_retries)
        self.retry_wait = retry_wait
        self.max_concurrency = max(1, max_concurrency)
        key = api_key or os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._pieces: dict[int, str] = {}
        self._eog: frozenset[int] | None = None if stop_token_ids is None else frozenset(stop_token_ids)
        self.model_name = model or self._first_model()

    # -- HTTP -------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = self._local.session = requests.Session()
            self._sessions.append(sess)
        return sess

    def _call(self, method: str, url: str, payload: dict[str, Any] | None = None) -> Any:
        def once() -> Any:
            resp = self._session().request(method, url, json=payload, timeout=self.timeout, headers=self._headers)
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Retryable(resp.status_code, _error_message(resp))
            if resp.status_code >= 400:
                msg = _error_message(resp)
                if resp.status_code in (400, 413) and any(h in msg.lower() for h in _CONTEXT_HINTS):
                    raise ContextTooLongError(f"the prompt does not fit the model's context ({self.base_url}): {msg}")
                raise EngineError(f"the server at {url} rejected the request (HTTP {resp.status_code}): {msg}")
            return resp.json()

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries),
            wait=wait_exponential(multiplier=self.retry_wait, max=30),
            retry=retry_if_exception_type((requests.ConnectionError, requests.Timeout, _Retryable)),
            reraise=False,
        )
        try:
            return retrying(once)
        except RetryError as e:
            last = e.last_attempt.exception()
            if isinstance(last, _Retryable):
                raise EngineError(
                    f"the server at {url} kept failing (HTTP {last.status}) after {self.max_retries} tries: {last.body[:300]}"
                ) from None
            raise EngineUnreachableError(
                f"cannot reach an OpenAI-compatible server at {self.base_url} after {self.max_retries} tries "
                f"({type(last).__name__}); start it or pass the right --base-url"
            ) from None

    def _first_model(self) -> str:
        data = self._call("GET", f"{self.base_url}/models")
        models = [m.get("id") for m in data.get("data", []) if m.get("id")]
        if not models:
            raise EngineError(f"the server at {self.base_url} lists no models; pass --model")
        return str(models[0])

    # -- tokens -----------------------------------------------------------------------------
    def chat_token_ids(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        data = self._call("POST", f"{self.root_url}/tokenize", {
            "model": self.model_name, "messages": [dict(m) for m in messages],
            "add_generation_prompt": add_generation_prompt,
        })
        return [int(t) for t in data["tokens"]]

    def tokenize(self, text: str) -> list[int]:
        data = self._call("POST", f"{self.root_url}/tokenize",
                          {"model": self.model_name, "prompt": text, "add_special_tokens": False})
        return [int(t) for t in data["tokens"]]

    def detokenize(self, token_ids: Sequence[int]) -> str:
        ids = [int(t) for t in token_ids]
        if len(ids) == 1 and ids[0] in self._pieces:
            return self._pieces[ids[0]]
        data = self._call("POST", f"{self.root_url}/detokenize", {"model": self.model_name, "tokens": ids})
        text = str(data.get("prompt", data.get("text", "")))
        if len(ids) == 1:
            self._pieces[ids[0]] = text
        return text

    def stop_token_ids(self) -> frozenset[int]:
        """``stop_token_ids=`` if given, else what the server's ``GET /stop_token_ids`` says
        (our test server's extension), else none known."""
        if self._eog is None:
            try:
                data = self._call("GET", f"{self.root_url}/stop_token_ids")
                self._eog = frozenset(int(t) for t in data.get("stop_token_ids", []))
            except EngineError:
                self._eog = frozenset()
        return self._eog

    # -- generation -------------------------------------------------------------------------
    def _payload(self, req: GenerationRequest, prompt: list[int]) -> dict[str, Any]:
        sp = req.sampling
        body: dict[str, Any] = {
            "model": self.model_name,
            "prompt": prompt,
            "n": req.n,
            "max_tokens": req.max_tokens,
            "temperature": sp.temperature,
            "top_p": sp.top_p,
            "logprobs": max(1, req.top_logprobs_first, req.logprobs),
            "return_tokens_as_token_ids": True,
        }
        if sp.top_k > 0:
            body["top_k"] = sp.top_k
        if sp.min_p > 0:
            body["min_p"] = sp.min_p
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None:
            body["seed"] = req.seed
        return body

    def _one(self, req: GenerationRequest) -> list[Completion]:
        prompt = self.prompt_token_ids(req)
        data = self._call("POST", f"{self.base_url}/completions", self._payload(req, prompt))
        choices = sorted(data.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != req.n:
            raise EngineError(f"the server returned {len(choices)} choices for n={req.n}")
        return [self._completion(req, prompt, c) for c in choices]

    def _completion(self, req: GenerationRequest, prompt: list[int], choice: dict[str, Any]) -> Completion:
        text = choice.get("text", "")
        lp = choice.get("logprobs") or {}
        toks = lp.get("tokens") or []
        ids = [_token_id(t) for t in toks]
        if toks and all(i is not None for i in ids):
            token_ids = tuple(int(i) for i in ids)  # type: ignore[arg-type]
        else:
            token_ids = tuple(self.tokenize(text))
        tops = lp.get("top_logprobs") or []

        def parse_top(d: dict[str, float] | None) -> list[tuple[int, float]]:
            out = []
            for k, v in (d or {}).items():
                tid = _token_id(k)
                if tid is None:
                    got = self.tokenize(k)
                    if len(got) != 1:
                        continue
                    tid = got[0]
                out.append((tid, float(v)))
            return sorted(out, key=lambda e: -e[1])

        first_top = None
        if req.top_logprobs_first and tops:
            first_top = tuple((t, self.detokenize([t]), v) for t, v in parse_top(tops[0])[: req.top_logprobs_first])
        token_lps = token_top = None
        if req.logprobs:
            token_lps = tuple(float(x) if x is not None else float("nan") for x in lp.get("token_logprobs") or [])
            token_top = tuple(tuple(parse_top(d)[: req.logprobs]) for d in tops)
        finish = choice.get("finish_reason") or "length"
        return Completion(
            text=text,
            token_ids=token_ids,
            finish_reason="stop" if finish == "stop" else "length",
            prompt_tokens=len(prompt),
            completion_tokens=len(token_ids),
            first_token_top_logprobs=first_top,
            token_logprobs=token_lps,
            token_top_logprobs=token_top,
            meta={"engine": self.name, "model": self.model_name},
        )

    def generate(self, requests_: Sequence[GenerationRequest]) -> list[list[Completion]]:
        reqs = list(requests_)
        if len(reqs) <= 1:
            return [self._one(r) for r in reqs]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(reqs))) as pool:
            return list(pool.map(self._one, reqs))

    def close(self) -> None:
        for sess in self._sessions:
            sess.close()
        self._sessions = []
