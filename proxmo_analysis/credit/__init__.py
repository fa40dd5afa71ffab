"""Offline credit assignment over trajectory logs: GRPO, GRPO w/o std, RLOO, GiGPO and ProxMO.

Each method is a pure function over sorted numpy step columns with explicit group codes
(``grpo.grpo``, ``rloo.rloo``, ``gigpo.gigpo``, ``proxmo.proxmo``), registered once, with its ablations, in
``registry.METHODS``; ``score(df, method, **config)`` validates a DataFrame and dispatches.
"""

from __future__ import annotations

from .config import GiGPOConfig, GRPOConfig, ProxMOConfig, ReturnConfig, beta_from_target_range
from .proxmo import psa_group, psa_weights, psc_weights
from .registry import METHODS, Method, get_method, make_config, method_names, register_method
from .score import score

__all__ = [
    "METHODS", "GRPOConfig", "GiGPOConfig", "Method", "ProxMOConfig", "ReturnConfig",
    "beta_from_target_range", "get_method", "make_config", "method_names", "psa_group", "psa_weights",
    "psc_weights", "register_method", "score",
]
