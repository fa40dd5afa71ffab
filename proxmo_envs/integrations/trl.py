"""TRL adapter (``pip install 'proxmo[trl]'``; tested with trl 1.16.0): environments for ``GRPOTrainer``.

``environment_factory(env_id, **env_kwargs)`` returns a class; pass it as
``GRPOTrainer(environment_factory=cls)``. TRL makes one instance per rollout and, per dataset row:

- ``reset(**row)`` starts the episode on ``row["task_index"]`` and returns the first prompt, which TRL
  appends to the row's last user message (a row without ``task_index`` draws a task at random);
- the model acts by calling the tool ``act(action: str) -> str``: the action is stepped in the env (an
  empty argument is the env's invalid-action step) and the next prompt comes back as the tool result;
  once the episode is over, ``act`` answers with the outcome and steps nothing;
- ``get_reward()`` scores the rollout: WebShop's score / ALFWorld 1.0 on a win (``reward="score"``) or
  10 * won (``reward="won"``).

Prompts are rendered by :mod:`proxmo_envs.text` with ``answer="tool"`` (they ask for an ``act`` call).
"""

from __future__ import annotations

from typing import Any

from proxmo_envs.integrations.session import TextSession, resolve_env_id
from proxmo_envs.text import RenderConfig, with_overrides

OVER = "The episode is over ({outcome}). Do not call act again."


def _outcome(session: TextSession) -> str:
    return f"won={session.won}, score={session.task_score:.3f}, steps={session.steps}"


def environment_factory(env_id: str = "webshop", *, render_config: RenderConfig | None = None,
                        reward: str = "score", **env_kwargs: Any) -> type:
    """A class for ``GRPOTrainer(environment_factory=...)`` playing ``env_id`` (see the module docstring).

    env_id: ``"webshop"``, ``"alfworld"`` or a ``proxmo/*`` id; env_kwargs: ``gym.make`` kwargs
    (``split``, ``max_steps``, ...); render_config: prompt settings (``answer`` is forced to ``"tool"``).
    """
    env_id = resolve_env_id(env_id)
    render = with_overrides(render_config, answer="tool")

    class ProxmoEnvironment:
        """A proxmo episode whose one tool is ``act``."""

        def __init__(self) -> None:
            self._session = TextSession(env_id, render_config=render, fallback="reply", reward=reward,
                                        **env_kwargs)
            self._started = False

        def reset(self, **row: Any) -> str:
            task_index = row.get("task_index")
            seed = row.get("seed")
            self._started = True
            return self._session.reset(None if task_index is None else int(task_index),
                                       None if seed is None else int(seed))

        def act(self, action: str) -> str:
            """Take one action in the environment.

            Args:
                action: One of the admissible actions listed in the latest observation, copied exactly.

            Returns:
                The next observation with the actions admissible there, or the outcome once the episode is over.
            """
            if not self._started:
                return "No episode is running."
            if self._session.done:
                return OVER.format(outcome=_outcome(self._session))
            turn = self._session.step(action if isinstance(action, str) else "")
            return OVER.format(outcome=_outcome(self._session)) if turn.done else turn.prompt

        def get_reward(self) -> float:
            return self._session.episode_reward() if self._started else 0.0

        @property
        def metadata(self) -> dict[str, Any]:
            """won, task_score, steps, invalid_action (last step), task_id, env_id."""
            return self._session.metadata()

    name = "WebShop" if "webshop" in env_id.lower() else "ALFWorld" if "alfworld" in env_id.lower() else "Proxmo"
    ProxmoEnvironment.__name__ = ProxmoEnvironment.__qualname__ = f"{name}Environment"
    return ProxmoEnvironment


def dataset_rows(env_id: str = "webshop", tasks: int | None = None, system_prompt: str | None = None,
                 **env_kwargs: Any) -> list[dict[str, Any]]:
    """Rows for GRPOTrainer's ``train_dataset``: ``prompt`` (conversational; the env appends the task) and
    ``task_index``, one per task of the split (the first ``tasks`` when given)."""
    import gymnasium as gym

    env = gym.make(resolve_env_id(env_id), **env_kwargs).unwrapped
    n = env.task_count if tasks is None else min(int(tasks), env.task_count)
    env.close()
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [{"prompt": [*head, {"role": "user", "content": ""}], "task_index": i} for i in range(n)]
