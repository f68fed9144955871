"""The verifier registry: built-ins by name, third parties through ``fireassay.verifiers``."""
from __future__ import annotations

from typing import Any

from sandbox.registry import Registry

from .base import Verifier
from .options import check_options, constructor_options, lookup

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


def verifier_options(name: str) -> frozenset[str] | None:
    """The options verifier ``name`` takes (None: any); an unknown name raises, naming the
    closest known one."""
    factory = lookup(VERIFIERS, name)
    if isinstance(factory, type) and issubclass(factory, Verifier):
        return factory.option_names()
    return constructor_options(factory)


def create_verifier(name: str, **options: Any) -> Verifier:
    """Build verifier ``name`` with ``options``; an option it does not take is an error
    (:class:`~verifiers.options.UnknownOptionError`) naming the valid ones, raised before
    anything is built."""
    check_options(f"verifier {name!r}", options, verifier_options(name))
    return VERIFIERS.get(name)(**options)
