"""Per-group statistics over integer group codes (vectorised with bincount, no Python loops).

Each statistic of a group depends only on that group's values in their given order, so computing it
over many groups at once or over one group alone gives the same floating-point numbers.
"""

from __future__ import annotations

import numpy as np


def n_codes(index: np.ndarray) -> int:
    return int(index.max()) + 1 if len(index) else 0


def group_count(index: np.ndarray, n: int | None = None) -> np.ndarray:
    """Members per group, shape (n,)."""
    return np.bincount(index, minlength=n_codes(index) if n is None else n)


def group_mean(values: np.ndarray, index: np.ndarray, n: int | None = None) -> np.ndarray:
    """Mean of ``values`` (shape (m,)) per group code in ``index`` (shape (m,)); 0 for empty groups."""
    n = n_codes(index) if n is None else n
    count = np.bincount(index, minlength=n)
    total = np.bincount(index, weights=values, minlength=n)
    return np.divide(total, count, out=np.zeros(n), where=count > 0)


def group_std(values: np.ndarray, index: np.ndarray, kind: str = "population",
              n: int | None = None, mean: np.ndarray | None = None) -> np.ndarray:
    """Std per group: ``population`` (1/N) or ``sample`` (1/(N-1)); 0 where it is undefined (N <= 1)."""
    n = n_codes(index) if n is None else n
    mean = group_mean(values, index, n) if mean is None else mean
    count = np.bincount(index, minlength=n)
    squares = np.bincount(index, weights=(values - mean[index]) ** 2, minlength=n)
    dof = count - (1 if kind == "sample" else 0)
    return np.sqrt(np.divide(squares, dof, out=np.zeros(n), where=dof > 0))


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense codes of the pairs (a[i], b[i]) of two non-negative int arrays."""
    if not len(a):
        return np.zeros(0, dtype=np.int64)
    key = a.astype(np.int64) * (int(b.max()) + 1) + b
    return np.unique(key, return_inverse=True)[1].reshape(-1)
