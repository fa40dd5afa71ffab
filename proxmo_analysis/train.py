"""Kept so ``from proxmo_analysis.train import TrainConfig, train`` still works: the training code lives in
the ``proxmo_analysis.training`` package (config, tasks, scoring, metrics, loop)."""

from proxmo_analysis.training import *  # noqa: F401,F403
from proxmo_analysis.training import __all__  # noqa: F401
