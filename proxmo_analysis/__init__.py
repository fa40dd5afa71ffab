"""Offline analysis of trajectory logs: reading, credit assignment, policy updates and plots.

``read_log`` reads a run folder; ``score`` / ``score_run`` re-score it with GRPO, RLOO, GiGPO or ProxMO;
``proxmo_analysis.training.train(TrainConfig(...))`` runs the rollout → log → credit → PPO loop. The policy and training parts import torch, so they
are loaded on first use: ``import proxmo_analysis`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from .credit import GiGPOConfig, GRPOConfig, ProxMOConfig, score
from .credit.stream import score_run
from .credit.stream import score_run_ray  # imports ray only when called
from .logs import read_log, read_run_metadata

__version__ = "0.1.0"

_LAZY = {
    "TrainConfig": ("proxmo_analysis.training", "TrainConfig"),
    "Trainer": ("proxmo_analysis.training", "Trainer"),
    "PPOConfig": ("proxmo_analysis.policy", "PPOConfig"),
    "ppo_update": ("proxmo_analysis.policy", "ppo_update"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'proxmo_analysis' has no attribute {name!r}")


__all__ = [
    "__version__",
    "read_log",
    "read_run_metadata",
    "score",
    "score_run",
    "score_run_ray",
    "ProxMOConfig",
    "GiGPOConfig",
    "GRPOConfig",
    *_LAZY,
]
