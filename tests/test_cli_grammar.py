"""One grammar in every command: ``--env-kwargs KEY=VALUE``, ``--set KEY=VALUE`` (alias ``--credit``) and
``--policy-config KEY=VALUE`` take one pair per flag (positionals are never swallowed), the named credit
flags mean the same everywhere, ``--force`` replaces only proxmo's own outputs, and only proxmo's own
input errors become one-line messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxmo_analysis.cli import build_parser, main
from proxmo_analysis.cli._args import credit_from, env_kwargs_from, parse_pairs, policy_config_from
from proxmo_analysis.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
WEBSHOP = "proxmo/WebShop-v0"

# every command that takes each kind of setting, with its other required arguments
ENV_KWARGS_COMMANDS = {
    "rollout": ["rollout", "--env", WEBSHOP, "--tasks", "1", "--out", "o"],
    "train": ["train"],
}
CREDIT_COMMANDS = {
    "score": ["score", "RUN"],
    "compare": ["compare", "RUN"],
    "train": ["train"],
    "update": ["update", "RUN", "--checkpoint", "c.pt"],
    "plot": ["plot", "psa", "RUN", "--out", "f.png"],
    "show": ["show", "RUN", "--out", "p.html"],
}
POLICY_CONFIG_COMMANDS = {"train": ["train"], "update": ["update", "RUN", "--checkpoint", "c.pt"]}


def parse(argv):
    return build_parser().parse_args(argv)


def test_parse_pairs_types_values_as_json_and_merges_objects():
    assert parse_pairs(["a=1", "b=x", "c=true", "d=null", "e=[1, 2]", "f=0.5", "g=", "h=a=b"], "--x") == {
        "a": 1, "b": "x", "c": True, "d": None, "e": [1, 2], "f": 0.5, "g": "", "h": "a=b"}
    assert parse_pairs(['{"split": "test", "n": 2}', "n=3"], "--x") == {"split": "test", "n": 3}
    with pytest.raises(InputError, match="--x: expected KEY=VALUE, got 'oops'"):
        parse_pairs(["oops"], "--x")
    with pytest.raises(InputError, match="--x is not valid JSON"):
        parse_pairs(["{nope"], "--x")


@pytest.mark.parametrize("command", sorted(ENV_KWARGS_COMMANDS))
def test_env_kwargs_are_the_same_flag_everywhere(command):
    args = parse([*ENV_KWARGS_COMMANDS[command], "--env-kwargs", "max_steps=5", "--env-kwargs", "catalog=small",
                  "--env-kwargs", '{"seed_offset": 2}'])
    assert env_kwargs_from(args) == {"max_steps": 5, "catalog": "small", "seed_offset": 2}
    assert env_kwargs_from(parse(ENV_KWARGS_COMMANDS[command])) == {}


@pytest.mark.parametrize("command", sorted(CREDIT_COMMANDS))
def test_credit_settings_are_the_same_flags_everywhere(command):
    base = CREDIT_COMMANDS[command]
    args = parse([*base, "--set", "tau=0.2", "--credit", "max_features=64", "--variant", "reference", "--no-psc",
                  "--omega", "0.5"])
    assert credit_from(args) == {"tau": 0.2, "max_features": 64, "variant": "reference", "psc": False, "omega": 0.5}
    # --set wins over the named flag for the same field
    assert credit_from(parse([*base, "--tau", "0.3", "--set", "tau=0.4"])) == {"tau": 0.4}
    assert credit_from(parse(base)) == {}


@pytest.mark.parametrize("command", ["update"])
def test_a_positional_after_a_setting_is_not_swallowed(command):
    args = parse(["update", "--set", "tau=0.2", "--policy-config", "hidden=8", "RUN", "--checkpoint", "c.pt"])
    assert args.run == "RUN" and credit_from(args) == {"tau": 0.2} and policy_config_from(args) == {"hidden": 8}
    args = parse(["score", "--set", "tau=0.2", "RUN"])
    assert args.run == "RUN"
    args = parse(["update", "--credit", "tau=0.2", "RUN", "--checkpoint", "c.pt"])  # the exact case
    assert args.run == "RUN" and credit_from(args) == {"tau": 0.2}


@pytest.mark.parametrize("command", sorted(POLICY_CONFIG_COMMANDS))
def test_policy_config_is_one_pair_per_flag(command):
    args = parse([*POLICY_CONFIG_COMMANDS[command], "--policy-config", "encoder=hashed", "--policy-config", "hidden=16"])
    assert policy_config_from(args) == {"encoder": "hashed", "hidden": 16}
    with pytest.raises(SystemExit):  # a second value after one flag is an unknown argument, not a setting
        parse([*POLICY_CONFIG_COMMANDS[command], "--policy-config", "encoder=hashed", "hidden=16", "--out", "x"]
              if command == "train" else [*POLICY_CONFIG_COMMANDS[command], "--policy-config", "a=1", "b=2", "c=3"])


def test_help_defaults_are_readable(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Adam learning rate (default: scorer 0.01, causal_lm 1e-06)" in out
    assert "{" not in out.split("Adam learning rate")[1].split(")")[0]
    for flag in ("--set KEY=VALUE, --credit KEY=VALUE", "--env-kwargs KEY=VALUE", "--policy-config KEY=VALUE",
                 "--force"):
        assert flag in out, flag


def test_rollout_force_replaces_a_run_folder_and_refuses_anything_else(tmp_path, capsys):
    def rollout_to(folder):
        return ["rollout", "--env", WEBSHOP, "--tasks", "1", "--group-size", "1", "--out", str(folder),
                "--max-steps", "2", "--no-progress"]

    out = tmp_path / "run"
    argv = rollout_to(out)
    from proxmo_analysis.logs import read_log

    assert main(argv) == 0
    first = read_log(out).drop("run_id")
    assert main(argv) == 2 and "already" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    assert len(list(out.glob("part-*.parquet"))) == 1 and read_log(out).drop("run_id").equals(first)
    assert main([*argv, "--force", "--resume"]) == 2
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main([*rollout_to(other), "--force"]) == 2
    assert "is not a run folder" in capsys.readouterr().err and (other / "notes.txt").read_text() == "keep me"


def test_only_our_input_errors_are_one_line(monkeypatch, capsys):
    import argparse

    holder = {}

    def build():  # a parser whose one command runs holder["func"]
        p = argparse.ArgumentParser(prog="proxmo")
        p.add_subparsers(dest="command").add_parser("games").set_defaults(func=lambda args: holder["func"](args))
        return p

    monkeypatch.setattr("proxmo_analysis.cli.build_parser", build)
    holder["func"] = lambda args: {}["missing"]  # a KeyError from a bug: the traceback must surface
    with pytest.raises(KeyError):
        main(["games"])
    holder["func"] = lambda args: int("not a number")  # a ValueError raised inside Python, not by proxmo
    with pytest.raises(ValueError):
        main(["games"])

    def ours(args):
        raise InputError("games: bad thing at X")

    holder["func"] = ours
    assert main(["games"]) == 2
    assert capsys.readouterr().err == "proxmo games: error: games: bad thing at X\n"


def test_policy_module_attr_imports_from_the_working_directory(tmp_path):
    (tmp_path / "my_local_policy.py").write_text(
        "class FirstAction:\n"
        "    def __call__(self, observation, info):\n"
        "        return info['admissible_actions'][0]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proxmo = Path(sys.executable).with_name("proxmo")
    result = subprocess.run([str(proxmo), "rollout", "--env", WEBSHOP, "--tasks", "1", "--group-size", "1",
                             "--policy", "my_local_policy:FirstAction", "--out", "run", "--max-steps", "2",
                             "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "manifest.json").is_file()
