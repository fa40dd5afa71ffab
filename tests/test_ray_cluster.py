"""The Ray backend on a simulated two-node cluster (``ray.cluster_utils.Cluster``, one CPU per node):
actors spread over the nodes, a node lost mid-rollout, Ray Data re-scoring joined by address."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest

ray = pytest.importorskip("ray")

from proxmo_analysis.credit import score  # noqa: E402
from proxmo_analysis.logs import read_log  # noqa: E402
from proxmo_envs.rollout import rollout  # noqa: E402
from isolated import run_isolated  # noqa: E402
from test_ray_rollout import CREDIT, KEY, WEBSHOP, rows, slow_random  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    from proxmo_envs.rollout import ray_backend

    ray_backend.shutdown_workers()
    ray.shutdown()
    c.shutdown()


def test_actors_spread_over_both_nodes_and_rows_match_local(cluster, tmp_path):
    from proxmo_envs.rollout import ray_backend

    summary = rollout(WEBSHOP, {}, "random", tasks=4, group_size=2, out=tmp_path / "r", seed=9, workers=2,
                      backend="ray", address=cluster.address)
    assert summary.episodes == 8 and summary.retried == 0
    nodes = ray.get([a.node_id.remote() for a in ray_backend.worker_pool(2)])
    assert len(set(nodes)) == 2
    rollout(WEBSHOP, {}, "random", tasks=4, group_size=2, out=tmp_path / "l", seed=9)
    assert rows(tmp_path / "r").equals(rows(tmp_path / "l"))


INNER = "PROXMO_RAY_NODE_LOSS_INNER"


def test_node_lost_mid_rollout_gives_a_complete_run():
    # Run in its own pytest process: on this machine Ray once hung in ray.wait after Cluster.remove_node.
    # The runner now bounds that wait (ray_backend.STALL_SECONDS, tested with a SIGSTOPped actor), but a hang
    # elsewhere inside Ray's own cluster teardown must still not take the whole suite down with it.
    # A hang past the limit FAILS this test, naming it (an xfail would let CI pass a rollout that never ends);
    # any failed assertion fails it too.
    output = run_isolated(f"{__file__}::test_node_lost_inner", 300, "Ray, after a node was removed mid-rollout,",
                          env={INNER: "1"})
    assert "1 passed" in output, output[-4000:]


@pytest.mark.skipif(os.environ.get(INNER) != "1", reason="run in a subprocess by test_node_lost_mid_rollout_gives_a_complete_run")
def test_node_lost_inner(cluster, tmp_path):
    from proxmo_envs.rollout import ray_backend

    ray_backend.connect(cluster.address)
    head = cluster.head_node.node_id
    actors = ray_backend.worker_pool(2)
    nodes = ray.get([a.node_id.remote() for a in actors])
    k = next(i for i, n in enumerate(nodes) if n != head)  # the actor on the node we can lose
    victim = next(n for n in cluster.worker_nodes if n.node_id == nodes[k])
    out = tmp_path / "lost"
    lost = []

    def lose_node_once_it_wrote_a_part(done, total):
        if not lost and any(out.glob(f"part-*-w{k}-*.parquet")):
            cluster.remove_node(victim)
            cluster.add_node(num_cpus=1)  # a replacement node, where Ray restarts the actor
            lost.append(done)

    policy = slow_random(0.01)
    summary = rollout(WEBSHOP, {}, policy, tasks=6, group_size=3, out=out, seed=2, workers=2, backend="ray",
                      address=cluster.address, rows_per_part=25, max_steps=8,
                      progress=lose_node_once_it_wrote_a_part)
    assert lost, "the node was never removed"
    assert summary.episodes == 18 and summary.retried > 0
    log = read_log(out)
    assert log.select("task_id", "rollout_index").unique().height == 18
    assert log.group_by("episode_id").len().height == 18
    rollout(WEBSHOP, {}, policy, tasks=6, group_size=3, out=tmp_path / "local", seed=2, rows_per_part=25, max_steps=8)
    assert rows(out).equals(rows(tmp_path / "local"))
    rerun = pl.concat([pl.read_parquet(p) for p in out.glob(f"part-*-w{k}r*.parquet")])
    assert rerun["episode_id"].n_unique() == summary.retried


def test_ray_data_rescoring_on_the_cluster_equals_local(cluster, tmp_path):
    from proxmo_analysis.credit_ray import score_run_ray

    rollout(WEBSHOP, {}, "random", tasks=5, group_size=3, out=tmp_path / "run", seed=1)
    full = read_log(tmp_path / "run")
    score_run_ray(tmp_path / "run", tmp_path / "scored", "proxmo", address=cluster.address)
    scored = read_log(tmp_path / "scored").sort(KEY)
    expected = score(full, "proxmo").sort(KEY)
    for c in CREDIT:
        np.testing.assert_allclose(scored[c].to_numpy(), expected[c].to_numpy(), rtol=0, atol=1e-6, err_msg=c)
