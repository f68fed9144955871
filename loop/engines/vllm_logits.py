"""A vLLM (V1) logits processor that scales one request's logits by a constant.

vLLM refuses temperatures above 2. A request that needs temperature ``T > 2`` carries
``SamplingParams(temperature=2, extra_args={"fireassay_logit_scale": 2 / T})``: this processor
multiplies that request's logits by ``2 / T`` before vLLM applies its temperature, so vLLM's
sampling sees ``logits / T``. It runs before temperature, min-p, top-k and top-p (it declares
itself not argmax-invariant, the group vLLM applies first), so every filter acts on the
distribution at temperature ``T``, exactly as the Engine contract orders them. Raw
log-probabilities (``logprobs_mode="raw_logprobs"``) are taken before any processor and stay
the model's own.

vLLM imports this module inside its worker process by its qualified name
(``loop.engines.vllm_logits:LogitScaleProcessor``); only the ``vllm`` engine loads it.
"""
from __future__ import annotations

from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

SCALE_KEY = "fireassay_logit_scale"


def _scale_of(params: Any, _prompt: Any = None, _output: Any = None) -> float | None:
    extra = getattr(params, "extra_args", None) or {}
    value = extra.get(SCALE_KEY)
    if value is None or float(value) == 1.0:
        return None
    return float(value)


class LogitScaleProcessor(LogitsProcessor):
    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.device = device
        self.scales: dict[int, float] = {}  # batch row -> factor
        self._rows = torch.empty(0, dtype=torch.long)
        self._factors = torch.empty(0, dtype=torch.float32)

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        value = (getattr(sampling_params, "extra_args", None) or {}).get(SCALE_KEY)
        if value is not None and not (isinstance(value, (int, float)) and 0 < float(value) < float("inf")):
            raise ValueError(f"{SCALE_KEY} must be a finite number > 0, got {value!r}")

    def is_argmax_invariant(self) -> bool:
        # Scaling never changes the argmax, but saying False puts it in the group vLLM applies
        # before temperature and the top-k/top-p/min-p filters, which is where it must act.
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if process_dict_updates(self.scales, batch_update, _scale_of):
            rows = sorted(self.scales)
            self._rows = torch.tensor(rows, dtype=torch.long, device=self.device)
            self._factors = torch.tensor([self.scales[r] for r in rows], dtype=torch.float32,
                                         device=self.device).unsqueeze(1)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.scales:
            return logits
        logits[self._rows] = logits[self._rows] * self._factors.to(logits.dtype)
        return logits
