"""NeMo Gym rollouts JSONL (the ``output_jsonl_fpath`` of ``gym eval run`` / ``ng_collect_rollouts``).

Schema source: NVIDIA NeMo Gym (NVIDIA-NeMo/Gym), ``nemo_gym/rollout_collection.py``: each input row is
stamped with ``_ng_task_index`` (identical input rows share it) and ``_ng_rollout_index`` (0..num_repeats-1
per task) and one result line per rollout holds the row's fields plus the agent's verify response: the
OpenAI-Responses ``response`` whose ``output`` list interleaves the model's items (``message`` with role
``assistant`` and ``output_text`` parts, ``function_call``) with what the environment answered
(``function_call_output``, or a ``message`` with role ``user``), and the ``reward``. The first observation is
the last user message of ``responses_create_params.input``. Gym-style environments may add top-level
``terminated`` / ``truncated`` / ``info`` for the final step (``info.won`` sets ``won``, else reward > 0).

Mapping: consecutive model items form one action; the environment items after it form the next
observation (the ``--observation-field`` key of those items: ``output`` for tool results and ``content``
for messages by default). ``reasoning`` items are not actions. The reward is the last step's.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from .records import Episode, Line, read_jsonl
from .verifiers import content_text

_MODEL_ITEMS = ("function_call",)
_ENV_ITEMS = ("function_call_output",)


def _is_model(item: dict[str, Any]) -> bool:
    return item.get("type") in _MODEL_ITEMS or (item.get("type", "message") == "message" and item.get("role") == "assistant")


def _is_env(item: dict[str, Any]) -> bool:
    return item.get("type") in _ENV_ITEMS or (item.get("type", "message") == "message" and item.get("role") == "user")


def _env_text(line: Line, where: str, item: dict[str, Any], observation_field: str | None) -> str:
    key = observation_field or ("output" if item.get("type") == "function_call_output" else "content")
    if key not in item:
        raise line.error(f"{where}.{key}", "missing")
    value = item[key]
    return value if isinstance(value, str) else content_text(value)


def _model_text(item: dict[str, Any]) -> str:
    if item.get("type") == "function_call":
        return f"{item.get('name', '')}({item.get('arguments', '')})"
    return content_text(item.get("content"))


def read_nemo_gym(path: str | os.PathLike[str], observation_field: str | None = None) -> Iterator[Episode]:
    for number, obj in read_jsonl(path):
        line = Line(path, number, obj)
        task = line.integer("_ng_task_index")
        rollout = line.integer("_ng_rollout_index")
        reward = line.number("reward")
        prompt = line.get("responses_create_params.input", None)
        observation = ""
        if isinstance(prompt, str):
            observation = prompt
        elif isinstance(prompt, list):
            users = [(k, m) for k, m in enumerate(prompt) if isinstance(m, dict) and m.get("role") == "user"]
            if users:
                k, m = users[-1]
                observation = _env_text(line, f"responses_create_params.input.{k}", m, observation_field)
        elif prompt is not None:
            raise line.error("responses_create_params.input", "expected a string or a list of messages")
        output = line.get("response.output")
        if not isinstance(output, list):
            raise line.error("response.output", "expected a list of output items")
        observations, actions, current = [], [], []
        pending_obs = [observation]
        for k, item in enumerate(output):
            if not isinstance(item, dict):
                raise line.error(f"response.output.{k}", "expected an object")
            if _is_model(item):
                if pending_obs is not None:
                    observations.append("\n".join(pending_obs))
                    pending_obs = None
                    current = []
                    actions.append("")
                current.append(_model_text(item))
                actions[-1] = "\n".join(t for t in current if t)
            elif _is_env(item):
                if pending_obs is None:
                    pending_obs = []
                pending_obs.append(_env_text(line, f"response.output.{k}", item, observation_field))
        if not actions:
            raise line.error("response.output", "no assistant item: the rollout has no action")
        info = line.get("info", {}) or {}
        if not isinstance(info, dict):
            raise line.error("info", "expected an object")
        won = info.get("won", reward > 0)
        if not isinstance(won, bool):
            raise line.error("info.won", "expected true or false")
        truncated = line.boolean("truncated", False)
        terminated = line.boolean("terminated", not truncated)
        agent = line.get("agent_ref.name", None)
        yield Episode(
            task_id=f"task{task}", group_id=f"task{task}", episode_id=f"task{task}/{rollout}",
            observations=observations, actions=actions, rewards=[0.0] * (len(actions) - 1) + [reward],
            won=won, task_score=reward, rollout_index=rollout, terminated=terminated, truncated=truncated,
            task_type=str(agent) if isinstance(agent, str) else None, line=number,
        )


__all__ = ["read_nemo_gym"]
