"""ALFWorld speed: the untouched engine against proxmo's fast one (speed-ups + transition cache), one run.

    python benchmarks/alfworld_speed.py                  # everything below, writes benchmarks/results/alfworld_speed.json
    python benchmarks/alfworld_speed.py --quick          # 3 games, groups of 4, no train iteration (a smoke run)
    python benchmarks/alfworld_speed.py --skip-train     # group rollouts and loads only

1. Group rollouts (issue 13's protocol): 6 ``eval_unseen`` games, one per task type; per game a group of 8
   episodes of a policy that follows the walkthrough but takes a seeded random admissible command 30 % of
   the time, 30-step cap. The two arms are interleaved game by game (untouched group, then fast group) so
   that both see the same machine load; every step of the two arms is compared (observation, reward, flags,
   info). Step time = the ``env.step`` call; ratio = untouched / fast mean step time, wall and CPU.
2. New-game load+reset: the first reset of each game in each arm ("cold": the fast arm starts from an
   empty disk cache), and the fast arm again in a fresh state as a new process on this machine would meet
   it ("disk": in-memory caches dropped, translation products on disk).
3. A whole ``proxmo train`` iteration on ALFWorld (8 tasks x 8 episodes, 50-step cap), one subprocess per
   arm (``--env-kwargs speedups=false`` / ``true``), each with a fresh disk cache; iteration and rollout
   seconds from its metrics.csv, peak RSS of the process.

The machine may be shared: wall times are inflated by the load, CPU times (``time.process_time``) less so;
the ratios are the fairer figures. Peak RSS is the process's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxmo_envs.alfworld import diskcache, speedups, transitions  # noqa: E402
from proxmo_envs.alfworld.env import ALFWorldEnv  # noqa: E402
from proxmo_envs.alfworld.transcripts import first_difference, one_game_per_type, play_episode  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "alfworld_speed.json"


def _mean_ms(xs: list[float]) -> float:
    return 1e3 * statistics.fmean(xs) if xs else float("nan")


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


class _Arm:
    def __init__(self) -> None:
        self.step_wall: list[float] = []
        self.step_cpu: list[float] = []
        self.load_wall: list[float] = []
        self.load_cpu: list[float] = []
        self.transcripts: list = []


def _play_group(env, arm: _Arm, game: int, group: int, p_random: float, max_steps: int) -> None:
    for e in range(group):
        tr = play_episode(env, game, e, p_random=p_random, max_steps=max_steps)
        arm.step_wall += tr.step_seconds
        arm.step_cpu += tr.step_cpu_seconds
        if e == 0:
            arm.load_wall.append(tr.reset_seconds)
            arm.load_cpu.append(tr.reset_cpu_seconds)
        arm.transcripts.append(tr)


def group_rollouts(games_n: int, group: int, p_random: float, max_steps: int) -> dict:
    speedups.disable()
    plain_env = ALFWorldEnv(split="eval_unseen", speedups=False, max_steps=50)
    games = one_game_per_type(plain_env.task_types)[:games_n]
    speedups.enable(plain_sas_for_replan=True)
    transitions.configure(transitions.DEFAULT_MAX_STATES)
    fast_env = ALFWorldEnv(split="eval_unseen", speedups=True, max_steps=50)
    plain, fast = _Arm(), _Arm()
    for g in games:
        speedups.disable()
        _play_group(plain_env, plain, g, group, p_random, max_steps)
        speedups.enable(plain_sas_for_replan=True)
        _play_group(fast_env, fast, g, group, p_random, max_steps)
        print(f"  game {g}: {len(plain.step_wall)} steps per arm so far", flush=True)
    diffs = [d for a, b in zip(plain.transcripts, fast.transcripts) if (d := first_difference(a, b))]
    cache = transitions.shared_cache()
    hits, misses = cache.hits, cache.misses

    # load+reset of the same games as a new process meets them: memory caches dropped, products on disk
    speedups.disable()
    speedups.enable(plain_sas_for_replan=True)
    transitions.configure(transitions.DEFAULT_MAX_STATES)
    disk_env = ALFWorldEnv(split="eval_unseen", speedups=True, max_steps=50)
    disk_wall, disk_cpu = [], []
    for g in games:
        w0, c0 = time.perf_counter(), time.process_time()
        disk_env.reset(options={"game_index": g})
        disk_wall.append(time.perf_counter() - w0)
        disk_cpu.append(time.process_time() - c0)

    steps = len(plain.step_wall)
    return {
        "games": [plain_env.task_ids[g] for g in games],
        "group_size": group,
        "p_random": p_random,
        "max_steps": max_steps,
        "steps_per_arm": steps,
        "steps_compared": steps,
        "steps_differing": sum(1 for a, b in zip(plain.transcripts, fast.transcripts)
                               for ra, rb in zip(a.records, b.records) if ra != rb),
        "first_difference": diffs[0] if diffs else None,
        "won_untouched": sum(bool(t.records[-1][-1]["won"]) for t in plain.transcripts),
        "won_fast": sum(bool(t.records[-1][-1]["won"]) for t in fast.transcripts),
        "step_ms": {"untouched_wall": _mean_ms(plain.step_wall), "fast_wall": _mean_ms(fast.step_wall),
                    "untouched_cpu": _mean_ms(plain.step_cpu), "fast_cpu": _mean_ms(fast.step_cpu)},
        "step_ratio_wall": statistics.fmean(plain.step_wall) / statistics.fmean(fast.step_wall),
        "step_ratio_cpu": statistics.fmean(plain.step_cpu) / statistics.fmean(fast.step_cpu),
        "state_cache": {"states": len(cache), "hits": hits, "misses": misses,
                        "hit_rate": hits / max(1, hits + misses)},
        "load_reset_s": {
            "untouched_wall_median": _median(plain.load_wall), "untouched_cpu_median": _median(plain.load_cpu),
            "fast_cold_wall_median": _median(fast.load_wall), "fast_cold_cpu_median": _median(fast.load_cpu),
            "fast_disk_wall_median": _median(disk_wall), "fast_disk_cpu_median": _median(disk_cpu),
        },
    }


def _train_cmd(speed: bool, out: Path, tasks: int, group: int, max_steps: int) -> list[str]:
    code = ("import resource, sys\n"
            "from proxmo_analysis.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
            "sys.exit(rc)\n")
    return [sys.executable, "-c", code, "train", "--env", "proxmo/ALFWorld-v0", "--iterations", "1",
            "--tasks", str(tasks), "--group-size", str(group), "--max-steps", str(max_steps),
            "--eval-tasks", "1", "--eval-every", "1000", "--seed", "0", "--no-progress", "--out", str(out),
            "--env-kwargs", f"speedups={'true' if speed else 'false'}"]


def _train_result(proc: subprocess.Popen, out: Path, wall: float, speed: bool) -> dict:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"proxmo train (speedups={speed}) failed:\n{stderr[-2000:]}")
    rss = [int(line.split()[1]) for line in stdout.splitlines() if line.startswith("MAXRSS_KB")]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    it = next(r for r in rows if r["iteration"] == "1")
    return {"iteration_s": float(it["iteration_s"]), "rollout_s": float(it["rollout_s"]),
            "update_s": float(it["update_s"]), "episodes": int(it["episodes"]),
            "train_length": float(it["train_length"]), "process_wall_s": wall,
            "peak_rss_mb": rss[0] / 1024 if rss else None}


def train_iteration(tasks: int, group: int, max_steps: int) -> dict:
    """Both arms at once (same machine load), each a ``proxmo train`` process with its own fresh disk cache."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        procs = {}
        for speed in (False, True):
            name = "fast" if speed else "plain"
            env = dict(os.environ, PYTHONPATH=str(ROOT), **{diskcache.ENV_DIR: str(tmp / f"cache-{name}")})
            procs[speed] = (subprocess.Popen(_train_cmd(speed, tmp / name, tasks, group, max_steps), env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
                            tmp / name, time.perf_counter())
        res, ended = {}, {}
        while len(ended) < len(procs):  # each arm's own end time (waiting in turn would give both the last)
            for speed, (proc, _out, _t0) in procs.items():
                if speed not in ended and proc.poll() is not None:
                    ended[speed] = time.perf_counter()
            time.sleep(0.5)
        for speed, (proc, out, t0) in procs.items():
            res[speed] = _train_result(proc, out, ended[speed] - t0, speed)
    plain, fast = res[False], res[True]
    return {"tasks": tasks, "group_size": group, "max_steps": max_steps, "arms_concurrent": True,
            "untouched": plain, "fast": fast,
            "iteration_ratio": plain["iteration_s"] / fast["iteration_s"],
            "rollout_ratio": plain["rollout_s"] / fast["rollout_s"]}


def _rss_mb() -> float:
    """Current resident set size of this process [MB] (Linux /proc; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_run(iterations: int, tasks: int, group: int, max_steps: int) -> dict:
    """Training-like rollouts on the fast engine: each iteration ``tasks`` random train games x ``group``
    episodes (seeded walkthrough/random policy); RSS and cache size after every iteration."""
    import numpy as np

    speedups.enable(plain_sas_for_replan=True)
    transitions.configure(transitions.DEFAULT_MAX_STATES)
    env = ALFWorldEnv(split="train", speedups=True, max_steps=max_steps)
    rng = np.random.default_rng(0)
    rows = []
    for it in range(iterations):
        games = rng.choice(env.task_count, size=tasks, replace=False)
        for g in games:
            for e in range(group):
                play_episode(env, int(g), it * group + e, p_random=0.5, max_steps=max_steps)
        rows.append({"iteration": it + 1, "rss_mb": round(_rss_mb(), 1), "states": len(transitions.shared_cache())})
        print(f"  memory iteration {it + 1}: RSS {rows[-1]['rss_mb']:.0f} MB, {rows[-1]['states']} states",
              flush=True)
    first, last = rows[0], rows[-1]
    per_state_kb = ((last["rss_mb"] - first["rss_mb"]) * 1024 / (last["states"] - first["states"])
                    if last["states"] > first["states"] else float("nan"))
    return {"iterations": iterations, "tasks": tasks, "group_size": group, "max_steps": max_steps,
            "p_random": 0.5, "rows": rows, "kb_per_state": per_state_kb,
            "max_states": transitions.DEFAULT_MAX_STATES}


def _load_conditions() -> dict:
    load1, load5, load15 = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(load1, 2), round(load5, 2), round(load15, 2)],
            "python": platform.python_version(), "machine": platform.machine()}


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def summary(result: dict) -> list[str]:
    """The result table as printed (docs/speed.md quotes these lines; tests/test_speed_docs.py checks them)."""
    g = result["group_rollouts"]
    s, lr = g["step_ms"], g["load_reset_s"]
    out = [
        f"ALFWorld, {len(g['games'])} eval_unseen games x groups of {g['group_size']}, "
        f"{g['steps_per_arm']} steps per arm, {g['steps_differing']} steps differ",
        f"{'':34}{'untouched':>11}{'fast':>10}{'ratio':>8}",
        f"{'step, wall [ms]':34}{s['untouched_wall']:>11.2f}{s['fast_wall']:>10.2f}{g['step_ratio_wall']:>7.1f}x",
        f"{'step, CPU [ms]':34}{s['untouched_cpu']:>11.2f}{s['fast_cpu']:>10.2f}{g['step_ratio_cpu']:>7.1f}x",
        f"{'new-game load+reset, wall [s]':34}{lr['untouched_wall_median']:>11.3f}"
        f"{lr['fast_cold_wall_median']:>10.3f}   (cold disk cache)",
        f"{'':34}{'':>11}{lr['fast_disk_wall_median']:>10.3f}   (products on disk)",
        f"{'new-game load+reset, CPU [s]':34}{lr['untouched_cpu_median']:>11.3f}"
        f"{lr['fast_cold_cpu_median']:>10.3f}   / {lr['fast_disk_cpu_median']:.3f} on disk",
        f"state cache: {g['state_cache']['states']} states, hit rate {g['state_cache']['hit_rate']:.0%}; "
        f"rollout process peak RSS {result['rollout_peak_rss_mb']:.0f} MB",
    ]
    if "train_iteration" in result:
        t = result["train_iteration"]
        out += [
            f"train iteration: {t['tasks']} train games x {t['group_size']} episodes, {t['max_steps']}-step cap",
            f"{'train iteration [s]':34}{t['untouched']['iteration_s']:>11.1f}{t['fast']['iteration_s']:>10.1f}"
            f"{t['iteration_ratio']:>7.1f}x",
            f"{'  of which rollout [s]':34}{t['untouched']['rollout_s']:>11.1f}{t['fast']['rollout_s']:>10.1f}"
            f"{t['rollout_ratio']:>7.1f}x",
            f"{'  peak RSS [MB]':34}{t['untouched']['peak_rss_mb'] or float('nan'):>11.0f}"
            f"{t['fast']['peak_rss_mb'] or float('nan'):>10.0f}",
        ]
    if "train_conditions_start" in result:
        a, b = result["train_conditions_start"], result["train_conditions_end"]
        out.append(f"train arms ran concurrently; load average at start {a['loadavg_1_5_15']}, "
                   f"at end {b['loadavg_1_5_15']}")
    if "memory" in result:
        m = result["memory"]
        out.append(f"memory: {m['iterations']} iterations x {m['tasks']} train games x {m['group_size']}: RSS "
                   f"{m['rows'][0]['rss_mb']:.0f} -> {m['rows'][-1]['rss_mb']:.0f} MB, {m['rows'][-1]['states']} "
                   f"states cached, ~{m['kb_per_state']:.0f} kB per state")
    c0, c1 = result["conditions_start"], result.get("conditions_end")
    end = f", at end {c1['loadavg_1_5_15']}" if c1 else ""
    out.append(f"load average at start {c0['loadavg_1_5_15']}{end} on {c0['cpus']} CPUs")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--games", type=int, default=6)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--p-random", type=float, default=0.3)
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="3 games, groups of 4, no train iteration")
    p.add_argument("--skip-train", action="store_true", help="no proxmo train iteration")
    p.add_argument("--train-size", type=int, nargs=3, default=[8, 8, 50], metavar=("TASKS", "GROUP", "STEPS"),
                   help="the train iteration: tasks, group size, step cap (default: 8 8 50)")
    p.add_argument("--train-only", action="store_true",
                   help="only the train iteration, added to the result JSON already in --out")
    p.add_argument("--memory-iterations", type=int, default=0,
                   help="also run this many training-like iterations (8 train games x 8, 50 steps) for memory")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON (default: %(default)s)")
    args = p.parse_args(argv)
    if args.quick:
        args.games, args.group_size, args.skip_train = 3, 4, True
    import textworld

    if args.train_only:
        start = _load_conditions()
        print("proxmo train, one iteration per arm, arms concurrent ...", flush=True)
        train = train_iteration(*args.train_size)
        result = json.loads(args.out.read_text()) if args.out.is_file() else {}  # read now: merge, not race
        result.update(train_iteration=train, train_conditions_start=start, train_conditions_end=_load_conditions())
        _write(args.out, result)
        print(json.dumps(train, indent=2))
        return 0
    result: dict = {"textworld": textworld.__version__, "conditions_start": _load_conditions()}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[diskcache.ENV_DIR] = tmp  # cold disk cache for the fast arm
        print("group rollouts (arms interleaved per game) ...", flush=True)
        result["group_rollouts"] = group_rollouts(args.games, args.group_size, args.p_random, args.max_steps)
    result["rollout_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _write(args.out, result)  # partial results survive a failure in a later part
    if not args.skip_train:
        print("proxmo train, one iteration per arm, arms concurrent ...", flush=True)
        result["train_iteration"] = train_iteration(*args.train_size)
    if args.memory_iterations:
        print("memory run ...", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            os.environ[diskcache.ENV_DIR] = tmp
            result["memory"] = memory_run(args.memory_iterations, 8, 8, 50)
    result["conditions_end"] = _load_conditions()
    result["settings"] = {"state_cache_max_states": transitions.DEFAULT_MAX_STATES,
                          "pddl2sas_memory_cache": speedups.PDDL2SAS_CACHE_SIZE}

    print()
    print("\n".join(summary(result)))
    _write(args.out, result)
    print(f"wrote {args.out}")
    return 0 if result["group_rollouts"]["steps_differing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
