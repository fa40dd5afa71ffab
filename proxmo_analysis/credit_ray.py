"""Kept so ``from proxmo_analysis.credit_ray import score_run_ray`` still works: the Ray scorer lives in
``proxmo_analysis.credit.ray_scorer``."""

from proxmo_analysis.credit.ray_scorer import *  # noqa: F401,F403
from proxmo_analysis.credit.ray_scorer import __all__  # noqa: F401
