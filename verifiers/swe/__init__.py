"""SWE-style judging: a repository at a commit, a model-written patch, tests that must pass.

Pure parts (instance model, diffs, log parsing, the resolution rule) import nothing heavy;
the Docker side lives in :mod:`verifiers.swe.images` and :mod:`verifiers.swe.judge`.
"""
from .instance import InstanceError, SWEInstance

__all__ = ["SWEInstance", "InstanceError"]
