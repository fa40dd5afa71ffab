"""verifiers adapter (``pip install 'proxmo[verifiers]'``; tested with verifiers 0.4.0, its v1 API).

verifiers loads a taskset by id, importing the module of that name; proxmo ships two::

    vf-eval proxmo-webshop  --env.taskset.split test  ...   (module proxmo_webshop)
    vf-eval proxmo-alfworld --env.taskset.split eval_unseen  (module proxmo_alfworld)

Each module exports one ``Taskset`` (one task per task index of the split: ``info`` carries the env id,
split, task index and env settings) and one ``Env`` whose ``run(task, agents)`` plays the episode: the
env's first rendered prompt (:mod:`proxmo_envs.text`) opens the exchange, each reply of the ``player``
agent is parsed and stepped, the next prompt is the next user turn, and the episode's end closes the
exchange. The trace records the reward ``task_score`` (``reward="score"``: WebShop's score / ALFWorld 1.0
on a win; ``"won"``: 10 * won) and the metrics ``won``, ``steps`` and ``invalid_actions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import verifiers.v1 as vf

from proxmo_envs import ALFWORLD_ID, WEBSHOP_ID
from proxmo_envs.integrations.session import TextSession
from proxmo_envs.text import RenderConfig

SYSTEM_PROMPT = ("You are an agent acting in a text environment. Each user turn shows the task, recent steps, "
                 "the current observation and the admissible actions; reply with one of them inside "
                 "<action> </action>.")


class ProxmoTasksetConfig(vf.TasksetConfig):
    """Which tasks and how they are played (flags ``--env.taskset.<field>``)."""

    split: str = "test"
    tasks: int | None = None  # the first n tasks of the split (all when None)
    max_steps: int | None = None  # the env's step cap (its default when None)
    history_length: int = 2
    reasoning: bool = True
    fallback: str = "invalid"
    reward: str = "score"


class ProxmoData(vf.TaskData):
    info: dict
    """env_id, split, task_index, max_steps and the render/session settings the env replays."""


class ProxmoTask(vf.Task[ProxmoData, vf.State, vf.TaskConfig]):
    pass


class ProxmoEnvConfig(vf.EnvConfig):
    player: vf.AgentConfig = vf.AgentConfig()


def session_for(info: dict[str, Any]) -> TextSession:
    """A fresh :class:`TextSession` for a task's ``info``."""
    env_kwargs = {"split": info["split"]}
    if info.get("max_steps") is not None:
        env_kwargs["max_steps"] = int(info["max_steps"])
    render = RenderConfig(history_length=int(info.get("history_length", 2)),
                          reasoning=bool(info.get("reasoning", True)))
    return TextSession(info["env_id"], render_config=render, fallback=info.get("fallback", "invalid"),
                       reward=info.get("reward", "score"), **env_kwargs)


class ProxmoEnv(vf.Env[ProxmoEnvConfig]):
    """Plays one proxmo episode per task with the ``player`` agent (see the module docstring)."""

    def _session(self, info: dict[str, Any]) -> TextSession:
        # Building an env loads its data; keep idle sessions per setting and reuse them across episodes.
        key = tuple(sorted((k, v) for k, v in info.items() if k != "task_index"))
        pool = self.__dict__.setdefault("_proxmo_pool", {}).setdefault(key, [])
        return pool.pop() if pool else session_for(info)

    def _release(self, info: dict[str, Any], session: TextSession) -> None:
        key = tuple(sorted((k, v) for k, v in info.items() if k != "task_index"))
        self.__dict__.setdefault("_proxmo_pool", {}).setdefault(key, []).append(session)

    async def run(self, task, agents) -> None:
        info = dict(task.data.info)
        session = self._session(info)
        try:
            prompt = session.reset(int(info["task_index"]))
            async with agents.player.interaction(task) as interaction:
                segment = await interaction.turn(prompt)
                while not segment.terminated:
                    turn = session.step(segment.last_reply)
                    if turn.done:
                        break  # the episode is over: end the exchange
                    segment = await interaction.turn(turn.prompt)
            invalid = sum(1 for _, action in session.history if action == "<unparsable reply>")
            trace = interaction.trace
            trace.record_reward("task_score", session.episode_reward(), 1.0)
            trace.record_metrics({"won": float(session.won), "steps": float(session.steps),
                                  "invalid_actions": float(invalid)})
            trace.info["proxmo"] = session.metadata()
        finally:
            self._release(info, session)


class ProxmoTaskset(vf.Taskset[ProxmoTask, ProxmoTasksetConfig]):
    """One task per task index of the split; the env id comes from the subclass."""

    ENV_ID = WEBSHOP_ID

    def load(self) -> Iterator[ProxmoTask]:
        import gymnasium as gym

        cfg = self.config
        env = gym.make(self.ENV_ID, split=cfg.split).unwrapped
        n = env.task_count if cfg.tasks is None else min(int(cfg.tasks), env.task_count)
        env.close()
        for i in range(n):
            info = {"env_id": self.ENV_ID, "split": cfg.split, "task_index": i, "max_steps": cfg.max_steps,
                    "history_length": cfg.history_length, "reasoning": cfg.reasoning,
                    "fallback": cfg.fallback, "reward": cfg.reward}
            yield ProxmoTask(ProxmoData(name=f"{self.ENV_ID}/{cfg.split}#{i}", prompt=None,
                                        system_prompt=SYSTEM_PROMPT, info=info), cfg.task)


def _subclass(base: type, name: str, env_id: str) -> type:
    return type(name, (base,), {"ENV_ID": env_id, "__module__": __name__})


WebShopTaskset = _subclass(ProxmoTaskset, "WebShopTaskset", WEBSHOP_ID)
ALFWorldTaskset = _subclass(ProxmoTaskset, "ALFWorldTaskset", ALFWORLD_ID)
