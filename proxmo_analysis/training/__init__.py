"""Training: rollout → Parquet log → credit assignment → PPO update, with held-out evaluation.

Read top to bottom: ``config`` (``TrainConfig``, validated in one place), ``tasks`` (which tasks each
iteration plays), ``scoring`` (the rewards the credit method sees, the scored log), ``metrics``
(``metrics.csv``) and ``loop`` (``Trainer``: start policy → evaluation 0 → iterations; ``train``). The
learning-curve figure is ``proxmo_analysis.plots.training_curve_figure``.
"""

from __future__ import annotations

from .config import DEFAULT_SPLITS, REWARDS, START_KEYS, WIN_REWARD, TrainConfig
from .loop import CHECKPOINT, Trainer, train
from .metrics import METRIC_FIELDS, episode_stats, write_metrics
from .scoring import assign_credit, training_rewards
from .tasks import task_count, task_sample, training_pool, warm_start_games

__all__ = [
    "CHECKPOINT", "DEFAULT_SPLITS", "METRIC_FIELDS", "REWARDS", "START_KEYS", "TrainConfig", "Trainer", "WIN_REWARD",
    "assign_credit", "episode_stats", "task_count", "task_sample", "train", "training_pool", "training_rewards",
    "warm_start_games", "write_metrics",
]
