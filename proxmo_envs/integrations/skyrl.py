"""SkyRL-Gym adapter (``pip install 'proxmo[skyrl]'``; tested with skyrl-gym 0.4.0).

Importing this module registers two ``BaseTextEnv`` classes in SkyRL-Gym's registry::

    import proxmo_envs.integrations.skyrl  # registers proxmo-webshop and proxmo-alfworld
    env = skyrl_gym.make("proxmo-webshop", env_config={"split": "test"},
                         extras={"extra_info": {"task_index": 3}})
    conversation, meta = env.init(row_prompt)      # the first rendered prompt as a user message
    out = env.step("<action>search[red shoes]</action>")   # observations, reward, done, metadata

The task is ``extras["extra_info"]["task_index"]``; ``env_config`` (SkyRL's
``environment.skyrl_gym.<env_class>`` section) holds env kwargs (``split``, ``max_steps``, ...), render
settings (``history_length``, ``reasoning``, ...) and ``fallback``/``reward`` (see
:class:`~proxmo_envs.integrations.session.TextSession`). ``step`` returns the episode's reward
(``reward="score"``: WebShop's score / ALFWorld 1.0 on a win; ``"won"``: 10 * won) on the step that ends
it and 0 before; ``metadata`` carries ``won``, ``task_score``, ``invalid_action``, ``parsed`` and ``steps``.
:func:`dataset_rows` gives the rows of a SkyRL dataset for a split and :func:`write_dataset` writes them
as the Parquet file SkyRL's ``data.train_data`` reads.
"""

from __future__ import annotations

from typing import Any

from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput
from skyrl_gym.envs.registration import register, registry

from proxmo_envs import ALFWORLD_ID, WEBSHOP_ID
from proxmo_envs.integrations._config import plain_dict, split_config
from proxmo_envs.integrations.session import TextSession

ENV_CLASSES = {"proxmo-webshop": WEBSHOP_ID, "proxmo-alfworld": ALFWORLD_ID}


class ProxmoTextEnv(BaseTextEnv):
    """One proxmo episode as a SkyRL ``BaseTextEnv`` (see the module docstring)."""

    ENV_ID = WEBSHOP_ID

    def __init__(self, env_config: Any = None, extras: dict[str, Any] | None = None) -> None:
        super().__init__()
        extras = dict(extras or {})
        extra_info = plain_dict(extras.get("extra_info"))
        task_index = extra_info.get("task_index")
        if isinstance(task_index, bool) or not isinstance(task_index, int):
            raise ValueError(f"{type(self).__name__}: extras['extra_info']['task_index'] must be an int, "
                             f"got {task_index!r}")
        render, session_opts, env_kwargs = split_config(plain_dict(env_config))
        self.task_index = task_index
        self.seed = extra_info.get("seed")
        self.session = TextSession(self.ENV_ID, render_config=render, **session_opts, **env_kwargs)
        # SkyRL stops an episode after max_turns; the env's own step cap ends it the same way.
        self.max_turns = int(self.session.env.max_steps)

    def init(self, prompt: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """The dataset row's system messages followed by the first rendered prompt as the user message."""
        first = self.session.reset(self.task_index, self.seed)
        system = [m for m in (prompt or []) if isinstance(m, dict) and m.get("role") == "system"]
        return [*system, {"role": "user", "content": first}], {"task_index": self.task_index,
                                                              "task_id": self.session.info.get("task_id")}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        turn = self.session.step(action)
        reward = self.session.episode_reward() if turn.done else 0.0
        observations = [] if turn.done else [{"role": "user", "content": turn.prompt}]
        metadata = {**self.session.metadata(), "invalid_action": bool(turn.info.get("invalid_action")),
                    "parsed": turn.parsed}
        return BaseTextEnvStepOutput(observations=observations, reward=reward, done=turn.done,
                                     metadata=metadata, postprocessed_action=turn.action)

    def get_metrics(self) -> dict[str, Any]:
        return {"won": float(self.session.won), "task_score": self.session.task_score,
                "steps": self.session.steps}

    def close(self) -> None:
        self.session.close()


class WebShopTextEnv(ProxmoTextEnv):
    ENV_ID = WEBSHOP_ID


class ALFWorldTextEnv(ProxmoTextEnv):
    ENV_ID = ALFWORLD_ID


_CLASS_OF = {"proxmo-webshop": "WebShopTextEnv", "proxmo-alfworld": "ALFWorldTextEnv"}


def _register() -> None:
    for env_class, cls_name in _CLASS_OF.items():
        if env_class not in registry:
            register(id=env_class, entry_point=f"{__name__}:{cls_name}")


def dataset_rows(env_class: str, split: str, tasks: int | None = None, system_prompt: str | None = None,
                 **env_kwargs: Any) -> list[dict[str, Any]]:
    """SkyRL dataset rows, one per task of ``split`` (the first ``tasks`` when given).

    Each row: ``data_source`` (the env id), ``prompt`` (a system message if given, and a placeholder user
    message that ``init`` replaces with the rendered first prompt), ``env_class``, ``reward_spec``
    (``{"method": "env", "ground_truth": ""}``: the env owns the reward) and ``extra_info``
    (``task_index``, ``split``). Write them with ``datasets.Dataset.from_list(rows).to_parquet(path)``.
    ``env_kwargs`` (besides ``split``) only size the split here; put them in SkyRL's env_config too.
    """
    if env_class not in ENV_CLASSES:
        raise ValueError(f"env_class must be one of {', '.join(ENV_CLASSES)}, got {env_class!r}")
    import gymnasium as gym

    env = gym.make(ENV_CLASSES[env_class], split=split, **env_kwargs).unwrapped
    n = env.task_count if tasks is None else min(int(tasks), env.task_count)
    env.close()
    rows = []
    for i in range(n):
        prompt = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": f"({env_class} {split} task {i}: the environment writes this prompt)"}]
        rows.append({"data_source": ENV_CLASSES[env_class], "prompt": prompt, "env_class": env_class,
                     "reward_spec": {"method": "env", "ground_truth": ""},
                     "extra_info": {"task_index": i, "split": split}})
    return rows


def write_dataset(path, env_class: str, split: str, tasks: int | None = None, system_prompt: str | None = None,
                  **env_kwargs: Any):
    """Write :func:`dataset_rows` to the Parquet file ``path`` (parent folders created); returns the path."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = dataset_rows(env_class, split, tasks, system_prompt, **env_kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


_register()
