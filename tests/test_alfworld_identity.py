"""The fast ALFWorld engine (speed-ups + transition cache) plays exactly the untouched engine's episodes.

Every record (observation, reward, terminated, truncated and every info field) of seeded group rollouts is
compared at every step:

* on every shipped ``eval_seen`` / ``eval_unseen`` game, against the untouched engine's digests stored in
  ``tests/data/alfworld_untouched_<split>.json.gz`` (written by ``benchmarks/alfworld_golden.py``), one
  game of each re-played untouched here to check that the files are current;
* on the 12 real games of ``../shared/alfworld_real``, against the untouched engine played in this session.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from proxmo_envs.alfworld import diskcache, speedups, transitions
from proxmo_envs.alfworld.env import ALFWorldEnv
from proxmo_envs.alfworld.transcripts import (
    GOLDEN_PROTOCOL,
    first_difference,
    play_episode,
    record_digest,
)

DATA = Path(__file__).parent / "data"
KW = {k: GOLDEN_PROTOCOL[k] for k in ("p_random", "max_steps", "seed")}
# real games: groups of 3 episodes that share prefixes, diverge and revisit states
REAL_GROUP, REAL_KW = 3, {"p_random": 0.3, "max_steps": 15, "seed": 0}


def _golden(split: str) -> dict:
    path = DATA / f"alfworld_untouched_{split}.json.gz"
    with gzip.open(path, "rt", encoding="ascii") as fh:
        doc = json.load(fh)
    import textworld

    assert doc["textworld"] == textworld.__version__, (
        f"{path} was written with textworld {doc['textworld']}, installed {textworld.__version__}: "
        "re-run benchmarks/alfworld_golden.py"
    )
    assert doc["protocol"] == GOLDEN_PROTOCOL and doc["split"] == split
    return doc["games"]


@pytest.fixture(scope="module")
def fresh_caches(tmp_path_factory):
    """Empty state cache and a private disk cache, so the test exercises cold loads and cache fills."""
    mp = pytest.MonkeyPatch()
    mp.setenv(diskcache.ENV_DIR, str(tmp_path_factory.mktemp("alfworld-products")))
    transitions.configure(transitions.DEFAULT_MAX_STATES)
    speedups.enable(plain_sas_for_replan=True)
    yield
    mp.undo()


def _untouched(make):
    """An env on the untouched engine (built with TextWorld unpatched; play it with _play_untouched)."""
    speedups.disable()
    return make()


def _play_untouched(env, games, episodes, kw):
    speedups.disable()
    try:
        return [play_episode(env, g, e, **kw) for g in games for e in range(episodes)]
    finally:
        speedups.enable(plain_sas_for_replan=True)


def _compare_to_golden(env, golden_split: dict) -> int:
    ids = env.task_ids
    unknown = sorted(set(golden_split) - set(ids))
    assert not unknown, f"games {unknown[:3]} are no longer shipped: re-run benchmarks/alfworld_golden.py"
    steps = 0
    for g, gid in enumerate(ids):
        if gid not in golden_split:
            continue
        # the episodes, then the first one again (replayed from the state cache)
        for e, want in [*enumerate(golden_split[gid]), (0, golden_split[gid][0])]:
            tr = play_episode(env, g, e, **KW)
            got = tr.digests()
            for i, (a, b) in enumerate(zip(got, want)):
                assert a == b, f"{gid} episode {e}: record {i} differs from the untouched engine: {tr.records[i]!r:.400}"
            assert len(got) == len(want), f"{gid} episode {e}: {len(got)} records, untouched {len(want)}"
            steps += len(got)
    return steps


@pytest.mark.parametrize("split", ["eval_seen", "eval_unseen"])
def test_shipped_eval_games_match_the_untouched_engine_digests(split, fresh_caches):
    env = ALFWorldEnv(split=split, speedups=True, max_steps=50)
    before = transitions.shared_cache().hits
    golden = _golden(split)
    steps = _compare_to_golden(env, golden)
    assert steps >= 2 * 2 * len(golden)  # every episode has a reset and at least one step, played twice
    # the episodes of a group did replay cached states (the comparison covered the cache, not just misses)
    assert transitions.shared_cache().hits > before


@pytest.mark.parametrize("split", ["eval_seen", "eval_unseen"])
def test_golden_digests_are_those_of_the_installed_untouched_engine(split):
    env = _untouched(lambda: ALFWorldEnv(split=split, speedups=False))
    games = [env.task_ids.index(sorted(_golden(split))[0])]
    trs = _play_untouched(env, games, GOLDEN_PROTOCOL["group_size"], KW)
    for tr in trs:
        gid = env.task_ids[tr.game_index]
        assert [record_digest(r) for r in tr.records] == _golden(split)[gid][tr.episode]


_REAL_UNTOUCHED: dict = {}


def _real_untouched(data_dir, split: str) -> list:
    """The untouched engine's groups on the 6 real games of ``split`` (played once per session)."""
    if split not in _REAL_UNTOUCHED:
        env = _untouched(lambda: ALFWorldEnv(split=split, data_dir=data_dir, speedups=False))
        _REAL_UNTOUCHED[split] = _play_untouched(env, list(range(env.task_count)), REAL_GROUP, REAL_KW)
    return _REAL_UNTOUCHED[split]


@pytest.mark.parametrize("split", ["eval_seen", "eval_unseen"])
def test_real_games_match_the_untouched_engine(split, alfworld_real_dir, fresh_caches):
    plain = _real_untouched(alfworld_real_dir, split)
    env = ALFWorldEnv(split=split, data_dir=alfworld_real_dir, speedups=True)
    assert env.task_count == 6
    fast = [play_episode(env, tr.game_index, tr.episode, **REAL_KW) for tr in plain]
    for a, b in zip(plain, fast):
        assert first_difference(a, b) is None, first_difference(a, b)
    assert any(r[-1]["won"] for tr in fast for r in tr.records[1:])
