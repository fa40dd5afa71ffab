"""verifiers 0.4.0 ``traces.jsonl``: one rollout ``Episode`` a line, holding its agents' ``Trace``s.

Schema source: the ``verifiers`` package 0.4.0 (PrimeIntellect-ai/verifiers):
``verifiers/v1/utils/trace_store.py`` (``TRACES_FILE = "traces.jsonl"``, ``write_episode`` dumps one
``Episode`` per line), ``verifiers/v1/episode.py`` (``Episode``: ``id``, ``env`` {``id``}, ``task``,
``group`` = ``GroupInfo`` {``id``} or absent, ``traces``), ``verifiers/v1/trace.py`` (``Trace``: ``id``,
``task`` = ``TraceTask`` {``type``, ``data``, ``key``, ``hash``}, ``agent`` {``trainable``}, ``nodes`` =
``MessageNode`` list, ``rewards`` = {name: ``Reward`` {``score``, ``weight``} or null}, ``stop_condition``)
and ``verifiers/v1/graph.py`` (``MessageNode``: ``parent`` index, absent for a root, ``message``
{``role``, ``content``, ``tool_calls``}, ``sampled`` = produced by a model call). Earlier development
versions wrote one bare ``Trace`` a line; such lines are read too. The tests write fixtures with
verifiers' own models and ``write_episode`` when the package is installed.

Mapping: the conversation is the path from the root to the last leaf of the node graph; each *sampled*
assistant node is an action, and the user/tool messages since the previous action are its observation
(the ``--observation-field`` key of those messages, ``content`` by default; system messages are left out).
The reward, ``sum(score * weight)`` over the non-null rewards, is the last step's reward; ``won`` is
reward > 0. The task group is the episode's ``group.id`` when it has one, else ``task.hash`` (else
``task.key``). Each trainable agent's trace is one trajectory (a non-trainable judge's is skipped).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

from .records import Episode, Line, check_number, read_jsonl

#: stop conditions the verifiers ``Trace.is_truncated`` counts as a framework limit
TRUNCATING_STOPS = ("max_turns", "max_input_tokens", "max_output_tokens", "max_total_tokens", "compaction_failed")


def content_text(content: Any) -> str:
    """Plain text of a chat ``content``: a string as is, text parts of a part list joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(texts)
    return json.dumps(content, sort_keys=True)


def _action_text(message: dict[str, Any]) -> str:
    parts = [content_text(message.get("content"))] if message.get("content") else []
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            fn = call.get("function", call)
            parts.append(f"{fn.get('name', '')}({fn.get('arguments', '')})")
    return "\n".join(p for p in parts if p)


def _branch(line: Line, nodes: list, at: str) -> list[int]:
    """Node indices from the root to the last leaf (``at``: where ``nodes`` is, for error messages)."""
    parents = set()
    for k, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("message"), dict):
            raise line.error(f"{at}.{k}.message", "expected a message object")
        p = node.get("parent")
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < len(nodes) or p == k:
                raise line.error(f"{at}.{k}.parent", f"not the index of another node: {p!r}")
            parents.add(p)
    leaves = [k for k in range(len(nodes)) if k not in parents]
    path, seen, k = [], set(), (leaves[-1] if leaves else None)
    while k is not None:
        if k in seen:
            raise line.error(f"{at}.{k}.parent", "the parent links form a cycle")
        seen.add(k)
        path.append(k)
        k = nodes[k].get("parent")
    return path[::-1]


def _trace_episode(line: Line, trace: dict[str, Any], at: str, group: str, task: dict[str, Any],
                   env_id: str | None, observation_field: str) -> Episode:
    """Our Episode of one ``Trace`` (``at``: its path in the line, for error messages)."""
    nodes = trace.get("nodes")
    if not isinstance(nodes, list):
        raise line.error(f"{at}nodes", "expected a list of message nodes")
    observations, actions, pending = [], [], []
    for k in _branch(line, nodes, f"{at}nodes"):
        node = nodes[k]
        message = node["message"]
        role = message.get("role")
        if node.get("sampled") and role == "assistant":
            observations.append("\n".join(pending))
            actions.append(_action_text(message))
            pending = []
        elif role in ("user", "tool"):
            if observation_field not in message:
                raise line.error(f"{at}nodes.{k}.message.{observation_field}", "missing")
            pending.append(content_text(message[observation_field]))
    if not actions:
        raise line.error(f"{at}nodes", "no sampled assistant node: the trace has no action")
    rewards = trace.get("rewards", {})
    if not isinstance(rewards, dict):
        raise line.error(f"{at}rewards", "expected an object of named rewards")
    total = 0.0
    for name, r in rewards.items():
        if r is None:
            continue  # scoring did not run for this reward
        if not isinstance(r, dict):
            raise line.error(f"{at}rewards.{name}", "expected {score, weight}")
        score = check_number(line, f"{at}rewards.{name}.score", r.get("score"))
        weight = check_number(line, f"{at}rewards.{name}.weight", r.get("weight", 1.0))
        total += score * weight
    truncated = trace.get("stop_condition") in TRUNCATING_STOPS
    trace_id = trace.get("id")
    if not isinstance(trace_id, str):
        raise line.error(f"{at}id", "expected the trace id (a string)")
    return Episode(
        task_id=str(task.get("key") or group), group_id=group, episode_id=trace_id,
        observations=observations, actions=actions, rewards=[0.0] * (len(actions) - 1) + [total],
        won=total > 0, task_score=total, terminated=not truncated, truncated=truncated,
        task_type=str(task["type"]) if isinstance(task.get("type"), str) else None, env_id=env_id,
        line=line.lineno,
    )


def read_verifiers(path: str | os.PathLike[str], observation_field: str = "content") -> Iterator[Episode]:
    """Episodes of a ``traces.jsonl``: one ``Episode`` a line with its ``traces`` (verifiers 0.4.0), each
    trainable agent's trace one of our episodes; a line that is a bare ``Trace`` (``nodes`` at the top)
    is read as an episode with that one trace."""
    for number, obj in read_jsonl(path):
        line = Line(path, number, obj)
        task = line.get("task")
        if not isinstance(task, dict):
            raise line.error("task", "expected an object")
        group = line.get("group.id", None)
        if group is None:
            group = task.get("hash") or task.get("key")
        if group is None:
            raise line.error("task.hash", "missing (and no group.id): the task group cannot be rebuilt")
        env_id = line.get("env.id", None) or None
        if "traces" in obj:
            traces = line.get("traces")
            if not isinstance(traces, list):
                raise line.error("traces", "expected a list of traces")
            if not traces:
                raise line.error("traces", "empty: the episode produced no trace")
            located = [(f"traces.{k}.", t) for k, t in enumerate(traces)]
        else:
            located = [("", obj)]
        for at, trace in located:
            if not isinstance(trace, dict):
                raise line.error(at.rstrip(".") or None, "expected a trace object")
            if trace.get("agent", {}).get("trainable", True) is False:
                continue  # a judge or other non-policy agent: not a trajectory of the policy
            yield _trace_episode(line, trace, at, str(group), task, env_id, observation_field)


__all__ = ["read_verifiers", "content_text"]
