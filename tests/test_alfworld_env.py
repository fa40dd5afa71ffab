"""proxmo/ALFWorld-v0 on the shipped generated games: Gymnasium contract, determinism, invalid actions, caps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import proxmo_envs  # noqa: F401  (registers the ids)
from proxmo_envs.alfworld.engine import TASK_TYPES

REPO = Path(__file__).resolve().parents[1]
INFO_KEYS = {"admissible_actions", "admissible_commands", "invalid_action", "won", "task_score", "task_id",
             "task_type", "task", "room", "game_index", "step", "walkthrough"}


@pytest.fixture(scope="module")
def env():
    e = gym.make("proxmo/ALFWorld-v0", split="eval_unseen")
    yield e
    e.close()


def test_check_env(env):
    check_env(env.unwrapped, skip_render_check=True)


def test_task_set_is_exposed_and_typed(env):
    u = env.unwrapped
    assert u.task_count == len(u.task_ids) > 0
    assert all(isinstance(t, str) for t in u.task_ids)
    assert len(set(u.task_ids)) == u.task_count
    assert set(u.task_types) <= set(TASK_TYPES)
    # Unseen rooms only: ALFRED's valid_unseen FloorPlans.
    obs, info = env.reset(options={"task_index": u.task_count - 1})
    assert info["task_id"] == u.task_ids[-1]
    assert info["room"] in {"FloorPlan10", "FloorPlan219", "FloorPlan308", "FloorPlan424"}


def test_reset_info_and_observation(env):
    obs, info = env.reset(options={"game_index": 0})
    assert INFO_KEYS <= set(info)
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert f"Your task is to: {info['task']}." in obs
    assert info["step"] == 0 and info["won"] is False and info["task_score"] == 0.0
    assert info["invalid_action"] is False
    assert info["admissible_actions"] == sorted(set(info["admissible_actions"]))
    assert "help" in info["admissible_actions"] and "look" in info["admissible_actions"]
    assert env.observation_space.contains(obs)


def test_walkthrough_wins_with_reward_one_on_the_last_step(env):
    obs, info = env.reset(options={"game_index": 1})
    steps = info["walkthrough"]
    rewards = []
    for i, cmd in enumerate(steps):
        assert cmd in info["admissible_actions"], (i, cmd)
        obs, r, term, trunc, info = env.step(cmd)
        rewards.append(r)
        assert info["invalid_action"] is False
        assert trunc is False
        assert term is (i == len(steps) - 1)
    assert rewards == [0.0] * (len(steps) - 1) + [1.0]
    assert info["won"] is True and info["task_score"] == 1.0 and info["step"] == len(steps)


def test_invalid_command_is_a_noop_with_flag(env):
    obs, info = env.reset(options={"game_index": 2})
    before = env.step("look")[0]
    obs, r, term, trunc, info = env.step("fly to the moon")
    assert obs == "Nothing happens."
    assert info["invalid_action"] is True and r == 0.0 and not term and not trunc
    assert env.step("look")[0] == before  # the state did not change


def test_non_string_action_is_a_type_error(env):
    env.reset(options={"game_index": 0})
    with pytest.raises(TypeError, match="actions are str"):
        env.step(3)


def test_bad_options_are_clear_errors(env):
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"game_index": 10_000})
    with pytest.raises(ValueError, match="game_id"):
        env.reset(options={"game_id": "no-such-game"})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"goal_index": 0})
    with pytest.raises(ValueError, match="unknown ALFWorld split"):
        gym.make("proxmo/ALFWorld-v0", split="valid")


def test_game_id_option_selects_that_game(env):
    gid = env.unwrapped.task_ids[3]
    _, info = env.reset(options={"game_id": gid})
    assert info["task_id"] == gid and info["game_index"] == 3


def test_random_agent_is_truncated_at_max_steps():
    env = gym.make("proxmo/ALFWorld-v0", split="eval_seen", max_steps=50)
    obs, info = env.reset(seed=3, options={"game_index": 0})
    rng = np.random.default_rng(0)
    # Only movement and examination: a random agent cannot win, so it must hit the cap.
    steps = 0
    while True:
        safe = [a for a in info["admissible_actions"] if a.startswith(("go to", "examine", "look", "inventory"))]
        obs, r, term, trunc, info = env.step(safe[rng.integers(len(safe))])
        steps += 1
        assert not term
        if trunc:
            break
        assert steps < 50
    assert steps == 50 and info["step"] == 50


def _episode(env, seed: int, n: int = 8) -> list:
    obs, info = env.reset(seed=seed)
    out = [obs, json.dumps(info, sort_keys=True)]
    rng = np.random.default_rng(seed)
    for _ in range(n):
        a = info["admissible_actions"][rng.integers(len(info["admissible_actions"]))]
        obs, r, term, trunc, info = env.step(a)
        out += [a, obs, r, term, trunc, json.dumps(info, sort_keys=True)]
        if term or trunc:
            break
    return out


def test_same_seed_same_episode():
    a = gym.make("proxmo/ALFWorld-v0", split="eval_unseen")
    b = gym.make("proxmo/ALFWorld-v0", split="eval_unseen")
    assert _episode(a, 7) == _episode(b, 7)
    assert _episode(a, 7) == _episode(a, 7)  # also after the game is already loaded


SCRIPT = """
import json, sys
import numpy as np, gymnasium as gym, proxmo_envs
env = gym.make("proxmo/ALFWorld-v0", split="eval_unseen")
obs, info = env.reset(seed=11)
out = [obs, info]
rng = np.random.default_rng(0)
for _ in range(6):
    a = info["admissible_actions"][rng.integers(len(info["admissible_actions"]))]
    obs, r, term, trunc, info = env.step(a)
    out.append([a, obs, r, term, trunc, info])
print(json.dumps(out, sort_keys=True))
"""


def test_identical_across_processes_with_different_hash_seeds(tmp_path):
    outs = []
    for hash_seed in ("1", "2"):
        envvars = dict(os.environ, PYTHONHASHSEED=hash_seed, HOME=str(tmp_path / f"home{hash_seed}"))
        envvars.pop("ALFWORLD_DATA", None)
        res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=envvars,
                             cwd=REPO, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(res.stdout)
        # importing and playing ALFWorld must not create ~/.cache/alfworld
        assert not (tmp_path / f"home{hash_seed}" / ".cache" / "alfworld").exists()
    assert outs[0] == outs[1]


def test_sys_argv_is_preserved():
    saved = list(sys.argv)
    env = gym.make("proxmo/ALFWorld-v0", split="eval_seen")
    env.reset(options={"game_index": 5})
    env.step("look")
    assert sys.argv == saved


def test_missing_engine_gives_one_clear_error():
    code = (
        "import sys\n"
        "sys.modules['textworld'] = None\n"
        "import gymnasium as gym, proxmo_envs\n"
        "try:\n"
        "    gym.make('proxmo/ALFWorld-v0')\n"
        "except ImportError as e:\n"
        "    print('ERR', e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "ERR" in res.stdout, res.stderr[-2000:]
    assert "pip install alfworld==0.4.2" in res.stdout


def test_make_vec_sync():
    envs = gym.make_vec("proxmo/ALFWorld-v0", num_envs=2, vectorization_mode="sync", split="eval_unseen")
    obs, infos = envs.reset(seed=0)
    assert len(obs) == 2 and all(isinstance(o, str) for o in obs)
    obs, r, term, trunc, infos = envs.step(["look", "inventory"])
    assert r.tolist() == [0.0, 0.0]
    envs.close()


def test_make_vec_async():
    # Default shared memory: the observation space is SharedText, whose shared-memory handlers work
    # around Gymnasium 1.4 decoding plain Text observations only once, at construction.
    envs = gym.make_vec("proxmo/ALFWorld-v0", num_envs=2, vectorization_mode="async", split="eval_unseen")
    try:
        obs, infos = envs.reset(seed=[1, 2])
        assert len(obs) == 2 and all(o.startswith("-= Welcome") for o in obs)
        obs, r, term, trunc, infos = envs.step(["look", "no such command"])
        assert infos["invalid_action"].tolist() == [False, True]
    finally:
        envs.close()
