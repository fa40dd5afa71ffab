"""Offline analysis of trajectory logs: reading, credit assignment, policy updates and plots."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

from .logs import read_log, read_run_metadata  # noqa: E402  (trajectory logs)

__all__ += ["read_log", "read_run_metadata"]

from .credit import GiGPOConfig, GRPOConfig, ProxMOConfig, score  # noqa: E402  (credit assignment)
from .credit.stream import score_run  # noqa: E402

__all__ += ["score", "score_run", "ProxMOConfig", "GiGPOConfig", "GRPOConfig"]

from .credit_ray import score_run_ray  # noqa: E402  (Ray Data re-scoring; imports ray only when called)

__all__ += ["score_run_ray"]
