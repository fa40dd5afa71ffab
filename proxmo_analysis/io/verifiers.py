"""verifiers 0.4.0 ``traces.jsonl``: one rollout (a ``Trace``) a line.

Schema source: the ``verifiers`` package (PrimeIntellect-ai/verifiers), ``verifiers/v1/trace.py``
(``Trace``: ``id``, ``task`` = ``TraceTask`` {``type``, ``data``, ``key``, ``hash``}, ``nodes`` =
``MessageNode`` list, ``rewards`` = {name: ``Reward`` {``score``, ``weight``} or null}, ``is_completed``,
``stop_condition``, ``info``), ``verifiers/v1/graph.py`` (``MessageNode``: ``parent`` index, ``message``
{``role``, ``content``, ``tool_calls``}, ``sampled`` = produced by a model call) and
``verifiers/v1/cli/output.py`` (``TRACES_FILE = "traces.jsonl"``, one ``Trace`` dumped per line).

Mapping: the conversation is the path from the root to the last leaf of the node graph; each *sampled*
assistant node is an action, and the user/tool messages since the previous action are its observation
(the ``--observation-field`` key of those messages, ``content`` by default; system messages are left out).
The reward, ``sum(score * weight)`` over the non-null rewards, is the last step's reward; ``won`` is
reward > 0. The task group is ``group.id`` when the trace has one, else ``task.hash`` (else ``task.key``).
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


def _branch(line: Line, nodes: list) -> list[int]:
    """Node indices from the root to the last leaf."""
    parents = set()
    for k, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("message"), dict):
            raise line.error(f"nodes.{k}.message", "expected a message object")
        p = node.get("parent")
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < len(nodes) or p == k:
                raise line.error(f"nodes.{k}.parent", f"not the index of another node: {p!r}")
            parents.add(p)
    leaves = [k for k in range(len(nodes)) if k not in parents]
    path, seen, k = [], set(), (leaves[-1] if leaves else None)
    while k is not None:
        if k in seen:
            raise line.error(f"nodes.{k}.parent", "the parent links form a cycle")
        seen.add(k)
        path.append(k)
        k = nodes[k].get("parent")
    return path[::-1]


def read_verifiers(path: str | os.PathLike[str], observation_field: str = "content") -> Iterator[Episode]:
    for number, obj in read_jsonl(path):
        line = Line(path, number, obj)
        trace_id = line.text("id")
        task = line.get("task")
        if not isinstance(task, dict):
            raise line.error("task", "expected an object")
        group = line.get("group.id", None)
        if group is None:
            group = task.get("hash") or task.get("key")
        if group is None:
            raise line.error("task.hash", "missing (and no group.id): the task group cannot be rebuilt")
        nodes = line.get("nodes")
        if not isinstance(nodes, list):
            raise line.error("nodes", "expected a list of message nodes")
        observations, actions, pending = [], [], []
        for k in _branch(line, nodes):
            node = nodes[k]
            message = node["message"]
            role = message.get("role")
            if node.get("sampled") and role == "assistant":
                observations.append("\n".join(pending))
                actions.append(_action_text(message))
                pending = []
            elif role in ("user", "tool"):
                if observation_field not in message:
                    raise line.error(f"nodes.{k}.message.{observation_field}", "missing")
                pending.append(content_text(message[observation_field]))
        if not actions:
            raise line.error("nodes", "no sampled assistant node: the trace has no action")
        rewards = line.get("rewards", {})
        if not isinstance(rewards, dict):
            raise line.error("rewards", "expected an object of named rewards")
        total = 0.0
        for name, r in rewards.items():
            if r is None:
                continue
            if not isinstance(r, dict):
                raise line.error(f"rewards.{name}", "expected {score, weight}")
            score = check_number(line, f"rewards.{name}.score", r.get("score"))
            weight = check_number(line, f"rewards.{name}.weight", r.get("weight", 1.0))
            total += score * weight
        stop = line.get("stop_condition", None)
        truncated = stop in TRUNCATING_STOPS
        step_rewards = [0.0] * (len(actions) - 1) + [total]
        yield Episode(
            task_id=str(task.get("key") or group), group_id=str(group), episode_id=trace_id,
            observations=observations, actions=actions, rewards=step_rewards, won=total > 0, task_score=total,
            terminated=not truncated, truncated=truncated,
            task_type=str(task["type"]) if isinstance(task.get("type"), str) else None, line=number,
        )


__all__ = ["read_verifiers", "content_text"]
