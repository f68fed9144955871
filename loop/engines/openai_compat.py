"""``openai``: any OpenAI-compatible completions server (``vllm serve``, SGLang, llama.cpp).

Prompts go as token ids (``"prompt": [ids]`` on ``/v1/completions``) so that continuing a
sequence never re-tokenizes it; the chat template and tokenizer are the server's, through the
vLLM-style ``POST /tokenize`` (``{"messages": ..., "add_generation_prompt": true}`` or
``{"prompt": text}``) and ``POST /detokenize`` endpoints. Token ids of the output come from
``logprobs`` with ``return_tokens_as_token_ids`` (a vLLM extension our test server speaks too).

Requests of one ``generate`` call run concurrently (``max_concurrency``). Connection errors,
timeouts, 429 and 5xx are retried with exponential backoff (tenacity); other 4xx are not.
Log-probabilities are whatever the server returns: vLLM returns the raw model's by default
(``--logprobs-mode raw_logprobs``), which FIRE needs. Fewer top log-probabilities than asked, or
a top entry that names no single token id, is an error (a candidate set must never shrink
silently).

Every sampling field is sent explicitly (``temperature``, ``top_p``, ``top_k`` (-1 = off),
``min_p``, ``repetition_penalty`` 1, ``frequency_penalty`` / ``presence_penalty`` 0): vLLM fills
a missing field from the model's ``generation_config.json``, which would silently change
"regular" sampling. Greedy requests (temperature 0) go with ``n=1``, the answer repeated ``n``
times (greedy samples are identical; ``n>1`` greedy is wasted work or refused by servers).

End-of-sequence ids (FIRE and cot-decoding must not continue past one) come from, in order:
the ``stop_token_ids=`` option; else the union of what the server exposes: vLLM's
``GET /tokenizer_info`` (``vllm serve --enable-tokenizer-info-endpoint``: the tokenizer's
``eos_token``, turned into its id with ``POST /tokenize``) and, when the served model's
``root`` (``GET /v1/models``) is a folder on this machine, its ``generation_config.json`` /
``config.json`` ``eos_token_id`` (what vLLM itself stops on). When none of these answers,
``stop_token_ids()`` raises an :class:`EngineError` naming the fix, and a FIRE run is refused
before any work.
"""
from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
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


MAX_CONFIG_BYTES = 1 << 20  # a model folder's JSON config read for eos ids; larger is ignored


def _ids_of(value: Any) -> set[int]:
    """``eos_token_id`` as a config file gives it (an int or a list of ints); anything else: none."""
    items = value if isinstance(value, list) else [value]
    return {int(v) for v in items if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 31}


def _stop_ids_option(value: Any) -> frozenset[int] | None:
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    ids = _ids_of(list(items))
    if not ids or len(ids) != len(list(items)):
        raise EngineError(f"stop_token_ids must be a token id or a list of token ids (ints >= 0), got {value!r}")
    return frozenset(ids)


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
        stop_token_ids: int | Sequence[int] | None = None,
    ) -> None:
        """``stop_token_ids``: the model's end-of-sequence ids, where the server cannot tell them
        (see the module docstring)."""
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
        self._eog: frozenset[int] | None = _stop_ids_option(stop_token_ids)
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
        """``stop_token_ids=`` if given, else what the server exposes (module docstring); an
        :class:`EngineError` naming the fix when nothing does."""
        if self._eog is None:
            found, tried = self._served_stop_ids()
            if not found:
                raise EngineError(
                    f"cannot tell which tokens end a generation for model {self.model_name!r} at {self.base_url} "
                    f"({'; '.join(tried)}); FIRE and cot-decoding need them: pass the engine option "
                    "stop_token_ids=ID (or [ID,...]), or start vllm serve with --enable-tokenizer-info-endpoint"
                )
            self._eog = found
        return self._eog

    def _served_stop_ids(self) -> tuple[frozenset[int], list[str]]:
        ids: set[int] = set()
        tried: list[str] = []
        try:
            info = self._call("GET", f"{self.root_url}/tokenizer_info")
            eos = info.get("eos_token") if isinstance(info, dict) else None
            if isinstance(eos, dict):
                eos = eos.get("content")
            if isinstance(eos, str) and eos:
                got = self.tokenize(eos)
                if len(got) == 1:
                    ids.add(got[0])
                else:
                    tried.append(f"/tokenizer_info's eos_token {eos[:40]!r} is {len(got)} tokens, not one")
            else:
                tried.append("/tokenizer_info names no eos_token")
        except EngineError as e:
            tried.append(f"no /tokenizer_info ({str(e)[:120]})")
        folder = self._model_root()
        if folder is None:
            tried.append("the served model's root is not a folder here")
        else:
            for name in ("generation_config.json", "config.json"):
                path = folder / name
                try:
                    if path.is_file() and path.stat().st_size <= MAX_CONFIG_BYTES:
                        data = json.loads(path.read_text(encoding="utf-8"))
                        if isinstance(data, dict):
                            ids |= _ids_of(data.get("eos_token_id"))
                except (OSError, ValueError):
                    continue
            if not ids:
                tried.append(f"no eos_token_id in {folder}")
        return frozenset(ids), tried

    def _model_root(self) -> Path | None:
        """The served model's ``root`` (vLLM: the path it loaded) when it is a folder here."""
        try:
            data = self._call("GET", f"{self.base_url}/models")
        except EngineError:
            return None
        for m in data.get("data", []) if isinstance(data, dict) else []:
            if isinstance(m, dict) and m.get("id") == self.model_name and isinstance(m.get("root"), str):
                try:
                    path = Path(m["root"]).expanduser()
                    return path if path.is_dir() else None
                except (OSError, ValueError):
                    return None
        return None

    # -- generation -------------------------------------------------------------------------
    def _payload(self, req: GenerationRequest, prompt: list[int]) -> dict[str, Any]:
        sp = req.sampling
        body: dict[str, Any] = {
            "model": self.model_name,
            "prompt": prompt,
            "n": 1 if sp.greedy else req.n,
            "max_tokens": req.max_tokens,
            # every sampling field, explicitly: a missing one is filled from the model's
            # generation_config by vLLM, which would silently change "regular" sampling
            "temperature": sp.temperature,
            "top_p": sp.top_p,
            "top_k": sp.top_k if sp.top_k > 0 else -1,
            "min_p": sp.min_p,
            "repetition_penalty": 1.0,
            "frequency_penalty": 0.0,
            "presence_penalty": 0.0,
            "logprobs": max(1, req.top_logprobs_first, req.logprobs),
            "return_tokens_as_token_ids": True,
        }
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None:
            body["seed"] = req.seed
        return body

    def _one(self, req: GenerationRequest) -> list[Completion]:
        prompt = self.prompt_token_ids(req)
        body = self._payload(req, prompt)
        data = self._call("POST", f"{self.base_url}/completions", body)
        choices = sorted(data.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != body["n"]:
            raise EngineError(f"the server returned {len(choices)} choices for n={body['n']}")
        out = [self._completion(req, prompt, c) for c in choices]
        return out * req.n if body["n"] != req.n else out  # greedy: one answer, n copies

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

        def parse_top(d: dict[str, float] | None, want: int, where: str) -> list[tuple[int, float]]:
            out = []
            for k, v in (d or {}).items():
                tid = _token_id(k)
                if tid is None:
                    got = self.tokenize(k)
                    if len(got) != 1:
                        raise EngineError(
                            f"the server at {self.base_url} returned a top log-probability for {k[:40]!r}, which "
                            f"is {len(got)} tokens, not one token id; it must return token ids "
                            "(vLLM's return_tokens_as_token_ids)")
                    tid = got[0]
                out.append((tid, float(v)))
            if len({t for t, _ in out}) < len(out):
                raise EngineError(f"the server at {self.base_url} returned the same token twice among the top "
                                  f"log-probabilities {where}; it must return token ids (return_tokens_as_token_ids)")
            if len(out) < want:
                raise EngineError(
                    f"the server at {self.base_url} returned {len(out)} top log-probabilities {where}, asked for "
                    f"{want}; raise its limit (vllm serve --max-logprobs) or ask for fewer")
            return sorted(out, key=lambda e: -e[1])[:want]

        first_top = None
        if req.top_logprobs_first:
            if not tops:
                raise EngineError(f"the server at {self.base_url} returned no top log-probabilities for the first "
                                  f"token (asked for {req.top_logprobs_first})")
            first_top = tuple((t, self.detokenize([t]), v)
                              for t, v in parse_top(tops[0], req.top_logprobs_first, "for the first token"))
        token_lps = token_top = None
        if req.logprobs:
            token_lps = tuple(float(x) if x is not None else float("nan") for x in lp.get("token_logprobs") or [])
            token_top = tuple(tuple(parse_top(d, req.logprobs, f"at token {i}")) for i, d in enumerate(tops))
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
