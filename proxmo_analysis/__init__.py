"""Offline analysis of trajectory logs: reading, credit assignment, policy updates and plots."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

from .logs import read_log, read_run_metadata  # noqa: E402  (trajectory logs)

__all__ += ["read_log", "read_run_metadata"]
