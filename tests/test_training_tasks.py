"""A fixed training task set (TrainConfig.train_tasks) and the start's defaults for settings added later."""

from __future__ import annotations

import pytest

from proxmo_analysis.errors import InputError
from proxmo_analysis.train import TrainConfig
from proxmo_analysis.training.tasks import task_sample, training_pool


def test_train_tasks_is_the_pool_every_iteration_samples_from():
    cfg = TrainConfig(train_tasks=[5, 1, 9], tasks=3, warm_start_games=0)
    assert training_pool(cfg, 20) == [5, 1, 9]
    # with tasks == pool size every iteration plays the whole fixed set
    pool = training_pool(cfg, 20)
    assert sorted(pool[i] for i in task_sample(0, 4, cfg.tasks, len(pool))) == [1, 5, 9]
    with pytest.raises(InputError, match="out of range"):
        training_pool(TrainConfig(train_tasks=[3, 25]), 20)
    with pytest.raises(InputError, match="train_tasks"):
        TrainConfig(train_tasks=[])
    with pytest.raises(InputError, match="train_tasks"):
        TrainConfig(train_tasks=[1, -2])
    assert TrainConfig().train_tasks is None and training_pool(TrainConfig(), 4) == [0, 1, 2, 3]
