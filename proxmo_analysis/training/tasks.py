"""Which tasks a training run plays: the tasks of each iteration and the behaviour-cloned games."""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import TrainConfig


def task_sample(seed: int, iteration: int, n_tasks: int, task_count: int) -> list[int]:
    """The training task indices of one iteration: ``n_tasks`` distinct indices, reproducible from
    ``(seed, iteration)`` (with replacement only when the split has fewer tasks than asked)."""
    rng = np.random.default_rng([int(seed), int(iteration)])
    picked = rng.choice(task_count, size=n_tasks, replace=n_tasks > task_count)
    return sorted(int(i) for i in picked)


def warm_start_games(config: TrainConfig, task_count: int) -> list[int]:
    """The train-split task indices a run behaviour-clones (empty without a warm start); a function of the
    seed only, so every method of a seed clones the same games."""
    if config.warm_start_games == 0:
        return []
    return task_sample(config.seed, 0, min(config.warm_start_games, task_count), task_count)


def training_pool(config: TrainConfig, task_count: int) -> list[int]:
    """The train-split task indices iterations sample from: ``train_tasks`` when given (a fixed set, e.g.
    the learning sanity check's 8 games), else all of them, or those not behaviour-cloned
    (``rl_on_warm_start_games=False``, the default) when some are left."""
    if config.train_tasks is not None:
        bad = [i for i in config.train_tasks if not 0 <= i < task_count]
        if bad:
            from proxmo_analysis.errors import InputError

            raise InputError(f"TrainConfig.train_tasks: {bad} out of range, the train split has {task_count} tasks")
        return list(config.train_tasks)
    pool = list(range(task_count))
    if not config.rl_on_warm_start_games:
        cloned = set(warm_start_games(config, task_count))
        rest = [i for i in pool if i not in cloned]
        pool = rest or pool
    return pool


def task_count(env_id: str, kwargs: dict[str, Any]) -> int:
    from proxmo_envs.making import make_checked

    env = make_checked(env_id, kwargs)
    try:
        count = getattr(env.unwrapped, "task_count", None)
    finally:
        env.close()
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"{env_id} ({kwargs}) exposes no positive task_count; it cannot be trained on")
    return count
