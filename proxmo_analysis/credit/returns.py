"""Step rewards and discounted returns-to-go inside trajectories (spec §1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frame import StepRows


@dataclass(frozen=True)
class Credit:
    """What every method returns, per step row (shape (n_rows,), float64, in the rows' order)."""

    return_to_go: np.ndarray
    adv_episode: np.ndarray
    adv_step: np.ndarray
    omega: float = 1.0

    @property
    def advantage(self) -> np.ndarray:
        return self.adv_episode + self.omega * self.adv_step


def discounted_returns(rewards: np.ndarray, episode: np.ndarray, gamma: float) -> np.ndarray:
    """``R_t = sum_{k>=t} gamma^(k-t) r_k`` inside each trajectory.

    ``rewards`` and ``episode`` have shape (n_rows,); each episode's rows must be contiguous and in step
    order. A log-depth scan: after the pass with shift k, ``R_i = B_i + A_i R_{i+k}``, where A is the
    product of the discounts up to the episode's end (0 past it).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    n = len(rewards)
    b = rewards.copy()
    a = np.zeros(n)
    if n > 1:
        a[:-1] = np.where(episode[1:] == episode[:-1], gamma, 0.0)
    k = 1
    while k < n and a.any():
        b[:-k] += a[:-k] * b[k:]
        a[:-k] *= a[k:]
        a[-k:] = 0.0
        k *= 2
    return b


def step_rewards(rows: StepRows, reward_scale: float | None, invalid_penalty: float) -> np.ndarray:
    """r_t per row: the logged ``reward`` (``reward_scale`` None) or ``reward_scale * won`` on the last step
    of each episode (the reference's training scale), minus ``invalid_penalty`` on invalid rows."""
    if reward_scale is None:
        r = rows.reward.copy()
    else:
        r = np.where(rows.last & rows.won, float(reward_scale), 0.0)
    if invalid_penalty:
        r -= invalid_penalty * rows.invalid
    return r


def step_returns(rows: StepRows, gamma: float, reward_scale: float | None, invalid_penalty: float,
                 discount_penalty: bool = True) -> np.ndarray:
    """R_t per row. With ``discount_penalty`` the invalid penalty is part of r_t and flows back through
    the discount (spec §1); without it (the reference code) it is subtracted from the invalid row's own
    R_t only."""
    if discount_penalty:
        return discounted_returns(step_rewards(rows, reward_scale, invalid_penalty), rows.episode, gamma)
    rtg = discounted_returns(step_rewards(rows, reward_scale, 0.0), rows.episode, gamma)
    return rtg - invalid_penalty * rows.invalid if invalid_penalty else rtg


def episode_sums(values: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """Sum of ``values`` per episode code, shape (n_episodes,)."""
    return np.bincount(episode, weights=values, minlength=int(episode.max()) + 1 if len(episode) else 0)


def episode_groups(rows: StepRows) -> np.ndarray:
    """Group code of each episode code, shape (n_episodes,)."""
    out = np.zeros(int(rows.episode.max()) + 1 if rows.n_rows else 0, dtype=np.int64)
    out[rows.episode] = rows.group
    return out
