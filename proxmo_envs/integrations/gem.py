"""GEM adapter (``pip install 'proxmo[gem]'``; tested with gem-llm 0.1.0): proxmo envs as ``gem.Env``.

Importing this module registers ``proxmo:WebShop-v0`` and ``proxmo:ALFWorld-v0`` in GEM's registry::

    import gem, proxmo_envs.integrations.gem  # noqa: F401
    env = gem.make("proxmo:WebShop-v0", split="test")
    prompt, info = env.reset(seed=0, task_index=3)
    prompt, reward, terminated, truncated, info = env.step("<action>search[red shoes]</action>")

Observations are rendered prompts (:mod:`proxmo_envs.text`), actions are model replies; the reward is the
episode's (``reward="score"`` or ``"won"``) on the step that ends it, 0 before; ``info`` is the env's
info plus ``parsed``. Constructor kwargs: env kwargs (``split``, ``max_steps``, ...), render settings
(``history_length``, ``reasoning``, ...), ``fallback`` and ``reward``.
"""

from __future__ import annotations

from typing import Any

import gem
from gem.envs.registration import ENV_REGISTRY

from proxmo_envs import ALFWORLD_ID, WEBSHOP_ID
from proxmo_envs.integrations._config import split_config
from proxmo_envs.integrations.session import TextSession


class ProxmoGemEnv(gem.Env):
    """One proxmo env as a GEM text env (see the module docstring)."""

    ENV_ID = WEBSHOP_ID

    def __init__(self, **config: Any) -> None:
        super().__init__()
        render, session_opts, env_kwargs = split_config(config)
        self.session = TextSession(self.ENV_ID, render_config=render, **session_opts, **env_kwargs)

    def reset(self, seed: int | None = None, task_index: int | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on ``task_index`` (drawn from ``seed`` when None); (first prompt, info)."""
        prompt = self.session.reset(task_index, seed)
        return prompt, dict(self.session.info)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        turn = self.session.step(action)
        reward = self.session.episode_reward() if turn.done else 0.0
        return turn.prompt, reward, turn.terminated, turn.truncated, {**turn.info, "parsed": turn.parsed}

    def sample_random_action(self) -> str:
        admissible = self.session.info.get("admissible_actions") or ["look"]
        i = int(self.session.env.np_random.integers(len(admissible)))
        return f"<action>{admissible[i]}</action>"


class WebShopGemEnv(ProxmoGemEnv):
    ENV_ID = WEBSHOP_ID


class ALFWorldGemEnv(ProxmoGemEnv):
    ENV_ID = ALFWORLD_ID


GEM_IDS = {"proxmo:WebShop-v0": "WebShopGemEnv", "proxmo:ALFWorld-v0": "ALFWorldGemEnv"}
for _gem_id, _cls in GEM_IDS.items():
    if _gem_id not in ENV_REGISTRY:
        gem.register(_gem_id, f"{__name__}:{_cls}")
