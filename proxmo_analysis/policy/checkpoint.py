"""Saving and restoring a policy (with its PPO reference, optimizer and training state) in one file.

A checkpoint is a ``torch.save`` dict::

    {"format": "proxmo-policy/1", "backend": "scorer" | "causal_lm", "config": {...},
     "state_dict": ..., "ref_state_dict": ... | None, "optimizer": ... | None, "extra": {...}}

``extra`` holds whatever the caller wants to resume with (iteration, seeds, PPO config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from proxmo_analysis.policy.base import CandidatePolicy

FORMAT = "proxmo-policy/1"


def build_policy(backend: str, config: dict[str, Any] | None = None, seed: int = 0) -> CandidatePolicy:
    """A fresh policy of ``backend`` ("scorer" or "causal_lm") from its config dict."""
    config = dict(config or {})
    if backend == "scorer":
        from proxmo_analysis.policy.scorer import ActionScorer, ScorerConfig

        return ActionScorer(_dataclass_from(ScorerConfig, config, backend), seed=seed)
    if backend == "causal_lm":
        from proxmo_analysis.policy.causal_lm import CausalLMConfig, CausalLMPolicy

        return CausalLMPolicy(_dataclass_from(CausalLMConfig, config, backend), seed=seed)
    raise ValueError(f"unknown policy backend {backend!r}; expected 'scorer' or 'causal_lm'")


def _dataclass_from(cls, config: dict, backend: str):
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown {backend} config key(s) {unknown}; known: {sorted(known)}")
    return cls(**config)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the policy, its frozen reference (if saved), optimizer state and extras."""

    policy: CandidatePolicy
    ref_policy: CandidatePolicy | None
    optimizer_state: dict | None
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    policy: CandidatePolicy,
    ref_policy: CandidatePolicy | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint atomically (temporary name, then rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "backend": policy.backend,
        "config": policy.config_dict(),
        "state_dict": policy.state_dict(),
        "ref_state_dict": None if ref_policy is None else ref_policy.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, seed: int = 0) -> Checkpoint:
    """Rebuild the policy (and its reference) saved by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a proxmo policy checkpoint (format {FORMAT!r} expected)")
    policy = build_policy(payload["backend"], payload["config"], seed=seed)
    policy.load_state_dict(payload["state_dict"])
    ref = None
    if payload.get("ref_state_dict") is not None:
        ref = policy.clone_frozen()
        ref.load_state_dict(payload["ref_state_dict"])
    return Checkpoint(policy=policy, ref_policy=ref, optimizer_state=payload.get("optimizer"), extra=payload["extra"])
