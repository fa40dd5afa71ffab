"""Logging overhead on WebShop: the env's own reset+step time vs the cost the recorder and writer add.

Two measurements of the same rollout (``--tasks`` tasks x ``--group-size`` episodes, random policy,
distinct env and policy seeds per episode, so the env's per-process caches fill as in a real group
rollout):

1. **Env step time**, and the whole logged rollout, each arm in a fresh process (``--repeats`` rounds,
   medians): ``reset`` + ``step`` alone, then through ``TrajectoryRecorder`` + ``PartWriter`` (zstd parts
   of ``--rows-per-part`` rows, default 4096 as in the runner, written by the writer's background thread;
   the last part at ``close`` is timed). Between processes the env's own time varies by ~±15 % on a
   shared machine, more than the logging cost, so this comparison is shown but is not the figure.
2. **Logging cost per step**, in one process: the rollout's exact outputs are replayed by a zero-cost
   env, alone and through the recorder + writer (same parts, same files), alternating ``--replays``
   times; the difference of medians is what logging adds per step. The ratio is
   ``(env step + logging) / env step`` with the env step time of 1.

Times are wall-clock and CPU of the process (all threads, so the background writer counts). Not timed:
the policy, building the env, and one-time costs (one oracle episode on another task first loads the
noun extractor, spaCy, ~4 s per process; pyarrow's first table imports pandas, ~0.5 s per process,
reported on its own line). Target: overhead <= 10 %.

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


class Clock:
    """Sums wall-clock and process-CPU seconds over the timed sections."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self._t = (0.0, 0.0)

    def start(self) -> None:
        self._t = (time.perf_counter(), time.process_time())

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._t[0]
        self.cpu += time.process_time() - self._t[1]


def play(env, tasks: int, group_size: int, clock: Clock, recorder=None) -> int:
    """Play the rollout, timing reset + step on ``clock``; return the number of steps."""
    from proxmo_envs.rollout import RandomPolicy, episode_seeds

    policy = RandomPolicy()
    steps = 0
    for task in range(tasks):
        for r in range(group_size):
            env_seed, policy_seed = episode_seeds(0, 0, task, r)
            policy.reset(seed=policy_seed)
            clock.start()
            obs, info = env.reset(seed=env_seed, options={"task_index": task})
            clock.stop()
            while True:
                action, logprob = policy(obs, info)
                clock.start()
                if recorder is not None:
                    recorder.set_behavior_logprob(logprob)
                obs, _, terminated, truncated, info = env.step(action)
                clock.stop()
                steps += 1
                if terminated or truncated:
                    break
    return steps


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
    import pyarrow as pa

    import proxmo_envs  # noqa: F401  (registers the ids)

    env = gym.make(ENV_ID)  # loads the shared catalogue and index: not timed
    _warm_up(env, tasks)
    t0 = time.perf_counter()
    pa.array(["warm"], type=pa.large_string())  # first use imports pandas inside pyarrow: once per process
    import_seconds = time.perf_counter() - t0  # (done in both arms, so they import the same modules)
    clock = Clock()
    if arm == "plain":
        steps = play(env, tasks, group_size, clock)
        return {"steps": steps, "wall": clock.wall, "cpu": clock.cpu}

    from proxmo_envs.trajlog import PartWriter, TrajectoryRecorder

    with tempfile.TemporaryDirectory() as tmp:
        writer = PartWriter(tmp, {"env_id": ENV_ID, "benchmark": "logging_overhead"}, "bench", rows_per_part)
        rec = TrajectoryRecorder(env, sink=writer.add_episode, run_id="bench")
        steps = play(rec, tasks, group_size, clock, recorder=rec)
        clock.start()
        writer.close()  # the last part is part of the logging cost
        clock.stop()
        parts = list(Path(tmp).glob("part-*.parquet"))
        size = sum(p.stat().st_size for p in parts)
    return {"steps": steps, "wall": clock.wall, "cpu": clock.cpu, "parts": len(parts), "bytes": size,
            "import_seconds": import_seconds}


def _trace(env, tasks: int, group_size: int) -> list[tuple]:
    """Play the rollout once and keep every output: [(reset_out, [(action, logprob, step_out), ...]), ...]."""
    from proxmo_envs.rollout import RandomPolicy, episode_seeds

    policy = RandomPolicy()
    episodes = []
    for task in range(tasks):
        for r in range(group_size):
            env_seed, policy_seed = episode_seeds(0, 0, task, r)
            policy.reset(seed=policy_seed)
            reset_out = env.reset(seed=env_seed, options={"task_index": task})
            obs, info = reset_out
            steps = []
            while True:
                action, logprob = policy(obs, info)
                out = env.step(action)
                steps.append((action, logprob, out))
                obs, _, terminated, truncated, info = out
                if terminated or truncated:
                    break
            episodes.append((reset_out, steps))
    return episodes


def _replay_env(trace: list[tuple]):
    """A zero-cost env that returns the recorded outputs of ``trace`` in order."""
    import gymnasium as gym

    class Replay(gym.Env):
        observation_space = gym.spaces.Text(max_length=1 << 20)
        action_space = gym.spaces.Text(max_length=1 << 20)

        def __init__(self) -> None:
            self._episodes = iter(trace)
            self._steps = iter(())

        def reset(self, *, seed=None, options=None):
            reset_out, steps = next(self._episodes)
            self._steps = iter(steps)
            return reset_out

        def step(self, action):
            return next(self._steps)[2]

    return Replay()


def _replay(trace: list[tuple], logged: bool, rows_per_part: int) -> tuple[float, float]:
    """(wall, cpu) seconds to replay ``trace`` through the zero-cost env, with or without logging."""
    from proxmo_envs.trajlog import PartWriter, TrajectoryRecorder

    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        env = _replay_env(trace)
        rec = writer = None
        if logged:
            writer = PartWriter(tmp, {"env_id": ENV_ID, "benchmark": "logging_overhead"}, "bench", rows_per_part)
            env = rec = TrajectoryRecorder(env, sink=writer.add_episode, run_id="bench", env_id=ENV_ID)
        clock.start()
        for _, steps in trace:
            env.reset(seed=0)
            for action, logprob, _ in steps:
                if rec is not None:
                    rec.set_behavior_logprob(logprob)
                env.step(action)
        if writer is not None:
            writer.close()
        clock.stop()
    return clock.wall, clock.cpu


def logging_cost(tasks: int, group_size: int, rows_per_part: int, replays: int) -> dict:
    """Per-step logging cost (replay with logging minus replay alone, medians), in one process."""
    import gymnasium as gym
    import pyarrow as pa

    import proxmo_envs  # noqa: F401

    env = gym.make(ENV_ID)
    _warm_up(env, tasks)
    pa.array(["warm"], type=pa.large_string())
    trace = _trace(env, tasks, group_size)
    steps = sum(len(s) for _, s in trace)
    plain, logged = [], []
    for _ in range(replays):
        plain.append(_replay(trace, False, rows_per_part))
        logged.append(_replay(trace, True, rows_per_part))
    return {
        "steps": steps,
        "wall": statistics.median(w for w, _ in logged) - statistics.median(w for w, _ in plain),
        "cpu": statistics.median(c for _, c in logged) - statistics.median(c for _, c in plain),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows-per-part", type=int, default=4096)
    parser.add_argument("--replays", type=int, default=7, help="alternating replays for the logging cost")
    parser.add_argument("--quick", action="store_true", help="8 tasks x 8, 1 round")
    parser.add_argument("--arm", choices=["plain", "logged", "cost"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.repeats = 8, 1
    if args.arm == "cost":
        print(json.dumps(logging_cost(args.tasks, args.group_size, args.rows_per_part, args.replays)))
        return
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.tasks, args.group_size, args.rows_per_part)))
        return

    def arm(name: str) -> dict:
        cmd = [sys.executable, __file__, "--arm", name, "--tasks", str(args.tasks), "--replays", str(args.replays),
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
    episodes = args.tasks * args.group_size
    print(f"WebShop logging overhead: {episodes} episodes ({args.tasks} tasks x {args.group_size}), {steps} steps, "
          f"{args.rows_per_part} rows/part -> {logged[0]['parts']} part(s), {logged[0]['bytes'] / 1e6:.2f} MB zstd; "
          f"median of {args.repeats} round(s), fresh process per arm")
    cost = arm("cost")
    if cost["steps"] != steps:
        raise SystemExit("the replay did not hold the same steps; the comparison is void")
    print("CPU = process CPU time, all threads (the background writer counts)")
    print(f"{'per step, medians':<36}{'env alone':>12}{'env + logging':>15}{'ratio':>8}{'overhead':>10}")
    for key, label in (("wall", "wall ms"), ("cpu", "CPU ms")):
        a = statistics.median(r[key] for r in plain) / steps
        b = statistics.median(r[key] for r in logged) / steps
        print(f"{'1. two processes, ' + label:<36}{1e3 * a:>12.3f}{1e3 * b:>15.3f}{b / a:>8.3f}{100 * (b / a - 1):>+9.1f}%")
    for key, label in (("wall", "wall ms"), ("cpu", "CPU ms")):
        a = statistics.median(r[key] for r in plain) / steps
        c = cost[key] / steps
        print(f"{'2. env + replayed cost, ' + label:<36}{1e3 * a:>12.3f}{1e3 * (a + c):>15.3f}{(a + c) / a:>8.3f}"
              f"{100 * c / a:>+9.1f}%")
    print(f"logging cost per step (replay, {args.replays} alternating runs): {1e6 * cost['wall'] / steps:.1f} us wall, "
          f"{1e6 * cost['cpu'] / steps:.1f} us CPU; target: overhead <= +10%")
    print(f"one-time pyarrow import (per process, both arms): {statistics.median(r['import_seconds'] for r in logged):.3f} s")


if __name__ == "__main__":
    main()
