"""ALFWorld speed: the untouched engine against proxmo's fast one (speed-ups + transition cache), one run.

    python benchmarks/alfworld_speed.py                  # every part below -> benchmarks/results/alfworld_speed.json
    python benchmarks/alfworld_speed.py --quick          # 3 games, groups of 4, no train iteration (a smoke run)
    python benchmarks/alfworld_speed.py --parts rollouts loads     # some parts; the others stay in the JSON

Parts (``--parts``; each writes its own entry of the result JSON with its own load conditions, the others
already in the file are kept):

1. ``rollouts``: group rollouts (issue 13's protocol): 6 ``eval_unseen`` games, one per task type; per game
   a group of 8 episodes of a policy that follows the walkthrough but takes a seeded random admissible
   command 30 % of the time, 30-step cap. The two arms are interleaved game by game (untouched group, then
   fast group) so that both see the same machine load; every step of the two arms is compared
   (observation, reward, flags, info). Step time = the ``env.step`` call; ratio = untouched / fast mean
   step time, wall and CPU.
2. ``loads``: new-game load+reset, the first reset of a game this process and this machine never loaded:
   ``--load-games`` ``eval_unseen`` games, each arm starting from empty in-memory caches and a fresh (empty)
   disk cache folder: untouched; fast with the translation computed (a game without shipped products,
   e.g. a downloaded dataset's on first load); fast with the products shipped next to the games (the
   shipped and generated game sets).
3. ``train``: a whole ``proxmo train`` iteration on ALFWorld (8 tasks x 8 episodes, 50-step cap), one
   subprocess per arm (``--env-kwargs speedups=false`` / ``true``), run one after the other, each with a
   fresh disk cache: iteration, rollout and update seconds from its metrics.csv, the process's CPU seconds
   and peak RSS.
4. ``memory`` (``--memory-iterations N``): a ``proxmo train`` run of N iterations (8 x 8, 50 steps) on the
   fast engine, one process (rollouts in process): after every iteration the RSS, the cached states, the
   distinct train games loaded so far, and the RSS once freed heap is handed back to the OS (``gc.collect``
   and glibc's ``malloc_trim``, which the child then calls every iteration); peak RSS.

Run the timing parts under the quiet lock on a shared machine (``flock /tmp/quiet.lock python ...``); the
load average at the start and end of each part is recorded. Peak RSS is the process's ``ru_maxrss``.
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

from proxmo_envs.alfworld import diskcache, products, speedups, transitions  # noqa: E402
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
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _fresh_fast_engine() -> None:
    """Empty in-memory caches (translations, template parse, state cache) and no products registered."""
    speedups.disable()
    speedups.enable(plain_sas_for_replan=True)
    transitions.configure(transitions.DEFAULT_MAX_STATES)
    products.unregister_all()


def new_game_loads(n_games: int) -> dict:
    """First load+reset of ``n_games`` eval_unseen games per arm, each arm from empty caches and an empty disk
    cache folder (see the module docstring)."""
    speedups.disable()
    plain_env = ALFWorldEnv(split="eval_unseen", speedups=False)
    games = list(range(min(n_games, plain_env.task_count)))
    times: dict[str, dict[str, list[float]]] = {}

    def measure(arm: str, env) -> None:
        wall, cpu = [], []
        for g in games:
            w0, c0 = time.perf_counter(), time.process_time()
            env.reset(options={"game_index": g})
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        times[arm] = {"wall": wall, "cpu": cpu}
        print(f"  {arm}: median {_median(cpu):.3f} s CPU, {_median(wall):.3f} s wall", flush=True)

    measure("untouched", plain_env)
    for arm, shipped in (("fast_computed", False), ("fast_shipped", True)):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ[diskcache.ENV_DIR] = tmp  # nothing on disk: as a machine that never loaded the game
            _fresh_fast_engine()
            env = ALFWorldEnv(split="eval_unseen", speedups=True)
            if not shipped:
                products.unregister_all()  # as a game set without products
            measure(arm, env)
    speedups.enable(plain_sas_for_replan=True)
    out: dict = {"games": len(games), "split": "eval_unseen"}
    for arm, t in times.items():
        out[arm] = {"cpu_median": _median(t["cpu"]), "wall_median": _median(t["wall"]),
                    "cpu_max": max(t["cpu"]), "wall_max": max(t["wall"]),
                    "cpu": [round(x, 4) for x in t["cpu"]], "wall": [round(x, 4) for x in t["wall"]]}
    return out


_CHILD = """
import ctypes, gc, json, resource, sys
from pathlib import Path
from proxmo_analysis.cli import main
from proxmo_analysis.training import loop
from proxmo_envs.alfworld import transitions

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")

try:
    trim = ctypes.CDLL(None).malloc_trim
except AttributeError:  # not glibc
    trim = None
step = loop.Trainer.step
seen = set()
def reported(self, iteration):
    row = step(self, iteration)
    rss = rss_mb()
    # the train games this process has loaded so far (the rollout's manifest lists the iteration's tasks)
    manifest = Path(self.config.out) / "rollouts" / f"iter-{iteration:04d}" / "manifest.json"
    seen.update(t[1] for t in json.loads(manifest.read_text())["tasks"])
    # freed heap pages handed back to the OS: what remains is memory still in use (glibc only)
    gc.collect()
    trimmed = float("nan")
    if trim is not None:
        trim(0)
        trimmed = rss_mb()
    print("MEM", iteration, round(rss, 1), len(transitions.shared_cache()), len(seen), round(trimmed, 1), flush=True)
    return row
loop.Trainer.step = reported
rc = main(sys.argv[1:])
u = resource.getrusage(resource.RUSAGE_SELF)
print("MAXRSS_KB", u.ru_maxrss)
print("CPU_S", u.ru_utime + u.ru_stime)
sys.exit(rc)
"""


def _train_cmd(speed: bool, out: Path, tasks: int, group: int, max_steps: int, iterations: int = 1) -> list[str]:
    return [sys.executable, "-c", _CHILD, "train", "--env", "proxmo/ALFWorld-v0", "--iterations", str(iterations),
            "--tasks", str(tasks), "--group-size", str(group), "--max-steps", str(max_steps),
            "--eval-tasks", "1", "--eval-every", "1000", "--seed", "0", "--no-progress", "--out", str(out),
            "--env-kwargs", f"speedups={'true' if speed else 'false'}"]


def _run_train(speed: bool, tmp: Path, tasks: int, group: int, max_steps: int, iterations: int = 1) -> dict:
    """One ``proxmo train`` process (fresh disk cache); its metrics rows, CPU seconds, peak and per-iteration RSS."""
    name = "fast" if speed else "untouched"
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{diskcache.ENV_DIR: str(tmp / f"cache-{name}")})
    out = tmp / name
    start = _load_conditions()
    t0 = time.perf_counter()
    proc = subprocess.run(_train_cmd(speed, out, tasks, group, max_steps, iterations), env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"proxmo train (speedups={speed}) failed:\n{proc.stderr[-2000:]}")
    lines = proc.stdout.splitlines()

    def tagged(tag: str) -> list[list[str]]:
        return [line.split()[1:] for line in lines if line.startswith(tag + " ")]

    rows = [r for r in csv.DictReader((out / "metrics.csv").open()) if r["iteration"] != "0"]
    return {"rows": rows, "process_wall_s": wall, "process_cpu_s": float(tagged("CPU_S")[0][0]),
            "peak_rss_mb": int(tagged("MAXRSS_KB")[0][0]) / 1024,
            "memory": [{"iteration": int(i), "rss_mb": float(r), "states": int(n), "games_seen": int(g),
                        "rss_trimmed_mb": float(t)} for i, r, n, g, t in tagged("MEM")],
            "conditions": {"start": start, "end": _load_conditions()}}


def train_iteration(tasks: int, group: int, max_steps: int) -> dict:
    """One iteration per arm, untouched then fast (never at the same time), each a fresh process."""
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for speed in (False, True):
            name = "fast" if speed else "untouched"
            print(f"  {name} arm ...", flush=True)
            run = _run_train(speed, Path(tmp), tasks, group, max_steps)
            it = run["rows"][0]
            res[name] = {"iteration_s": float(it["iteration_s"]), "rollout_s": float(it["rollout_s"]),
                         "score_s": float(it["score_s"]), "update_s": float(it["update_s"]),
                         "episodes": int(it["episodes"]), "train_length": float(it["train_length"]),
                         "process_wall_s": run["process_wall_s"], "process_cpu_s": run["process_cpu_s"],
                         "peak_rss_mb": run["peak_rss_mb"], "conditions": run["conditions"]}
            print(f"  {name}: iteration {res[name]['iteration_s']:.1f} s (rollout {res[name]['rollout_s']:.1f} s, "
                  f"update {res[name]['update_s']:.1f} s), process CPU {res[name]['process_cpu_s']:.1f} s", flush=True)
    plain, fast = res["untouched"], res["fast"]
    return {"tasks": tasks, "group_size": group, "max_steps": max_steps, "arms_concurrent": False,
            "untouched": plain, "fast": fast,
            "iteration_ratio": plain["iteration_s"] / fast["iteration_s"],
            "rollout_ratio": plain["rollout_s"] / fast["rollout_s"],
            "process_cpu_ratio": plain["process_cpu_s"] / fast["process_cpu_s"]}


def memory_run(iterations: int, tasks: int = 8, group: int = 8, max_steps: int = 50) -> dict:
    """A ``proxmo train`` run of ``iterations`` iterations on the fast engine (rollouts in the training
    process, so that process is the env process): RSS and cached states after each iteration."""
    with tempfile.TemporaryDirectory() as tmp:
        run = _run_train(True, Path(tmp), tasks, group, max_steps, iterations)
    iters = [float(r["iteration_s"]) for r in run["rows"]]
    return {"iterations": iterations, "tasks": tasks, "group_size": group, "max_steps": max_steps,
            "rows": run["memory"], "peak_rss_mb": run["peak_rss_mb"], "process_cpu_s": run["process_cpu_s"],
            "process_wall_s": run["process_wall_s"], "iteration_s_mean": statistics.fmean(iters),
            "max_states": transitions.DEFAULT_MAX_STATES, "conditions": run["conditions"]}


def _load_conditions() -> dict:
    load1, load5, load15 = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(load1, 2), round(load5, 2), round(load15, 2)],
            "python": platform.python_version(), "machine": platform.machine()}


def _write(path: Path, parts: dict) -> dict:
    """Merge ``parts`` into the result JSON at ``path`` (read now: runs of other parts may have written it
    since this run started) and return the merged result."""
    result = json.loads(path.read_text()) if path.is_file() else {}
    for stale in ("conditions_start", "conditions_end", "rollout_peak_rss_mb", "train_conditions_start",
                  "train_conditions_end"):  # the previous layout
        result.pop(stale, None)
    result.update(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def _loads(part: dict) -> str:
    c0, c1 = part["conditions"]["start"], part["conditions"]["end"]
    return f"load average {c0['loadavg_1_5_15']} -> {c1['loadavg_1_5_15']} on {c0['cpus']} CPUs"


def summary(result: dict) -> list[str]:
    """The result table as printed (docs/speed.md quotes these lines; tests/test_speed_docs.py checks them)."""
    out: list[str] = []
    head = f"{'':34}{'untouched':>11}{'fast':>10}{'ratio':>8}"
    if "group_rollouts" in result:
        g = result["group_rollouts"]
        s = g["step_ms"]
        out += [
            f"ALFWorld, {len(g['games'])} eval_unseen games x groups of {g['group_size']}, "
            f"{g['steps_per_arm']} steps per arm, {g['steps_differing']} steps differ",
            head,
            f"{'step, wall [ms]':34}{s['untouched_wall']:>11.2f}{s['fast_wall']:>10.2f}{g['step_ratio_wall']:>7.1f}x",
            f"{'step, CPU [ms]':34}{s['untouched_cpu']:>11.2f}{s['fast_cpu']:>10.2f}{g['step_ratio_cpu']:>7.1f}x",
            f"state cache: {g['state_cache']['states']} states, hit rate {g['state_cache']['hit_rate']:.0%}; "
            f"process peak RSS {g['peak_rss_mb']:.0f} MB; {_loads(g)}",
        ]
    if "new_game_loads" in result:
        n = result["new_game_loads"]
        u, c, sh = n["untouched"], n["fast_computed"], n["fast_shipped"]
        out += [
            f"new-game load+reset, median of {n['games']} eval_unseen games, empty caches:",
            f"{'':34}{'untouched':>11}{'fast':>10}{'fast':>10}",
            f"{'':34}{'':>11}{'computed':>10}{'shipped':>10}",
            f"{'load+reset, CPU [s]':34}{u['cpu_median']:>11.3f}{c['cpu_median']:>10.3f}{sh['cpu_median']:>10.3f}",
            f"{'load+reset, wall [s]':34}{u['wall_median']:>11.3f}{c['wall_median']:>10.3f}{sh['wall_median']:>10.3f}",
            _loads(n),
        ]
    if "train_iteration" in result:
        t = result["train_iteration"]
        u, f = t["untouched"], t["fast"]
        out += [
            f"proxmo train iteration: {t['tasks']} train games x {t['group_size']} episodes, {t['max_steps']}-step cap, "
            f"arms one after the other",
            head,
            f"{'iteration, wall [s]':34}{u['iteration_s']:>11.1f}{f['iteration_s']:>10.1f}{t['iteration_ratio']:>7.1f}x",
            f"{'  rollout [s]':34}{u['rollout_s']:>11.1f}{f['rollout_s']:>10.1f}{t['rollout_ratio']:>7.1f}x",
            f"{'  update [s]':34}{u['update_s']:>11.1f}{f['update_s']:>10.1f}",
            f"{'process CPU [s]':34}{u['process_cpu_s']:>11.1f}{f['process_cpu_s']:>10.1f}{t['process_cpu_ratio']:>7.1f}x",
            f"{'process peak RSS [MB]':34}{u['peak_rss_mb']:>11.0f}{f['peak_rss_mb']:>10.0f}",
            f"untouched arm: {_loads(u)}; fast arm: {_loads(f)}",
        ]
    if "memory" in result:
        m = result["memory"]
        rows = m["rows"]
        out.append(f"memory: proxmo train, {m['iterations']} iterations x {m['tasks']} train games x {m['group_size']}, "
                   f"{m['max_steps']}-step cap, fast engine: RSS {rows[0]['rss_mb']:.0f} MB after iteration 1, "
                   f"{rows[-1]['rss_mb']:.0f} MB after {rows[-1]['iteration']}, peak {m['peak_rss_mb']:.0f} MB; "
                   f"{rows[-1]['states']} states cached")
        if "games_seen" in rows[-1]:
            out.append(f"memory: {rows[-1]['games_seen']} distinct train games loaded by iteration "
                       f"{rows[-1]['iteration']}; RSS once freed heap is returned: {rows[0]['rss_trimmed_mb']:.0f} MB "
                       f"after iteration 1, {rows[-1]['rss_trimmed_mb']:.0f} MB after {rows[-1]['iteration']}")
            full = next(r for r in rows if r["states"] == rows[-1]["states"])  # the state cache full from here
            if rows[-1]["iteration"] > full["iteration"]:
                growth = (rows[-1]["rss_mb"] - full["rss_mb"]) / (rows[-1]["iteration"] - full["iteration"])
                out.append(f"memory: RSS growth once the state cache was full (iteration {full['iteration']} on): "
                           f"{growth:.1f} MB per iteration")
    return out


PARTS = ("rollouts", "loads", "train", "memory")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", choices=PARTS, default=["rollouts", "loads", "train"],
                   help="parts to run (default: rollouts loads train; memory runs when --memory-iterations > 0)")
    p.add_argument("--games", type=int, default=6)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--p-random", type=float, default=0.3)
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--load-games", type=int, default=12, help="games of the new-game load part (default: 12)")
    p.add_argument("--quick", action="store_true", help="3 games, groups of 4, 3 load games, no train iteration")
    p.add_argument("--train-size", type=int, nargs=3, default=[8, 8, 50], metavar=("TASKS", "GROUP", "STEPS"),
                   help="the train iteration: tasks, group size, step cap (default: 8 8 50)")
    p.add_argument("--memory-iterations", type=int, default=0,
                   help="also run a proxmo train run of this many iterations (8 x 8, 50 steps) for memory")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON (default: %(default)s)")
    args = p.parse_args(argv)
    parts = list(args.parts)
    if args.quick:
        args.games, args.group_size, args.load_games = 3, 4, 3
        parts = [x for x in parts if x != "train"]
    if args.memory_iterations > 0 and "memory" not in parts:
        parts.append("memory")
    if "memory" in parts and args.memory_iterations <= 0:
        p.error("--parts memory needs --memory-iterations N")
    import textworld

    # the parts not run now stay as they are in the file (each holds its own conditions)
    produced: dict = {"textworld": textworld.__version__,
                      "settings": {"state_cache_max_states": transitions.DEFAULT_MAX_STATES,
                                   "pddl2sas_memory_cache": speedups.PDDL2SAS_CACHE_SIZE}}
    if "rollouts" in parts:
        start = _load_conditions()
        with tempfile.TemporaryDirectory() as tmp:
            os.environ[diskcache.ENV_DIR] = tmp  # no translation on disk; shipped products are used
            print("group rollouts (arms interleaved per game) ...", flush=True)
            produced["group_rollouts"] = group_rollouts(args.games, args.group_size, args.p_random, args.max_steps)
        produced["group_rollouts"]["conditions"] = {"start": start, "end": _load_conditions()}
        _write(args.out, produced)  # partial results survive a failure in a later part
    if "loads" in parts:
        start = _load_conditions()
        print("new-game load+reset ...", flush=True)
        produced["new_game_loads"] = new_game_loads(args.load_games)
        produced["new_game_loads"]["conditions"] = {"start": start, "end": _load_conditions()}
        _write(args.out, produced)
    if "train" in parts:
        print("proxmo train, one iteration per arm, one arm after the other ...", flush=True)
        produced["train_iteration"] = train_iteration(*args.train_size)
        _write(args.out, produced)
    if "memory" in parts:
        print(f"memory: proxmo train, {args.memory_iterations} iterations ...", flush=True)
        produced["memory"] = memory_run(args.memory_iterations)
    result = _write(args.out, produced)
    print()
    print("\n".join(summary(result)))
    print(f"wrote {args.out}")
    g = result.get("group_rollouts")
    return 0 if g is None or g["steps_differing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
