"""Step and reset time of proxmo/ALFWorld-v0, with and without the TextWorld memoisation, on the same games.

    python benchmarks/alfworld_speed.py              # 6 eval_unseen games (one per task type), 3 episodes each
    python benchmarks/alfworld_speed.py --quick      # 3 games, 2 episodes
    python benchmarks/alfworld_speed.py --split train --games 12
    python benchmarks/alfworld_speed.py --data-dir ../shared/alfworld_real --split eval_seen   # real games

One process runs both arms: first the unpatched engine, then the memoised one (fresh caches). Per game,
episode 1 loads the game ("load+reset": PDDL translation of a game not seen before), episodes 2.. reset
the loaded game ("reset", what a GRPO group of episodes on one task costs); each episode plays a few
detour commands (look, inventory, an invalid one, an examine) then the walkthrough ("step").
Targets (issue 3): median step < 50 ms, reset < 0.2 s, steps >= 3x faster than unpatched.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402

import proxmo_envs  # noqa: E402,F401
from proxmo_envs.alfworld import speedups  # noqa: E402


def pick_games(env, n: int) -> list[int]:
    """Up to n game indices, cycling through the task types so every type is measured."""
    by_type: dict[str, list[int]] = {}
    for i, t in enumerate(env.unwrapped.task_types):
        by_type.setdefault(t, []).append(i)
    chosen, k = [], 0
    while len(chosen) < min(n, env.unwrapped.task_count):
        for idx in by_type.values():
            if k < len(idx) and len(chosen) < n:
                chosen.append(idx[k])
        k += 1
    return chosen


class Clock:
    """Wall and CPU (process) time of a block; the machine may be shared, so both are reported."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_arm(make, games: list[int], episodes: int) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list] = {"make": [], "load+reset": [], "reset": [], "step": []}
    for _ in range(2):
        with Clock() as c:
            env = make()
        times["make"].append((c.wall, c.cpu))
    won = 0
    for g in games:
        for ep in range(episodes):
            with Clock() as c:
                obs, info = env.reset(options={"game_index": g})
            times["load+reset" if ep == 0 else "reset"].append((c.wall, c.cpu))
            examine = next((a for a in info["admissible_actions"] if a.startswith("examine")), "look")
            for cmd in ["look", "inventory", "dance", examine] + list(info.get("walkthrough") or []):
                with Clock() as c:
                    obs, r, term, trunc, info = env.step(cmd)
                times["step"].append((c.wall, c.cpu))
            won += bool(info["won"])
    times["won"] = [(won / (len(games) * episodes),) * 2]
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", default="eval_unseen")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--games", type=int, default=6)
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="3 games, 2 episodes")
    args = p.parse_args(argv)
    if args.quick:
        args.games, args.episodes = 3, 2

    def make():
        return gym.make("proxmo/ALFWorld-v0", split=args.split, data_dir=args.data_dir, speedups=False)

    speedups.disable()
    games = pick_games(make(), args.games)
    plain = run_arm(make, games, args.episodes)
    if not speedups.enable(plain_sas_for_replan=True):  # as the env enables them
        print("speed-ups unavailable for this textworld version; only the unpatched arm was measured")
        return 1
    fast = run_arm(make, games, args.episodes)

    def med(arm: dict, key: str, col: int) -> float:
        values = [v[col] for v in arm[key]]
        return statistics.median(values[1:] if key == "make" else values)  # make: the 2nd env

    print(f"proxmo/ALFWorld-v0 split={args.split} data_dir={args.data_dir} games={len(games)} "
          f"episodes/game={args.episodes} steps/arm={len(fast['step'])}")
    print(f"{'median':<28}{'unpatched':>11}{'memoised':>10}{'ratio':>7}   {'cpu unpatched':>14}{'cpu memoised':>13}"
          f"{'ratio':>7}")
    rows = [("step [ms]", "step", 1e3), ("reset, loaded game [ms]", "reset", 1e3),
            ("load+reset, new game [ms]", "load+reset", 1e3), ("gym.make, 2nd env [ms]", "make", 1e3)]
    for label, key, scale in rows:
        a, b = med(plain, key, 0) * scale, med(fast, key, 0) * scale
        ca, cb = med(plain, key, 1) * scale, med(fast, key, 1) * scale
        print(f"{label:<28}{a:>11.1f}{b:>10.1f}{a / b:>6.1f}x   {ca:>14.1f}{cb:>13.1f}{ca / max(cb, 1e-9):>6.1f}x")
    print(f"{'walkthroughs won':<28}{plain['won'][0][0]:>11.0%}{fast['won'][0][0]:>10.0%}")
    print("wall = time.perf_counter, cpu = time.process_time of this process (equal on an idle machine)")
    print("targets: step < 50 ms, reset < 200 ms, step speed-up >= 3x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
