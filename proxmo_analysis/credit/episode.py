"""Episode-level parts shared by GiGPO and ProxMO: trajectory-level or row-level (reference) baselines."""

from __future__ import annotations

import numpy as np

from .grpo import grpo_advantage, grpo_mean_advantage
from .groups import group_count, group_mean, group_std


def trajectory_advantage(outcome: np.ndarray, group: np.ndarray, *, normalize_std: bool,
                         std: str = "population", epsilon: float = 1e-6) -> np.ndarray:
    """Per trajectory (shapes (n_traj,)): GRPO (``normalize_std``) or GRPO w/o std of ``outcome``."""
    if normalize_std:
        return grpo_advantage(outcome, group, std=std, epsilon=epsilon)
    return grpo_mean_advantage(outcome, group)


def _float32_row_stats(score: np.ndarray, group: np.ndarray, std: str) -> tuple[np.ndarray, np.ndarray]:
    """Group mean and std exactly as the reference computes them: torch float32 reductions per group."""
    import torch  # only the reference variant pays for the import

    n = int(group.max()) + 1
    mean, sd = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    order = np.argsort(group, kind="stable")
    bounds = np.cumsum(group_count(group, n))[:-1]
    values = score.astype(np.float32)
    for idx in np.split(order, bounds):
        if not len(idx):
            continue
        t = torch.from_numpy(values[idx])
        mean[group[idx[0]]] = t.mean().item()
        if len(idx) > 1:
            sd[group[idx[0]]] = t.std(correction=1 if std == "sample" else 0).item()
    return mean, sd


def row_mean_advantage(score: np.ndarray, group: np.ndarray, *, normalize_std: bool,
                       std: str = "sample", epsilon: float = 1e-6,
                       float32: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The reference code's episode part: statistics over the group's *step rows* (spec §4.4.1).

    score: (n_rows,) per-row episode score; group: (n_rows,) group codes. A trajectory counts once per
    step it has. As in the reference, a group with a single row gets mean 0 and std 1 (so its advantage is
    its score). ``float32``: compute in float32 with torch's reductions, as the reference does (its
    rounding is visible at 1e-5 when the std is small). Returns (advantage per row, mean per group).
    """
    count = group_count(group)
    if float32:
        mean, sd = _float32_row_stats(score, group, std)
        mean = np.where(count == 1, np.float32(0.0), mean)
        sd = np.where(count == 1, np.float32(1.0), sd)
        adv = score.astype(np.float32) - mean[group]
        if normalize_std:
            adv = adv / (sd[group] + np.float32(epsilon))
        return adv.astype(np.float64), mean.astype(np.float64)
    mean = group_mean(score, group)
    sd = group_std(score, group, std, mean=mean)
    single = count == 1
    mean = np.where(single, 0.0, mean)
    sd = np.where(single, 1.0, sd)
    adv = score - mean[group]
    if normalize_std:
        adv = adv / (sd[group] + epsilon)
    return adv, mean
