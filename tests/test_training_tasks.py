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


def test_a_run_branches_from_a_start_without_evaluation(tmp_path):
    """init_from a start trained with eval_tasks=0 (as the sanity checks train): there is no eval folder to copy."""
    from proxmo_analysis.training import train

    small = dict(env_id="proxmo/WebShop-v0", method="grpo", tasks=2, group_size=2, eval_tasks=0, seed=1,
                 policy_config={"encoder": "hashed", "hashed_dim": 8, "hashed_buckets": 512, "hidden": 8})
    train(TrainConfig(iterations=0, out=str(tmp_path / "start"), **small))
    rows = train(TrainConfig(iterations=1, out=str(tmp_path / "branch"), init_from=str(tmp_path / "start"), **small))
    assert [r["iteration"] for r in rows] == [0, 1] and not (tmp_path / "branch" / "eval").exists()


def test_a_run_saved_before_loss_agg_existed_resumes_only_as_row():
    """A saved config without ppo.loss_agg trained with every row weighing the same (the behaviour before)."""
    from proxmo_analysis.policy.config import PPOConfig
    from proxmo_analysis.training.loop import resume_differences

    old = TrainConfig().to_dict()
    del old["ppo"]["loss_agg"]
    assert resume_differences(old, TrainConfig()) == ["ppo.loss_agg: run 'row', now 'episode'"]
    assert resume_differences(old, TrainConfig(ppo=PPOConfig(loss_agg="row"))) == []
