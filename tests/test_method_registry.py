"""A credit method registered in this one file runs through every scorer: ``score`` (in memory), the
streaming scorer on a process pool, the CLI's ``score`` and ``compare``, and ``train``; the built-in
methods and ablations are registered once with their capabilities, labels and colours."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.credit import Method, register_method, score
from proxmo_analysis.credit.config import MethodConfig
from proxmo_analysis.credit.registry import METHODS, color, get_method, label, make_config, runs_in_workers
from proxmo_analysis.credit.returns import Credit, discounted_returns, episode_groups
from proxmo_analysis.credit.stream import score_run
from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run
from proxmo_analysis.logs import read_log

PID_DIR = "PROXMO_TEST_WIN_GAP_PIDS"  # when set, win_gap notes the process it ran in (see the pool test)


@dataclass(frozen=True)
class WinGapConfig(MethodConfig):
    """Toy method: A_i = scale * (won_i - mean won of the task group), the same on every step."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)):
            raise TypeError(f"scale must be a number, got {self.scale!r}")


def win_gap(rows, cfg: WinGapConfig) -> Credit:
    if os.environ.get(PID_DIR):
        open(os.path.join(os.environ[PID_DIR], str(os.getpid())), "w").close()
    n_episodes = int(rows.episode.max()) + 1
    won = np.zeros(n_episodes)
    won[rows.episode] = rows.won
    group = episode_groups(rows)
    mean = np.bincount(group, weights=won) / np.bincount(group)
    adv = cfg.scale * (won - mean[group])
    return Credit(discounted_returns(rows.reward, rows.episode, 1.0), adv[rows.episode], np.zeros(rows.n_rows))


register_method(Method("win_gap", win_gap, WinGapConfig, label="win gap (toy)", color="#000000", needs_won=True))


def expected_win_gap(df: pl.DataFrame, scale: float) -> pl.DataFrame:
    """The toy's advantage per (episode_id, step), computed independently with polars."""
    episodes = df.group_by("group_id", "episode_id").agg(pl.col("won").first().cast(pl.Float64))
    episodes = episodes.with_columns((scale * (pl.col("won") - pl.col("won").mean().over("group_id"))).alias("want"))
    return df.select("episode_id", "step").join(episodes.select("episode_id", "want"), on="episode_id")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run(alfworld_like_log(900, seed=5), tmp_path_factory.mktemp("toy") / "run", rows_per_part=200)


def check_against_hand(scored: pl.DataFrame, scale: float) -> None:
    got = scored.join(expected_win_gap(scored, scale), on=["episode_id", "step"])
    assert got.height == scored.height
    np.testing.assert_allclose(got["advantage"].to_numpy(), got["want"].to_numpy(), atol=1e-6)
    assert (got["adv_step"] == 0).all()


def test_score_in_memory_by_hand():
    # group a: won, lost (2 steps each); group b: won, won, lost (1 step each); scale 2
    df = pl.DataFrame({
        "group_id": ["a"] * 4 + ["b"] * 3,
        "episode_id": ["a0", "a0", "a1", "a1", "b0", "b1", "b2"],
        "step": [0, 1, 0, 1, 0, 0, 0],
        "reward": [0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
        "won": [True, True, False, False, True, True, False],
    })
    out = score(df, "win_gap", scale=2.0)
    np.testing.assert_allclose(out["advantage"].to_numpy(), [1, 1, -1, -1, 2 / 3, 2 / 3, -4 / 3], atol=1e-6)
    np.testing.assert_allclose(out["return_to_go"].to_numpy(), [1, 1, 0, 0, 1, 1, 0])
    with pytest.raises(ValueError, match="unknown parameter.*'tau'.*known: scale"):
        score(df, "win_gap", tau=0.1)
    with pytest.raises(ValueError, match="needs column|missing|won"):
        score(df.drop("won"), "win_gap")


def test_streaming_scorer_runs_it_in_worker_processes(run_dir, tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(PID_DIR, str(pids))
    assert runs_in_workers(get_method("win_gap"))
    summary = score_run(run_dir, tmp_path / "scored", "win_gap", workers=2, rows_per_batch=200, scale=0.5)
    assert summary["method"] == "win_gap" and summary["params"] == {"scale": 0.5}
    scored = read_log(tmp_path / "scored")
    check_against_hand(scored, 0.5)
    ran_in = {int(p.name) for p in pids.iterdir()}
    assert ran_in - {os.getpid()}  # the method travelled to the spawned worker (this process scores too)


def test_cli_score_and_compare_accept_it(run_dir, tmp_path, capsys):
    assert main(["score", str(run_dir), "--method", "win_gap", "--set", "scale=2", "--out", str(tmp_path / "s")]) == 0
    check_against_hand(read_log(tmp_path / "s"), 2.0)
    meta = pq.read_schema(next((tmp_path / "s").glob("part-*.parquet"))).metadata[b"proxmo.credit"]
    assert json.loads(meta) == {"method": "win_gap", "params": {"scale": 2}}
    capsys.readouterr()
    assert main(["compare", str(run_dir), "--methods", "grpo,win_gap"]) == 0
    out = capsys.readouterr().out
    assert "win_gap" in out and "grpo" in out


def test_train_uses_it(tmp_path, monkeypatch):
    from proxmo_analysis.train import TrainConfig, train

    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(PID_DIR, str(pids))
    rows = train(TrainConfig(method="win_gap", credit={"scale": 2.0}, iterations=1, tasks=2, group_size=2,
                             eval_every=1, eval_tasks=1, seed=1, out=str(tmp_path / "run"),
                             policy_config={"encoder": "hashed", "hashed_dim": 16, "hashed_buckets": 4096,
                                            "hidden": 16}))
    assert [r["iteration"] for r in rows] == [0, 1] and np.isfinite(rows[1]["loss"])
    assert {int(p.name) for p in pids.iterdir()} == {os.getpid()}  # the credit step called win_gap
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method"] == "win_gap"


def test_builtins_and_ablations_are_registered_once_with_labels():
    assert list(METHODS)[:8] == ["grpo", "grpo_mean", "rloo", "gigpo", "gigpo_wo_std", "proxmo", "proxmo_wo_psc",
                                 "proxmo_wo_psa"]
    _, cfg = make_config("proxmo_wo_psa", {})
    assert cfg.psa is False and cfg.psc is True
    _, cfg = make_config("proxmo_wo_psc", {"tau": 0.5})
    assert cfg.psc is False and cfg.tau == 0.5
    assert make_config("gigpo_wo_std", {})[1].normalize_std is False
    assert label("proxmo_wo_psc") == "ProxMO w/o PSC" and label("nope") == "nope"
    assert color("proxmo") == "#d62728" and color("nope", 3) == "C3"
    # capabilities: PSA needs observations, the w/o PSA ablation does not; batch TF-IDF only with PSA
    m, cfg = make_config("proxmo_wo_psa", {})
    assert not m.needs_observation(cfg) and not m.uses_tfidf_batch(cfg) and m.needs_won(cfg)
    m, cfg = make_config("proxmo", {})
    assert m.needs_observation(cfg) and m.uses_tfidf_batch(cfg)


def test_ablation_equals_the_base_method_with_its_setting():
    df = alfworld_like_log(400, seed=3)
    for ablation, base, kw in (("proxmo_wo_psc", "proxmo", {"psc": False}),
                               ("gigpo_wo_std", "gigpo", {"normalize_std": False})):
        np.testing.assert_array_equal(score(df, ablation)["advantage"].to_numpy(),
                                      score(df, base, **kw)["advantage"].to_numpy())


def test_a_method_that_cannot_travel_stays_in_process():
    lam = Method("lam", win_gap, WinGapConfig, needs_won=lambda cfg: True)
    assert not runs_in_workers(lam)
    assert not runs_in_workers(Method("solo", win_gap, WinGapConfig, parallel=False))
    with pytest.raises(TypeError, match="MethodConfig"):
        Method("bad", win_gap, dict)
    with pytest.raises(ValueError, match="not fields"):
        Method("bad", win_gap, WinGapConfig, defaults={"tau": 1})


def test_proxmo_methods_variable_loads_a_users_module_from_the_working_directory(tmp_path, monkeypatch):
    from proxmo_analysis.credit.registry import PLUGINS_ENV, load_plugins

    (tmp_path / "my_plugin_method.py").write_text(
        "from proxmo_analysis.credit import Method, register_method\n"
        "from test_method_registry import WinGapConfig, win_gap\n"
        "register_method(Method('plugin_gap', win_gap, WinGapConfig, needs_won=True))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(PLUGINS_ENV, "my_plugin_method")
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    try:
        assert load_plugins() == ["my_plugin_method"] and "plugin_gap" in METHODS
        from proxmo_analysis.cli import build_parser

        args = build_parser().parse_args(["score", "RUN", "--method", "plugin_gap"])
        assert args.method == "plugin_gap"
    finally:
        METHODS.pop("plugin_gap", None)
    with pytest.raises(ImportError, match="PROXMO_METHODS: cannot import 'no_such_module'"):
        load_plugins("no_such_module")
