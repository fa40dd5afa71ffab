"""One episode of a proxmo env driven through the text protocol: the engine every trainer adapter shares.

``TextSession(env_id, **env_kwargs)`` owns one Gymnasium env. ``reset(task_index)`` returns the first
prompt (``proxmo_envs.text.render``); ``step(reply)`` parses the model's reply (``proxmo_envs.text.parse``),
steps the env (an unparsable reply is the env's invalid-action step) and returns a :class:`Turn` with the
next prompt, the env's reward and whether the episode is over. The episode's outcome is read from the
env's own ``info`` (``won``, ``task_score``), so an adapter reports exactly what proxmo's runner logs.
No trainer framework is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from proxmo_envs import ALFWORLD_ID, WEBSHOP_ID
from proxmo_envs.text import FALLBACKS, RenderConfig, env_action, parse, render

REWARDS = ("score", "won")
ENV_ALIASES = {"webshop": WEBSHOP_ID, "alfworld": ALFWORLD_ID}


def resolve_env_id(env_id: str) -> str:
    """``"webshop"``/``"alfworld"`` (any case) or a registered ``proxmo/*`` id -> the registered id."""
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a str such as 'proxmo/WebShop-v0' or 'webshop', got {type(env_id).__name__}")
    return ENV_ALIASES.get(env_id.lower(), env_id)


@dataclass(frozen=True)
class Turn:
    """What one reply did: the env's step plus the next prompt ("" once the episode is over)."""

    prompt: str
    reward: float
    terminated: bool
    truncated: bool
    action: str  # what was sent to env.step (INVALID_ACTION for an unparsable reply)
    parsed: bool  # whether the reply held an action
    info: dict[str, Any] = field(repr=False)

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class TextSession:
    """A proxmo env behind ``reset(task_index) -> prompt`` and ``step(reply) -> Turn``.

    Args:
        env_id: ``"proxmo/WebShop-v0"``, ``"proxmo/ALFWorld-v0"`` or the aliases ``"webshop"``, ``"alfworld"``.
        render_config: how prompts are written (:class:`proxmo_envs.text.RenderConfig`).
        fallback: how a reply without ``<action>`` is read (``proxmo_envs.text.parse``; default ``"invalid"``).
        reward: what :meth:`episode_reward` returns: ``"score"`` (``info["task_score"]``: WebShop's score in
            [0, 1], ALFWorld 1.0 once won) or ``"won"`` (10 * won, the papers' training scale).
        **env_kwargs: passed to ``gym.make`` (``split``, ``max_steps``, ...).
    """

    def __init__(self, env_id: str = WEBSHOP_ID, *, render_config: RenderConfig | None = None,
                 fallback: str = "invalid", reward: str = "score", **env_kwargs: Any) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {reward!r}")
        self.env_id = resolve_env_id(env_id)
        self.env_kwargs = dict(env_kwargs)
        self.render_config = render_config or RenderConfig()
        self.fallback = fallback
        self.reward_kind = reward
        self.env = gym.make(self.env_id, **self.env_kwargs).unwrapped
        self.observation = ""
        self.info: dict[str, Any] = {}
        self.history: list[tuple[str, str]] = []
        self.total_reward = 0.0
        self.done = False
        self._started = False

    @property
    def task_count(self) -> int:
        return int(self.env.task_count)

    def reset(self, task_index: int | None = None, seed: int | None = None) -> str:
        """Start an episode on task ``task_index`` of the split (drawn from ``seed`` when None); the first prompt."""
        options = None if task_index is None else {"task_index": task_index}
        self.observation, self.info = self.env.reset(seed=seed, options=options)
        self.history, self.total_reward, self.done, self._started = [], 0.0, False, True
        return self.prompt()

    def prompt(self) -> str:
        """The prompt of the current step."""
        return render(self.observation, self.info, self.history, self.render_config)

    def step(self, reply: str) -> Turn:
        """Parse ``reply``, step the env with its action (or the invalid-action step) and return the :class:`Turn`."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self.done:
            raise RuntimeError("the episode is over; call reset() to start another")
        admissible = self.info.get("admissible_actions")
        parsed = parse(reply, admissible, self.fallback) is not None
        action = env_action(reply, admissible, self.fallback)
        previous = self.observation
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.history.append((previous, action))
        self.observation, self.info = obs, info
        self.total_reward += float(reward)
        self.done = bool(terminated or truncated)
        return Turn(prompt="" if self.done else self.prompt(), reward=float(reward), terminated=bool(terminated),
                    truncated=bool(truncated), action=action, parsed=parsed, info=info)

    @property
    def won(self) -> bool:
        return bool(self.info.get("won", False))

    @property
    def task_score(self) -> float:
        return float(self.info.get("task_score", 0.0))

    @property
    def steps(self) -> int:
        return len(self.history)

    def episode_reward(self) -> float:
        """The episode's reward as configured by ``reward`` (see the class docstring)."""
        return 10.0 * self.won if self.reward_kind == "won" else self.task_score

    def metadata(self) -> dict[str, Any]:
        """The outcome facts every adapter reports: won, task_score, steps, invalid_action of the last step."""
        return {"won": self.won, "task_score": self.task_score, "steps": self.steps,
                "invalid_action": bool(self.info.get("invalid_action", False)),
                "task_id": self.info.get("task_id"), "env_id": self.env_id}

    def close(self) -> None:
        self.env.close()
