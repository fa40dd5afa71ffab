"""The recorder's rows (hand-checked on the toy env), the part writer, and the round trip through read_log."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxmo_analysis.logs import read_log, read_run_metadata
from proxmo_envs.trajlog import (
    LOG_SCHEMA,
    REQUIRED_COLUMNS,
    RUN_METADATA_KEY,
    PartWriter,
    TrajectoryRecorder,
    atomic_write_json,
)
from test_trajlog_toyenv import TOY_ID, WRONG_REWARD, ToyEnv


def test_schema_column_types_are_exactly_the_spec():
    expected = {
        "run_id": pa.large_string(),
        "env_id": pa.large_string(),
        "task_id": pa.large_string(),
        "group_id": pa.large_string(),
        "episode_id": pa.large_string(),
        "rollout_index": pa.int32(),
        "iteration": pa.int32(),
        "step": pa.int32(),
        "observation": pa.large_string(),
        "action": pa.large_string(),
        "admissible_actions": pa.list_(pa.large_string()),
        "reward": pa.float32(),
        "terminated": pa.bool_(),
        "truncated": pa.bool_(),
        "invalid_action": pa.bool_(),
        "episode_return": pa.float32(),
        "won": pa.bool_(),
        "task_score": pa.float32(),
        "behavior_logprob": pa.float32(),
        "task_type": pa.large_string(),
    }
    assert list(REQUIRED_COLUMNS) == list(expected)
    for name, typ in expected.items():
        assert LOG_SCHEMA.field(name).type.equals(typ), name
    nullable = {f.name for f in LOG_SCHEMA if f.nullable}
    assert nullable == {"behavior_logprob", "task_type"}


def _play(env, actions, logprobs=None, **reset_kwargs):
    obs, info = env.reset(**reset_kwargs)
    seen = [(obs, info["admissible_actions"])]
    for k, a in enumerate(actions):
        if logprobs is not None:
            env.set_behavior_logprob(logprobs[k])
        obs, _, term, trunc, info = env.step(a)
        seen.append((obs, info["admissible_actions"]))
        if term or trunc:
            break
    return seen


def test_recorder_rows_match_hand_computed_values():
    env = TrajectoryRecorder(ToyEnv(n_tasks=4, max_steps=5), run_id="r1", env_id="toy")
    seen = _play(
        env,
        ["nonsense", "alpha", "beta"],
        logprobs=[None, -0.5, -1.0],
        seed=3,
        options={"task_index": 1, "trajlog": {"group_id": "g", "episode_id": "e", "rollout_index": 2, "iteration": 4}},
    )
    (ep,) = env.episodes
    assert ep["step"] == [0, 1, 2]
    assert ep["action"] == ["nonsense", "alpha", "beta"]
    assert ep["reward"] == [0.0, WRONG_REWARD, 1.0]
    assert ep["terminated"] == [False, False, True]
    assert ep["truncated"] == [False, False, False]
    assert ep["invalid_action"] == [True, False, False]
    assert ep["episode_return"] == [0.75] * 3
    assert ep["won"] == [True] * 3 and ep["task_score"] == [1.0] * 3
    assert ep["behavior_logprob"] == [None, -0.5, -1.0]
    assert ep["task_type"] == ["odd"] * 3
    assert ep["task_id"] == ["toy-1"] * 3
    assert (ep["group_id"][0], ep["episode_id"][0], ep["rollout_index"][0], ep["iteration"][0]) == ("g", "e", 2, 4)
    assert ep["run_id"] == ["r1"] * 3 and ep["env_id"] == ["toy"] * 3
    # Row t holds what the agent saw before acting: the reset observation, then each step's.
    assert ep["observation"] == [o for o, _ in seen[:3]]
    assert ep["admissible_actions"] == [a for _, a in seen[:3]]
    assert ep["observation"][0].startswith("Café ☕ task toy-1")


def test_recorder_truncation_and_default_ids():
    env = TrajectoryRecorder(gym.make(TOY_ID, max_steps=2), run_id="run")
    _play(env, ["alpha", "alpha"], seed=0, options={"task_index": 2})
    _play(env, ["gamma"], seed=1, options={"task_index": 2})
    first, second = env.episodes
    assert first["truncated"] == [False, True] and first["terminated"] == [False, False]
    assert first["episode_return"] == [-0.5, -0.5] and first["won"] == [False, False]
    assert first["task_type"] == [None, None]  # task 2 has no type: null, not a string
    assert first["env_id"][0] == TOY_ID
    assert first["group_id"][0] == second["group_id"][0] == "run/toy-2/it0"
    assert (first["rollout_index"][0], second["rollout_index"][0]) == (0, 1)
    assert (first["episode_id"][0], second["episode_id"][0]) == ("run/toy-2/it0/0", "run/toy-2/it0/1")


def test_recorder_does_not_log_an_episode_abandoned_by_reset():
    env = TrajectoryRecorder(ToyEnv())
    env.reset(seed=0, options={"task_index": 0})
    env.step("beta")
    with pytest.warns(RuntimeWarning, match="not logged"):
        env.reset(seed=1, options={"task_index": 0})
    env.step("alpha")
    assert len(env.episodes) == 1 and env.episodes[0]["step"] == [0]


def test_recorder_rejects_unknown_id_keys_and_step_before_reset():
    env = TrajectoryRecorder(ToyEnv())
    with pytest.raises(ValueError, match="before reset"):
        env.step("alpha")
    with pytest.raises(ValueError, match="unknown key"):
        env.reset(seed=0, options={"trajlog": {"group": "x"}})


def _episodes(n_episodes, steps, group="g"):
    env = TrajectoryRecorder(ToyEnv(n_tasks=4, max_steps=steps), run_id="r")
    for k in range(n_episodes):
        _play(env, ["delta"] * steps, seed=k, options={"task_index": k % 3, "trajlog": {"group_id": f"{group}{k % 3}"}})
    return env.episodes


def test_writer_writes_whole_episodes_per_part_with_metadata(tmp_path):
    episodes = _episodes(7, steps=3)  # tasks 0..2: never won, 3 rows each
    meta = {"env_id": "toy", "seed": 5}
    with PartWriter(tmp_path, meta, prefix="s-w0", rows_per_part=7, background=False) as writer:
        for ep in episodes:
            writer.add_episode(ep)
        # Every 3 episodes (9 rows >= 7) a part is written: two parts, and the 7th episode stays buffered.
        assert len(writer.parts) == 2 and writer.buffered_rows == 3
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["part-s-w0-00000.parquet", "part-s-w0-00001.parquet", "part-s-w0-00002.parquet"]
    sizes = [pq.read_metadata(tmp_path / n).num_rows for n in names]
    assert sizes == [9, 9, 3]
    for n in names:
        pf = pq.ParquetFile(tmp_path / n)
        assert pf.schema_arrow.remove_metadata().equals(LOG_SCHEMA)
        assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
        assert json.loads(pf.schema_arrow.metadata[RUN_METADATA_KEY.encode()]) == meta
        assert read_run_metadata(tmp_path / n) == meta
        eps = pq.read_table(tmp_path / n, columns=["episode_id", "step"]).to_pandas()
        assert all(sorted(g["step"]) == list(range(3)) for _, g in eps.groupby("episode_id"))


def test_background_writer_makes_every_part_visible_on_close(tmp_path):
    episodes = _episodes(9, steps=2)
    writer = PartWriter(tmp_path, {}, prefix="bg", rows_per_part=4)
    for ep in episodes:
        writer.add_episode(ep)
    assert len(writer.parts) <= 4  # the fourth may still be in flight
    writer.close()
    assert [p.name for p in writer.parts] == [f"part-bg-{k:05d}.parquet" for k in range(5)]
    assert writer.rows_written == 18 and writer.episodes_written == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in writer.parts]
    with pytest.raises(ValueError, match="closed"):
        writer.add_episode(episodes[0])


def test_round_trip_rows_written_equal_rows_read(tmp_path):
    episodes = _episodes(5, steps=4)
    with PartWriter(tmp_path, {"x": 1}, prefix="a", rows_per_part=6) as writer:
        for ep in episodes:
            writer.add_episode(ep)
    expected = pl.concat([pl.DataFrame(ep, schema=pl.Schema(pl.from_arrow(LOG_SCHEMA.empty_table()).schema)) for ep in episodes])
    got = read_log(tmp_path)
    assert got.columns == list(REQUIRED_COLUMNS)
    assert got.schema["step"] == pl.Int32 and got.schema["reward"] == pl.Float32
    assert got.equals(expected)
    one = read_log(writer.parts[0])
    assert one.equals(expected.head(one.height))
    lazy = read_log(tmp_path, lazy=True)
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect().equals(expected)


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    texts=st.lists(_text, min_size=25, max_size=25),
    rewards=st.lists(st.floats(-10, 10, width=32), min_size=25, max_size=25),
    logprob_null=st.booleans(),
)
def test_round_trip_property(tmp_path_factory, lengths, texts, rewards, logprob_null):
    out = tmp_path_factory.mktemp("prop")
    episodes, k = [], 0
    for e, n in enumerate(lengths):
        rows = list(range(k, k + n))
        k += n
        r = [rewards[i] for i in rows]
        episodes.append(
            {
                "run_id": ["run"] * n, "env_id": ["env"] * n, "task_id": [texts[e]] * n,
                "group_id": [f"g{e % 2}"] * n, "episode_id": [f"e{e}"] * n, "rollout_index": [e] * n,
                "iteration": [0] * n, "step": list(range(n)), "observation": [texts[i] for i in rows],
                "action": [texts[-1 - i] for i in rows], "admissible_actions": [texts[i : i + 3] for i in rows],
                "reward": r, "terminated": [False] * (n - 1) + [True], "truncated": [False] * n,
                "invalid_action": [i % 2 == 0 for i in rows], "episode_return": [float(np.float32(sum(r)))] * n,
                "won": [True] * n, "task_score": [0.5] * n,
                "behavior_logprob": [None if logprob_null else -float(i) for i in rows],
                "task_type": [None if e % 2 else texts[e]] * n,
            }
        )
    with PartWriter(out, {}, prefix="p", rows_per_part=4) as writer:
        for ep in episodes:
            writer.add_episode(ep)
    got = read_log(out)
    for name in REQUIRED_COLUMNS:
        written = [v for ep in episodes for v in ep[name]]
        assert got[name].to_list() == written, name


def test_writer_rejects_ragged_episode_and_bad_prefix(tmp_path):
    (ep,) = _episodes(1, steps=2)
    ep["reward"] = ep["reward"][:1]
    writer = PartWriter(tmp_path, {}, prefix="w")
    with pytest.raises(ValueError, match="'reward' has 1 values, expected 2"):
        writer.add_episode(ep)
    with pytest.raises(ValueError, match="prefix"):
        PartWriter(tmp_path, {}, prefix="a/b")


def test_atomic_write_json_leaves_no_temporary(tmp_path):
    atomic_write_json(tmp_path / "manifest.json", {"b": 1, "a": [math.pi]})
    atomic_write_json(tmp_path / "manifest.json", {"b": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"b": 2}


def test_recorder_rejects_non_text_observations():
    env = TrajectoryRecorder(gym.make("CartPole-v1"), env_id="cartpole")
    with pytest.raises(TypeError, match="cartpole: reset returned a ndarray observation"):
        env.reset(seed=0)


def test_recorder_inside_a_sync_vector_env_with_autoreset():
    episodes = []
    envs = gym.make_vec(
        TOY_ID, num_envs=2, vectorization_mode="sync",
        wrappers=[lambda e: TrajectoryRecorder(e, sink=episodes.append, run_id="vec")],
    )
    obs, infos = envs.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = tuple(str(rng.choice(["alpha", "beta", "gamma", "delta", "??"])) for _ in range(2))
        obs, rewards, terminated, truncated, infos = envs.step(actions)
    envs.close()
    assert len(episodes) >= 4
    for ep in episodes:
        n = len(ep["step"])
        assert ep["step"] == list(range(n))
        assert ep["terminated"][-1] or ep["truncated"][-1]
        assert not any(ep["terminated"][:-1]) and not any(ep["truncated"][:-1])
        assert ep["episode_return"][0] == sum(ep["reward"])
