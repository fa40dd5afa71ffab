"""A refused reset through ``gym.make`` leaves the env usable, and misspelt reset options are refused by both
environments (WebShop used to ignore them and pick a random goal)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import proxmo_envs  # noqa: F401  (registers the ids)

ENVS = [("proxmo/WebShop-v0", {}, "search[shoes]"), ("proxmo/ALFWorld-v0", {"split": "eval_unseen"}, "look")]


@pytest.mark.parametrize("env_id, kwargs, action", ENVS)
def test_a_refused_first_reset_does_not_break_later_steps(env_id, kwargs, action):
    env = gym.make(env_id, **kwargs)
    try:
        with pytest.raises(ValueError, match="out of range"):
            env.reset(options={"task_index": 10**9})
        obs, info = env.reset(seed=0, options={"task_index": 0})
        assert isinstance(obs, str) and info["task_id"] == env.unwrapped.task_ids[0]
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(obs, str) and isinstance(reward, float)
    finally:
        env.close()


@pytest.mark.parametrize("env_id, kwargs, action", ENVS)
def test_a_misspelt_option_is_refused(env_id, kwargs, action):
    env = gym.make(env_id, **kwargs)
    try:
        with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['taks_index'\]"):
            env.reset(options={"taks_index": 3})
        env.reset(seed=1, options={"task_index": 3})
        assert env.unwrapped.task_ids.index(env.step(action)[4]["task_id"]) == 3
    finally:
        env.close()
