"""``gym.make`` with bad settings refused in one line: unknown ids and settings named before the env is built.

Python's own ``TypeError: __init__() got an unexpected keyword argument`` reaches the user re-wrapped by
Gymnasium from deep inside ``gym.make``; the CLI and the training loop make envs through
:func:`make_checked` instead, so a typo in ``--env-kwargs`` is one ``ValueError`` naming the setting.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

import gymnasium as gym


def check_env_settings(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Refuse a setting the env's constructor does not take, naming it and the ones it takes (Python's own
    TypeError comes re-wrapped by Gymnasium, deep inside ``gym.make``). Unknown ids are left to ``gym.make``."""
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = gym.envs.registration.load_env_creator(creator)
    try:
        params = inspect.signature(creator).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check against
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    takes = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"]
    unknown = sorted(set(env_kwargs) - set(takes))
    if unknown:
        raise ValueError(f"env {spec.id} has no setting {', '.join(map(repr, unknown))}; its settings are "
                         f"{', '.join(takes)}")


def make_checked(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> gym.Env:
    """``gym.make(env_id, **env_kwargs)``; an unknown id or setting raises ValueError naming it."""
    import proxmo_envs  # noqa: F401  (registers the ids)

    kwargs = dict(env_kwargs or {})
    check_env_settings(env_id, kwargs)
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as err:  # unknown id, namespace or version: one clear line, not a traceback
        raise ValueError(f"env {env_id!r}: {err}") from None
