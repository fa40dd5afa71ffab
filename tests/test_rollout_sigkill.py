"""SIGKILL a real ``proxmo rollout`` process at a random moment: every visible part must read cleanly and
hold only complete episodes, and ``--resume`` must then produce exactly the uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from proxmo_analysis.logs import read_log
from proxmo_envs.rollout import rollout
from proxmo_envs.trajlog import MANIFEST_NAME
from test_trajlog_toyenv import TOY_MAKE_ID

TESTS = Path(__file__).resolve().parent
ENV_KWARGS = {"n_tasks": 12, "step_delay": 0.01}
ARGS = dict(env_kwargs=ENV_KWARGS, policy="random", tasks=12, group_size=4, seed=7, rows_per_part=12)


def _start(out: Path, workers: int, resume: bool, env_kwargs: dict = ENV_KWARGS) -> subprocess.Popen:
    cmd = [
        sys.executable, "-c", "import sys; from proxmo_analysis.cli import main; sys.exit(main())",
        "rollout", "--env", TOY_MAKE_ID, "--env-kwargs", json.dumps(env_kwargs), "--tasks", "12",
        "--group-size", "4", "--policy", "random", "--seed", "7", "--rows-per-part", "12",
        "--out", str(out), "--workers", str(workers), "--no-progress",
    ] + (["--resume"] if resume else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_session(out: Path, sessions: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until the run (re)started: its manifest lists ``sessions`` sessions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manifest = out / MANIFEST_NAME
        if manifest.exists() and len(json.loads(manifest.read_text())["sessions"]) >= sessions:
            return
        if proc.poll() is not None:
            raise AssertionError(f"rollout exited early ({proc.returncode}): {proc.stderr.read().decode()}")
        time.sleep(0.02)
    raise AssertionError("rollout did not start in time")


def _check_visible_parts(out: Path, note: str) -> int:
    """Every visible part reads cleanly on its own and holds only whole, ended episodes; return episodes."""
    assert not [p for p in out.iterdir() if p.name.startswith("part-") and not p.name.endswith(".parquet")], note
    seen: set[str] = set()
    for part in sorted(out.glob("part-*.parquet")):
        df = read_log(part)  # raises on a torn file, a gap in step, ...
        last = df.sort("episode_id", "step").group_by("episode_id", maintain_order=True).last()
        assert (last["terminated"] | last["truncated"]).all(), f"{note}: {part.name} holds an unfinished episode"
        ids = set(last["episode_id"].to_list())
        assert not ids & seen, f"{note}: an episode is split over parts"
        seen |= ids
    return len(seen)


def test_sigkill_at_random_moments_then_resume(tmp_path):
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    reference = tmp_path / "reference"
    rollout(TOY_MAKE_ID, out=reference, **ARGS)
    expected = read_log(reference).sort("episode_id", "step").drop("run_id")
    assert expected["episode_id"].n_unique() == 48

    out = tmp_path / "killed"
    # 1) kill the single-process runner itself
    proc = _start(out, workers=1, resume=False)
    _wait_for_session(out, 1, proc)
    delay1 = rng.uniform(0.0, 1.2)
    time.sleep(delay1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    note = f"first kill after {delay1:.3f}s"
    done1 = _check_visible_parts(out, note)

    # 2) resume with two worker processes, kill the whole process group
    proc = _start(out, workers=2, resume=True)
    _wait_for_session(out, 2, proc)
    delay2 = rng.uniform(0.5, 2.5)  # spawned workers need ~1 s to import
    time.sleep(delay2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    time.sleep(0.2)  # let the killed workers' processes be reaped
    note += f", second kill after {delay2:.3f}s"
    done2 = _check_visible_parts(out, note)
    assert done2 >= done1, note

    # 3) resume to the end: equal to the uninterrupted run (except run ids)
    summary = rollout(TOY_MAKE_ID, out=out, resume=True, **ARGS)
    assert summary.session_episodes == 48 - done2, note
    got = read_log(out).sort("episode_id", "step").drop("run_id")
    assert got.equals(expected), note
    assert not any(p.name.startswith(".tmp-") for p in out.iterdir()), note
    assert pl.read_parquet(sorted(out.glob("part-*.parquet"))).height == expected.height, note


def test_workers_stop_when_the_runner_is_killed(tmp_path):
    """SIGKILL only the runner of a 2-worker rollout: its orphaned workers notice, write their complete
    episodes and exit; a resume started at once waits for them instead of racing them."""
    import psutil

    out = tmp_path / "orphans"
    slow = dict(ENV_KWARGS, step_delay=0.05)  # ~6 s of stepping per worker: killed well before the end
    proc = _start(out, workers=2, resume=False, env_kwargs=slow)
    _wait_for_session(out, 1, proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(out.glob("part-*.parquet")):
        time.sleep(0.05)  # the workers are stepping once a part is visible
    workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) == 2, f"expected two worker processes, found {workers}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    # Resume at once: it must wait for the orphans (they hold .workers.lock) before reading the folder.
    summary = rollout(TOY_MAKE_ID, out=out, resume=True, workers=2, **dict(ARGS, env_kwargs=slow))
    gone, alive = psutil.wait_procs(workers, timeout=1)
    assert not alive, f"orphaned workers still running: {alive}"
    assert 0 < 48 - summary.session_episodes < 48, "the orphans should have stopped early, mid-run"
    assert summary.episodes == 48 and read_log(out)["episode_id"].n_unique() == 48
