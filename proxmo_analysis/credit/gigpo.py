"""GiGPO: episode advantage plus exact anchor-state step groups (spec §3, arXiv 2505.10978)."""

from __future__ import annotations

import numpy as np

from .config import GiGPOConfig
from .episode import row_mean_advantage, trajectory_advantage
from .frame import StepRows, dense_codes
from .groups import group_mean, group_std, pair_codes
from .returns import Credit, episode_groups, episode_sums, step_returns, step_rewards


def anchor_step_groups(observation_code: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Step-group code per row: rows of one task group with identical observation (any step). Shapes (n_rows,)."""
    return pair_codes(group, observation_code)


def step_group_advantage(values: np.ndarray, step_group: np.ndarray, *, normalize_std: bool,
                         std: str = "population", epsilon: float = 1e-6) -> np.ndarray:
    """``value - mean`` over each step group (divided by std + epsilon if ``normalize_std``).

    values: (n_rows,) returns R_t; step_group: (n_rows,) codes. Singleton step groups get 0.
    """
    mean = group_mean(values, step_group)
    adv = values - mean[step_group]
    if normalize_std:
        adv = adv / (group_std(values, step_group, std, mean=mean)[step_group] + epsilon)
    return adv


def outcome_per_row(rows: StepRows, reward_scale: float | None) -> np.ndarray:
    """Episode outcome repeated on each row: ``reward_scale * won`` or the sum of logged rewards."""
    if reward_scale is not None:
        return float(reward_scale) * rows.won
    return episode_sums(rows.reward, rows.episode)[rows.episode]


def gigpo(rows: StepRows, cfg: GiGPOConfig) -> Credit:
    """GiGPO per row. Requires ``rows.observation``."""
    rtg = step_returns(rows, cfg.gamma, cfg.reward_scale, cfg.invalid_penalty, cfg.discount_penalty)
    if cfg.episode_norm == "trajectory":
        r = step_rewards(rows, cfg.reward_scale, cfg.invalid_penalty)
        adv = trajectory_advantage(episode_sums(r, rows.episode), episode_groups(rows),
                                   normalize_std=cfg.normalize_std, std=cfg.std, epsilon=cfg.epsilon)
        adv_episode = adv[rows.episode]
    else:
        score = outcome_per_row(rows, cfg.reward_scale) - cfg.invalid_penalty * rows.invalid
        adv_episode, _ = row_mean_advantage(score, rows.group, normalize_std=cfg.normalize_std,
                                            std=cfg.std, epsilon=cfg.epsilon,
                                            float32=cfg.variant == "reference")
    step_group = anchor_step_groups(dense_codes(rows.observation), rows.group)
    adv_step = step_group_advantage(rtg, step_group, normalize_std=cfg.normalize_std, std=cfg.std,
                                    epsilon=cfg.epsilon)
    return Credit(rtg, adv_episode, adv_step, cfg.omega)
