"""A scored copy is committed last: a killed `proxmo score` leaves a folder every reader refuses, and
`--resume` finishes it (bit-identical to an uninterrupted scoring) or `--force` starts over."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.credit import score
from proxmo_analysis.credit.stream import score_run
from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run
from proxmo_analysis.logs import read_log
from proxmo_envs.trajlog.commit import SCORING_NAME

from credit_checks import same_numbers


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    df = alfworld_like_log(12_000, iterations=2, seed=4)
    return write_run(df, tmp_path_factory.mktemp("commit") / "run", rows_per_part=1000)


def killed_scoring(run_dir, out) -> int:
    """Start `proxmo score` in a subprocess, stop it as soon as its first part is visible, SIGKILL it;
    returns how many parts it left."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys; from proxmo_analysis.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "score", str(run_dir), "--out", str(out),
                             "--rows-per-batch", "200", "--method", "proxmo"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(out.glob("part-*.parquet")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the scoring never wrote a part"
        time.sleep(0.005)
    proc.send_signal(signal.SIGSTOP)  # freeze it mid-scoring, then kill: no chance to finish or clean up
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(list(out.glob("part-*.parquet")))


def test_killed_scoring_is_refused_then_resumed_bit_identically(run_dir, tmp_path, capsys):
    out = tmp_path / "scored"
    left = killed_scoring(run_dir, out)
    marker = json.loads((out / SCORING_NAME).read_text())
    assert marker["state"] == "in progress" and 1 <= left < marker["parts"]
    assert not (out / "manifest.json").exists()  # the manifest is copied only once every part is written

    # every reader refuses the partial copy and says what to do
    with pytest.raises(ValueError, match=r"incomplete.*--resume.*--force"):
        read_log(out)
    assert main(["compare", str(out), "--methods", "grpo"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["score", str(out), "--out", str(tmp_path / "again")]) == 2
    assert "incomplete" in capsys.readouterr().err
    # scoring into it again without a flag is refused too; resuming with other settings is refused
    assert main(["score", str(run_dir), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["score", str(run_dir), "--out", str(out), "--resume", "--rows-per-batch", "300"]) == 2
    assert "different settings (rows_per_batch" in capsys.readouterr().err

    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert main(["score", str(run_dir), "--out", str(out), "--resume", "--rows-per-batch", "200"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert all(after[name] == t for name, t in before.items())  # the parts already written were kept
    assert json.loads((out / SCORING_NAME).read_text())["state"] == "complete"
    assert len(after) == marker["parts"]
    same_numbers(read_log(out), score(read_log(run_dir), "proxmo"))
    assert main(["score", str(run_dir), "--out", str(out), "--resume"]) == 2
    assert "already complete" in capsys.readouterr().err


def test_force_starts_over_and_never_touches_the_input(run_dir, tmp_path, capsys):
    out = tmp_path / "scored"
    killed_scoring(run_dir, out)
    (out / "notes.txt").write_text("mine")
    assert main(["score", str(run_dir), "--out", str(out), "--force", "--method", "grpo"]) == 0
    assert (out / "notes.txt").read_text() == "mine"  # only what a scoring writes is cleared
    same_numbers(read_log(out), score(read_log(run_dir), "grpo"))
    assert json.loads(pq.read_schema(next(out.glob("part-*.parquet"))).metadata[b"proxmo.credit"])["method"] == "grpo"
    parts = sorted(p.name for p in run_dir.glob("part-*.parquet"))
    assert main(["score", str(run_dir), "--out", str(run_dir), "--force"]) == 2
    assert "input run folder" in capsys.readouterr().err
    assert sorted(p.name for p in run_dir.glob("part-*.parquet")) == parts


def test_scored_parts_without_a_marker_are_refused(run_dir, tmp_path):
    out = tmp_path / "scored"
    score_run(run_dir, out, "grpo", rows_per_batch=2000)
    read_log(out)  # complete: readable
    (out / SCORING_NAME).unlink()
    with pytest.raises(ValueError, match=r"carry proxmo.credit metadata but it has no scoring.json"):
        read_log(out)
    (out / SCORING_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not a readable commit marker"):
        read_log(out)


def test_a_terminal_sees_the_scoring_progress(run_dir, tmp_path, capsys, monkeypatch):
    """On a terminal ``proxmo score`` shows its passes and the parts written against the plan; with
    --no-progress, or when stderr is not a terminal (logs, pipes, these other tests), it prints nothing."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["score", str(run_dir), "--out", str(tmp_path / "a"), "--method", "grpo", "--rows-per-batch", "2000"]) == 0
    captured = capsys.readouterr()
    parts = len(list((tmp_path / "a").glob("part-*.parquet")))
    assert parts > 1 and "scored parts" in captured.err and f"{parts}/{parts}" in captured.err
    assert captured.out.startswith("scored 11903 rows") and f"{parts}/{parts}" not in captured.out
    assert main(["score", str(run_dir), "--out", str(tmp_path / "b"), "--method", "grpo", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_a_terminal_sees_the_comparison_progress(run_dir, capsys, monkeypatch):
    """``proxmo compare`` on a terminal shows its first pass and then the segments compared against the
    plan (with a worker process too); --no-progress prints nothing on stderr."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    for workers in ("1", "2"):
        assert main(["compare", str(run_dir), "--methods", "grpo,proxmo", "--rows-per-batch", "2000",
                     "--workers", workers]) == 0
        captured = capsys.readouterr()
        err = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", captured.err)  # the terminal's colour codes
        assert "indexing (pass 1 of 2)" in err and "segments (pass 2 of 2)" in err, err
        assert re.search(r"\b9/9\b", err), err  # 11,903 rows in batches of 2,000: every segment done
        assert "step rows" in captured.out
    assert main(["compare", str(run_dir), "--methods", "grpo", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_compare_refuses_a_non_positive_batch_in_one_line(run_dir, capsys):
    assert main(["compare", str(run_dir), "--methods", "grpo", "--rows-per-batch", "0", "--no-progress"]) == 2
    assert "rows_per_batch must be a positive int, got 0" in capsys.readouterr().err
