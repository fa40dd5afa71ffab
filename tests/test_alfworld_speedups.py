"""The TextWorld memoisation changes nothing: same observations, admissible actions and `won`, with and without."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from proxmo_envs.alfworld import speedups
from proxmo_envs.alfworld.env import ALFWorldEnv


def _trace(env: ALFWorldEnv, index: int, episodes: int = 2) -> list:
    """Two episodes per game (the second one replays from the caches): walkthrough with detours."""
    out = []
    for ep in range(episodes):
        obs, info = env.reset(options={"game_index": index})
        out.append((obs, info["admissible_actions"], info["won"]))
        rng = np.random.default_rng(ep)
        plan = list(info.get("walkthrough") or [])
        detours = [info["admissible_actions"][rng.integers(len(info["admissible_actions"]))], "look", "jump"]
        for cmd in detours + plan:
            obs, r, term, trunc, info = env.step(cmd)
            out.append((cmd, obs, info["admissible_actions"], info["won"], info["invalid_action"], r))
    return out


def _compare(make, indices) -> None:
    speedups.disable()
    try:
        plain_env = make()
        plain = [_trace(plain_env, i) for i in indices]
        assert not speedups.is_enabled()
        assert speedups.enable(plain_sas_for_replan=True)  # what the env uses
        fast_env = make()
        fast = [_trace(fast_env, i) for i in indices]
    finally:
        speedups.enable()
    for i, a, b in zip(indices, plain, fast):
        assert a == b, f"game {i}: memoised engine differs"
    # the replayed walkthroughs did win (so the traces cover a won state)
    assert any(step[3] for trace in fast for step in trace[1:] if len(step) == 6)


def test_version_guard_matches_installed_textworld():
    import textworld

    assert speedups.is_supported() == (textworld.__version__ in speedups.SUPPORTED_TEXTWORLD)


def test_guard_refuses_an_unverified_textworld(monkeypatch):
    import textworld

    speedups.disable()
    monkeypatch.setattr(textworld, "__version__", "9.9.9")
    with pytest.warns(RuntimeWarning, match="verified for textworld"):
        assert speedups.enable() is False
    assert not speedups.is_enabled()
    monkeypatch.undo()
    assert speedups.enable()


def test_identical_on_shipped_games():
    make = lambda: ALFWorldEnv(split="eval_unseen", speedups=False)  # noqa: E731
    types = make().task_types
    # one game of each of several task types
    indices = sorted({types.index(t) for t in dict.fromkeys(types)})[:3]
    _compare(make, indices)


def test_identical_on_real_games(alfworld_real_dir):
    make = lambda: ALFWorldEnv(split="eval_seen", data_dir=alfworld_real_dir, speedups=False)  # noqa: E731
    env = make()
    small = [i for i, t in enumerate(env.task_types) if t != "pick_two_obj_and_place"][:3]
    _compare(make, small)


def test_memoised_pddl2sas_restores_argv():
    import fast_downward

    from proxmo_envs.alfworld import engine

    speedups.enable()
    saved = list(sys.argv)
    env = ALFWorldEnv(split="eval_seen")
    env.reset(options={"game_index": 0})
    problem = env._games[0].pddl_problem
    fast_downward.pddl2sas(engine.pddl_domain(), problem)
    assert sys.argv == saved


def test_exact_replan_restores_the_setting():
    speedups.enable(plain_sas_for_replan=True)
    with speedups.exact_replan():
        assert speedups._settings["plain_sas_for_replan"] is False
    assert speedups._settings["plain_sas_for_replan"] is True
