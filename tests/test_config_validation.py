"""Every config value is checked for finiteness and range where the config is built (credit, PPO, train),
so a bad setting is one error line before anything is written, in Python and through the CLI."""

from __future__ import annotations

import pytest

from proxmo_analysis import credit
from proxmo_analysis.cli import main
from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run
from proxmo_analysis.errors import InputError
from proxmo_analysis.policy.config import PPOConfig


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_run(alfworld_like_log(300, group_size=4, max_steps=6, seed=2), tmp_path_factory.mktemp("v") / "run")


@pytest.mark.parametrize("flags, message", [
    (["--beta", "inf"], "beta must be a finite number, got inf"),
    (["--omega", "inf"], "omega must be a finite number, got inf"),
    (["--omega=-inf"], "omega must be a finite number"),
    (["--set", "beta=1e400"], "beta must be a finite number, got inf"),
    (["--tau", "nan"], "tau must be a finite number, got nan"),
    (["--gamma", "1.5"], "gamma must be <= 1.0, got 1.5"),
    (["--alpha=-1"], "alpha must be >= 0.0"),
    (["--set", "reward_scale=0"], "reward_scale must be > 0.0"),
    (["--set", "success_threshold=Infinity"], "success_threshold must be a finite number"),
])
def test_score_refuses_non_finite_and_out_of_range_settings_before_writing(run, tmp_path, capsys, flags, message):
    out = tmp_path / "scored"
    assert main(["score", str(run), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


@pytest.mark.parametrize("method, config, message", [
    ("proxmo", {"beta": float("inf")}, "beta must be a finite"),
    ("gigpo", {"omega": float("nan")}, "omega must be a finite"),
    ("grpo", {"epsilon": float("inf")}, "epsilon must be a finite"),
    ("rloo", {"gamma": -0.1}, "gamma must be >= 0.0"),
    ("proxmo", {"target_range": float("inf"), "variant": "reference"}, "target_range must be a finite"),
])
def test_score_in_python_refuses_the_same(method, config, message):
    df = alfworld_like_log(100, group_size=4, max_steps=5, seed=1)
    with pytest.raises(InputError, match=message):
        credit.score(df, method, **config)


def test_finite_settings_that_overflow_are_refused_not_written(run, tmp_path, capsys):
    df = alfworld_like_log(100, group_size=4, max_steps=5, seed=1)
    with pytest.raises(InputError, match="non-finite advantage"):
        credit.score(df, "proxmo", omega=1e308, tau=1e-300)
    out = tmp_path / "scored"
    assert main(["score", str(run), "--out", str(out), "--omega", "1e39"]) == 2
    assert "non-finite" in capsys.readouterr().err
    assert not list(out.glob("part-*.parquet")) if out.exists() else True


@pytest.mark.parametrize("field, value, message", [
    ("lr", float("inf"), "lr must be a finite"), ("lr", 0.0, "lr must be > 0.0"),
    ("clip_eps", float("nan"), "clip_eps must be a finite"), ("kl_coef", -1.0, "kl_coef must be >= 0.0"),
    ("minibatch_size", 0, "minibatch_size must be >= 1"), ("epochs", 1.5, "epochs must be an integer"),
    ("max_grad_norm", float("inf"), "max_grad_norm must be a finite"),
    ("missing_behavior", "ignore", "missing_behavior='ignore' is not one of"),
])
def test_ppo_config_refuses_bad_values(field, value, message):
    with pytest.raises(InputError, match=message):
        PPOConfig(**{field: value})
