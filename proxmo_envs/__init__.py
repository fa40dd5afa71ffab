"""Gymnasium environments for multi-turn LLM-agent RL: ``proxmo/WebShop-v0`` and ``proxmo/ALFWorld-v0``.

Importing this package registers both ids with string entry points, so the heavy parts (the WebShop
catalogue and search index, the TextWorld engine) are only imported when an environment is made::

    import gymnasium as gym
    import proxmo_envs  # noqa: F401  (registers the ids)
    env = gym.make("proxmo/WebShop-v0")
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

WEBSHOP_ID = "proxmo/WebShop-v0"
ALFWORLD_ID = "proxmo/ALFWorld-v0"


def _register() -> None:
    # No max_episode_steps here: each env applies its own `max_steps` cap and reports it as
    # `truncated`, so the cap is a kwarg like every other variant (spec env-api.md).
    # No PassiveEnvChecker either: Gymnasium's checker marks its first reset as checked before calling the
    # env, so one refused reset (a bad task_index) left it without reset data and every later step raised
    # "cannot unpack non-iterable NoneType". Both envs pass gymnasium.utils.env_checker.check_env in tests.
    if WEBSHOP_ID not in registry:
        register(id=WEBSHOP_ID, entry_point="proxmo_envs.webshop.env:WebShopEnv", disable_env_checker=True)
    if ALFWORLD_ID not in registry:
        register(id=ALFWORLD_ID, entry_point="proxmo_envs.alfworld.env:ALFWorldEnv", disable_env_checker=True)


_register()

__all__ = ["WEBSHOP_ID", "ALFWORLD_ID", "__version__"]


# Trajectory-log exports, imported on first use so `import proxmo_envs` stays cheap (no pyarrow).
_LAZY_EXPORTS = {"TrajectoryRecorder": "proxmo_envs.trajlog", "PartWriter": "proxmo_envs.trajlog"}


def __getattr__(name: str):
    if name in _LAZY_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'proxmo_envs' has no attribute {name!r}")
