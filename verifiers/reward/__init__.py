"""Gold-free scorers that rank candidates: outcome reward models (``reward_model``), process
reward models (``process_reward``), a generative judge (``llm_judge``) and sampling-time
confidence (``confidence``). All are selectors (``uses_reference=False``, ``subset_rule="argmax"``):
score = the scorer's value, selection = the highest score; ``Verdict.details["weight"]`` holds the
same value so the report (and ``weighted_majority``) can reuse it.
"""
from __future__ import annotations

from .confidence import Confidence
from .judge import LLMJudge, NextTokenScorer, yes_probability
from .outcome import RewardModel, RewardModelConfig
from .process import ProcessReward, ProcessRewardConfig, aggregate_steps, split_steps

__all__ = [
    "Confidence",
    "LLMJudge",
    "NextTokenScorer",
    "ProcessReward",
    "ProcessRewardConfig",
    "RewardModel",
    "RewardModelConfig",
    "aggregate_steps",
    "split_steps",
    "yes_probability",
]
