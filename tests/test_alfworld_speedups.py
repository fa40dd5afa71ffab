"""The TextWorld memoisation changes nothing: same observations, admissible actions and `won`, with and without."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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


# ---------------------------------------------------------------------------- transition cache


def _sas(*variables: tuple[str, int, list[str]]) -> str:
    body = "".join(f"begin_variable\nvar{i}\n{layer}\n{len(vals)}\n" + "\n".join(vals) + "\nend_variable\n"
                   for i, (layer, vals) in enumerate((v[1], v[2]) for v in variables))
    return f"begin_version\n3\nend_version\n{len(variables)}\n" + body


def test_binary_sas_accepts_only_atom_negation_pairs():
    from proxmo_envs.alfworld.transitions import binary_sas, dynamic_predicates

    ok = _sas(("a", -1, ["Atom opened(r1)", "NegatedAtom opened(r1)"]),
              ("g", 0, ["Atom new-axiom@0()", "NegatedAtom new-axiom@0()", "<none of those>"]))
    assert binary_sas(ok)  # a derived variable may have any values
    assert dynamic_predicates(ok) == {"opened", "not_opened", "new-axiom@0", "not_new-axiom@0"}
    three = _sas(("a", -1, ["Atom at(a, l1)", "Atom at(a, l2)", "<none of those>"]))
    assert not binary_sas(three)
    mismatched = _sas(("a", -1, ["Atom opened(r1)", "NegatedAtom opened(r2)"]))
    assert not binary_sas(mismatched)
    assert not binary_sas("no variables here")
    # only the variables are read: the initial state and operators after them (most of the text) are not
    tail = "begin_state\n0\nend_state\nbegin_operator\nAtom fake(x)\nend_operator\n"
    assert binary_sas(ok + tail) and dynamic_predicates(ok + tail) == dynamic_predicates(ok)
    assert not binary_sas(ok.replace("\n2\nAtom opened", "\n3\nAtom opened"))  # size line != values


def test_state_cache_is_a_bounded_lru():
    from proxmo_envs.alfworld.transitions import StateCache, StateEntry

    cache = StateCache(2)
    entries = {k: StateEntry([], {}, [], [], False) for k in "abc"}
    cache.put(("g", "a"), entries["a"])
    cache.put(("g", "b"), entries["b"])
    assert cache.get(("g", "a")) is entries["a"]  # a is now the most recent
    cache.put(("g", "c"), entries["c"])  # evicts b
    assert len(cache) == 2 and cache.get(("g", "b")) is None and cache.get(("g", "c")) is entries["c"]
    assert (cache.hits, cache.misses) == (2, 1)
    off = StateCache(0)
    off.put(("g", "a"), entries["a"])
    assert len(off) == 0
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="state cache size"):
            StateCache(bad)


def test_state_cache_setting_is_read_and_checked(monkeypatch):
    from proxmo_envs.alfworld import transitions

    monkeypatch.setattr(transitions, "_shared", None)
    monkeypatch.setenv(transitions.ENV_MAX_STATES, "123")
    assert transitions.shared_cache().max_states == 123
    monkeypatch.setattr(transitions, "_shared", None)
    monkeypatch.setenv(transitions.ENV_MAX_STATES, "lots")
    with pytest.raises(ValueError, match="PROXMO_ALFWORLD_STATE_CACHE must be an int >= 0"):
        ALFWorldEnv(split="eval_seen").reset(options={"game_index": 0})
    monkeypatch.setattr(transitions, "_shared", None)


def test_cache_off_plays_the_same_episode(monkeypatch):
    from proxmo_envs.alfworld import transitions
    from proxmo_envs.alfworld.transcripts import first_difference, play_episode

    speedups.enable(plain_sas_for_replan=True)
    transitions.configure(0)
    try:
        off = play_episode(ALFWorldEnv(split="eval_seen"), 1, 0, max_steps=8)
    finally:
        transitions.configure(transitions.DEFAULT_MAX_STATES)
    env = ALFWorldEnv(split="eval_seen")
    on = [play_episode(env, 1, 0, max_steps=8) for _ in range(2)]  # the second replays cached states
    assert first_difference(off, on[0]) is None and first_difference(off, on[1]) is None
    assert transitions.shared_cache().hits >= len(off.records) - 1


def test_predicates_read_by_alfworld_command_templates():
    from proxmo_envs.alfworld import engine
    from proxmo_envs.alfworld.transitions import predicates_read
    from textworld.envs.pddl import logic

    speedups.enable(plain_sas_for_replan=True)
    game = logic.GameLogic(domain=engine.pddl_domain(), grammar=engine.grammar_for("put a mug in desk"))
    reads = {name: predicates_read(a.template, game.grammar) for name, a in game.actions.items()}
    assert reads["gotolocation"] == {"receptacleatlocation"}
    assert reads["pickupobject"] == frozenset() and reads["look"] == frozenset()
    assert predicates_read("see {context}", game.grammar) is None  # reads the derivation's own context
    assert predicates_read("#no_such_rule#", game.grammar) is None


# ---------------------------------------------------------------------------- disk cache


def test_disk_cache_reads_writes_and_recovers(tmp_path, monkeypatch):
    from proxmo_envs.alfworld import diskcache

    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    monkeypatch.setenv(diskcache.ENV_DIR, "off")
    assert diskcache.cache_dir() is None
    diskcache.cached("k", ("x",), compute)
    diskcache.cached("k", ("x",), compute)
    assert len(calls) == 2 and not any(tmp_path.iterdir())

    monkeypatch.setenv(diskcache.ENV_DIR, str(tmp_path / "c"))
    assert diskcache.cached("k", ("x",), compute) == {"value": 3}
    assert diskcache.cached("k", ("x",), compute) == {"value": 3}  # read back from disk
    assert len(calls) == 3
    (path,) = (tmp_path / "c").iterdir()
    path.write_bytes(b"not a gzip pickle")
    assert diskcache.cached("k", ("x",), compute) == {"value": 4}  # recomputed and rewritten
    assert diskcache.cached("k", ("x",), compute) == {"value": 4}
    assert diskcache.cached("k", ("y",), compute) == {"value": 5}  # another input, another file
    assert diskcache.cached("k", ("z",), compute, storable=lambda v: False) == {"value": 6}
    assert len(list((tmp_path / "c").iterdir())) == 2

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(diskcache.ENV_DIR, str(blocker / "sub"))  # cannot be created: memory only
    assert diskcache.cached("k", ("x",), compute) == {"value": 7}


def test_translation_read_in_another_process_has_that_process_hashes(tmp_path):
    """fast-downward caches string hashes in its conditions; a product written by one process is rehashed
    when a process with another hash seed reads it, to what that process's constructors compute."""
    import subprocess

    from proxmo_envs.alfworld import diskcache

    game = ALFWorldEnv(split="eval_seen")._games[0]
    problem = tmp_path / "problem.pddl"
    problem.write_text(game.pddl_problem)
    code = f"""
import sys, pickle
from pathlib import Path
from proxmo_envs.alfworld import engine, diskcache, speedups
folder = Path(sys.argv[1])  # (fast-downward's own pddl2sas overwrites sys.argv)
engine.modules()
import fast_downward
from fast_downward.translate.pddl import conditions
problem = Path({str(problem)!r}).read_text()
speedups.enable()
task, sas = fast_downward.pddl2sas(engine.pddl_domain(), problem)   # from disk when present
speedups.disable()
fresh, fresh_sas = fast_downward.pddl2sas(engine.pddl_domain(), problem)
assert sas == fresh_sas
# every condition's hash is what this process's constructors give it (a stale hash would make it unequal to
# an equal condition built here)
checked = bad = 0
for o in diskcache._objects(task):
    if isinstance(o, conditions.Literal):
        checked, bad = checked + 1, bad + (type(o)(o.predicate, o.args).hash != o.hash)
    elif isinstance(o, conditions.JunctorCondition):
        checked, bad = checked + 1, bad + (type(o)(o.parts).hash != o.hash)
assert checked > 100 and bad == 0, (checked, bad)
print("files", len(list(folder.iterdir())))
"""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env[diskcache.ENV_DIR] = str(tmp_path / "c")
    for seed in ("1", "2"):  # seed 1 writes the product, seed 2 reads it
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], env=dict(env, PYTHONHASHSEED=seed),
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "files 1" in out.stdout


def test_bounded_mementos_play_the_same_episode(monkeypatch):
    """TextWorld's process-wide memo of Propositions is emptied when full; the episode is unchanged."""
    import mementos.core as memo

    from proxmo_envs.alfworld import transitions
    from proxmo_envs.alfworld.transcripts import first_difference, play_episode

    speedups.disable()
    assert type(memo._memento_cache) is dict
    plain = play_episode(ALFWorldEnv(split="eval_seen", speedups=False), 2, 0, max_steps=8)
    assert len(memo._memento_cache) > 50
    monkeypatch.setattr(speedups, "MEMENTO_CACHE_SIZE", 50)  # emptied many times while the game loads
    speedups.enable(plain_sas_for_replan=True)
    assert isinstance(memo._memento_cache, speedups._BoundedMementos) and len(memo._memento_cache) == 0
    transitions.configure(transitions.DEFAULT_MAX_STATES)
    fast = play_episode(ALFWorldEnv(split="eval_seen"), 2, 0, max_steps=8)
    assert 0 < len(memo._memento_cache) <= 50
    assert first_difference(plain, fast) is None
