"""data_dir mode: a downloaded ALFWorld tree (json_2.1.1/...) selected with ALFWorld's rules and played."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

import proxmo_envs  # noqa: F401
from proxmo_envs.alfworld import engine
from proxmo_envs.alfworld.games import dataset_games, load_games


def _write_trial(root: Path, rel: str, task_type: str, game: dict | None, scene: str = "FloorPlan1") -> None:
    d = root / rel
    d.mkdir(parents=True)
    (d / "traj_data.json").write_text(json.dumps({"task_type": task_type, "scene": {"floor_plan": scene}}))
    if game is not None:
        (d / "game.tw-pddl").write_text(json.dumps(game))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, list[str]]:
    """A small download-layout tree built from our shipped games, with every kind of game ALFWorld skips."""
    base = tmp_path_factory.mktemp("alfworld_data")
    root = base / "json_2.1.1" / "valid_seen"
    shipped = load_games("eval_seen")[:3]
    expected = []
    for i, g in enumerate(shipped):
        game = engine.game_dict(g.pddl_problem, g.task, list(g.walkthrough))
        rel = f"{g.task_type}-X-None-Y-{i}/trial_T{i}"
        _write_trial(root, rel, g.task_type, game, g.room)
        expected.append(rel)
    good = engine.game_dict(shipped[0].pddl_problem, shipped[0].task, list(shipped[0].walkthrough))
    _write_trial(root, "pick_and_place_with_movable_recep-A-Bowl-B-1/trial_T9", "pick_and_place_with_movable_recep", good)
    _write_trial(root, "pick_heat_then_place_in_recep-AppleSliced-None-B-1/trial_T9", shipped[0].task_type, good)
    _write_trial(root, "pick_and_place_simple-A-None-B-2/trial_Tunsolvable", "pick_and_place_simple",
                 dict(good, solvable=False))
    _write_trial(root, "pick_and_place_simple-A-None-B-3/trial_Tnokey", "pick_and_place_simple",
                 {k: v for k, v in good.items() if k != "solvable"})
    _write_trial(root, "pick_and_place_simple-A-None-B-4/trial_Tnogame", "pick_and_place_simple", None)
    _write_trial(root, "some_other_task-A-None-B-5/trial_T0", "some_other_task", good)
    return base, sorted(expected)


def test_selection_follows_alfworld_rules(tree):
    base, expected = tree
    games = dataset_games(str(base), "eval_seen")
    assert [g.game_id for g in games] == expected
    assert all(g.path is not None and g.path.name == "game.tw-pddl" for g in games)


def test_tree_games_play_and_win(tree):
    base, expected = tree
    env = gym.make("proxmo/ALFWorld-v0", split="eval_seen", data_dir=base)
    assert env.unwrapped.task_ids == expected
    for i in range(env.unwrapped.task_count):
        obs, info = env.reset(options={"game_index": i})
        assert info["task"] and f"Your task is to: {info['task']}." in obs
        for cmd in info["walkthrough"]:
            obs, r, term, trunc, info = env.step(cmd)
        assert term and r == 1.0 and info["won"]


def test_missing_split_folder_is_a_clear_error(tree):
    base, _ = tree
    with pytest.raises(FileNotFoundError, match="valid_unseen"):
        gym.make("proxmo/ALFWorld-v0", split="eval_unseen", data_dir=base)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gym.make("proxmo/ALFWorld-v0", split="eval_seen", data_dir=base / "nope")


@pytest.mark.slow
@pytest.mark.parametrize("split", ["eval_seen", "eval_unseen"])
def test_real_games_walkthroughs_win(alfworld_real_dir, split):
    env = gym.make("proxmo/ALFWorld-v0", split=split, data_dir=alfworld_real_dir)
    u = env.unwrapped
    assert u.task_count == 6
    assert sorted(u.task_types) == sorted(engine.TASK_TYPES)
    for i in range(u.task_count):
        obs, info = env.reset(options={"game_index": i})
        assert info["room"].startswith("FloorPlan")
        assert env.observation_space.contains(obs)
        for cmd in info["walkthrough"]:
            assert cmd in info["admissible_actions"] and env.action_space.contains(cmd)
            obs, r, term, trunc, info = env.step(cmd)
            assert env.observation_space.contains(obs)
        assert term and r == 1.0 and info["won"], u.task_ids[i]
