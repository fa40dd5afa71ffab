"""A tiny Text-space env following env-api.md, for the trajectory-log and rollout tests.

Registered under the test-only id ``proxmo_test/Toy-v0``; other tests (and spawned worker processes,
which inherit ``sys.path``) make it as ``test_trajlog_toyenv:proxmo_test/Toy-v0`` so the module that
registers it is imported first. The tests at the bottom check the env itself.
"""

from __future__ import annotations

import string
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.envs.registration import register, registry
from gymnasium.utils.env_checker import check_env

TOY_ID = "proxmo_test/Toy-v0"
TOY_MAKE_ID = f"test_trajlog_toyenv:{TOY_ID}"
CHARSET = string.ascii_letters + string.digits + string.punctuation + " éç☕"
WORDS = ("alpha", "beta", "gamma", "delta")
WIN_REWARD = 1.0
WRONG_REWARD = -0.25  # exact in float32, so sums are exact too


class ToyEnv(gym.Env):
    """Say task ``i``'s magic word ``WORDS[i % 4]``: +1 and terminated; another word -0.25; anything else
    is an invalid no-op. ``max_steps`` truncates. Task types: ``even``/``odd``, none when ``i % 3 == 2``.
    Steps raise ``RuntimeError`` at step 2 for tasks in ``fail_task_indices``; ``step_delay`` seconds of
    sleep per step make a rollout slow enough to kill.
    """

    metadata = {"render_modes": []}

    def __init__(self, n_tasks: int = 6, max_steps: int = 5, fail_task_indices=(), step_delay: float = 0.0):
        self.observation_space = spaces.Text(max_length=400, charset=CHARSET)
        self.action_space = spaces.Text(max_length=40, charset=CHARSET)
        self.task_count = int(n_tasks)
        self.task_ids = [f"toy-{i}" for i in range(self.task_count)]
        self.max_steps = int(max_steps)
        self.fail_task_indices = tuple(fail_task_indices)
        self.step_delay = float(step_delay)
        self._task = 0
        self._t = 0

    def _info(self, invalid: bool = False, won: bool = False) -> dict:
        task_type = None if self._task % 3 == 2 else ("even" if self._task % 2 == 0 else "odd")
        return {
            "admissible_actions": [WORDS[i] for i in self.np_random.permutation(len(WORDS))],
            "invalid_action": invalid,
            "won": won,
            "task_score": 1.0 if won else 0.0,
            "task_id": self.task_ids[self._task],
            "task_type": task_type,
            "walkthrough": [WORDS[self._task % len(WORDS)]],
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        options = options or {}
        if "task_index" in options:
            self._task = int(options["task_index"])
        else:
            self._task = int(self.np_random.integers(self.task_count))
        self._t = 0
        obs = f"Café ☕ task {self.task_ids[self._task]}: say the word. noise={int(self.np_random.integers(1000))}"
        return obs, self._info()

    def step(self, action):
        if not isinstance(action, str):
            raise TypeError(f"action must be a str, got {type(action).__name__}")
        if self.step_delay:
            time.sleep(self.step_delay)
        self._t += 1
        if self._task in self.fail_task_indices and self._t == 2:
            raise RuntimeError(f"toy failure in task {self._task}")
        invalid = action not in WORDS
        won = not invalid and action == WORDS[self._task % len(WORDS)]
        reward = WIN_REWARD if won else (0.0 if invalid else WRONG_REWARD)
        truncated = not won and self._t >= self.max_steps
        obs = f"you said {action[:20]}; step {self._t}; noise={int(self.np_random.integers(1000))}"
        return obs, reward, won, truncated, self._info(invalid=invalid, won=won)


if TOY_ID not in registry:
    register(id=TOY_ID, entry_point=f"{__name__}:ToyEnv")


def test_toy_env_passes_check_env():
    env = gym.make(TOY_ID).unwrapped
    check_env(env, skip_render_check=True)


def test_toy_env_rules():
    env = ToyEnv(n_tasks=4, max_steps=3)
    obs, info = env.reset(seed=1, options={"task_index": 1})
    assert info["task_id"] == "toy-1" and info["task_type"] == "odd"
    assert sorted(info["admissible_actions"]) == sorted(WORDS)
    _, r, term, trunc, info = env.step("nonsense")
    assert (r, term, trunc, info["invalid_action"]) == (0.0, False, False, True)
    _, r, term, trunc, info = env.step("alpha")
    assert (r, term, trunc, info["invalid_action"]) == (WRONG_REWARD, False, False, False)
    _, r, term, trunc, info = env.step("alpha")
    assert (r, term, trunc) == (WRONG_REWARD, False, True)
    env.reset(seed=1, options={"task_index": 1})
    _, r, term, trunc, info = env.step("beta")
    assert (r, term, trunc, info["won"], info["task_score"]) == (1.0, True, False, True, 1.0)


def test_toy_env_same_seed_same_episode():
    a, b = ToyEnv(), ToyEnv()
    assert a.reset(seed=7) == b.reset(seed=7)
    assert a.step("gamma") == b.step("gamma")
    assert a.reset(seed=7)[0] != a.reset(seed=8)[0] or a.reset(seed=9)[0] != a.reset(seed=7)[0]


def test_toy_env_non_string_action_is_type_error():
    env = ToyEnv()
    env.reset(seed=0)
    with pytest.raises(TypeError, match="must be a str"):
        env.step(3)


def test_toy_env_random_task_uses_np_random():
    env = ToyEnv(n_tasks=6)
    tasks = {env.reset(seed=s)[1]["task_id"] for s in range(40)}
    assert len(tasks) > 1
    assert np.all([t.startswith("toy-") for t in tasks])
