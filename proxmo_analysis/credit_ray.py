"""Kept so ``from proxmo_analysis.credit_ray import score_run_ray`` still works: the Ray scorer is
``proxmo_analysis.credit.stream.score_run_ray`` (its executor: ``proxmo_analysis.credit.ray_scorer``)."""

from proxmo_analysis.credit.ray_scorer import RayExecutor  # noqa: F401
from proxmo_analysis.credit.stream import score_run_ray  # noqa: F401

__all__ = ["RayExecutor", "score_run_ray"]
