"""Paired comparisons of two runs over the problems they share (FIRE vs regular, 1 vs 2 turns).

The difference of a per-problem metric (coverage@k, selection@k) is taken problem by problem,
then averaged; its interval is a percentile bootstrap over the shared problems in which both
runs see the SAME resampled problems (the bootstrap runs over the per-problem differences).
Problem difficulty, which both runs share, cancels: the interval is that of the difference,
much narrower than two independent intervals would suggest.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .metrics import Interval, bootstrap_intervals, bootstrap_weights


def shared_problems(ids_a: Sequence[str], ids_b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into run a and run b of the problems both have, in run a's order."""
    pos_b = {pid: j for j, pid in enumerate(ids_b)}
    pairs = [(i, pos_b[pid]) for i, pid in enumerate(ids_a) if pid in pos_b]
    ia = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
    ib = np.fromiter((j for _, j in pairs), dtype=np.int64, count=len(pairs))
    return ia, ib


def paired_difference(a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int | Sequence[int] = 0,
                      confidence: float = 0.95) -> list[Interval]:
    """Mean of ``b - a`` over problems (rows, aligned) per column, with a paired bootstrap interval."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"paired_difference needs two aligned (problems, K) arrays, got {a.shape} and {b.shape}")
    weights = bootstrap_weights(a.shape[0], resamples, seed)
    return bootstrap_intervals(b - a, weights, confidence)


def excludes_zero(iv: Interval) -> bool:
    """The interval lies wholly above or below 0 (the difference is not explained by the draw)."""
    return iv.lo > 0.0 or iv.hi < 0.0
