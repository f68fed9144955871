"""A small, real OpenAI-compatible HTTP server over the ``llamacpp`` engine, for tests.

It speaks the subset the ``openai`` engine uses, vLLM-style: ``GET /v1/models`` (with the
model folder as ``root`` when ``model_root`` is given, as vLLM names the path it loaded),
``POST /v1/completions`` (token-id or text prompt, n, temperature, top_p, top_k, min_p, seed,
stop, max_tokens, logprobs, return_tokens_as_token_ids; repetition/frequency/presence
penalties only at their neutral values, others refused), ``POST /tokenize`` (prompt or chat
messages) and ``POST /detokenize``; it has no ``/tokenizer_info`` (vLLM's is off by default).
A real model answers. Test plumbing: ``fail_next`` (HTTP statuses to answer with before
serving normally), ``bodies`` (the completion requests received), and two behaviours of other
real servers: ``max_logprobs`` (fewer top log-probabilities than asked, silently) and
``token_ids=False`` (``return_tokens_as_token_ids`` ignored: tokens named by their text).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from loop.engines.base import ContextTooLongError, GenerationRequest, SamplingParams
from loop.engines.llamacpp import LlamaCppEngine


class LlamaCppOpenAIServer:
    def __init__(self, engine: LlamaCppEngine, host: str = "127.0.0.1", port: int = 0,
                 model_root: Path | None = None) -> None:
        self.engine = engine
        self.model_root = model_root
        self.lock = threading.Lock()
        self.fail_next: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        self.max_logprobs: int | None = None
        self.token_ids = True
        self.requests_seen = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                server.requests_seen += 1
                if server.fail_next:
                    status = server.fail_next.pop(0)
                    self._send(status, {"error": {"message": f"injected failure {status}"}})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                try:
                    with server.lock:
                        status, out = server.handle(method, self.path, body)
                except ContextTooLongError as e:
                    status, out = 400, {"error": {"message": f"This model's maximum context length is exceeded: {e}"}}
                except (ValueError, TypeError, KeyError) as e:
                    status, out = 400, {"error": {"message": f"bad request: {e}"}}
                self._send(status, out)

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LlamaCppOpenAIServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        e = self.engine
        if method == "GET" and path == "/v1/models":
            model: dict[str, Any] = {"id": "smollm2", "object": "model"}
            if self.model_root is not None:
                model["root"] = str(self.model_root)
            return 200, {"object": "list", "data": [model]}
        if method == "POST" and path == "/tokenize":
            if "messages" in body:
                toks = e.chat_token_ids(body["messages"], body.get("add_generation_prompt", True))
            else:
                toks = e.tokenize(body["prompt"])
            return 200, {"tokens": toks, "count": len(toks)}
        if method == "POST" and path == "/detokenize":
            return 200, {"prompt": e.detokenize(body["tokens"])}
        if method == "POST" and path == "/v1/completions":
            return 200, self.completions(body)
        return 404, {"error": {"message": f"no route {method} {path}"}}

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        e = self.engine
        self.bodies.append(body)
        for key, neutral in (("repetition_penalty", 1.0), ("frequency_penalty", 0.0), ("presence_penalty", 0.0)):
            if float(body.get(key, neutral)) != neutral:
                raise ValueError(f"{key}={body[key]} is not supported here")
        prompt = body["prompt"]
        ids = [int(t) for t in prompt] if isinstance(prompt, list) else e.tokenize(prompt)
        k = int(body.get("logprobs") or 0)
        stop = body.get("stop") or ()
        req = GenerationRequest(
            prompt_token_ids=tuple(ids), n=int(body.get("n", 1)), max_tokens=int(body.get("max_tokens", 16)),
            sampling=SamplingParams(
                temperature=float(body.get("temperature", 1.0)), top_p=float(body.get("top_p", 1.0)),
                top_k=int(body.get("top_k", 0)), min_p=float(body.get("min_p", 0.0)),
            ),
            stop=(stop,) if isinstance(stop, str) else tuple(stop), seed=body.get("seed"),
            top_logprobs_first=k, logprobs=k,
        )
        as_ids = bool(body.get("return_tokens_as_token_ids")) and self.token_ids
        shown = k if self.max_logprobs is None else min(k, self.max_logprobs)

        def name(t: int) -> str:
            return f"token_id:{t}" if as_ids else e.token_text(t)

        choices = []
        for i, c in enumerate(e.generate([req])[0]):
            lp = None
            if k:
                lp = {
                    "tokens": [name(t) for t in c.token_ids],
                    "token_logprobs": list(c.token_logprobs or ()),
                    "top_logprobs": [{name(t): v for t, v in row[:shown]} for row in (c.token_top_logprobs or ())],
                }
            choices.append({"index": i, "text": c.text, "finish_reason": c.finish_reason, "logprobs": lp})
        n_out = sum(len(c["logprobs"]["tokens"]) if c["logprobs"] else 0 for c in choices)
        return {
            "object": "text_completion", "model": "smollm2", "choices": choices,
            "usage": {"prompt_tokens": len(ids), "completion_tokens": n_out},
        }
