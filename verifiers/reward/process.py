"""``process_reward``: a process reward model (PRM) scores every reasoning step; the steps'
scores are aggregated into the candidate's score.

The Qwen-PRM convention (Qwen2.5-Math-PRM, arXiv 2501.07301): the response is split into steps,
each step is followed by a step tag (``<extra_0>``) in the assistant message; the model emits
per-token logits over 2 labels and a step's score is ``softmax(logits)[1]`` at its tag token.
Response-level score: the lowest step score (``min``, the paper's Best-of-N aggregation);
``last`` (the final step's) and ``product`` (all steps' product) are the alternatives.

Steps are split on blank lines (``split="blank"``, the default) or on a marker string
(``split="marker"``, ``marker="Step "``: a new step starts at each occurrence).

Backend: transformers (``AutoModelForTokenClassification``; with ``trust_remote_code=True``
``AutoModel``, as Qwen2.5-Math-PRM needs). A model with one label uses ``sigmoid(logit)``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Sequence

from ..base import SubsetRule, Verifier
from ..selectors import selection_verdicts
from ..types import Candidate, Problem, Verdict
from .backends import (
    BackendConfig,
    RewardBackendError,
    format_conversation,
    import_torch_transformers,
    load_tokenizer,
    resolve_device,
    resolve_dtype,
)
from .outcome import config_from_options

AGGREGATES = ("min", "last", "product")
SPLITS = ("blank", "marker")


@dataclass(frozen=True)
class ProcessRewardConfig:
    model: str = ""
    step_tag: str = "<extra_0>"
    split: str = "blank"
    marker: str = ""
    aggregate: str = "min"
    positive_label: int = 1
    batch_size: int = 4
    max_length: int | None = None
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    allow_download: bool = False

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("process_reward needs model=PATH (a local token-classification PRM folder)")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate {self.aggregate!r} is unknown; use one of {', '.join(AGGREGATES)}")
        if self.split not in SPLITS:
            raise ValueError(f"split {self.split!r} is unknown; use one of {', '.join(SPLITS)}")
        if self.split == "marker" and not self.marker:
            raise ValueError("split=marker needs marker=TEXT (the string that starts each step)")
        if not self.step_tag:
            raise ValueError("step_tag must be a token of the PRM's vocabulary (Qwen-PRM: <extra_0>)")


def split_steps(text: str, split: str = "blank", marker: str = "") -> list[str]:
    """The response's steps, stripped, empty ones dropped (at least one: the whole text)."""
    if split == "marker":
        parts, cur = [], ""
        pieces = text.split(marker)
        for i, piece in enumerate(pieces):
            chunk = piece if i == 0 else marker + piece
            if i == 0:
                cur = chunk
                continue
            parts.append(cur)
            cur = chunk
        parts.append(cur)
    else:
        parts = re.split(r"\n\s*\n", text)
    steps = [p.strip() for p in parts if p.strip()]
    return steps or [text.strip()]


def aggregate_steps(scores: Sequence[float], how: str) -> float:
    if not scores:
        return math.nan
    if how == "min":
        return float(min(scores))
    if how == "last":
        return float(scores[-1])
    if how == "product":
        return float(math.prod(scores))
    raise ValueError(f"aggregate {how!r} is unknown; use one of {', '.join(AGGREGATES)}")


class ProcessReward(Verifier):
    name: ClassVar[str] = "process_reward"
    uses_reference: ClassVar[bool] = False
    subset_rule: ClassVar[SubsetRule] = "argmax"

    @classmethod
    def option_names(cls) -> frozenset[str]:
        return frozenset({"seed"} | {f.name for f in fields(ProcessRewardConfig)})

    def __init__(self, seed: int = 0, **options: Any) -> None:
        """``options``: the fields of :class:`ProcessRewardConfig` (strings are converted)."""
        self.seed = seed
        self.cfg: ProcessRewardConfig = config_from_options(ProcessRewardConfig, options)
        torch, transformers = import_torch_transformers()
        self.torch = torch
        self.device = resolve_device(torch, self.cfg.device)
        self.tokenizer = load_tokenizer(transformers, BackendConfig(
            model=self.cfg.model, trust_remote_code=self.cfg.trust_remote_code, allow_download=self.cfg.allow_download))
        tag_ids = self.tokenizer.convert_tokens_to_ids([self.cfg.step_tag])
        if not tag_ids or tag_ids[0] is None or tag_ids[0] == self.tokenizer.unk_token_id:
            raise RewardBackendError(f"step_tag {self.cfg.step_tag!r} is not one token of {self.cfg.model!r}'s vocabulary; pass step_tag=TOKEN")
        self.tag_id = int(tag_ids[0])
        auto = transformers.AutoModel if self.cfg.trust_remote_code else transformers.AutoModelForTokenClassification
        try:
            self.model = auto.from_pretrained(
                self.cfg.model, dtype=resolve_dtype(torch, self.cfg.dtype, self.device),
                local_files_only=not self.cfg.allow_download, trust_remote_code=self.cfg.trust_remote_code,
            ).to(self.device).eval()
        except OSError as e:
            raise RewardBackendError(f"could not load PRM {self.cfg.model!r}: {e}") from None

    def conversation(self, problem: Problem, candidate: Candidate) -> list[dict[str, str]]:
        steps = split_steps(candidate.text, self.cfg.split, self.cfg.marker)
        body = "".join(s + self.cfg.step_tag for s in steps)
        return [dict(m) for m in problem.prompt] + [{"role": "assistant", "content": body}]

    def step_scores(self, conversations: Sequence[Sequence[dict[str, str]]]) -> list[list[float]]:
        """Per conversation, the score of each step (at each step-tag token), in input order."""
        enc = [self.tokenizer(format_conversation(self.tokenizer, c), add_special_tokens=False,
                              truncation=self.cfg.max_length is not None, max_length=self.cfg.max_length)["input_ids"]
               for c in conversations]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
        out: list[list[float]] = [[] for _ in enc]
        torch = self.torch
        for start in range(0, len(order), self.cfg.batch_size):
            idx = order[start:start + self.cfg.batch_size]
            batch = self.tokenizer.pad({"input_ids": [enc[i] for i in idx]}, padding=True, return_tensors="pt")
            ids = batch["input_ids"].to(self.device)
            with torch.inference_mode():
                res = self.model(input_ids=ids, attention_mask=batch["attention_mask"].to(self.device))
            logits = (res.logits if hasattr(res, "logits") else res[0]).float()
            if logits.shape[-1] == 1:
                probs = torch.sigmoid(logits[..., 0])
            else:
                probs = torch.softmax(logits, dim=-1)[..., self.cfg.positive_label]
            for row, i in enumerate(idx):
                n = len(enc[i])
                mask = ids[row, :n] == self.tag_id
                out[i] = probs[row, :n][mask].cpu().tolist()
        return out

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        return self.verify_many([(problem, candidates)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]) -> list[list[Verdict]]:
        convs = [self.conversation(p, c) for p, cs in items for c in cs]
        steps = self.step_scores(convs) if convs else []
        out, pos = [], 0
        for problem, cands in items:
            mine = steps[pos:pos + len(cands)]
            pos += len(cands)
            scores = [aggregate_steps(s, self.cfg.aggregate) for s in mine]
            details = [{"weight": sc, "steps": [round(x, 6) for x in s]} for sc, s in zip(scores, mine)]
            out.append(selection_verdicts(self.name, problem, scores, [None] * len(scores), details, self.seed))
        return out

    def close(self) -> None:
        self.model = None
