"""Bad arguments and a hostile machine through the CLI: one line on stderr, no traceback, and no folder left
behind that would block the corrected command."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.logs import read_log
from test_trajlog_toyenv import TOY_MAKE_ID

TESTS = Path(__file__).resolve().parent


def _rollout(out, *extra):
    return ["rollout", "--env", TOY_MAKE_ID, "--tasks", "3", "--group-size", "2", "--out", str(out), "--no-progress",
            *extra]


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("flag, value, message", [
    ("--max-steps", "0", "max_steps must be >= 1, got 0"),
    ("--rows-per-part", "0", "rows_per_part must be >= 1, got 0"),
    ("--iteration", "-1", "iteration must be >= 0"),
])
def test_rollout_checks_arguments_before_creating_the_folder(tmp_path, capsys, flag, value, message):
    out = tmp_path / "run"
    assert main(_rollout(out, f"{flag}={value}")) == 2
    assert message in one_line(capsys)
    assert not out.exists()
    assert main(_rollout(out)) == 0  # the corrected command is not blocked


def test_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(_rollout(f)) == 2
    assert "is a file, not a run folder" in one_line(capsys)
    assert f.read_text() == "x"


def test_read_only_folder_is_one_line(tmp_path, capsys, monkeypatch):
    def refuse(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(_rollout(tmp_path / "ro" / "run")) == 1
    assert "Read-only file system: " in one_line(capsys)


def test_disk_full_is_one_line_and_leaves_no_temporaries(tmp_path, capsys, monkeypatch):
    real_fsync, real_open = os.fsync, os.open

    def fsync(fd):
        if "part-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    def open_(path, *a, **k):
        if str(path).endswith("failures.jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "open", open_)
    out = tmp_path / "run"
    assert main(_rollout(out, "--rows-per-part", "1")) == 1
    err = one_line(capsys)
    assert "No space left on device" in err and str(out) in err
    assert not out.exists()  # made by this command, nothing logged: removed
    keep = tmp_path / "mine"
    keep.mkdir()
    assert main(_rollout(keep, "--rows-per-part", "1")) == 1
    one_line(capsys)
    assert keep.is_dir() and not [p.name for p in keep.iterdir() if p.name.startswith(".tmp")]


def test_sigint_exits_130_removes_temporaries_and_resumes(tmp_path):
    out = tmp_path / "run"
    env_kwargs = {"n_tasks": 12, "step_delay": 0.02}
    cmd = [sys.executable, "-c", "import sys; from proxmo_analysis.cli import main; sys.exit(main())",
           "rollout", "--env", TOY_MAKE_ID, "--env-kwargs", json.dumps(env_kwargs), "--tasks", "12",
           "--group-size", "4", "--seed", "7", "--rows-per-part", "12", "--out", str(out), "--no-progress"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([*cmd, "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["proxmo rollout: interrupted; finished work is kept: resume with --resume"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp")]
    done = subprocess.run([*cmd, "--workers", "1", "--resume"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert read_log(out)["episode_id"].n_unique() == 48


TRAIN_BASE = ["train", "--iterations", "1", "--tasks", "2", "--group-size", "2", "--eval-tasks", "1", "--no-progress"]
TRAIN = [*TRAIN_BASE, *(a for kv in ("encoder=hashed", "hashed_dim=8", "hashed_buckets=256", "hidden=8")
                        for a in ("--policy-config", kv))]


@pytest.mark.parametrize("extra, message", [
    (["--minibatch-size", "0"], "minibatch_size must be >= 1, got 0"),
    (["--lr", "inf"], "lr must be a finite number"),
    (["--credit", "tau=abc"], "credit settings of proxmo: tau must be a number, got 'abc'"),
    (["--credit", "gamma=1.5"], "gamma must be <= 1.0, got 1.5"),
    (["--credit", "taus=0.2"], "unknown parameter(s) 'taus'"),
    (["--tasks", "99999"], "tasks=99999 is more than the"),
    (["--eval-tasks", "99999"], "eval_tasks=99999 is more than the"),
    (["--env-kwargs", "split=tset"], "env_kwargs split='tset': set train_split / eval_split"),
    (["--env-kwargs", "nonsense=1"], "env proxmo/WebShop-v0 has no setting 'nonsense'"),
    (["--policy-config", "hidden=0"], "scorer hidden must be >= 1, got 0"),
    (["--max-steps", "0"], "max_steps must be >= 1, got 0"),
])
def test_train_checks_every_setting_before_creating_anything(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), *extra]) == 2
    assert message in one_line(capsys)
    assert not out.exists()


def test_train_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main([*TRAIN, "--out", str(f)]) == 2
    assert "is a file, not a folder" in one_line(capsys)


def test_train_that_fails_before_its_first_checkpoint_removes_the_folder_it_made(tmp_path, capsys):
    out = tmp_path / "run"
    # the model folder is only opened when the policy is built, after the run folder exists
    assert main([*TRAIN_BASE, "--out", str(out), "--model-dir", str(tmp_path / "no-model")]) != 0
    capsys.readouterr()
    assert not out.exists()


class LoneSurrogateOnce:
    """Acts with an action holding a lone surrogate (no UTF-8 encoding) in its first episode only."""

    def __init__(self):
        self.calls = 0

    def __call__(self, observation, info):
        self.calls += 1
        return ("\ud800" if self.calls == 1 else "") + info["walkthrough"][0]


def test_an_unencodable_action_fails_its_episode_not_the_rollout(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_rollout(out, "--policy", "test_cli_errors:LoneSurrogateOnce")) == 0
    capsys.readouterr()
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == 1 and "cannot be logged" in failures[0]["message"]
    assert read_log(out)["episode_id"].n_unique() == 5


@pytest.mark.parametrize("env, kwargs, message", [
    ("WebShop", {"seed": "abc"}, "seed (the data seed) must be an int >= 0, got 'abc'"),
    ("WebShop", {"seed": -1}, "seed (the data seed) must be an int >= 0, got -1"),
    ("WebShop", {"catalog": 5}, "catalog must be 'embedded' or a folder path, got int"),
    ("WebShop", {"nonsense": 1}, "env proxmo/WebShop-v0 has no setting 'nonsense'; its settings are catalog, goals"),
    ("ALFWorld", {"games": 5}, "env proxmo/ALFWorld-v0 has no setting 'games'; its settings are split, data_dir"),
    ("ALFWorld", {"speedups": "false"}, "speedups must be True or False, got 'false'"),
])
def test_bad_env_settings(tmp_path, capsys, env, kwargs, message):
    out = tmp_path / "run"
    args = ["rollout", "--env", f"proxmo/{env}-v0", "--tasks", "1", "--group-size", "1", "--out", str(out),
            "--no-progress", "--env-kwargs", json.dumps(kwargs)]
    assert main(args) == 2
    assert message in one_line(capsys)
    assert not out.exists()


def test_webshop_catalogue_holding_an_empty_list(tmp_path, capsys):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "items_shuffle.json").write_text("[]")
    (catalog / "items_ins_v2.json").write_text("{}")
    args = ["rollout", "--env", "proxmo/WebShop-v0", "--tasks", "1", "--group-size", "1", "--out",
            str(tmp_path / "run"), "--no-progress", "--env-kwargs", json.dumps({"catalog": str(catalog)})]
    assert main(args) == 2
    assert "items_shuffle.json: holds no usable product" in one_line(capsys)


def test_a_nan_reward_is_named_by_file_and_row_within_it(tmp_path, capsys):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run

    run = write_run(alfworld_like_log(300, group_size=4, max_steps=6, seed=2), tmp_path / "run", rows_per_part=100)
    part = run / "part-00002.parquet"
    table = pq.read_table(part)
    reward = table.column("reward").to_numpy().copy()
    reward[3] = np.nan
    table = table.set_column(table.schema.get_field_index("reward"), table.schema.field("reward"),
                             pa.array(reward, pa.float32()))
    pq.write_table(table, part)
    for command in (["score", str(run), "--out", str(tmp_path / "scored")], ["compare", str(run)]):
        assert main(command) == 2
        assert "part-00002.parquet: column 'reward', row 3: non-finite value nan" in one_line(capsys)


def test_train_resume_refuses_settings_that_differ_from_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    base = [*TRAIN, "--out", str(out), "--seed", "5"]
    assert main(base) == 0
    config = (out / "config.json").read_text()
    capsys.readouterr()
    for extra, named in ((["--lr", "0.02"], "ppo.lr: run 0.01, now 0.02"),
                         (["--credit", "tau=0.2"], "credit: run {}, now {'tau': 0.2}"),
                         (["--eval-tasks", "2"], "eval_tasks: run 1, now 2"),
                         (["--method", "grpo"], "method: run 'proxmo', now 'grpo'")):
        assert main([*base, "--iterations", "2", "--resume", *extra]) == 2
        err = one_line(capsys)
        assert "cannot resume with other settings than the run's" in err and named in err, err
        assert (out / "config.json").read_text() == config  # the record still says what was trained
    # how far to train and where rollouts run may change
    assert main([*base[:2], "2", *base[3:], "--resume", "--workers", "2"]) == 0
