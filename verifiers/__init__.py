"""Checking one problem's candidates: oracles (judge against gold) and selectors (gold-free).

NOTE: the PyPI package ``verifiers`` (an RL-environments library) has the same import name.
Install fireassay in its own virtual environment; ``fireassay doctor`` detects the clash.
"""
from .base import Verifier
from .registry import VERIFIERS, create_verifier
from .types import Candidate, Problem, Verdict

FIREASSAY_MARKER = True  # lets `fireassay doctor` tell our package from the PyPI `verifiers`

__all__ = ["Candidate", "Problem", "Verdict", "Verifier", "VERIFIERS", "create_verifier"]
