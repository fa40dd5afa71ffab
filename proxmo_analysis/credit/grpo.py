"""GRPO and GRPO w/o std (Dr.GRPO style) episode advantages (spec §2)."""

from __future__ import annotations

import numpy as np

from .config import GRPOConfig, ReturnConfig
from .frame import StepRows
from .groups import group_count, group_mean, group_std
from .returns import Credit, discounted_returns, episode_groups, episode_sums, step_rewards


def grpo_advantage(returns: np.ndarray, group: np.ndarray, *, std: str = "population",
                   epsilon: float = 1e-6) -> np.ndarray:
    """``(R_i - mean) / (std + epsilon)`` over each group's trajectories.

    returns: (n_traj,) episode returns; group: (n_traj,) int group codes. Groups of one trajectory get 0.
    """
    mean = group_mean(returns, group)
    sd = group_std(returns, group, std, mean=mean)
    adv = (returns - mean[group]) / (sd[group] + epsilon)
    return np.where(group_count(group)[group] > 1, adv, 0.0)


def grpo_mean_advantage(returns: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``R_i - mean`` over each group's trajectories (0 for a group of one). Shapes (n_traj,)."""
    mean = group_mean(returns, group)
    return np.where(group_count(group)[group] > 1, returns - mean[group], 0.0)


def _episode_method(rows: StepRows, cfg: ReturnConfig, advantage) -> Credit:
    r = step_rewards(rows, None, cfg.invalid_penalty)
    rtg = discounted_returns(r, rows.episode, cfg.gamma)
    adv = advantage(episode_sums(r, rows.episode), episode_groups(rows))
    return Credit(rtg, adv[rows.episode], np.zeros(rows.n_rows))


def grpo(rows: StepRows, cfg: GRPOConfig) -> Credit:
    """GRPO over undiscounted episode returns (sum of r_t); step part 0."""
    return _episode_method(rows, cfg, lambda R, g: grpo_advantage(R, g, std=cfg.std, epsilon=cfg.epsilon))


def grpo_mean(rows: StepRows, cfg: ReturnConfig) -> Credit:
    """GRPO w/o std over undiscounted episode returns; step part 0."""
    return _episode_method(rows, cfg, grpo_mean_advantage)
