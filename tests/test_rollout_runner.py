"""The rollout runner on the toy env: groups, seeds, workers, batched policies, failures, resume, determinism."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import polars as pl
import pytest

from proxmo_analysis.logs import read_log, read_run_metadata
from proxmo_envs.rollout import episode_seeds, rollout
from proxmo_envs.rollout.plan import plan_episodes, resolve_tasks, split_by_group
from proxmo_envs.trajlog import FAILURES_NAME, MANIFEST_NAME, REQUIRED_COLUMNS
from test_trajlog_toyenv import TOY_ID, TOY_MAKE_ID, WORDS

SORT = ["episode_id", "step"]


def _rows(path) -> pl.DataFrame:
    """A run's rows in a canonical order, without the run id (the one column allowed to differ)."""
    return read_log(path).sort(SORT).drop("run_id")


class FirstAdmissible:
    """A deterministic step policy: the first admissible action, logprob -1."""

    def __call__(self, observation, info):
        return info["admissible_actions"][0], -1.0


class BatchedFirstAdmissible:
    """The same policy, batched; records its batch sizes."""

    def __init__(self):
        self.batch_sizes = []

    def act(self, observations, infos):
        self.batch_sizes.append(len(observations))
        return [i["admissible_actions"][0] for i in infos], [-1.0] * len(infos)


class Say:
    """Always the same (invalid) word: episodes run to the step cap, so a failing task fails at step 2."""

    def __call__(self, observation, info):
        return "hello"

    def act(self, observations, infos):
        return ["hello"] * len(observations)


class SayStep:
    def __call__(self, observation, info):
        return "hello"


def test_groups_ids_seeds_and_manifest(tmp_path):
    out = tmp_path / "run"
    summary = rollout(TOY_MAKE_ID, {"n_tasks": 5}, "random", tasks=3, group_size=4, out=out, seed=11)
    df = read_log(out)
    assert summary.episodes == 12 and summary.failed == 0
    per_group = df.group_by("group_id").agg(
        pl.col("task_id").unique().alias("tasks"), pl.col("rollout_index").unique().sort().alias("r"),
        pl.col("episode_id").n_unique().alias("n"),
    )
    assert per_group.height == 3
    assert all(len(t) == 1 for t in per_group["tasks"].to_list()) and per_group["n"].to_list() == [4, 4, 4]
    assert per_group["r"].to_list() == [[0, 1, 2, 3]] * 3
    assert sorted(df["task_id"].unique().to_list()) == ["toy-0", "toy-1", "toy-2"]
    assert df["env_id"].unique().to_list() == [TOY_ID]  # the plain id, not "module:id"
    # random policy over 4 admissible words logs log(1/4)
    assert np.allclose(df["behavior_logprob"].to_numpy(), -math.log(len(WORDS)))
    # distinct seeds: the reset observation's noise differs across a group's episodes
    first = df.filter(pl.col("step") == 0)
    assert first.group_by("group_id").agg(pl.col("observation").n_unique())["observation"].min() > 1
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    for key, value in {"env_id": TOY_ID, "env_kwargs": {"n_tasks": 5}, "group_size": 4, "seed": 11,
                       "iteration": 0, "status": "complete", "policy": {"name": "random", "batched": False}}.items():
        assert manifest[key] == value, key
    assert manifest["tasks"] == [[0, "toy-0"], [1, "toy-1"], [2, "toy-2"]]
    assert manifest["env_config"]["max_steps"] == 5 and manifest["env_config"]["n_tasks"] == 5
    assert manifest["package_version"] and manifest["created_at"] and "SeedSequence" in manifest["seeds"]["rule"]
    part = next(out.glob("part-*.parquet"))
    meta = read_run_metadata(part)
    assert meta["run_id"] == df["run_id"][0] == manifest["run_id"]
    assert meta["env_kwargs"] == {"n_tasks": 5} and meta["group_size"] == 4 and meta["seeds"]["seed"] == 11


def test_seeds_distinct_and_stable():
    seeds = {episode_seeds(0, 0, t, r) for t in range(100) for r in range(16)}
    env_seeds = {s[0] for s in seeds}
    assert len(env_seeds) == 1600 and len({s[1] for s in seeds}) == 1600
    assert episode_seeds(0, 0, 3, 2) == episode_seeds(0, 0, 3, 2) != episode_seeds(1, 0, 3, 2)
    assert episode_seeds(0, 1, 3, 2) != episode_seeds(0, 0, 3, 2)
    assert all(0 <= s < 2**63 for s in env_seeds)


def test_resolve_tasks_forms_and_errors():
    ids = ["a", "b", "c"]
    assert resolve_tasks(2, ids) == [(0, "a"), (1, "b")]
    assert resolve_tasks([2, 0], ids) == [(2, "c"), (0, "a")]
    assert resolve_tasks(["b"], ids) == [(1, "b")]
    with pytest.raises(ValueError, match="split has 3"):
        resolve_tasks(4, ids)
    with pytest.raises(ValueError, match="'z' is not in"):
        resolve_tasks(["z"], ids)
    with pytest.raises(ValueError, match="listed twice"):
        resolve_tasks([1, "b"], ids)


def test_split_by_group_keeps_groups_whole():
    specs = plan_episodes([(0, "a"), (1, "b"), (2, "c")], 2, seed=0, iteration=0, digest="d")
    chunks = split_by_group(specs, 2)
    assert [[s.episode_id for s in c] for c in chunks] == [
        ["a@it0#d/0", "a@it0#d/1", "c@it0#d/0", "c@it0#d/1"], ["b@it0#d/0", "b@it0#d/1"]]
    assert sum(len(c) for c in split_by_group(specs[:2], 4)) == 2


def test_same_seed_same_rows_and_workers_do_not_change_them(tmp_path):
    a = rollout(TOY_MAKE_ID, {}, "random", tasks=4, group_size=3, out=tmp_path / "a", seed=5)
    rollout(TOY_MAKE_ID, {}, "random", tasks=4, group_size=3, out=tmp_path / "b", seed=5)
    rollout(TOY_MAKE_ID, {}, "random", tasks=4, group_size=3, out=tmp_path / "c", seed=5, workers=2)
    rollout(TOY_MAKE_ID, {}, "random", tasks=4, group_size=3, out=tmp_path / "d", seed=6)
    ra, rb, rc, rd = (_rows(tmp_path / x) for x in "abcd")
    assert a.episodes == 12
    assert ra.equals(rb) and ra.equals(rc)
    assert not ra.equals(rd)
    assert read_log(tmp_path / "a")["run_id"][0] != read_log(tmp_path / "b")["run_id"][0]
    prefixes = {p.name.split("-")[2] for p in (tmp_path / "c").glob("part-*.parquet")}
    assert prefixes == {"w0", "w1"}  # each worker process wrote its own parts


def test_batched_policy_steps_envs_in_lock_step(tmp_path):
    policy = BatchedFirstAdmissible()
    rollout(TOY_MAKE_ID, {}, policy, tasks=3, group_size=4, out=tmp_path / "b", seed=2, batch_size=4)
    rollout(TOY_MAKE_ID, {}, FirstAdmissible(), tasks=3, group_size=4, out=tmp_path / "s", seed=2)
    assert max(policy.batch_sizes) == 4
    batched, single = _rows(tmp_path / "b"), _rows(tmp_path / "s")
    assert batched.drop("group_id", "episode_id").equals(single.drop("group_id", "episode_id"))
    assert batched["behavior_logprob"].to_list() == [-1.0] * batched.height
    assert json.loads((tmp_path / "b" / MANIFEST_NAME).read_text())["policy"]["batched"] is True


class BatchedIdRecorder:
    """Batched policy noting the (episode_id, step) the runner gives with each info."""

    def __init__(self):
        self.seen: dict[str, list[int]] = {}

    def act(self, observations, infos):
        for info in infos:
            self.seen.setdefault(info["episode_id"], []).append(info["step"])
        return [info["admissible_actions"][0] for info in infos]


def test_batched_policy_infos_carry_episode_ids_and_steps(tmp_path):
    # slots refill as episodes end, so only these keys let a batched policy keep one history per episode
    policy = BatchedIdRecorder()
    rollout(TOY_MAKE_ID, {}, policy, tasks=3, group_size=3, out=tmp_path / "b", seed=4, batch_size=2)
    rows = read_log(tmp_path / "b")
    logged = {e: sorted(g["step"].to_list()) for (e,), g in rows.group_by("episode_id")}
    assert policy.seen == logged  # every step of every episode, in order, under its own id


def test_failing_episodes_go_to_failures_jsonl(tmp_path):
    out = tmp_path / "run"
    summary = rollout(TOY_MAKE_ID, {"fail_task_indices": [1]}, SayStep(), tasks=3, group_size=2, out=out)
    records = [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()]
    assert [(r["task_id"], r["rollout_index"], r["error"]) for r in records] == [
        ("toy-1", 0, "RuntimeError"), ("toy-1", 1, "RuntimeError")]
    assert records[0]["message"] == "toy failure in task 1" and records[0]["step"] == 1
    assert summary.failed == 2 and summary.episodes == 4
    assert sorted(read_log(out)["task_id"].unique().to_list()) == ["toy-0", "toy-2"]


def test_failures_in_batched_mode(tmp_path):
    out = tmp_path / "run"
    summary = rollout(TOY_MAKE_ID, {"fail_task_indices": [0]}, Say(), tasks=2, group_size=2,
                      out=out, batch_size=3)
    assert summary.failed == 2 and summary.episodes == 2
    assert read_log(out)["task_id"].unique().to_list() == ["toy-1"]


def test_resume_runs_exactly_the_missing_pairs(tmp_path):
    kwargs = dict(env_id=TOY_MAKE_ID, env_kwargs={}, policy="random", tasks=4, group_size=3, seed=3, rows_per_part=6)
    rollout(out=tmp_path / "full", **kwargs)
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    parts = sorted((tmp_path / "cut").glob("part-*.parquet"))
    assert len(parts) >= 3
    lost = read_log(parts[1]).select("task_id", "rollout_index").unique()
    parts[1].unlink()
    summary = rollout(out=tmp_path / "cut", resume=True, **kwargs)
    assert summary.session_episodes == lost.height and summary.episodes == 12
    assert _rows(tmp_path / "cut").equals(_rows(tmp_path / "full"))
    again = rollout(out=tmp_path / "cut", resume=True, **kwargs)
    assert again.session_episodes == 0


def test_resume_refuses_a_different_configuration(tmp_path):
    rollout(TOY_MAKE_ID, {}, "random", tasks=2, group_size=2, out=tmp_path / "r")
    with pytest.raises(ValueError, match="cannot resume, group_size differs"):
        rollout(TOY_MAKE_ID, {}, "random", tasks=2, group_size=3, out=tmp_path / "r", resume=True)
    with pytest.raises(ValueError, match="already holds a run"):
        rollout(TOY_MAKE_ID, {}, "random", tasks=2, group_size=2, out=tmp_path / "r")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        rollout(TOY_MAKE_ID, {}, "random", tasks=2, group_size=2, out=tmp_path / "none", resume=True)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown policy"):
        rollout(TOY_MAKE_ID, {}, "greedy", tasks=1, group_size=1, out=tmp_path / "x")
    with pytest.raises(ValueError, match="workers must be"):
        rollout(TOY_MAKE_ID, {}, "random", tasks=1, group_size=1, out=tmp_path / "y", workers=0)
    with pytest.raises(ValueError, match="env 'proxmo/Nope-v0'"):
        rollout("proxmo/Nope-v0", {}, "random", tasks=1, group_size=1, out=tmp_path / "n")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        rollout(TOY_MAKE_ID, {"x": object()}, "random", tasks=1, group_size=1, out=tmp_path / "z")


def test_every_logged_episode_ends_and_columns_are_complete(tmp_path):
    rollout(TOY_MAKE_ID, {"max_steps": 3}, "random", tasks=6, group_size=2, out=tmp_path / "r", seed=9)
    df = read_log(tmp_path / "r")
    assert df.columns == list(REQUIRED_COLUMNS)
    last = df.sort(SORT).group_by("episode_id", maintain_order=True).last()
    assert (last["terminated"] | last["truncated"]).all()
    assert (last["step"] <= 2).all()
    ret = df.group_by("episode_id").agg(pl.col("reward").sum(), pl.col("episode_return").first())
    assert np.allclose(ret["reward"].to_numpy(), ret["episode_return"].to_numpy())


def test_unpicklable_policy_with_workers_is_a_clear_type_error(tmp_path):
    with pytest.raises(TypeError, match="picklable policy"):
        rollout(TOY_MAKE_ID, {}, lambda obs, info: "alpha", tasks=2, group_size=1, out=tmp_path / "r", workers=2)


def test_a_second_rollout_on_a_busy_folder_is_refused(tmp_path):
    from proxmo_envs.rollout.lock import acquire_session, release

    out = tmp_path / "busy"
    out.mkdir()
    held = acquire_session(out)  # as a running rollout would
    try:
        with pytest.raises(ValueError, match=r"another rollout is running on this folder \(pid \d+\)"):
            rollout(TOY_MAKE_ID, {}, "random", tasks=1, group_size=1, out=out)
    finally:
        release(held)
    assert rollout(TOY_MAKE_ID, {}, "random", tasks=1, group_size=1, out=out).episodes == 1
