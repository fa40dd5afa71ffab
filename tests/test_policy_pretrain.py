"""Warm start by behaviour cloning on ALFWorld train walkthroughs (proxmo_analysis.policy.pretrain)."""

from __future__ import annotations

import json

import pytest
import torch

from proxmo_analysis.logs import read_log
from proxmo_analysis.policy.pretrain import behaviour_clone, collect_expert_rows
from proxmo_analysis.policy.scorer import ActionScorer, ScorerConfig
from proxmo_analysis.train import TrainConfig, Trainer, task_sample
from proxmo_envs.rollout import rollout

ALFWORLD = "proxmo/ALFWorld-v0"
TRAIN = {"split": "train"}
GAMES = [0, 1, 2, 3]


def _usable() -> bool:
    try:
        import gymnasium as gym

        import proxmo_envs  # noqa: F401

        env = gym.make(ALFWORLD, split="train")
        ok = env.unwrapped.task_count > 0
        env.close()
        return ok
    except Exception:  # noqa: BLE001 - the ALFWorld env or its games are not there
        return False


pytestmark = pytest.mark.skipif(not _usable(), reason="the ALFWorld env or its shipped games are not available")


def _expert_logp(policy, rows) -> torch.Tensor:
    with torch.no_grad():
        return policy.logprobs(rows.sort(["episode_id", "step"]))


def test_bc_raises_expert_probability_and_greedy_success(tmp_path):
    expert = collect_expert_rows(ALFWORLD, TRAIN, GAMES, tmp_path / "expert", max_steps=50)
    assert expert["episode_id"].n_unique() == len(GAMES)  # every walkthrough wins
    policy = ActionScorer(ScorerConfig(), seed=0)
    before = _expert_logp(policy, expert)
    # The untrained scorer is uniform: log pi(expert) = -log K at every step.
    # (K = the admissible actions without "help", which the policy is not offered)
    k = torch.tensor([len([x for x in a if x != "help"])
                      for a in expert.sort(["episode_id", "step"])["admissible_actions"].to_list()])
    assert torch.allclose(before, -torch.log(k.float()), atol=1e-5)
    untrained = rollout(ALFWORLD, TRAIN, policy.episodic(greedy=True), GAMES, 1, tmp_path / "ev0", max_steps=30)

    result = behaviour_clone(policy, ALFWORLD, TRAIN, GAMES, epochs=60, lr=1e-2, seed=0, out=tmp_path / "bc",
                             max_steps=50)
    after = _expert_logp(policy, expert)
    assert result["expert_episodes"] == len(GAMES) and result["expert_steps"] == expert.height
    assert result["losses"][-1] < 0.2 * result["losses"][0]
    assert after.mean() > before.mean() + 1.0
    trained = rollout(ALFWORLD, TRAIN, policy.episodic(greedy=True), GAMES, 1, tmp_path / "ev1", max_steps=30)
    assert untrained.success_rate == 0.0 and trained.success_rate >= 0.75


def test_bc_is_deterministic_from_the_seed(tmp_path):
    rows = collect_expert_rows(ALFWORLD, TRAIN, GAMES[:2], tmp_path / "expert", max_steps=50)
    from proxmo_analysis.policy.pretrain import fit_rows

    a, b = ActionScorer(seed=0), ActionScorer(seed=0)
    la = fit_rows(a, rows, epochs=3, seed=7, batch_episodes=1)
    lb = fit_rows(b, rows, epochs=3, seed=7, batch_episodes=1)
    assert la == lb
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="epochs"):
        fit_rows(a, rows, epochs=-1)


def test_trainer_warm_start_is_identical_across_methods_and_recorded(tmp_path):
    policy_config = {"encoder": "hashed", "hashed_dim": 16, "hashed_buckets": 4096, "hidden": 16}
    trainers = []
    for method in ("grpo", "proxmo"):
        cfg = TrainConfig(env_id=ALFWORLD, method=method, iterations=0, tasks=1, group_size=1, eval_tasks=1,
                          seed=5, out=str(tmp_path / method), policy_config=policy_config, max_steps=50,
                          warm_start_games=2, warm_start_epochs=2)
        trainer = Trainer(cfg)
        assert trainer.policy is None  # the warm start is the loop's first step, not the constructor's
        trainer.start_policy()
        trainers.append(trainer)
    grpo, proxmo = trainers
    assert grpo.warm_start["task_indices"] == proxmo.warm_start["task_indices"] == task_sample(5, 0, 2, grpo.train_task_count)
    for pa, pb in zip(grpo.policy.state_dict().values(), proxmo.policy.state_dict().values()):
        assert torch.equal(pa, pb)
    # The PPO reference is the warm-started policy.
    for pa, pb in zip(grpo.policy.state_dict().values(), grpo.ref.state_dict().values()):
        assert torch.equal(pa, pb)
    saved = json.loads((tmp_path / "grpo" / "config.json").read_text())
    assert saved["warm_start_games"] == 2
    assert json.loads((tmp_path / "grpo" / "warm_start.json").read_text())["expert_episodes"] == 2
    assert read_log(tmp_path / "grpo" / "warm_start")["episode_id"].n_unique() == 2
    with pytest.raises(ValueError, match="warm_start_games"):
        TrainConfig(env_id=ALFWORLD, warm_start_games=-1)
