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
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .metrics import Interval, bootstrap_weights

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


# --------------------------------------------------------------------------- beyond n

FORECAST_FACTORS = (10, 100)  # coverage is predicted at 10 n and 100 n
FAR = 10.0  # a k90/k99 forecast more than this many times n is flagged


@dataclass(frozen=True)
class Forecast:
    """The fitted power law past the data: predicted coverage at ``factor x n`` and on a k grid
    from n to 100 n, each with a percentile interval from refitting on problem-bootstrap
    resamples of the coverage curve (the point value is the fit on all problems)."""

    n: int
    ks: tuple[float, ...]  # log-spaced from n to max(FORECAST_FACTORS) x n
    curve: tuple[Interval, ...]  # per k of ``ks``
    at: dict[int, Interval]  # factor (10, 100) -> predicted coverage at factor x n
    resamples: int  # bootstrap refits that gave a fit (degenerate resamples are left out)
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "at": {f"{f}n": {"k": f * self.n, **iv.to_dict()} for f, iv in self.at.items()},
            "curve": {"k": list(self.ks), "mean": [iv.mean for iv in self.curve],
                      "lo": [iv.lo for iv in self.curve], "hi": [iv.hi for iv in self.curve]},
            "resamples": self.resamples,
            "warnings": list(self.warnings),
        }


def far_warnings(fit: PowerLawFit, n: int, far: float = FAR) -> list[str]:
    """A line for each of k90/k99 that the fit puts more than ``far`` x n away."""
    out = []
    for label, k in (("k90", fit.k90), ("k99", fit.k99)):
        if k is not None and k > far * n:
            out.append(f"{label} = {k:,.0f} lies {k / n:,.0f}x beyond n = {n}: the fit is extrapolated far "
                       "past the data; treat it as a guess, not a measurement")
    return out


def forecast_coverage(fit: PowerLawFit, ks: Any, per_problem: Any, n: int, resamples: int = 200,
                      seed: int | Sequence[int] = 0, confidence: float = 0.95,
                      factors: Sequence[int] = FORECAST_FACTORS, points: int = 24) -> Forecast | None:
    """Coverage past n under the power law (``fit``, fitted to the mean of ``per_problem``
    (problems, len(ks)) at ``ks``), with the fit's uncertainty: ``resamples`` problem-bootstrap
    resamples, each refitted. None when there is no fit."""
    if fit.a is None or fit.b is None:
        return None
    pp = np.asarray(per_problem, dtype=np.float64)
    kk = np.asarray(ks, dtype=np.float64)
    grid = np.geomspace(n, max(factors) * n, points)
    targets = np.asarray([f * n for f in factors], dtype=np.float64)
    boot_curves, boot_at = [], []
    if resamples > 0 and pp.shape[0] > 0:
        w = bootstrap_weights(pp.shape[0], resamples, seed)
        for row in w @ pp / pp.shape[0]:
            f = fit_power_law(kk, row)
            if f.a is None:
                continue
            boot_curves.append(f.predict(grid))
            boot_at.append(f.predict(targets))
    point_curve, point_at = fit.predict(grid), fit.predict(targets)
    alpha = (1.0 - confidence) / 2.0

    def intervals(point: np.ndarray, boot: list[np.ndarray]) -> list[Interval]:
        if len(boot) < 2:
            return [Interval(float(m), float(m), float(m)) for m in point]
        lo, hi = np.quantile(np.vstack(boot), [alpha, 1.0 - alpha], axis=0)
        return [Interval(float(m), float(min(a, m)), float(max(b, m))) for m, a, b in zip(point, lo, hi)]

    return Forecast(
        n=int(n), ks=tuple(float(k) for k in grid), curve=tuple(intervals(point_curve, boot_curves)),
        at=dict(zip((int(f) for f in factors), intervals(point_at, boot_at))), resamples=len(boot_at),
        warnings=tuple(far_warnings(fit, int(n))),
    )
