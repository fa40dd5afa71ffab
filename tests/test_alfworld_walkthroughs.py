"""Every shipped evaluation game is won by replaying its walkthrough in the real engine."""

from __future__ import annotations

import pytest

from proxmo_envs.alfworld.env import ALFWorldEnv


@pytest.mark.slow
@pytest.mark.parametrize("split", ["eval_seen", "eval_unseen"])
def test_every_eval_walkthrough_wins(split):
    env = ALFWorldEnv(split=split)
    lost = []
    for i in range(env.task_count):
        obs, info = env.reset(options={"game_index": i})
        assert not info["won"], f"{info['task_id']} is won before any action"
        assert env.observation_space.contains(obs)
        reward, terminated = 0.0, False
        for step, cmd in enumerate(info["walkthrough"]):
            if cmd not in info["admissible_actions"]:
                lost.append((info["task_id"], step, cmd))
                break
            obs, reward, terminated, truncated, info = env.step(cmd)
            assert env.observation_space.contains(obs), (info["task_id"], obs)
        if not (terminated and reward == 1.0 and info["won"] and len(info["walkthrough"]) <= env.max_steps):
            lost.append((info["task_id"], "not won"))
    assert lost == []
