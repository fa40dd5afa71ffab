"""Logging overhead on WebShop: the env's own reset+step time vs the same episodes through the recorder.

Each arm runs in a fresh process and plays the same rollout: ``--tasks`` tasks x ``--group-size``
episodes (distinct env and random-policy seeds per episode, so both arms take the same actions, and the
env's per-process caches fill the same way as in a real group rollout). The logged arm wraps the env in
``TrajectoryRecorder`` feeding a ``PartWriter`` that writes zstd Parquet parts of ``--rows-per-part``
rows (default 4096, the runner's default) into a temporary folder; its time includes writing the last
part (earlier parts are written by the writer's background thread, as in a rollout). Timed: ``reset`` + ``step`` (+ the recorder and writer); not timed: the policy, building the env,
and one-time costs: one oracle episode on another task first loads the noun extractor (spaCy) in both
arms, and pyarrow's first table imports pandas (~0.5 s once per process, reported on its own line). Arms alternate over ``--repeats`` rounds; medians are reported. Target: overhead <= 10 %.

    python benchmarks/logging_overhead.py            # 50 tasks x 8 = 400 episodes, 3 rounds
    python benchmarks/logging_overhead.py --quick    # 8 tasks x 8 = 64 episodes, 1 round
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV_ID = "proxmo/WebShop-v0"


def play(env, tasks: int, group_size: int, recorder=None) -> tuple[int, float]:
    """Play the rollout; return (steps, seconds spent in reset + step)."""
    from proxmo_envs.rollout import RandomPolicy, episode_seeds

    policy = RandomPolicy()
    steps, busy = 0, 0.0
    for task in range(tasks):
        for r in range(group_size):
            env_seed, policy_seed = episode_seeds(0, 0, task, r)
            policy.reset(seed=policy_seed)
            t0 = time.perf_counter()
            obs, info = env.reset(seed=env_seed, options={"task_index": task})
            busy += time.perf_counter() - t0
            while True:
                action, logprob = policy(obs, info)
                t0 = time.perf_counter()
                if recorder is not None:
                    recorder.set_behavior_logprob(logprob)
                obs, _, terminated, truncated, info = env.step(action)
                busy += time.perf_counter() - t0
                steps += 1
                if terminated or truncated:
                    break
    return steps, busy


def _timed(env):
    """``env`` inside a wrapper that sums the seconds its own reset/step take (to split the logged arm)."""
    import gymnasium as gym

    class Timed(gym.Wrapper):
        seconds = 0.0

        def reset(self, **kwargs):
            t0 = time.perf_counter()
            out = self.env.reset(**kwargs)
            Timed.seconds += time.perf_counter() - t0
            return out

        def step(self, action):
            t0 = time.perf_counter()
            out = self.env.step(action)
            Timed.seconds += time.perf_counter() - t0
            return out

    return Timed(env)


def _warm_up(env, tasks: int) -> None:
    """One untimed oracle episode on a task outside the timed set: the first purchase loads the noun
    extractor (spaCy, ~4 s once per process), a one-time cost that would otherwise swamp both arms."""
    from proxmo_envs.webshop.oracle import WebShopOracle

    oracle = WebShopOracle()
    obs, info = env.reset(seed=0, options={"task_index": tasks})
    for _ in range(30):
        obs, _, terminated, truncated, info = env.step(oracle(obs, info))
        if terminated or truncated:
            break


def run_arm(arm: str, tasks: int, group_size: int, rows_per_part: int) -> dict:
    """One arm in this process (called in a fresh subprocess by ``main``)."""
    import gymnasium as gym

    import proxmo_envs  # noqa: F401  (registers the ids)

    import pyarrow as pa

    env = gym.make(ENV_ID)  # loads the shared catalogue and index: not timed
    _warm_up(env, tasks)
    t0 = time.perf_counter()
    pa.array(["warm"], type=pa.large_string())  # first use imports pandas inside pyarrow: once per process
    import_seconds = time.perf_counter() - t0  # (done in both arms, so they import the same modules)
    if arm == "plain":
        steps, busy = play(env, tasks, group_size)
        return {"steps": steps, "seconds": busy}

    from proxmo_envs.trajlog import PartWriter, TrajectoryRecorder

    with tempfile.TemporaryDirectory() as tmp:
        writer = PartWriter(tmp, {"env_id": ENV_ID, "benchmark": "logging_overhead"}, "bench", rows_per_part)
        timed = _timed(env)
        rec = TrajectoryRecorder(timed, sink=writer.add_episode, run_id="bench")
        steps, busy = play(rec, tasks, group_size, recorder=rec)
        t0 = time.perf_counter()
        writer.close()  # the last part is part of the logging cost
        busy += time.perf_counter() - t0
        parts = list(Path(tmp).glob("part-*.parquet"))
        size = sum(p.stat().st_size for p in parts)
    return {"steps": steps, "seconds": busy, "env_seconds": type(timed).seconds, "parts": len(parts), "bytes": size,
            "import_seconds": import_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows-per-part", type=int, default=4096)
    parser.add_argument("--quick", action="store_true", help="8 tasks x 8, 1 round")
    parser.add_argument("--arm", choices=["plain", "logged"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.repeats = 8, 1
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.tasks, args.group_size, args.rows_per_part)))
        return

    def arm(name: str) -> dict:
        cmd = [sys.executable, __file__, "--arm", name, "--tasks", str(args.tasks),
               "--group-size", str(args.group_size), "--rows-per-part", str(args.rows_per_part)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    plain, logged = [], []
    for _ in range(args.repeats):
        plain.append(arm("plain"))
        logged.append(arm("logged"))
    steps = plain[0]["steps"]
    if any(r["steps"] != steps for r in plain + logged):
        raise SystemExit("the two arms did not play the same steps; the comparison is void")
    t_plain = statistics.median(r["seconds"] for r in plain)
    t_logged = statistics.median(r["seconds"] for r in logged)
    episodes = args.tasks * args.group_size
    print(f"WebShop logging overhead: {episodes} episodes ({args.tasks} tasks x {args.group_size}), {steps} steps, "
          f"{args.rows_per_part} rows/part -> {logged[0]['parts']} part(s), {logged[0]['bytes'] / 1e6:.2f} MB zstd; "
          f"median of {args.repeats} round(s), fresh process per arm")
    print(f"{'arm':<36}{'seconds':>10}{'ms/step':>10}")
    print(f"{'env reset+step alone':<36}{t_plain:>10.3f}{1e3 * t_plain / steps:>10.3f}")
    print(f"{'env + recorder + Parquet writer':<36}{t_logged:>10.3f}{1e3 * t_logged / steps:>10.3f}")
    print(f"{'ratio (logged / alone)':<36}{t_logged / t_plain:>10.3f}   overhead {100 * (t_logged / t_plain - 1):+.1f}% "
          "(target <= +10%)")
    t_env = statistics.median(r["env_seconds"] for r in logged)
    t_log = statistics.median(r["seconds"] - r["env_seconds"] for r in logged)
    print("split of the logged arm (same process, same episodes; immune to machine noise):")
    print(f"{'  env reset+step inside the recorder':<36}{t_env:>10.3f}{1e3 * t_env / steps:>10.3f}")
    print(f"{'  recorder + writer (incl. parts)':<36}{t_log:>10.3f}{1e3 * t_log / steps:>10.3f}")
    print(f"{'  ratio (env + logging) / env':<36}{(t_env + t_log) / t_env:>10.3f}   overhead {100 * t_log / t_env:+.1f}%")
    print(f"{'one-time pyarrow import (per process)':<36}{statistics.median(r['import_seconds'] for r in logged):>10.3f}")


if __name__ == "__main__":
    main()
