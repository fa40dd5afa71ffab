"""Credit-assignment methods compared under one training budget: GRPO, GiGPO (w/o std), ProxMO and its ablations.

Every (environment, method, seed) is one ``proxmo train`` run with the same budget and the same seeds, so the
methods see the same training tasks per iteration; only the advantages differ. Reported per method:
held-out success rate and score (greedy, mean ± std over seeds), ALFWorld success per task type, and
training time per iteration split into rollout / credit scoring / PPO update (ProxMO's overhead over GRPO is
the difference of the scoring part).

    python benchmarks/compare_methods.py                 # the budgets of docs/comparison.md (see --help)
    python benchmarks/compare_methods.py --quick         # a smoke run: 1 seed, 2 iterations, tiny groups
    python benchmarks/compare_methods.py --envs webshop --seeds 0 1 2

Runs already present in ``--out`` are resumed, not repeated, so an interrupted table can be completed.
Outputs in ``--out``: ``runs.csv`` (one row per run), ``summary.csv`` / ``summary.json`` (per method),
``task_types.csv`` (ALFWorld per type), ``compare_methods.png`` (held-out success and learning curves).
``benchmarks/compare_report.py`` turns the run folders into ``benchmarks/results/compare_methods.json``
(paired CIs and verdicts) and ``benchmarks/comparison_page.py`` that into ``docs/comparison.md``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from proxmo_analysis.credit.registry import label, method_names

#: the methods compared by default (any registered name is accepted; labels come from the registry)
METHODS = ["grpo", "gigpo_wo_std", "proxmo", "proxmo_wo_psc", "proxmo_wo_psa"]


@dataclass(frozen=True)
class Budget:
    env_id: str
    seeds: tuple[int, ...]
    iterations: int
    tasks: int
    group_size: int
    eval_tasks: int
    eval_every: int
    max_steps: int | None = None
    warm_start_games: int = 0  # behaviour-cloned train walkthroughs before iteration 0 (same for every method)
    lr: float | None = None  # PPO learning rate (None: PPOConfig's default)
    workers: int = 1  # rollout worker processes
    warm_start_recovery: int = 0  # rounds of recovery states after the walkthrough fit (ALFWorld)
    reward: str = "won"  # the ONE reward of every method: "won" (paper: 10 x won on the last step) or "env"
    history: int = 2  # scorer memory: last k (observation, action) pairs (verl-agent's history_length); 0 = none


#: The budgets of benchmarks/results/compare_methods.json (docs/comparison.md).
#: WebShop uses reward "env" for every method: with "won" from the uniform start, GRPO's training success
#: stayed at 0.00-0.016 over 11 iterations (seed 0), so no method gets a signal in this budget; it is what fitted
#: the shared cores of an earlier session (640 episodes per run, before the learning knee). ALFWorld: the
#: paper's "won"; a warm start by behaviour cloning on 60 train walkthroughs + 1 round of recovery states; a
#: smaller PPO step than WebShop's: the cloned policy is peaked (lr 1e-2 gave k3 KL in the thousands unclamped);
#: 75 iterations x 8 games x group 8 = 4,800 training episodes per run (1/4 of the paper's 19,200), evaluated
#: every 25 iterations on all 66 eval_unseen games: ~11 s per iteration on one idle core.
FULL = {
    "webshop": Budget("proxmo/WebShop-v0", tuple(range(10)), iterations=10, tasks=8, group_size=8, eval_tasks=100,
                      eval_every=5, reward="env"),
    "alfworld": Budget("proxmo/ALFWorld-v0", (0, 1, 2), iterations=75, tasks=8, group_size=8, eval_tasks=66,
                       eval_every=25, max_steps=50, warm_start_games=60, warm_start_recovery=1, lr=1e-3),
}
QUICK = {
    "webshop": Budget("proxmo/WebShop-v0", (0,), iterations=2, tasks=4, group_size=4, eval_tasks=10, eval_every=2),
    "alfworld": Budget("proxmo/ALFWorld-v0", (0,), iterations=2, tasks=2, group_size=4, eval_tasks=4, eval_every=2,
                       max_steps=10),
}


def config_of(budget: Budget, method: str, seed: int, out: Path, **extra):
    from proxmo_analysis.policy.config import PPOConfig
    from proxmo_analysis.training import TrainConfig

    ppo = PPOConfig() if budget.lr is None else PPOConfig(lr=budget.lr)
    return TrainConfig(
        env_id=budget.env_id, method=method, reward=budget.reward,
        policy_config={"history": budget.history} if budget.history else {},
        iterations=budget.iterations, tasks=budget.tasks,
        group_size=budget.group_size, eval_every=budget.eval_every, eval_tasks=budget.eval_tasks, seed=seed,
        out=str(out), max_steps=budget.max_steps, warm_start_games=budget.warm_start_games,
        warm_start_recovery=budget.warm_start_recovery, ppo=ppo,
        workers=budget.workers, **extra,
    )


def shared_start(budget: Budget, seed: int, out: Path) -> Path:
    """The seed's iteration-0 run (warm start + evaluation 0), computed once and branched by every method."""
    import dataclasses

    from proxmo_analysis.training import train

    if (out / "metrics.csv").is_file() and (out / "checkpoints" / "last.pt").is_file():
        # A finished start is reused as it is: it has no iterations, so settings that only shape iterations
        # (e.g. eval_every) cannot have changed it, and each run's init_from checks the settings it does
        # depend on (training.START_KEYS) and refuses a start that differs.
        return out
    config = config_of(dataclasses.replace(budget, iterations=0), "grpo", seed, out)
    train(config, resume=(out / "checkpoints" / "last.pt").is_file())
    return out


def run_one(budget: Budget, method: str, seed: int, out: Path, start: Path | None = None) -> dict:
    """Train (or resume) one run, branched from ``start`` when given, and return its result row."""
    from proxmo_analysis.logs import read_log
    from proxmo_analysis.training import train

    config = config_of(budget, method, seed, out, init_from=None if start is None else str(start))
    rows = train(config, resume=(out / "checkpoints" / "last.pt").is_file())
    final = rows[-1]
    trained = [r for r in rows if r["iteration"] >= 1]
    ev = read_log(out / "eval" / f"iter-{final['iteration']:04d}")
    per_episode = ev.group_by("episode_id").agg(pl.col("task_type").first(), pl.col("won").first())
    types = {
        str(t): float(w)
        for t, w in per_episode.group_by("task_type").agg(pl.col("won").mean()).sort("task_type").iter_rows()
    }
    return {
        "env": budget.env_id,
        "method": method,
        "seed": seed,
        "iterations": final["iteration"],
        "start_success": rows[0]["eval_success"],
        "success": final["eval_success"],
        "score": final["eval_score"],
        "train_success_last": final.get("train_success"),
        "iteration_s": float(np.mean([r["iteration_s"] for r in trained])),
        "rollout_s": float(np.mean([r["rollout_s"] for r in trained])),
        "score_s": float(np.mean([r["score_s"] for r in trained])),
        "update_s": float(np.mean([r["update_s"] for r in trained])),
        "task_types": types,
        "curve": [(r["iteration"], r["eval_success"]) for r in rows if r.get("eval_success") is not None],
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=0))


def summarise(results: list[dict]) -> list[dict]:
    out = []
    for env in sorted({r["env"] for r in results}):
        for method in METHODS:
            rs = [r for r in results if r["env"] == env and r["method"] == method]
            if not rs:
                continue
            row = {"env": env, "method": method, "seeds": len(rs)}
            for key in ("success", "score", "start_success", "iteration_s", "rollout_s", "score_s", "update_s"):
                row[f"{key}_mean"], row[f"{key}_std"] = mean_std([r[key] for r in rs])
            types = sorted({t for r in rs for t in r["task_types"]})
            row["task_types"] = {t: mean_std([r["task_types"].get(t) for r in rs]) for t in types}
            out.append(row)
    return out


def plot(results: list[dict], summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({s["env"] for s in summary})
    fig, axes = plt.subplots(2, len(envs), figsize=(6 * len(envs), 8), squeeze=False)
    for j, env in enumerate(envs):
        rows = [s for s in summary if s["env"] == env]
        ax = axes[0][j]
        x = np.arange(len(rows))
        ax.bar(x, [s["success_mean"] for s in rows], yerr=[s["success_std"] for s in rows], capsize=4)
        ax.axhline(np.nanmean([s["start_success_mean"] for s in rows]), color="grey", ls="--", label="start (shared)")
        ax.set_xticks(x, [label(s["method"]) for s in rows], rotation=20)
        ax.set_ylabel("held-out success rate")
        ax.set_title(f"{env}: mean ± std over seeds")
        ax.legend()
        ax = axes[1][j]
        for method in METHODS:
            curves = [r["curve"] for r in results if r["env"] == env and r["method"] == method]
            if not curves:
                continue
            its = [i for i, _ in curves[0]]
            ys = np.nanmean([[v for _, v in c] for c in curves if len(c) == len(its)], axis=0)
            ax.plot(its, ys, marker="o", label=label(method))
        ax.set_xlabel("iteration (PPO updates)")
        ax.set_ylabel("held-out success rate (mean over seeds)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(results: list[dict], out: Path) -> list[dict]:
    summary = summarise(results)
    with open(out / "runs.csv", "w", newline="") as fh:
        keys = [k for k in results[0] if k not in ("task_types", "curve")]
        w = csv.DictWriter(fh, fieldnames=keys + ["task_types"])
        w.writeheader()
        for r in results:
            w.writerow({**{k: r[k] for k in keys}, "task_types": json.dumps(r["task_types"], sort_keys=True)})
    with open(out / "summary.csv", "w", newline="") as fh:
        keys = [k for k in summary[0] if k != "task_types"]
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for s in summary:
            w.writerow({k: s[k] for k in keys})
    with open(out / "task_types.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["env", "method", "task_type", "success_mean", "success_std"])
        for s in summary:
            for t, (m, sd) in s["task_types"].items():
                w.writerow([s["env"], s["method"], t, f"{m:.4f}", f"{sd:.4f}"])
    (out / "summary.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=2, default=str) + "\n")
    plot(results, summary, out / "compare_methods.png")
    return summary


def print_table(summary: list[dict]) -> None:
    print(f"{'env':<20} {'method':<17} {'seeds':>5} {'held-out success':>18} {'held-out score':>16} "
          f"{'start':>10} {'s/iter':>8} {'score s/iter':>12}")
    for s in summary:
        print(f"{s['env']:<20} {label(s['method']):<17} {s['seeds']:>5} "
              f"{s['success_mean']:>9.3f} ± {s['success_std']:<6.3f} {s['score_mean']:>7.3f} ± {s['score_std']:<6.3f} "
              f"{s['start_success_mean']:>10.3f} {s['iteration_s_mean']:>8.1f} {s['score_s_mean']:>12.3f}")
    for s in summary:
        if len(s["task_types"]) > 1:
            parts = ", ".join(f"{t}: {m:.2f}±{sd:.2f}" for t, (m, sd) in s["task_types"].items())
            print(f"  {s['env']} {label(s['method'])} per task type: {parts}")


def budgets_text() -> str:
    """The budgets (default and --quick) as ``--help`` lists them, read from FULL / QUICK themselves."""
    lines = ["budgets (each field can be overridden by its flag):"]
    for name, budgets in (("default", FULL), ("--quick", QUICK)):
        for env, b in budgets.items():
            fields = ", ".join(f"{f.name}={getattr(b, f.name)}" for f in dataclasses.fields(b) if f.name != "env_id")
            lines.append(f"  {name} {env}: {fields}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=budgets_text())
    ap.add_argument("--envs", nargs="+", default=["webshop", "alfworld"], choices=["webshop", "alfworld"])
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=method_names())
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="override the budget's seeds")
    ap.add_argument("--iterations", type=int, default=None, help="override the budget's iterations")
    ap.add_argument("--tasks", type=int, default=None, help="override the budget's tasks per iteration")
    ap.add_argument("--group-size", type=int, default=None, help="override the budget's group size")
    ap.add_argument("--eval-tasks", type=int, default=None, help="override the budget's held-out tasks")
    ap.add_argument("--eval-every", type=int, default=None, help="override the budget's evaluation period")
    ap.add_argument("--max-steps", type=int, default=None, help="override the budget's step cap")
    ap.add_argument("--warm-start-games", type=int, default=None,
                    help="override the budget's warm start (behaviour-cloned train walkthroughs; ALFWorld)")
    ap.add_argument("--warm-start-recovery", type=int, default=None,
                    help="override the budget's rounds of recovery states after cloning (ALFWorld)")
    ap.add_argument("--lr", type=float, default=None, help="override the budget's PPO learning rate")
    ap.add_argument("--workers", type=int, default=None, help="override the budget's rollout worker processes")
    ap.add_argument("--reward", choices=("won", "env"), default=None,
                    help="the one training reward of every method: won (default, the paper's 10 x won on the last "
                         "step) or env (the env's score as the return; PSC's success indicator stays won)")
    ap.add_argument("--history", type=int, default=None, help="override the scorer's memory window k (0: none)")
    ap.add_argument("--quick", action="store_true", help="smoke-test budgets (1 seed, 2 iterations)")
    ap.add_argument("--out", default="runs/compare_methods", help="output folder (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    args = ap.parse_args(argv)

    import dataclasses

    import torch

    torch.set_num_threads(args.threads)
    budgets = QUICK if args.quick else FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    produced = {(FULL[env].env_id, method) for env in args.envs for method in args.methods}
    if (out / "summary.json").is_file():
        # the table is the union of invocations (e.g. --envs webshop, then --envs alfworld): keep earlier runs
        # of the env/method pairs this one does not produce
        earlier = json.loads((out / "summary.json").read_text())["runs"]
        for r in earlier:  # written before the start was renamed from "untrained" (it may be a warm start)
            if "untrained_success" in r:
                r["start_success"] = r.pop("untrained_success")
        results = [r for r in earlier if (r["env"], r["method"]) not in produced]
    t0 = time.perf_counter()
    for env in args.envs:
        budget = budgets[env]
        if args.seeds is not None:
            budget = dataclasses.replace(budget, seeds=tuple(args.seeds))
        overrides = {k: getattr(args, k) for k in ("iterations", "tasks", "group_size", "eval_tasks", "eval_every",
                                                   "max_steps", "warm_start_games", "warm_start_recovery", "lr", "workers",
                                                   "reward", "history")
                     if getattr(args, k) is not None}
        budget = dataclasses.replace(budget, **overrides)
        for seed in budget.seeds:
            begin = time.perf_counter()
            start = shared_start(budget, seed, out / env / "start" / f"seed{seed}")
            print(f"[{time.perf_counter() - t0:7.0f}s] {env} seed {seed}: shared start (warm start + evaluation 0) "
                  f"({time.perf_counter() - begin:.0f}s)", flush=True)
            for method in args.methods:
                begin = time.perf_counter()
                r = run_one(budget, method, seed, out / env / method / f"seed{seed}", start=start)
                results.append(r)
                print(f"[{time.perf_counter() - t0:7.0f}s] {env} {label(method)} seed {seed}: held-out success "
                      f"{r['start_success']:.3f} -> {r['success']:.3f}, score {r['score']:.3f} "
                      f"({time.perf_counter() - begin:.0f}s)", flush=True)
                write_outputs(results, out)
    summary = write_outputs(results, out)
    print_table(summary)
    print(f"total {time.perf_counter() - t0:.0f}s; outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
