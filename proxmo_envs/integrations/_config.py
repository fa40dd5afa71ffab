"""Split one flat adapter config (a SkyRL ``env_config``, a GEM/verifiers kwargs dict) into its parts."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

from proxmo_envs.text import RenderConfig

RENDER_KEYS = tuple(f.name for f in fields(RenderConfig))
SESSION_KEYS = ("fallback", "reward")


def split_config(config: Mapping[str, Any] | None) -> tuple[RenderConfig, dict[str, Any], dict[str, Any]]:
    """(render config, session options, env kwargs) from one mapping of settings.

    ``RenderConfig`` field names (``history_length``, ``reasoning``, ...) build the render config,
    ``fallback``/``reward`` are session options, every other key is a ``gym.make`` kwarg of the env.
    """
    items = dict(config or {})
    render = RenderConfig(**{k: items.pop(k) for k in RENDER_KEYS if k in items})
    session = {k: items.pop(k) for k in SESSION_KEYS if k in items}
    return render, session, items


def plain_dict(config: Any) -> dict[str, Any]:
    """A plain dict from a mapping or an OmegaConf ``DictConfig`` (SkyRL passes the latter); {} for None."""
    if config is None:
        return {}
    if not isinstance(config, Mapping) and hasattr(config, "items"):
        config = dict(config.items())
    if not isinstance(config, Mapping):
        raise TypeError(f"env config must be a mapping, got {type(config).__name__}")
    return {str(k): v for k, v in config.items()}
