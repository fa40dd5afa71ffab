"""Round trips on the real environments: rows the recorder produced equal the rows read_log returns.

WebShop runs on its embedded synthetic catalogue, ALFWorld on its shipped games (default kwargs). These
tests are deliberately not skipped when an env is missing: they fail until both envs are importable.
"""

from __future__ import annotations

import gymnasium as gym
import polars as pl
import pyarrow.parquet as pq

import proxmo_envs  # noqa: F401  (registers the ids)
from proxmo_analysis.logs import read_log
from proxmo_envs.rollout import RandomPolicy, WalkthroughPolicy, make_policy, rollout
from proxmo_envs.trajlog import LOG_SCHEMA, REQUIRED_COLUMNS, PartWriter, TrajectoryRecorder

POLARS_SCHEMA = pl.from_arrow(LOG_SCHEMA.empty_table()).schema


def _record(env_id, policy, task_indices, episodes_per_task, out, max_steps=None, **env_kwargs):
    """Play episodes through the recorder, teeing each finished episode into a list and a PartWriter."""
    recorded = []
    with PartWriter(out, {"env_id": env_id}, prefix="t", rows_per_part=16) as writer:

        def tee(columns):
            recorded.append(columns)
            writer.add_episode(columns)

        env = TrajectoryRecorder(gym.make(env_id, **env_kwargs), sink=tee, run_id="rt")
        for ti in task_indices:
            for k in range(episodes_per_task):
                policy.reset(seed=100 * ti + k)
                obs, info = env.reset(seed=10 * ti + k, options={"task_index": ti})
                for _ in range(max_steps or 10_000):
                    action = policy(obs, info)
                    if isinstance(action, tuple):
                        action, logprob = action
                        env.set_behavior_logprob(logprob)
                    obs, _, terminated, truncated, info = env.step(action)
                    if terminated or truncated:
                        break
        env.close()
    return recorded


def _assert_round_trip(recorded, out):
    assert recorded, "no episode finished"
    expected = pl.concat([pl.DataFrame(ep, schema=POLARS_SCHEMA) for ep in recorded])
    got = read_log(out)
    assert got.columns == list(REQUIRED_COLUMNS)
    assert got.sort("episode_id", "step").equals(expected.sort("episode_id", "step"))
    for part in out.glob("part-*.parquet"):
        assert pq.read_schema(part).remove_metadata().equals(LOG_SCHEMA)
    return got


def test_webshop_round_trip_random_and_oracle(tmp_path):
    got = _assert_round_trip(_record("proxmo/WebShop-v0", RandomPolicy(), [0, 1, 2], 2, tmp_path / "random"),
                             tmp_path / "random")
    assert got["task_type"].null_count() == 0 and got["observation"].str.contains("Instruction:").all()
    first = got.filter(pl.col("step") == 0)
    assert first["action"].str.starts_with("search[").any() or first["action"].str.starts_with("click[").all()
    oracle = make_policy("oracle", "proxmo/WebShop-v0")
    got = _assert_round_trip(_record("proxmo/WebShop-v0", oracle, [0, 1], 1, tmp_path / "oracle"), tmp_path / "oracle")
    last = got.group_by("episode_id").agg(pl.col("action").last(), pl.col("task_score").first())
    assert (last["action"] == "click[buy now]").all() and (last["task_score"] > 0).all()


def test_webshop_rollout_runner(tmp_path):
    summary = rollout("proxmo/WebShop-v0", {}, "random", tasks=3, group_size=2, out=tmp_path / "r", seed=1)
    df = read_log(tmp_path / "r")
    assert summary.episodes == 6 and df["episode_id"].n_unique() == 6 and df["group_id"].n_unique() == 3
    assert df.group_by("episode_id").len()["len"].max() <= 15  # the WebShop step cap
    rollout("proxmo/WebShop-v0", {}, "random", tasks=3, group_size=2, out=tmp_path / "again", seed=1)
    again = read_log(tmp_path / "again")
    assert again.drop("run_id").equals(df.drop("run_id"))  # same seeds: identical rows but the run id


def test_alfworld_round_trip_walkthrough(tmp_path):
    got = _assert_round_trip(
        _record("proxmo/ALFWorld-v0", WalkthroughPolicy(), [0, 1], 1, tmp_path / "alf"), tmp_path / "alf"
    )
    per_episode = got.group_by("episode_id").agg(pl.col("won").first(), pl.col("task_score").first())
    assert per_episode["won"].all() and (per_episode["task_score"] == 1.0).all()
    assert got["task_type"].null_count() == 0


def test_alfworld_round_trip_random(tmp_path):
    recorded = _record("proxmo/ALFWorld-v0", RandomPolicy(), [0], 2, tmp_path / "alf", max_steps=50)
    _assert_round_trip(recorded, tmp_path / "alf")


def test_alfworld_rollout_runner_walkthrough_two_workers(tmp_path):
    summary = rollout("proxmo/ALFWorld-v0", {}, "oracle", tasks=2, group_size=2, out=tmp_path / "r", workers=2)
    df = read_log(tmp_path / "r")
    assert summary.episodes == 4 and summary.success_rate == 1.0 and summary.failed == 0
    assert df["group_id"].n_unique() == 2 and df["task_type"].null_count() == 0
    assert {p.name.split("-")[2] for p in (tmp_path / "r").glob("part-*.parquet")} == {"w0", "w1"}
