"""Offline credit assignment over trajectory logs: GRPO, GRPO w/o std, RLOO, GiGPO and ProxMO.

Each method is a pure function over sorted numpy step columns with explicit group codes
(``grpo.grpo``, ``rloo.rloo``, ``gigpo.gigpo``, ``proxmo.proxmo``), registered by name in
``score.METHODS``; ``score(df, method, **config)`` validates a DataFrame and dispatches.
"""

from __future__ import annotations

from .config import GiGPOConfig, GRPOConfig, ProxMOConfig, ReturnConfig, beta_from_target_range
from .proxmo import psa_group, psa_weights, psc_weights
from .score import METHODS, Method, register_method, score

__all__ = [
    "METHODS", "GRPOConfig", "GiGPOConfig", "Method", "ProxMOConfig", "ReturnConfig",
    "beta_from_target_range", "psa_group", "psa_weights", "psc_weights", "register_method", "score",
]
