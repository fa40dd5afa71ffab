"""Offline analysis of trajectory logs: reading, credit assignment, policy updates and plots."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
