"""Chi-square goodness of fit with small expected bins pooled (test helper)."""
from __future__ import annotations

import numpy as np
from scipy.stats import chisquare


def chisq_pvalue(counts: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> float:
    counts = np.asarray(counts, dtype=float)
    probs = np.asarray(probs, dtype=float) / np.sum(probs)
    total = counts.sum()
    exp = probs * total
    keep = exp >= min_expected
    obs_k, exp_k = list(counts[keep]), list(exp[keep])
    if (~keep).any():
        obs_k.append(counts[~keep].sum())
        exp_k.append(exp[~keep].sum())
    return float(chisquare(np.array(obs_k), np.array(exp_k)).pvalue)
