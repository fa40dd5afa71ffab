"""`proxmo train` / `proxmo update` end to end, in tiny sizes, on both environments."""

from __future__ import annotations

import csv
import importlib.util
import math

import polars as pl
import pytest
import torch

from proxmo_analysis.cli import main
from proxmo_analysis.logs import read_log
from proxmo_analysis.policy import load_checkpoint
from proxmo_analysis.train import TrainConfig, task_sample, train, training_pool, warm_start_games

WEBSHOP = "proxmo/WebShop-v0"
ALFWORLD = "proxmo/ALFWorld-v0"
TINY_POLICY = {"encoder": "hashed", "hashed_dim": 16, "hashed_buckets": 4096, "hidden": 16}


def tiny(out, iterations=2, env_id=WEBSHOP, **kw) -> TrainConfig:
    base = dict(
        env_id=env_id, method="proxmo", iterations=iterations, tasks=2, group_size=2, eval_every=1,
        eval_tasks=2, seed=3, out=str(out), policy_config=TINY_POLICY,
    )
    base.update(kw)
    return TrainConfig(**base)


def read_metrics(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_task_sample_is_reproducible_and_distinct():
    a = task_sample(0, 1, 16, 100)
    assert a == task_sample(0, 1, 16, 100) and len(set(a)) == 16 and all(0 <= i < 100 for i in a)
    assert a != task_sample(0, 2, 16, 100)
    assert len(task_sample(0, 1, 5, 3)) == 5  # more tasks than the split has: with replacement


def test_iterations_skip_the_behaviour_cloned_games():
    cfg = TrainConfig(env_id=ALFWORLD, warm_start_games=5, seed=2)
    cloned, pool = warm_start_games(cfg, 20), training_pool(cfg, 20)
    assert len(cloned) == 5 and cloned == task_sample(2, 0, 5, 20)
    assert not set(pool) & set(cloned) and sorted(pool + cloned) == list(range(20))
    assert training_pool(TrainConfig(env_id=ALFWORLD, warm_start_games=5, seed=2, rl_on_warm_start_games=True), 20) == list(range(20))
    assert warm_start_games(TrainConfig(env_id=ALFWORLD), 20) == [] and training_pool(TrainConfig(env_id=ALFWORLD), 20) == list(range(20))
    # every game cloned: iterations use the whole split rather than nothing
    assert training_pool(TrainConfig(env_id=ALFWORLD, warm_start_games=30), 20) == list(range(20))


def test_train_two_iterations_on_webshop_writes_everything(tmp_path):
    rows = train(tiny(tmp_path / "run"))
    out = tmp_path / "run"
    metrics = read_metrics(out / "metrics.csv")
    assert [r["iteration"] for r in metrics] == ["0", "1", "2"]
    assert metrics[0]["train_success"] == "" and metrics[0]["eval_success"] != ""
    for r in metrics[1:]:
        assert int(r["episodes"]) == 4  # 2 tasks x group of 2
        assert 0.0 <= float(r["train_success"]) <= 1.0 and float(r["eval_s"]) > 0
        assert math.isfinite(float(r["loss"]))
    assert (out / "learning_curve.png").stat().st_size > 5000
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"last.pt", "iter-0001.pt", "iter-0002.pt"}
    ck = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ck.extra["iteration"] == 2 and len(ck.extra["metrics"]) == 3 and ck.ref_policy is not None
    # the rollouts are ordinary run folders with the acting policy's log-probabilities
    log = read_log(out / "rollouts" / "iter-0002")
    assert log["iteration"].unique().to_list() == [2]
    assert log["behavior_logprob"].null_count() == 0 and (log["behavior_logprob"] <= 0).all()
    ev = read_log(out / "eval" / "iter-0000")
    assert ev["episode_id"].n_unique() == 2 and ev["rollout_index"].unique().to_list() == [0]
    assert rows[-1]["iteration"] == 2


def test_resume_equals_an_uninterrupted_run(tmp_path):
    full = train(tiny(tmp_path / "full", iterations=3, eval_every=3))
    train(tiny(tmp_path / "part", iterations=2, eval_every=3))
    with pytest.raises(ValueError, match="already holds a training run"):
        train(tiny(tmp_path / "part", iterations=3, eval_every=3))
    resumed = train(tiny(tmp_path / "part", iterations=3, eval_every=3), resume=True)
    # (the interrupted run also evaluated at its own last iteration, 2; the training numbers are equal)
    keys = ("iteration", "train_success", "train_score", "loss", "kl", "entropy")
    assert [[r.get(k) for k in keys] for r in resumed] == [[r.get(k) for k in keys] for r in full]
    assert resumed[-1]["eval_success"] == full[-1]["eval_success"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt").policy.state_dict()
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt").policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="group_size: run 2, now 3"):
        train(tiny(tmp_path / "part", iterations=4, group_size=3), resume=True)


def test_torch_policy_rolls_out_in_worker_processes_as_in_one(tmp_path):
    # regression: spawn's pickler moved the weights to shared memory behind fds torch had closed
    # ("bad value(s) in fds_to_keep"), so every workers>1 training run failed at its first rollout
    from proxmo_analysis.policy.scorer import ActionScorer, ScorerConfig
    from proxmo_envs.rollout import rollout

    policy = ActionScorer(ScorerConfig(**TINY_POLICY, overlap_prior=2.0), seed=0)
    logs = []
    for workers in (2, 1):
        out = tmp_path / f"w{workers}"
        summary = rollout(WEBSHOP, {}, policy.episodic(), [0, 1, 2], 2, out, seed=1, workers=workers, max_steps=6)
        assert summary.episodes == 6
        logs.append(read_log(out).sort(["episode_id", "step"]).select("episode_id", "step", "action", "behavior_logprob"))
    assert logs[0].equals(logs[1])
    rows = train(tiny(tmp_path / "train", iterations=1, workers=2))
    assert rows[-1]["episodes"] == 4


def test_shared_start_equals_a_run_that_computed_its_own(tmp_path):
    # compare_methods trains each seed's start (warm start + evaluation 0) once and branches every method from it
    own = train(tiny(tmp_path / "own", iterations=2, method="grpo"))
    start = train(tiny(tmp_path / "start", iterations=0, method="proxmo"))
    assert [r["iteration"] for r in start] == [0]
    branched = train(tiny(tmp_path / "branch", iterations=2, method="grpo", init_from=str(tmp_path / "start")))
    keys = ("iteration", "train_success", "train_score", "loss", "kl", "entropy", "eval_success", "eval_score")
    assert [[r.get(k) for k in keys] for r in branched] == [[r.get(k) for k in keys] for r in own]
    assert branched[0]["eval_s"] == start[0]["eval_s"]  # evaluation 0 reused, not repeated
    assert read_log(tmp_path / "branch" / "eval" / "iter-0000").height == read_log(tmp_path / "own" / "eval" / "iter-0000").height
    a = load_checkpoint(tmp_path / "own" / "checkpoints" / "last.pt").policy.state_dict()
    b = load_checkpoint(tmp_path / "branch" / "checkpoints" / "last.pt").policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="eval_tasks differs"):
        train(tiny(tmp_path / "other", eval_tasks=3, init_from=str(tmp_path / "start")))
    with pytest.raises(ValueError, match="at iteration 2, not 0"):
        train(tiny(tmp_path / "other2", init_from=str(tmp_path / "own")))
    with pytest.raises(FileNotFoundError, match="iterations=0 first"):
        train(tiny(tmp_path / "other3", init_from=str(tmp_path / "missing")))


def test_cli_train_then_offline_update(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main([
        "train", "--env", WEBSHOP, "--method", "grpo", "--iterations", "1", "--tasks", "2", "--group-size", "2",
        "--eval-tasks", "1", "--out", str(out), "--seed", "1",
        *(a for kv in ("encoder=hashed", "hashed_dim=16", "hashed_buckets=4096", "hidden=16") for a in ("--policy-config", kv)),
    ])
    assert code == 0
    printed = capsys.readouterr()
    assert "held-out success" in printed.out
    # the shared progress bar: command, env, latest successes, iterations done
    assert f"train {WEBSHOP} train " in printed.err and "held-out " in printed.err and "1/1" in printed.err
    ck = out / "checkpoints" / "last.pt"
    before = load_checkpoint(ck).policy.state_dict()
    code = main(["update", str(out / "rollouts" / "iter-0001"), "--checkpoint", str(ck), "--out",
                 str(tmp_path / "upd.pt"), "--method", "gigpo_wo_std", "--lr", "0.01"])
    assert code == 0
    after = load_checkpoint(tmp_path / "upd.pt")
    assert after.extra["offline_updates"] == 1
    assert any(not torch.equal(before[k], v) for k, v in after.policy.state_dict().items())
    # a bad input is one clear line, exit 2
    assert main(["update", str(tmp_path / "nowhere"), "--checkpoint", str(ck)]) == 2
    assert main(["update", str(out / "rollouts" / "iter-0001"), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert "proxmo update: error:" in err and "none.pt" in err


def _alfworld_usable() -> bool:
    if importlib.util.find_spec("proxmo_envs.alfworld.env") is None:
        return False
    try:
        import gymnasium as gym

        import proxmo_envs  # noqa: F401

        env = gym.make(ALFWORLD, split="train")
        ok = env.unwrapped.task_count > 0
        env.close()
        return ok
    except Exception:  # noqa: BLE001 - the ALFWorld env or its games are not there yet
        return False


@pytest.mark.slow
def test_train_two_iterations_on_alfworld(tmp_path):
    if not _alfworld_usable():
        pytest.skip("the ALFWorld env or its shipped games are not available")
    rows = train(tiny(tmp_path / "alf", env_id=ALFWORLD, method="gigpo", max_steps=8))
    metrics = read_metrics(tmp_path / "alf" / "metrics.csv")
    assert [r["iteration"] for r in metrics] == ["0", "1", "2"]
    log = read_log(tmp_path / "alf" / "rollouts" / "iter-0001")
    assert log["episode_id"].n_unique() == 4 and log.group_by("episode_id").len()["len"].max() <= 8
    assert pl.Series(log["task_type"]).null_count() == 0
    assert rows[-1]["eval_success"] is not None
