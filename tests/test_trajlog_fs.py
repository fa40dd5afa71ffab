"""Run folders on any pyarrow filesystem: a genuinely non-local one (fsspec's in-memory filesystem behind
``pyarrow.fs.PyFileSystem``), ``file://`` URIs and a ``SubTreeFileSystem``; written by the rollout runner
(local and Ray backends), read back by ``read_log`` equal to a local run, resumed, failures recorded."""

from __future__ import annotations

import json
import secrets

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from proxmo_analysis.logs import read_log, read_run_metadata
from proxmo_envs.rollout import rollout
from proxmo_envs.rollout.summary import read_failures
from proxmo_envs.trajlog import MANIFEST_NAME, PartWriter
from proxmo_envs.trajlog.fs import RunLocation, resolve_location
from test_trajlog_toyenv import TOY_MAKE_ID

KEY = ["episode_id", "step"]
TOY = dict(env_id=TOY_MAKE_ID, env_kwargs={}, policy="random", tasks=4, group_size=3, seed=3, rows_per_part=6)


def memory_fs() -> pafs.FileSystem:
    """A pyarrow filesystem that is not the local disk: fsspec's in-memory filesystem."""
    return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("memory")))


def memory_run(name: str) -> tuple[pafs.FileSystem, str]:
    return memory_fs(), f"proxmo-tests/{name}-{secrets.token_hex(4)}"


def rows(location) -> pl.DataFrame:
    """A run's rows in a canonical order without the run id (the one column allowed to differ)."""
    return read_log(location).sort(KEY).drop("run_id")


def names(fs: pafs.FileSystem, folder: str) -> list[str]:
    return sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(folder)))


@pytest.fixture(scope="module")
def local_toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("fs") / "local"
    rollout(out=out, **TOY)
    return out


# ---- resolving a location ------------------------------------------------------------------------

def test_resolve_location_kinds(tmp_path):
    local = resolve_location(tmp_path / "a")
    assert local.is_local and local.path == str(tmp_path / "a")
    assert resolve_location(f"file://{tmp_path}/a") == local  # file:// is the plain local path
    assert resolve_location((pafs.LocalFileSystem(), str(tmp_path / "a"))) == local
    fs, path = memory_run("r")
    remote = resolve_location((fs, path + "/"))
    assert not remote.is_local and remote.path == path and remote.name == path.rpartition("/")[2]
    assert remote.display("manifest.json") == f"{remote}/manifest.json" and str(remote).endswith(path)
    assert resolve_location(remote) is remote
    with pytest.raises(ValueError, match="nope://x: not a run location pyarrow can open"):
        resolve_location("nope://x")
    with pytest.raises(TypeError, match="a run location must be"):
        resolve_location(3)


def test_remote_write_is_temporary_then_moved_and_readers_skip_temporaries():
    fs, path = memory_run("w")
    loc = resolve_location((fs, path))
    loc.make_dirs()
    loc.write_json("manifest.json", {"b": 1, "a": 2})
    assert json.loads(loc.read_text("manifest.json")) == {"a": 2, "b": 1}
    table = pa.table({"x": [1, 2, 3]})
    loc.write_table("part-a-00000.parquet", table)
    # a writer killed mid-upload leaves only a temporary key: no reader lists it, resume deletes it
    with fs.open_output_stream(f"{path}/.tmp-part-a-00001.parquet") as fh:
        fh.write(b"PAR1 half an upload")
    assert loc.glob("part-*.parquet") == [f"{path}/part-a-00000.parquet"]
    assert loc.parquet_file(f"{path}/part-a-00000.parquet").read().equals(table)
    assert loc.remove_temporaries() == [f"{path}/.tmp-part-a-00001.parquet"]
    assert names(fs, path) == ["manifest.json", "part-a-00000.parquet"]


# ---- the writer and the runner on a non-local filesystem -------------------------------------------

def test_part_writer_on_memory_filesystem():
    fs, path = memory_run("pw")
    episode = {
        "run_id": ["r"] * 2, "env_id": ["e"] * 2, "task_id": ["t"] * 2, "group_id": ["g"] * 2,
        "episode_id": ["ep"] * 2, "rollout_index": [0, 0], "iteration": [0, 0], "step": [0, 1],
        "observation": ["o0", "o1"], "action": ["a0", "a1"], "admissible_actions": [["a0"], ["a1"]],
        "reward": [0.0, 1.0], "terminated": [False, True], "truncated": [False, False],
        "invalid_action": [False, False], "episode_return": [1.0, 1.0], "won": [True, True],
        "task_score": [1.0, 1.0], "behavior_logprob": [None, -0.5], "task_type": [None, None],
    }
    with PartWriter((fs, path), {"env_id": "e"}, prefix="w0", rows_per_part=2) as writer:
        writer.add_episode(episode)
        writer.add_episode({**episode, "episode_id": ["ep2"] * 2})
    assert [p.name for p in writer.parts] == ["part-w0-00000.parquet", "part-w0-00001.parquet"]
    assert names(fs, path) == ["part-w0-00000.parquet", "part-w0-00001.parquet"]  # no temporaries left
    df = read_log((fs, path))
    assert df.height == 4 and df["episode_id"].to_list() == ["ep", "ep", "ep2", "ep2"]
    assert df["behavior_logprob"].to_list() == [None, -0.5, None, -0.5]
    assert read_run_metadata((fs, f"{path}/part-w0-00000.parquet"))["env_id"] == "e"


def test_rollout_to_memory_filesystem_equals_local_run(local_toy, tmp_path):
    fs, path = memory_run("toy")
    summary = rollout(out=(fs, path), **TOY)
    assert summary.episodes == 12 and summary.failed == 0
    assert rows((fs, path)).equals(rows(local_toy))
    listed = names(fs, path)
    assert MANIFEST_NAME in listed and not any(n.startswith(".") for n in listed)  # no lock, no temporary
    assert len([n for n in listed if n.startswith("part-")]) == len(list(local_toy.glob("part-*.parquet")))
    manifest = read_run_metadata((fs, path))
    assert manifest["status"] == "complete" and manifest["group_size"] == 3
    lazy = read_log((fs, path), lazy=True)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.sort(KEY).drop("run_id").collect().equals(rows(local_toy))
    assert not list(tmp_path.iterdir())  # nothing went to the local disk


def test_resume_on_memory_filesystem(local_toy):
    fs, path = memory_run("resume")
    rollout(out=(fs, path), **TOY)
    parts = resolve_location((fs, path)).glob("part-*.parquet")
    lost = read_log((fs, parts[1])).select("task_id", "rollout_index").unique()
    fs.delete_file(parts[1])
    with fs.open_output_stream(f"{path}/.tmp-{parts[1].rpartition('/')[2]}") as fh:
        fh.write(b"torn")  # what a writer killed mid-upload leaves
    summary = rollout(out=(fs, path), resume=True, **TOY)
    assert summary.session_episodes == lost.height and summary.episodes == 12
    assert rows((fs, path)).equals(rows(local_toy))
    assert not any(n.startswith(".tmp-") for n in names(fs, path))
    assert rollout(out=(fs, path), resume=True, **TOY).session_episodes == 0
    with pytest.raises(ValueError, match="already holds a run"):
        rollout(out=(fs, path), **TOY)


def test_failures_and_batched_policy_on_memory_filesystem(tmp_path):
    class Say:
        def act(self, observations, infos):
            return ["hello"] * len(observations)

    fs, path = memory_run("fail")
    kwargs = dict(env_id=TOY_MAKE_ID, env_kwargs={"fail_task_indices": [0]}, policy=Say(), tasks=2, group_size=2,
                  batch_size=3)
    summary = rollout(out=(fs, path), **kwargs)
    local = rollout(out=tmp_path / "local", **kwargs)
    assert summary.failed == local.failed == 2 and summary.episodes == local.episodes == 2
    # object stores cannot append: each writer keeps its own failures file, read_failures reads them all
    assert [n for n in names(fs, path) if n.startswith("failures")] == [
        f"failures-{json.loads(resolve_location((fs, path)).read_text(MANIFEST_NAME))['sessions'][0]['session']}-w0.jsonl"]
    strip = lambda rs: sorted((r["task_id"], r["rollout_index"], r["error"], r["message"]) for r in rs)  # noqa: E731
    assert strip(read_failures((fs, path))) == strip(read_failures(tmp_path / "local"))
    assert rows((fs, path)).equals(rows(tmp_path / "local"))


def test_read_log_errors_name_the_uri():
    fs, path = memory_run("bad")
    loc = resolve_location((fs, path))
    loc.make_dirs()
    with pytest.raises(FileNotFoundError, match=f"{path}: no part-"):
        read_log((fs, path))
    loc.write_table("part-x.parquet", pa.table({"run_id": ["r"]}))
    with pytest.raises(ValueError, match=f"{path}/part-x.parquet: column 'env_id', row 0: missing"):
        read_log((fs, path))


# ---- file:// URIs ------------------------------------------------------------------------------------

def test_rollout_to_file_uri_equals_local_run_and_resumes(local_toy, tmp_path):
    uri = f"file://{tmp_path}/run"
    summary = rollout(out=uri, **TOY)
    assert summary.out == str(tmp_path / "run") and summary.episodes == 12
    assert rows(uri).equals(rows(local_toy))
    assert (tmp_path / "run" / ".rollout.lock").exists()  # a local folder keeps its flock guard
    parts = sorted((tmp_path / "run").glob("part-*.parquet"))
    parts[0].unlink()
    assert rollout(out=uri, resume=True, **TOY).episodes == 12
    assert rows(uri).equals(rows(local_toy))
    assert read_run_metadata(uri)["command"][-1] == str(tmp_path / "run")


def test_subtree_filesystem_uses_the_generic_path_with_spawned_workers(local_toy, tmp_path):
    """A ``SubTreeFileSystem`` is not the plain local disk, so every write goes through pyarrow (stream,
    move); it is picklable and on disk, so ``workers=2`` spawned processes write to it too."""
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    summary = rollout(out=(fs, "run"), workers=2, **TOY)
    assert summary.episodes == 12 and not (tmp_path / "run" / ".rollout.lock").exists()
    assert rows((fs, "run")).equals(rows(local_toy))
    assert rows(tmp_path / "run").equals(rows(local_toy))
    assert pq.read_schema(sorted((tmp_path / "run").glob("part-*.parquet"))[0]).metadata[b"proxmo.run"]


# ---- re-scoring between filesystems --------------------------------------------------------------------

CREDIT = ["return_to_go", "adv_episode", "adv_step", "advantage"]


def test_score_run_from_and_to_memory_filesystem(tmp_path):
    import numpy as np

    from proxmo_analysis.credit import score
    from proxmo_analysis.credit.stream import score_run
    from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run

    df = alfworld_like_log(1200, iterations=2, seed=3).sort("episode_id", "step")
    local = write_run(df.sort("rollout_index", maintain_order=True), tmp_path / "run", rows_per_part=300)
    fs, path = memory_run("score")
    src = resolve_location((fs, path))
    src.make_dirs()
    for p in sorted(local.glob("*")):  # the same run folder, on the in-memory filesystem
        src.write_bytes(p.name, p.read_bytes())
    summary = score_run((fs, path), (fs, path + "-scored"), "proxmo", rows_per_batch=400)
    full = read_log(local)
    assert summary["rows"] == full.height and summary["parts"] > 1
    scored = read_log((fs, path + "-scored")).sort(KEY)
    expected = score(full, "proxmo").sort(KEY)
    for c in CREDIT:
        np.testing.assert_array_equal(scored[c].to_numpy(), expected[c].to_numpy(), err_msg=c)
    assert MANIFEST_NAME in names(fs, path + "-scored")
    assert not any(n.startswith(".tmp-") for n in names(fs, path + "-scored"))
    with pytest.raises(ValueError, match="is the input run folder"):
        score_run((fs, path), (fs, path), "grpo")
    with pytest.raises(ValueError, match="already holds part files"):
        score_run((fs, path), (fs, path + "-scored"), "grpo")


# ---- the Ray backend ---------------------------------------------------------------------------------

WEBSHOP = "proxmo/WebShop-v0"


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    from proxmo_envs.rollout import ray_backend

    ray_backend.shutdown_workers()
    ray.shutdown()


@pytest.mark.ray
def test_ray_backend_writes_to_file_uri_and_pyarrow_filesystem(ray_session, tmp_path):
    kwargs = dict(env_id=WEBSHOP, env_kwargs={}, policy="random", tasks=4, group_size=2, seed=5, max_steps=5,
                  rows_per_part=10)
    rollout(out=tmp_path / "local", **kwargs)
    uri = f"file://{tmp_path}/ray"
    summary = rollout(out=uri, workers=2, backend="ray", **kwargs)
    assert summary.episodes == 8 and summary.retried == 0
    assert rows(uri).equals(rows(tmp_path / "local"))
    # the actors write through pyarrow's filesystem API (a non-local RunLocation shipped to them)
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    summary = rollout(out=(fs, "ray-fs"), workers=2, backend="ray", **kwargs)
    assert summary.episodes == 8
    assert rows((fs, "ray-fs")).equals(rows(tmp_path / "local"))
    assert {p.name.split("-w")[1][0] for p in (tmp_path / "ray-fs").glob("part-*.parquet")} == {"0", "1"}

    # re-scoring on Ray reads from and writes to pyarrow filesystem locations too
    from proxmo_analysis.credit import score
    from proxmo_analysis.credit_ray import score_run_ray

    result = score_run_ray((fs, "ray-fs"), f"file://{tmp_path}/ray-fs-scored", "grpo", rows_per_batch=50)
    assert result["rows"] == rows(tmp_path / "local").height
    expected = score(read_log(tmp_path / "local"), "grpo").sort(KEY)
    scored = read_log(tmp_path / "ray-fs-scored").sort(KEY)
    for c in CREDIT:
        assert scored[c].to_list() == pytest.approx(expected[c].to_list(), abs=1e-6), c
    assert (tmp_path / "ray-fs-scored" / MANIFEST_NAME).exists()


@pytest.mark.ray
def test_killed_ray_actor_on_a_pyarrow_filesystem_gives_a_complete_run(ray_session, tmp_path):
    """The fault path on the generic filesystem code: the dead writer's visible parts are kept, its
    temporary keys deleted, and exactly its unwritten episodes re-run."""
    import os
    import signal
    import time

    import ray

    from proxmo_envs.rollout import RandomPolicy, ray_backend

    def slow_random():
        class SlowRandom(RandomPolicy):  # built here: cloudpickle ships it to the actors by value
            def __call__(self, observation, info):
                time.sleep(0.01)
                return super().__call__(observation, info)

        return SlowRandom()

    kwargs = dict(env_id=WEBSHOP, env_kwargs={}, tasks=6, group_size=3, seed=4, rows_per_part=25, max_steps=8)
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    pids = ray.get([a.pid.remote() for a in ray_backend.worker_pool(2)])
    killed = []

    def kill_once_w0_wrote_a_part(done, total):
        if not killed and list((tmp_path / "killed").glob("part-*-w0-*.parquet")):
            os.kill(pids[0], signal.SIGKILL)
            killed.append(done)

    summary = rollout(out=(fs, "killed"), policy=slow_random(), workers=2, backend="ray",
                      progress=kill_once_w0_wrote_a_part, **kwargs)
    assert killed, "the kill never happened"
    rollout(out=tmp_path / "local", policy=slow_random(), **kwargs)
    assert summary.episodes == 18 and summary.retried > 0 and summary.restarts == 1
    assert rows((fs, "killed")).equals(rows(tmp_path / "local"))  # no duplicate, no partial, none missing
    assert not list((tmp_path / "killed").glob(".tmp-*"))


def test_run_location_is_a_frozen_value():
    loc = RunLocation("x")
    with pytest.raises(AttributeError):
        loc.path = "y"  # type: ignore[misc]
