"""Analysing runs: numbers only (numpy/scipy; no plotting, no terminal output).

- ``metrics``: the input arrays (:class:`RunData`), unbiased pass@k, coverage, #EA, unjudged
  counts, the problem-level bootstrap, compute-matched coverage.
- ``selection_at_k``: selection accuracy@k of a gold-free selector over random k-subsets.
- ``powerlaw``: the fit ``c(k) ≈ exp(a·k^b)`` of coverage and its k forecasts.
- ``vote_shares``: why vote selectors fall short of coverage (the correct answer's vote share).
- ``load``: a run store -> :class:`RunData`.

``loop.report`` presents these numbers; ``loop.view`` reads them too.
"""
from __future__ import annotations

from .load import load_run_data, per_turn_rates
from .metrics import (
    RULES,
    VOTE_RULES,
    Interval,
    MetricsError,
    RunData,
    SelectorData,
    UnjudgedCounts,
    answer_classes,
    bootstrap_intervals,
    bootstrap_weights,
    class_ids,
    compute_matched,
    coverage_per_problem,
    effective_answers,
    effective_answers_at_k,
    fit_grid,
    k_grid,
    log_comb_ratio,
    pass_at_k,
    unjudged_counts,
)
from .powerlaw import PowerLawFit, fit_power_law, forecast_k
from .selection_at_k import SelectionConfig, SelectionResult, selection_per_problem, stable_seed
from .vote_shares import (
    SHARE_BINS,
    STATUSES,
    VoteShares,
    missed_given_covered,
    vote_share_studies,
    vote_share_study,
)

__all__ = [
    "RULES",
    "VOTE_RULES",
    "SHARE_BINS",
    "STATUSES",
    "Interval",
    "MetricsError",
    "PowerLawFit",
    "RunData",
    "SelectionConfig",
    "SelectionResult",
    "SelectorData",
    "UnjudgedCounts",
    "VoteShares",
    "answer_classes",
    "bootstrap_intervals",
    "bootstrap_weights",
    "class_ids",
    "compute_matched",
    "coverage_per_problem",
    "effective_answers",
    "effective_answers_at_k",
    "fit_grid",
    "fit_power_law",
    "forecast_k",
    "k_grid",
    "load_run_data",
    "log_comb_ratio",
    "missed_given_covered",
    "pass_at_k",
    "per_turn_rates",
    "selection_per_problem",
    "stable_seed",
    "unjudged_counts",
    "vote_share_studies",
    "vote_share_study",
]
