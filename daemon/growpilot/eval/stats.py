"""Bootstrap confidence intervals for the evaluations' figures. Pure (numpy only)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

RESAMPLES = 2000


def bootstrap_mean(values: Sequence[float], level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean of `values`, resampling tasks with replacement."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(x), (RESAMPLES, len(x)))
    return _interval(x[idx].mean(axis=1), level)


def bootstrap_ratio(num: Sequence[float], den: Sequence[float], level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of mean(num) / mean(den) over paired tasks (the same resample for both)."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if len(a) == 0:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(a), (RESAMPLES, len(a)))
    return _interval(a[idx].mean(axis=1) / b[idx].mean(axis=1), level)


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)
