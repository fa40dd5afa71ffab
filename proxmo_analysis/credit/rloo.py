"""RLOO: leave-one-out baseline over the group's other trajectories (spec §2)."""

from __future__ import annotations

import numpy as np

from .config import ReturnConfig
from .frame import StepRows
from .groups import group_count
from .returns import Credit, discounted_returns, episode_groups, episode_sums, step_rewards


def rloo_advantage(returns: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``R_i - mean of the other N-1 returns`` of the group; 0 for a group of one. Shapes (n_traj,)."""
    count = group_count(group)[group]
    total = np.bincount(group, weights=returns)[group]
    others = np.divide(total - returns, count - 1, out=np.zeros(len(returns)), where=count > 1)
    return np.where(count > 1, returns - others, 0.0)


def rloo(rows: StepRows, cfg: ReturnConfig) -> Credit:
    """RLOO over undiscounted episode returns (sum of r_t); step part 0."""
    r = step_rewards(rows, None, cfg.invalid_penalty)
    rtg = discounted_returns(r, rows.episode, cfg.gamma)
    adv = rloo_advantage(episode_sums(r, rows.episode), episode_groups(rows))
    return Credit(rtg, adv[rows.episode], np.zeros(rows.n_rows))
