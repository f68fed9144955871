"""Analysing runs: numbers only (numpy/scipy; no plotting, no terminal output).

- ``metrics``: the input arrays (:class:`RunData`), unbiased pass@k, coverage, #EA, unjudged
  counts, the problem-level bootstrap, compute-matched coverage.
- ``selection_at_k``: selection accuracy@k of a gold-free selector over random k-subsets.
- ``powerlaw``: the fit ``c(k) ≈ exp(a·k^b)`` of coverage, its k forecasts, and coverage past
  n (10 n, 100 n) with a problem-bootstrap interval (``forecast_coverage``).
- ``paired``: two runs over their shared problems: differences with a paired bootstrap.
- ``vote_shares``: why vote selectors fall short of coverage (the correct answer's vote share).
- ``load``: a run store -> :class:`RunData`.

``loop.report`` presents these numbers; ``loop.view`` reads them too.
"""
from __future__ import annotations

from .load import (
    add_judging_meta,
    fire_extra_request,
    fire_hot_meta,
    fire_step_requests,
    load_run_data,
    per_turn_rates,
    vote_transform,
)
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
from .paired import excludes_zero, paired_difference, shared_problems
from .powerlaw import (
    FORECAST_FACTORS,
    Forecast,
    PowerLawFit,
    far_warnings,
    fit_power_law,
    forecast_coverage,
    forecast_k,
)
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
    "FORECAST_FACTORS",
    "Forecast",
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
    "excludes_zero",
    "far_warnings",
    "add_judging_meta",
    "fire_extra_request",
    "fire_hot_meta",
    "fire_step_requests",
    "fit_grid",
    "fit_power_law",
    "forecast_coverage",
    "forecast_k",
    "k_grid",
    "load_run_data",
    "log_comb_ratio",
    "missed_given_covered",
    "paired_difference",
    "pass_at_k",
    "per_turn_rates",
    "selection_per_problem",
    "shared_problems",
    "stable_seed",
    "unjudged_counts",
    "vote_share_studies",
    "vote_share_study",
    "vote_transform",
]
