"""Saving and restoring a policy (with its PPO reference, optimizer and training state) in one file.

A checkpoint is a ``torch.save`` dict that holds only tensors, numbers, strings, lists and dicts::

    {"format": "proxmo-policy/2", "backend": "scorer" | "causal_lm", "config_json": "{...}",
     "state_dict": ..., "ref_state_dict": ... | None, "optimizer": ... | None, "extra_json": "{...}"}

``extra`` holds whatever the caller wants to resume with (iteration, metrics, the run's config); it and the
policy config are stored as JSON text, so the file loads with ``torch.load(weights_only=True)``: loading a
checkpoint never unpickles arbitrary objects, so a crafted file cannot run code (it is refused instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from proxmo_analysis.errors import InputError

from proxmo_analysis.policy.base import CandidatePolicy

FORMAT = "proxmo-policy/2"
#: Earlier files held ``config`` and ``extra`` as plain dicts; they load the same way when those are plain data.
OLD_FORMATS = ("proxmo-policy/1",)


def policy_config_of(backend: str, config: dict[str, Any] | None = None):
    """The validated ``ScorerConfig`` / ``CausalLMConfig`` of ``backend`` from a dict (InputError if bad)."""
    config = dict(config or {})
    if backend == "scorer":
        from proxmo_analysis.policy.scorer import ScorerConfig as cls
    elif backend == "causal_lm":
        from proxmo_analysis.policy.causal_lm import CausalLMConfig as cls
    else:
        raise InputError(f"unknown policy backend {backend!r}; expected 'scorer' or 'causal_lm'")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(config) - known)
    if unknown:
        raise InputError(f"unknown {backend} config key(s) {unknown}; known: {sorted(known)}")
    return cls(**config)


def build_policy(backend: str, config: dict[str, Any] | None = None, seed: int = 0) -> CandidatePolicy:
    """A fresh policy of ``backend`` ("scorer" or "causal_lm") from its config dict."""
    cfg = policy_config_of(backend, config)
    if backend == "scorer":
        from proxmo_analysis.policy.scorer import ActionScorer

        return ActionScorer(cfg, seed=seed)
    from proxmo_analysis.policy.causal_lm import CausalLMPolicy

    return CausalLMPolicy(cfg, seed=seed)


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
        "config_json": json.dumps(policy.config_dict()),
        "state_dict": policy.state_dict(),
        "ref_state_dict": None if ref_policy is None else ref_policy.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        # default=_plain: numpy scalars and paths in the caller's extras become numbers and strings.
        "extra_json": json.dumps(dict(extra or {}), default=_plain),
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    except BaseException:  # a full disk or Ctrl-C mid-write: no half-written temporary is left beside it
        tmp.unlink(missing_ok=True)
        raise
    return path


def _plain(value: Any) -> Any:
    """JSON fallback for the few non-JSON types extras hold (numpy scalars, paths)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class CheckpointError(InputError):
    """A file that is not a loadable proxmo policy checkpoint (crafted, truncated, or another format)."""


def read_payload(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, read with ``weights_only=True`` (no arbitrary unpickling), with ``config`` and
    ``extra`` decoded; :class:`CheckpointError` (one line naming ``path``) for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file; all mean "not loadable"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            reason = "it holds objects other than tensors and plain data (refused: loading it could run code)"
        raise CheckpointError(f"{path} is not a loadable proxmo policy checkpoint: {reason}") from None
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, *OLD_FORMATS):
        raise CheckpointError(f"{path} is not a proxmo policy checkpoint (format {FORMAT!r} expected)")
    try:
        if payload["format"] == FORMAT:
            payload["config"] = json.loads(payload["config_json"])
            payload["extra"] = json.loads(payload["extra_json"])
        for key in ("backend", "config", "state_dict", "extra"):
            payload[key]  # noqa: B018 - presence check
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is a damaged proxmo policy checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(payload["config"], dict) or not isinstance(payload["extra"], dict):
        raise CheckpointError(f"{path} is a damaged proxmo policy checkpoint (config/extra are not mappings)")
    return payload


def load_checkpoint(path: str | Path, seed: int = 0) -> Checkpoint:
    """Rebuild the policy (and its reference) saved by :func:`save_checkpoint`."""
    payload = read_payload(path)
    policy = build_policy(payload["backend"], payload["config"], seed=seed)
    try:
        policy.load_state_dict(payload["state_dict"])
        ref = None
        if payload.get("ref_state_dict") is not None:
            ref = policy.clone_frozen()
            ref.load_state_dict(payload["ref_state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: its weights do not fit its {payload['backend']} config ({first})") from None
    return Checkpoint(policy=policy, ref_policy=ref, optimizer_state=payload.get("optimizer"), extra=payload["extra"])
