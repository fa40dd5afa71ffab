"""Which episodes a rollout runs: tasks × group size, with deterministic seeds and ids.

Every episode is identified by ``(task_id, rollout_index)``; its seeds and ids depend only on the run's
configuration (seed, iteration, env, policy) and that pair, never on the number of workers or on which
episodes already ran, so an interrupted run resumed later equals an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

_SEED_MASK = (1 << 63) - 1


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to run: the task, its place in the group, its seeds and its log ids."""

    task_index: int
    task_id: str
    rollout_index: int
    env_seed: int
    policy_seed: int
    group_id: str
    episode_id: str


def episode_seeds(seed: int, iteration: int, task_index: int, rollout_index: int) -> tuple[int, int]:
    """``(env_seed, policy_seed)`` of one episode, 63-bit ints from ``np.random.SeedSequence``.

    The run ``seed`` is the entropy and ``(iteration, task_index, rollout_index)`` the spawn key, so
    seeds are distinct per (task, rollout index) and the same in every process and on every resume.
    """
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(iteration), int(task_index), int(rollout_index)))
    words = ss.generate_state(4, dtype=np.uint32).astype(np.uint64)
    env_seed = int((words[0] << np.uint64(32)) | words[1]) & _SEED_MASK
    policy_seed = int((words[2] << np.uint64(32)) | words[3]) & _SEED_MASK
    return env_seed, policy_seed


def config_digest(config: Mapping[str, Any]) -> str:
    """Eight hex digits identifying a rollout configuration (part of every group id)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def group_id_for(task_id: str, iteration: int, digest: str) -> str:
    """``"{task_id}@it{iteration}#{digest}"``: one group per task, iteration and configuration."""
    return f"{task_id}@it{iteration}#{digest}"


def resolve_tasks(tasks: int | Sequence[int] | Sequence[str], task_ids: Sequence[str]) -> list[tuple[int, str]]:
    """``(task_index, task_id)`` pairs of a rollout.

    Args:
        tasks: an int ``n`` (the first ``n`` tasks of the split), a sequence of task indices, or a
            sequence of task ids (``str``).
        task_ids: the env's ``task_ids`` (index-aligned with ``reset(options={"task_index": i})``).
    """
    count = len(task_ids)
    if isinstance(tasks, (int, np.integer)) and not isinstance(tasks, bool):
        if not 1 <= tasks <= count:
            raise ValueError(f"tasks={tasks}: the env's split has {count} task(s); ask for 1..{count}")
        return [(i, str(task_ids[i])) for i in range(int(tasks))]
    if isinstance(tasks, str):
        raise TypeError(f"tasks must be an int or a sequence of task indices or ids, not the string {tasks!r}")
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty")
    out: list[tuple[int, str]] = []
    position = {str(t): i for i, t in enumerate(task_ids)}
    for t in tasks:
        if isinstance(t, str):
            if t not in position:
                raise ValueError(f"task id {t!r} is not in the env's split ({count} tasks)")
            out.append((position[t], t))
        elif isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            if not 0 <= t < count:
                raise ValueError(f"task index {t} is out of range: the env's split has {count} task(s)")
            out.append((int(t), str(task_ids[t])))
        else:
            raise TypeError(f"tasks must hold task indices (int) or task ids (str), got {t!r}")
    seen: set[int] = set()
    for index, task_id in out:
        if index in seen:
            raise ValueError(f"task {task_id!r} (index {index}) is listed twice")
        seen.add(index)
    return out


def plan_episodes(
    tasks: Sequence[tuple[int, str]], group_size: int, seed: int, iteration: int, digest: str
) -> list[EpisodeSpec]:
    """All episodes of a rollout, task by task, rollout index 0..group_size-1 within each task."""
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    specs = []
    for task_index, task_id in tasks:
        group_id = group_id_for(task_id, iteration, digest)
        for r in range(group_size):
            env_seed, policy_seed = episode_seeds(seed, iteration, task_index, r)
            specs.append(
                EpisodeSpec(task_index, task_id, r, env_seed, policy_seed, group_id, f"{group_id}/{r}")
            )
    return specs


def split_by_group(specs: Sequence[EpisodeSpec], workers: int) -> list[list[EpisodeSpec]]:
    """Deal whole groups to ``workers`` lists round-robin (a group's episodes stay together).

    With fewer groups than workers, episodes are dealt one by one instead so no worker idles.
    """
    groups: dict[str, list[EpisodeSpec]] = {}
    for s in specs:
        groups.setdefault(s.group_id, []).append(s)
    chunks: list[list[EpisodeSpec]] = [[] for _ in range(workers)]
    if len(groups) < workers:
        for k, s in enumerate(specs):
            chunks[k % workers].append(s)
        return [c for c in chunks if c]
    for k, members in enumerate(groups.values()):
        chunks[k % workers].extend(members)
    return [c for c in chunks if c]


__all__ = [
    "EpisodeSpec",
    "episode_seeds",
    "config_digest",
    "group_id_for",
    "resolve_tasks",
    "plan_episodes",
    "split_by_group",
]
