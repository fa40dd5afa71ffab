"""Speed of proxmo/WebShop-v0 on the embedded catalogue (or --catalog FOLDER); prints a table.

    python benchmarks/webshop_speed.py            # default sizes (~20 s)
    python benchmarks/webshop_speed.py --quick    # fewer repetitions

Targets (issue 2): median click step < 0.2 ms, search < 5 ms, reset < 1 ms, catalogue load + index build
< 5 s. Also reports the oracle's success rate and a random agent's mean score on the chosen goals.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import gymnasium as gym
import numpy as np

import proxmo_envs  # noqa: F401
from proxmo_envs.webshop.data import clear_cache, get_tasks
from proxmo_envs.webshop.oracle import WebShopOracle


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--catalog", default="embedded")
    ap.add_argument("--size", type=int, default=2000, help="episodes/steps per measurement")
    ap.add_argument("--quick", action="store_true", help="size 300")
    ap.add_argument("--noun-extractor", default="words")
    args = ap.parse_args(argv)
    n = 300 if args.quick else args.size
    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory() as cache:
        clear_cache()
        t0 = time.perf_counter()
        get_tasks(args.catalog, "synthetic", 233, cache_dir=__import__("pathlib").Path(cache))
        cold = time.perf_counter() - t0
        clear_cache()
        t0 = time.perf_counter()
        get_tasks(args.catalog, "synthetic", 233, cache_dir=__import__("pathlib").Path(cache))
        warm = time.perf_counter() - t0
        rows.append(("catalogue load + index build (cold, no disk cache)", f"{cold:.3f} s", "< 5 s"))
        rows.append(("catalogue load + index from the disk cache", f"{warm:.3f} s", "< 5 s"))
        kw = dict(catalog=args.catalog, noun_extractor=args.noun_extractor, cache_dir=cache, split="all")
        env = gym.make("proxmo/WebShop-v0", **kw).unwrapped
        t = []
        for _ in range(20):
            t0 = time.perf_counter()
            gym.make("proxmo/WebShop-v0", **kw)
            t.append(time.perf_counter() - t0)
        rows.append(("second gym.make (shared data)", f"{median_ms(t):.3f} ms", "milliseconds"))

        t = []
        for i in range(n):
            t0 = time.perf_counter()
            env.reset(options={"goal_index": i % env.task_count})
            t.append(time.perf_counter() - t0)
        rows.append(("reset", f"{median_ms(t):.4f} ms", "< 1 ms"))

        # searches with distinct queries (each goal's instruction: no query-cache hits), then repeated ones
        t, t_rep = [], []
        for i in range(n):
            env.reset(options={"goal_index": i % env.task_count})
            q = env.goals[i % env.task_count].instruction_text
            t0 = time.perf_counter()
            env.step(f"search[{q}]")
            t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            env.step(f"search[{q}]")
            t_rep.append(time.perf_counter() - t0)
        rows.append(("search step (new query, BM25 over the catalogue)", f"{median_ms(t):.3f} ms", "< 5 ms"))
        rows.append(("search step (repeated query, cached)", f"{median_ms(t_rep):.4f} ms", ""))

        # clicks: results paging, item page, options, sub pages
        t = []
        env.reset(options={"goal_index": 0})
        k = 0
        while len(t) < n:
            # a search by a product title, then page through its results
            env.step(f"search[{env.goals[k % env.task_count].name}]")
            k += 1
            info = env.step("click[next >]")[4]
            if not any(c.startswith("b") for c in info["available_actions"]["clickables"]):
                info = env.step("click[< prev]")[4]
            asin = next((c for c in info["available_actions"]["clickables"] if c.startswith("b")), None)
            if asin is None:
                continue
            for a in (f"click[{asin}]", "click[description]", "click[< prev]", "click[features]", "click[< prev]",
                      "click[< prev]"):
                t0 = time.perf_counter()
                env.step(a)
                t.append(time.perf_counter() - t0)
        rows.append(("click step", f"{median_ms(t):.4f} ms", "< 0.2 ms"))

        # agents
        orc = WebShopOracle()
        scores, steps, t_total = [], 0, 0.0
        m = min(n, env.task_count)
        for i in range(m):
            obs, info = env.reset(options={"goal_index": i})
            for _ in range(15):
                a = orc(obs, info)
                t0 = time.perf_counter()
                obs, r, term, trunc, info = env.step(a)
                t_total += time.perf_counter() - t0
                steps += 1
                if term or trunc:
                    break
            scores.append(info["task_score"])
        scores = np.array(scores)
        rows.append(("oracle env steps per second", f"{steps / t_total:,.0f}", ""))
        rows.append((f"oracle success (score 1.0), {m} goals", f"{(scores == 1.0).mean():.2%}", ">= 95%"))
        rng = np.random.default_rng(0)
        rand = []
        for s in range(m):
            obs, info = env.reset(seed=s)
            for _ in range(15):
                acts = info["admissible_actions"]
                a = acts[int(rng.integers(len(acts)))]
                a = a.replace("<query>", info["goal"]["query"])
                obs, r, term, trunc, info = env.step(a)
                if term or trunc:
                    break
            rand.append(info["task_score"])
        rows.append((f"random agent mean score / success, {m} episodes",
                     f"{np.mean(rand):.3f} / {np.mean(np.array(rand) == 1.0):.2%}", "low"))

    w = max(len(r[0]) for r in rows)
    print(f"WebShop speed (catalog={args.catalog}, {env._tasks.catalog.catalog.__len__()} products, "
          f"{env.task_count} synthetic goals, noun_extractor={args.noun_extractor})")
    print(f"{'measure'.ljust(w)} | {'value':>14} | target")
    print("-" * (w + 32))
    for name, value, target in rows:
        print(f"{name.ljust(w)} | {value:>14} | {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
