"""The Ray backend on a real local Ray (2 CPUs): same rows as the local backend on WebShop and ALFWorld,
a batched policy served from the driver, a worker actor SIGKILLed mid-rollout, Ray Data re-scoring."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import polars as pl
import pytest

ray = pytest.importorskip("ray")

from proxmo_analysis.cli import main  # noqa: E402
from proxmo_analysis.credit import score  # noqa: E402
from proxmo_analysis.credit.stream import score_run  # noqa: E402
from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run  # noqa: E402
from proxmo_analysis.logs import read_log  # noqa: E402
from proxmo_envs.rollout import RandomPolicy, rollout  # noqa: E402
from proxmo_envs.trajlog import MANIFEST_NAME  # noqa: E402

from credit_checks import same_numbers  # noqa: E402

pytestmark = pytest.mark.ray

WEBSHOP = "proxmo/WebShop-v0"
ALFWORLD = "proxmo/ALFWorld-v0"
CREDIT = ["return_to_go", "adv_episode", "adv_step", "advantage"]
KEY = ["episode_id", "step"]


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    from proxmo_envs.rollout import ray_backend

    ray_backend.shutdown_workers()
    ray.shutdown()


def rows(path) -> pl.DataFrame:
    """A run's rows in a canonical order without the run id (the one column allowed to differ)."""
    return read_log(path).sort(KEY).drop("run_id")


def slow_random(seconds: float):
    """The built-in random policy, slowed down so a kill lands mid-job. Built in a function: cloudpickle
    ships it to the actors by value (they cannot import this test module)."""

    class SlowRandom(RandomPolicy):
        def __call__(self, observation, info):
            time.sleep(seconds)
            return super().__call__(observation, info)

    return SlowRandom()


class FirstAdmissibleBatched:
    """A deterministic batched policy that records the batch sizes it was called with."""

    def __init__(self):
        self.sizes = []

    def act(self, observations, infos):
        self.sizes.append(len(observations))
        return [i["admissible_actions"][0] for i in infos], [-0.25] * len(infos)


def test_webshop_same_rows_as_local_backend(ray_session, tmp_path):
    from proxmo_envs.rollout.ray_backend import RaySummary

    for policy in ("random", "oracle"):
        local = rollout(WEBSHOP, {}, policy, tasks=4, group_size=3, out=tmp_path / f"l-{policy}", seed=7)
        remote = rollout(WEBSHOP, {}, policy, tasks=4, group_size=3, out=tmp_path / f"r-{policy}", seed=7,
                         workers=2, backend="ray")
        assert isinstance(remote, RaySummary) and remote.retried == 0
        assert remote.episodes == local.episodes == 12
        assert rows(tmp_path / f"r-{policy}").equals(rows(tmp_path / f"l-{policy}"))
        prefixes = {p.name.split("-")[2] for p in (tmp_path / f"r-{policy}").glob("part-*.parquet")}
        assert prefixes == {"w0", "w1"}  # each actor wrote its own parts into the run folder
        manifest = json.loads((tmp_path / f"r-{policy}" / MANIFEST_NAME).read_text())
        session = manifest["sessions"][-1]
        assert manifest["status"] == "complete" and session["workers"] == 2 and session["backend"] == "ray"
        assert session["retried"] == 0
    assert local.success_rate == 1.0  # the oracle


def test_alfworld_same_rows_as_local_backend(ray_session, tmp_path):
    import gymnasium as gym

    import proxmo_envs  # noqa: F401

    try:
        gym.make(ALFWORLD).close()
    except Exception as err:  # noqa: BLE001 - the ALFWorld env may still be in progress
        pytest.skip(f"{ALFWORLD} cannot be built yet: {type(err).__name__}: {err}")
    for policy in ("walkthrough", "random"):
        rollout(ALFWORLD, {}, policy, tasks=2, group_size=2, out=tmp_path / f"l-{policy}", seed=3, max_steps=12)
        summary = rollout(ALFWORLD, {}, policy, tasks=2, group_size=2, out=tmp_path / f"r-{policy}", seed=3,
                          max_steps=12, workers=2, backend="ray")
        assert summary.episodes == 4
        assert rows(tmp_path / f"r-{policy}").equals(rows(tmp_path / f"l-{policy}"))


def test_batched_policy_is_served_from_the_driver_in_one_batch(ray_session, tmp_path):
    served = FirstAdmissibleBatched()
    rollout(WEBSHOP, {}, served, tasks=4, group_size=3, out=tmp_path / "r", seed=1, workers=2, backend="ray",
            max_steps=5)
    local = FirstAdmissibleBatched()
    rollout(WEBSHOP, {}, local, tasks=4, group_size=3, out=tmp_path / "l", seed=1, max_steps=5)
    # each actor steps 3 envs in lock-step; the driver calls act once over both actors' batches
    assert max(local.sizes) == 3 and max(served.sizes) == 6
    assert sum(served.sizes) == sum(local.sizes) == read_log(tmp_path / "l").height
    assert rows(tmp_path / "r").equals(rows(tmp_path / "l"))


#: The run both fault tests disturb, and then repeat on the local backend to compare rows.
FAULT_RUN = dict(tasks=8, group_size=3, seed=4, rows_per_part=25, max_steps=8)


def signalled_rollout(out, policy, sig):
    """The ``FAULT_RUN`` on 2 Ray actors, sending ``sig`` once to worker 0's actor process after it wrote a
    part; returns the summary. The process is SIGKILLed afterwards, whatever happened, so a SIGSTOPped one
    is never left behind."""
    from proxmo_envs.rollout import ray_backend

    pids = ray.get([a.pid.remote() for a in ray_backend.worker_pool(2)])
    sent = []

    def signal_once_w0_wrote_a_part(done, total):
        if not sent and any(out.glob("part-*-w0-*.parquet")):
            os.kill(pids[0], sig)
            sent.append(done)

    try:
        summary = rollout(WEBSHOP, {}, policy, out=out, workers=2, backend="ray", progress=signal_once_w0_wrote_a_part,
                          **FAULT_RUN)
    finally:
        try:
            os.kill(pids[0], signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert sent, f"{signal.Signals(sig).name} was never sent"
    return summary


def test_killed_actor_mid_rollout_gives_a_complete_run(ray_session, tmp_path):
    out = tmp_path / "killed"
    policy = slow_random(0.01)
    summary = signalled_rollout(out, policy, signal.SIGKILL)
    rollout(WEBSHOP, {}, policy, out=tmp_path / "local", **FAULT_RUN)

    log = read_log(out)  # validates: whole trajectories, no gaps, one group per episode
    assert summary.episodes == 24 and summary.failed == 0
    assert log.select("task_id", "rollout_index").unique().height == 24
    assert log.group_by("episode_id").agg(pl.len().alias("n"), pl.col("step").max().alias("last")).filter(
        pl.col("n") != pl.col("last") + 1).height == 0  # no duplicated step rows
    assert rows(out).equals(rows(tmp_path / "local"))

    # exactly the episodes the dead attempt had not written were re-run, and the summary counts them
    episodes = {p: set(pl.read_parquet(p)["episode_id"].unique()) for p in out.glob("part-*.parquet")}
    first = set().union(*(e for p, e in episodes.items() if "-w0-" in p.name))
    rerun = set().union(*(e for p, e in episodes.items() if "-w0r" in p.name))
    w1 = set().union(*(e for p, e in episodes.items() if "-w1-" in p.name))
    assert first and rerun and not first & rerun
    assert len(first) + len(rerun) + len(w1) == 24
    assert summary.retried == len(rerun) and summary.restarts == 1
    assert json.loads((out / MANIFEST_NAME).read_text())["sessions"][-1]["retried"] == len(rerun)
    assert not list(out.glob(".tmp-*"))
    # the restarted actor is reused by the next rollout
    assert rollout(WEBSHOP, {}, "oracle", tasks=2, group_size=2, out=tmp_path / "after", workers=2,
                   backend="ray").episodes == 4


def test_frozen_actor_is_killed_and_its_episodes_rerun(ray_session, tmp_path, monkeypatch):
    # SIGSTOP keeps the actor's process and sockets alive, so Ray never fails its pending call: the shape of
    # the hang seen after a node loss. The stall limit must find it, kill it and re-run what it had not written.
    from proxmo_envs.rollout import ray_backend

    # far above a live actor's answer time (0.25 s) even on loaded cores, far below the default
    monkeypatch.setattr(ray_backend, "STALL_SECONDS", 20.0)
    out = tmp_path / "frozen"
    policy = slow_random(0.01)
    summary = signalled_rollout(out, policy, signal.SIGSTOP)
    # (>= 1: on a starved machine a live but descheduled actor may be restarted too; the rows stay exact)
    assert summary.episodes == 24 and summary.failed == 0 and summary.restarts >= 1 and summary.retried > 0
    rollout(WEBSHOP, {}, policy, out=tmp_path / "local", **FAULT_RUN)
    assert rows(out).equals(rows(tmp_path / "local"))
    assert not list(out.glob(".tmp-*"))


def test_ray_rescoring_equals_local_bit_for_bit(ray_session, tmp_path):
    df = alfworld_like_log(1500, iterations=2, seed=5)
    # interleave trajectories so task groups are split over part files
    df = df.sort("episode_id", "step").sort("rollout_index", maintain_order=True)
    run = write_run(df, tmp_path / "run", rows_per_part=300)
    full = read_log(run)
    from proxmo_analysis.credit_ray import score_run_ray

    # the local scorer's passes as Ray tasks: the same parts (segments of whole groups) and the same numbers
    for method, kw in (("proxmo", {}), ("gigpo", {"variant": "reference"})):
        summary = score_run_ray(run, tmp_path / f"ray-{method}", method, rows_per_batch=400, **kw)
        local = score_run(run, tmp_path / f"local-{method}", method, rows_per_batch=400, **kw)
        assert summary["rows"] == full.height and summary["groups"] == full["group_id"].n_unique()
        assert summary["parts"] == local["parts"] > 3
        scored = read_log(tmp_path / f"ray-{method}")
        same_numbers(scored, score(full, method, **kw))
        assert scored.equals(read_log(tmp_path / f"local-{method}"))
        assert scored.select(full.columns).sort(KEY).equals(full.sort(KEY))  # input columns untouched
        import pyarrow.parquet as pq

        meta = pq.read_schema(next((tmp_path / f"ray-{method}").glob("part-*.parquet"))).metadata
        assert json.loads(meta[b"proxmo.credit"])["method"] == method and b"proxmo.run" in meta
    assert (tmp_path / "ray-proxmo" / MANIFEST_NAME).exists()
    # a bad log: one line naming the file and row (the task's error, not Ray's wrapper), nothing left behind
    bad = write_run(df.filter(~((pl.col("episode_id") == df["episode_id"][0]) & (pl.col("step") == 1))),
                    tmp_path / "bad", rows_per_part=300)
    with pytest.raises(ValueError, match="gap in step: 0 is followed by 2") as err:
        score_run_ray(bad, tmp_path / "ray-bad", "grpo")
    assert "column 'step', row 1 of" in str(err.value) and "part-00000.parquet" in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "ray-bad").exists()


def test_cli_rollout_and_score_with_the_ray_backend(ray_session, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["rollout", "--env", WEBSHOP, "--tasks", "3", "--group-size", "2", "--policy", "random",
                 "--out", str(run), "--workers", "2", "--backend", "ray", "--no-progress"]) == 0
    assert "retried episodes" in capsys.readouterr().out
    assert main(["score", str(run), "--method", "proxmo", "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert main(["score", str(run), "--method", "proxmo", "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    a, b = read_log(tmp_path / "ray").sort(KEY), read_log(tmp_path / "local").sort(KEY)
    for c in CREDIT:
        np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=0, atol=1e-6, err_msg=c)
    local = score_run(run, tmp_path / "py", "proxmo", backend="ray")
    assert local["rows"] == a.height


def test_bad_backend_and_too_many_workers(ray_session, tmp_path):
    with pytest.raises(ValueError, match="backend"):
        rollout(WEBSHOP, {}, "random", tasks=1, group_size=1, out=tmp_path / "x", backend="spark")
    with pytest.raises(ValueError, match="CPUs"):
        rollout(WEBSHOP, {}, "random", tasks=4, group_size=1, out=tmp_path / "y", workers=4, backend="ray")


def test_proxmo_train_uses_the_ray_rollouts(ray_session, tmp_path):
    out = tmp_path / "train"
    assert main(["train", "--env", WEBSHOP, "--iterations", "1", "--tasks", "2", "--group-size", "2",
                 "--eval-every", "1", "--eval-tasks", "2", "--workers", "2", "--backend", "ray", "--max-steps", "4",
                 "--policy-config", "encoder=hashed", "--out", str(out), "--no-progress"]) == 0
    manifests = sorted(out.glob("*/iter-*/manifest.json"))
    assert manifests and all(json.loads(m.read_text())["sessions"][-1]["backend"] == "ray" for m in manifests)
    assert read_log(out / "rollouts" / "iter-0001").select("task_id", "rollout_index").unique().height == 4
