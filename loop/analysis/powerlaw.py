"""Power-law fit of coverage against k (Large Language Monkeys, arXiv 2407.21787):
``c(k) ≈ exp(a · k^b)``, typically a < 0 and b < 0, so c(1) = exp(a) and c(k) -> 1 as k grows.

Fit: ``log(-log c) = log(-a) + b · log k`` is a straight line; least squares on it gives the
start, then ``scipy.optimize.curve_fit`` refines a and b on the coverage values themselves (the
quantity people read); the refined fit is kept only if it lowers the squared error. Points with
c = 0 or c = 1 carry no information about the line and are left out. R² is computed on the
coverage values of the points used.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

_EDGE = 1e-12  # coverage within this of 0 or 1 is treated as 0 or 1


@dataclass(frozen=True)
class PowerLawFit:
    a: float | None
    b: float | None
    r2: float | None
    k90: float | None  # k forecast for 90% coverage (None: not reachable under the fit)
    k99: float | None
    points: int  # points used

    def predict(self, k: Any) -> np.ndarray:
        if self.a is None or self.b is None:
            raise ValueError("no power-law fit (too few points with 0 < coverage < 1)")
        return np.exp(self.a * np.power(np.asarray(k, dtype=np.float64), self.b))

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "r2": self.r2,
            "k90": self.k90,
            "k99": self.k99,
            "points": self.points,
        }


def forecast_k(a: float, b: float, target: float) -> float | None:
    """k with ``exp(a k^b) = target`` under the fit, at least 1; None where the curve never gets
    there (a >= 0 or b >= 0: coverage does not rise towards 1)."""
    if not (0.0 < target < 1.0) or a >= 0.0 or b >= 0.0:
        return None
    ratio = math.log(target) / a  # > 0
    try:
        k = math.exp(math.log(ratio) / b)
    except OverflowError:
        return None
    if not math.isfinite(k):
        return None
    return max(1.0, k)


def fit_power_law(ks: Any, coverage: Any) -> PowerLawFit:
    """Fit ``coverage ≈ exp(a k^b)``; returns a, b, R² and the k forecast for 90% and 99%."""
    k = np.asarray(ks, dtype=np.float64)
    c = np.asarray(coverage, dtype=np.float64)
    use = (c > _EDGE) & (c < 1.0 - _EDGE) & (k >= 1) & np.isfinite(c)
    k, c = k[use], c[use]
    if np.unique(k).size < 2:
        return PowerLawFit(None, None, None, None, None, int(k.size))
    x, y = np.log(k), np.log(-np.log(c))
    b0, intercept = np.polyfit(x, y, 1)
    a0 = -math.exp(intercept)

    def model(kk: np.ndarray, a: float, b: float) -> np.ndarray:
        return np.exp(a * np.power(kk, b))

    def sse(a: float, b: float) -> float:
        return float(np.sum((model(k, a, b) - c) ** 2))

    a_fit, b_fit = float(a0), float(b0)
    try:
        from scipy.optimize import curve_fit

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (a1, b1), _ = curve_fit(model, k, c, p0=(a0, b0), maxfev=2000)
        if np.isfinite(a1) and np.isfinite(b1) and sse(a1, b1) < sse(a_fit, b_fit):
            a_fit, b_fit = float(a1), float(b1)
    except (RuntimeError, ValueError, FloatingPointError):
        pass  # keep the linearized fit
    sst = float(np.sum((c - c.mean()) ** 2))
    r2 = 1.0 - sse(a_fit, b_fit) / sst if sst > 0 else None
    return PowerLawFit(
        a=a_fit,
        b=b_fit,
        r2=r2,
        k90=forecast_k(a_fit, b_fit, 0.90),
        k99=forecast_k(a_fit, b_fit, 0.99),
        points=int(k.size),
    )
