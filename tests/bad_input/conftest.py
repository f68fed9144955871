"""Hypothesis settings for the property tests: reproducible in CI, wider on demand.

``ci`` (the default) draws the same 30 examples per test every run and writes no example
database; ``FIREASSAY_HYPOTHESIS=explore`` draws 500 fresh ones (for a fuzzing session). Each
example has a time bound (``deadline``): a hang is a failure, not a slow run.
"""
from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

_COMMON = dict(database=None, deadline=timedelta(seconds=60),
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=30, **_COMMON)
settings.register_profile("explore", derandomize=False, max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("FIREASSAY_HYPOTHESIS", "ci"))
