"""Paired comparison statistics: bootstrap confidence intervals over seeds and evaluation tasks.

All methods of one seed share the seed, the training tasks of every iteration and the evaluation set, so
the per-task outcomes of two methods are *paired*: ``values[s, t]`` is method A's outcome (success 0/1 or
score) on evaluation task ``t`` after training with seed ``s``, and B's array has the same layout.

The confidence interval is a two-stage (hierarchical) percentile bootstrap: each replicate draws ``S``
seeds with replacement and, inside every drawn seed, ``T`` evaluation tasks with replacement, and takes the
mean of the drawn cells. For a paired difference the cells are ``a[s, t] - b[s, t]``, so what varies
between seeds and between tasks is resampled together and shared noise cancels. Pure functions of numpy
arrays; the random draws come from ``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: verdict of a paired difference a − b: the CI lies above 0, below 0, or contains it
VERDICTS = ("supported", "contradicted", "undecided")
DEFAULT_BOOTSTRAP = 10_000
_CHUNK = 500  # replicates drawn at once (memory: CHUNK x S x T indices)


def _as_grid(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-d array (seeds x evaluation tasks), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def bootstrap_means(values, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``(n_boot,)`` two-stage bootstrap replicates of the mean of ``values`` (shape ``(S, T)``)."""
    grid = _as_grid(values, "values")
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    s, t = grid.shape
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        b = min(_CHUNK, n_boot - start)
        seeds = rng.integers(s, size=(b, s))
        tasks = rng.integers(t, size=(b, s, t))
        out[start:start + b] = grid[seeds[:, :, None], tasks].mean(axis=(1, 2))
    return out


@dataclass(frozen=True)
class Interval:
    """A mean and its percentile bootstrap interval ``[lo, hi]`` at ``level``."""

    mean: float
    lo: float
    hi: float
    level: float

    @property
    def ci(self) -> list[float]:
        return [self.lo, self.hi]


def mean_ci(values, level: float = 0.95, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Interval:
    """Mean of ``values`` (``(S, T)``) with its two-stage bootstrap CI."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    grid = _as_grid(values, "values")
    reps = bootstrap_means(grid, n_boot=n_boot, seed=seed)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [tail, 1.0 - tail])
    return Interval(float(grid.mean()), float(lo), float(hi), level)


def verdict(lo: float, hi: float) -> str:
    """``supported`` when the CI of a − b lies above 0, ``contradicted`` below 0, else ``undecided``."""
    if lo > 0.0:
        return "supported"
    if hi < 0.0:
        return "contradicted"
    return "undecided"


def paired_difference(a, b, level: float = 0.95, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict:
    """Mean paired difference ``a − b`` of two ``(S, T)`` outcome arrays with its CI and verdict.

    Returns ``{"diff", "ci": [lo, hi], "verdict"}``; ValueError when the shapes differ (the runs were not
    paired: another seed set or evaluation set).
    """
    a = _as_grid(a, "a")
    b = _as_grid(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"unpaired outcomes: a has shape {a.shape}, b {b.shape} (seeds x evaluation tasks must match)")
    iv = mean_ci(a - b, level=level, n_boot=n_boot, seed=seed)
    return {"diff": iv.mean, "ci": iv.ci, "verdict": verdict(iv.lo, iv.hi)}
