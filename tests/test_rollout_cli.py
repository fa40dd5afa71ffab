"""``proxmo rollout``: arguments, the summary table, resume, and one-line errors."""

from __future__ import annotations

import json
import re

import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.cli.rollout import load_policy, parse_tasks
from proxmo_analysis.logs import read_log
from test_trajlog_toyenv import TOY_MAKE_ID


class Greedy:
    """A policy importable as ``test_rollout_cli:Greedy`` (a class: the CLI instantiates it)."""

    def __call__(self, observation, info):
        return info["walkthrough"][0]


def _args(out, *extra):
    return ["rollout", "--env", TOY_MAKE_ID, "--tasks", "3", "--group-size", "2", "--out", str(out),
            "--no-progress", *extra]


def test_rollout_command_writes_run_and_prints_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(out, "--seed", "4", "--env-kwargs", '{"n_tasks": 4}')) == 0
    text = capsys.readouterr().out
    for label in ("episodes", "success rate", "mean score", "mean length", "invalid-action rate", "steps/s"):
        assert label in text
    assert re.search(r"│ episodes\s+│\s+6 │", text) and re.search(r"│ failed episodes\s+│\s+0 │", text)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 4 and manifest["env_kwargs"] == {"n_tasks": 4} and manifest["group_size"] == 2
    assert read_log(out)["episode_id"].n_unique() == 6
    # the manifest's command re-creates the run: same rows except run ids
    command = manifest["command"]
    assert command[:2] == ["proxmo", "rollout"] and command[command.index("--tasks") + 1] == "0,1,2"
    command[command.index("--out") + 1] = str(tmp_path / "again")
    assert main(command[1:] + ["--no-progress"]) == 0
    capsys.readouterr()
    def rows(path):
        return read_log(path).drop("run_id").sort("episode_id", "step")

    assert rows(tmp_path / "again").equals(rows(out))
    # the same command again is refused; with --resume it completes nothing new
    assert main(_args(out, "--seed", "4", "--env-kwargs", '{"n_tasks": 4}')) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(_args(out, "--seed", "4", "--env-kwargs", '{"n_tasks": 4}', "--resume")) == 0


def test_module_policy_wins_every_episode(tmp_path, capsys):
    assert main(_args(tmp_path / "g", "--policy", "test_rollout_cli:Greedy")) == 0
    df = read_log(tmp_path / "g")
    assert df["won"].all() and (df["step"] == 0).all()


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert main(_args(tmp_path / "a", "--env-kwargs", "{nope")) == 2
    err = capsys.readouterr().err
    assert err.startswith("proxmo rollout: error: --env-kwargs is not valid JSON") and err.count("\n") == 1
    assert main(_args(tmp_path / "b", "--policy", "best")) == 2
    assert "built-ins are random, walkthrough, oracle" in capsys.readouterr().err


def test_parse_tasks_and_load_policy():
    assert parse_tasks("32") == 32
    assert parse_tasks("0, 4,7") == [0, 4, 7]
    assert parse_tasks("toy-1,toy-3") == ["toy-1", "toy-3"]
    assert load_policy("random") == "random"
    assert isinstance(load_policy("test_rollout_cli:Greedy"), Greedy)
    with pytest.raises(ValueError, match="cannot import"):
        load_policy("no_such_module:x")
