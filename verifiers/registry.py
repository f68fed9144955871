"""The verifier registry: built-ins by name, third parties through ``fireassay.verifiers``."""
from __future__ import annotations

import inspect
from typing import Any

from sandbox.registry import Registry

from .base import Verifier

VERIFIERS: Registry[type[Verifier]] = Registry(
    "verifier",
    "fireassay.verifiers",
    {
        # oracles
        "gsm8k": "verifiers.gsm8k:GSM8KOracle",
        "math": "verifiers.math_oracle:MathOracle",
        "swe": "verifiers.swe.verifier:SWEOracle",
        "swe_feedback": "verifiers.swe.verifier:SWEFeedback",
        "evalplus": "verifiers.code.evalplus:EvalPlusOracle",
        "public_tests": "verifiers.code.public_tests:PublicTests",
        # selectors
        "majority": "verifiers.selectors:MajorityVote",
        "best_of_n": "verifiers.selectors:BestOfN",
        "weighted_majority": "verifiers.selectors:WeightedMajority",
        "reward_model": "verifiers.reward.outcome:RewardModel",
        "process_reward": "verifiers.reward.process:ProcessReward",
        "llm_judge": "verifiers.reward.judge:LLMJudge",
        "confidence": "verifiers.reward.confidence:Confidence",
    },
)


def create_verifier(name: str, **options: Any) -> Verifier:
    """Build verifier ``name``, passing only the options its constructor accepts.

    Tasks offer options such as ``answer_format``; a third-party verifier that takes none
    still builds.
    """
    factory = VERIFIERS.get(name)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    return factory(**options)
