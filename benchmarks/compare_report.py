"""``benchmarks/results/compare_methods.json`` from the run folders of ``compare_methods.py``.

Reads every ``<out>/<env>/<method>/seed<s>/`` run (its ``config.json``, ``metrics.csv``, final held-out
evaluation log and training rollout logs) and every shared start ``<out>/<env>/start/seed<s>/``, and writes
per env (schema of issue 14):

* ``seeds``, ``reward``, ``episodes_per_run``, ``eval_tasks``, ``budget`` (the exact budget that ran);
* ``start``: the random agent on the same evaluation tasks and the shared starting policy (``warm start``
  when behaviour-cloned, ``untrained`` only when it was not trained at all), mean over seeds;
* ``methods``: held-out success and score, mean with a 95 % two-stage bootstrap CI (seeds, then tasks);
* ``pairs``: mean paired difference a − b in success (and score) with its CI and verdict
  (:mod:`proxmo_analysis.paired`);
* ``curves``: per method, held-out success at every evaluation and training success per iteration, each the
  mean over seeds (whether and when the policies learn);
* with ``--memory``: ``memory``, the same method trained with the memoryless scorer (``history`` 0, its own warm
  start by the same recipe) on the same seeds, tasks and evaluation set, paired against the table's runs;
* ALFWorld ``group_sizes``: exact-match step groups (GiGPO's anchor states: equal observation inside a task
  group) by size 1 / 2 / 3 / > 3 per training iteration over all runs, and the share of rows in singleton
  groups (their GiGPO step advantage is 0), beside the paper's appendix numbers.

A comparison refuses runs of one env that differ in reward, seed set, budget or evaluation tasks.

    python benchmarks/compare_report.py runs/ws_0 runs/ws_1 --random-agent webshop=runs/random \
        --memory runs/alf_memoryless --out benchmarks/results/compare_methods.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

PAIRS = [("proxmo", "grpo"), ("proxmo", "gigpo_wo_std"), ("gigpo_wo_std", "grpo"), ("proxmo", "proxmo_wo_psc"),
         ("proxmo", "proxmo_wo_psa")]
ENV_KEYS = {"proxmo/WebShop-v0": "webshop", "proxmo/ALFWorld-v0": "alfworld"}
#: the ProxMO paper's appendix: exact-match step-group sizes (1 / 2 / 3 / > 3, % of groups) on ALFWorld
PAPER_GROUP_SIZES = {
    "40": {"1": 36.2, "2": 15.6, "3": 11.2, ">3": 37.0},
    "80": {"1": 34.2, "2": 14.2, "3": 12.3, ">3": 39.3},
    "120": {"1": 30.2, "2": 16.2, "3": 13.6, ">3": 40.0},
}
#: config keys every run of one env must share (besides method and seed)
SHARED_KEYS = ("reward", "iterations", "tasks", "group_size", "eval_tasks", "max_steps", "warm_start_games",
               "warm_start_recovery", "policy", "policy_config", "ppo")
N_BOOT = 10_000


def episode_outcomes(folder: Path) -> pl.DataFrame:
    """One row per episode of a run folder: ``task_id``, ``won`` (bool) and ``score`` (its last step's
    ``task_score``), sorted by task id."""
    from proxmo_analysis.logs import read_log

    df = read_log(folder)
    last = df.sort(["episode_id", "step"]).group_by("episode_id", maintain_order=True).last()
    return last.select("task_id", pl.col("won").cast(pl.Boolean), pl.col("task_score").cast(pl.Float64).alias("score")
                       ).sort("task_id")


def final_eval(run: Path) -> Path:
    evals = sorted((run / "eval").glob("iter-*"))
    if not evals:
        raise FileNotFoundError(f"{run}: no evaluation folder")
    return evals[-1]


def find_runs(roots: list[Path]) -> list[dict]:
    """Every finished method run under ``roots``: ``{env, method, seed, path, config, iterations}``."""
    runs = []
    for root in roots:
        for cfg_path in sorted(root.glob("*/*/seed*/config.json")):
            run = cfg_path.parent
            if run.parent.name == "start":
                continue
            config = json.loads(cfg_path.read_text())
            metrics = pl.read_csv(run / "metrics.csv", infer_schema_length=0) if (run / "metrics.csv").is_file() else None
            done = 0 if metrics is None or metrics.height == 0 else int(metrics["iteration"].cast(pl.Int64).max())
            if done < config["iterations"]:
                continue  # unfinished: not part of the table
            runs.append({"env": config["env_id"], "method": config["method"], "seed": int(config["seed"]),
                         "path": run, "config": config})
    return runs


def _setting(config: dict, key: str):
    """A run's setting; a run saved before the setting existed ran with its TrainConfig default."""
    import dataclasses

    from proxmo_analysis.train import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return config.get(key, defaults.get(key))


def _check_shared(env: str, runs: list[dict]) -> dict:
    first = runs[0]["config"]
    for r in runs[1:]:
        for key in SHARED_KEYS:
            if _setting(r["config"], key) != _setting(first, key):
                raise ValueError(f"{env}: runs differ in {key} ({runs[0]['path']}: {_setting(first, key)!r}, "
                                 f"{r['path']}: {_setting(r['config'], key)!r}); a comparison needs one {key} for "
                                 "every method")
    return {k: _setting(first, k) for k in SHARED_KEYS}


def grids(runs: list[dict], methods: list[str], seeds: list[int]) -> tuple[dict, list[str]]:
    """``{method: (success (S, T), score (S, T))}`` on the evaluation tasks every run played, in task order."""
    out, tasks = {}, None
    for method in methods:
        succ, score = [], []
        for seed in seeds:
            (r,) = [r for r in runs if r["method"] == method and r["seed"] == seed]
            ep = episode_outcomes(final_eval(r["path"]))
            ids = ep["task_id"].to_list()
            if tasks is None:
                tasks = ids
            elif ids != tasks:
                raise ValueError(f"{r['path']}: evaluated on other tasks than the rest; the pairs need one evaluation set")
            succ.append(ep["won"].cast(pl.Float64).to_numpy())
            score.append(ep["score"].to_numpy())
        out[method] = (np.vstack(succ), np.vstack(score))
    return out, tasks or []


def group_size_table(runs: list[dict]) -> dict:
    """Per training iteration (over all runs): % of exact-match step groups of size 1 / 2 / 3 / > 3 and the %
    of rows in a singleton group (GiGPO step advantage 0)."""
    from proxmo_analysis.credit.frame import dense_codes
    from proxmo_analysis.credit.gigpo import anchor_step_groups
    from proxmo_analysis.logs import read_log

    sizes: dict[int, list[np.ndarray]] = {}
    for r in runs:
        for folder in sorted((r["path"] / "rollouts").glob("iter-*")):
            df = read_log(folder)
            group = dense_codes(df["group_id"])
            step_group = anchor_step_groups(dense_codes(df["observation"]), group)
            sizes.setdefault(int(folder.name.split("-")[1]), []).append(np.bincount(step_group))
    table = {}
    for it in sorted(sizes):
        counts = np.concatenate(sizes[it])
        counts = counts[counts > 0]
        n = len(counts)
        table[str(it)] = {
            "1": 100.0 * float(np.mean(counts == 1)),
            "2": 100.0 * float(np.mean(counts == 2)),
            "3": 100.0 * float(np.mean(counts == 3)),
            ">3": 100.0 * float(np.mean(counts > 3)),
            "groups": int(n),
            "rows": int(counts.sum()),
            "singleton_rows": 100.0 * float((counts == 1).sum() / counts.sum()),
        }
    return table


def curves(runs: list[dict], methods: list[str], seeds: list[int]) -> dict:
    """``{method: {"eval": {iteration: success}, "train": [success per iteration 1..N]}}``, means over seeds,
    from each run's ``metrics.csv`` (evaluation 0 is the shared start)."""
    out = {}
    for method in methods:
        evals: dict[str, list[float]] = {}
        train = []
        for seed in seeds:
            (r,) = [r for r in runs if r["method"] == method and r["seed"] == seed]
            m = pl.read_csv(r["path"] / "metrics.csv", infer_schema_length=0)
            for row in m.iter_rows(named=True):
                if row.get("eval_success"):
                    evals.setdefault(str(int(row["iteration"])), []).append(float(row["eval_success"]))
            t = m.filter(pl.col("train_success").is_not_null() & (pl.col("train_success") != ""))
            train.append(t["train_success"].cast(pl.Float64).to_numpy())
        n = min(len(t) for t in train)
        out[method] = {"eval": {it: float(np.mean(v)) for it, v in sorted(evals.items(), key=lambda kv: int(kv[0]))
                                if len(v) == len(seeds)},
                       "train": np.mean([t[:n] for t in train], axis=0).tolist()}
    return out


def memory_report(env: str, runs: list[dict], roots: list[Path], memory_runs: list[dict], memory_roots: list[Path],
                  seeds: list[int], shared: dict) -> list[dict]:
    """The scorer's memory, paired: each method of ``memory_runs`` (another ``policy_config``, everything else
    as the table) against the table's runs of that method on the seeds both have."""
    from proxmo_analysis.paired import mean_ci, paired_difference

    theirs = _check_shared(f"{env} (memory arm)", memory_runs)
    for key in SHARED_KEYS:
        if key != "policy_config" and theirs[key] != shared[key]:
            raise ValueError(f"{env}: the memory arm differs from the table in {key} ({theirs[key]!r} vs "
                             f"{shared[key]!r}); only the policy's memory may differ")
    if theirs["policy_config"] == shared["policy_config"]:
        raise ValueError(f"{env}: the memory arm has the table's policy_config {shared['policy_config']!r}; "
                         "it must differ in the scorer's history")
    env_key = ENV_KEYS.get(env, env)
    out = []
    for k, method in enumerate(sorted({r["method"] for r in memory_runs})):
        both = sorted({r["seed"] for r in memory_runs if r["method"] == method} & set(seeds))
        if not both:
            continue
        g_with, tasks = grids([r for r in runs if r["seed"] in both], [method], both)
        g_without, tasks_without = grids([r for r in memory_runs if r["seed"] in both], [method], both)
        if tasks_without != tasks:
            raise ValueError(f"{env}: the memory arm was evaluated on other tasks than the table")
        rec = {"method": method, "seeds": both,
               "history": {"with": shared["policy_config"].get("history", 0),
                           "without": theirs["policy_config"].get("history", 0)}}
        for arm, g in (("with", g_with[method]), ("without", g_without[method])):
            s_iv = mean_ci(g[0], n_boot=N_BOOT, seed=300 + k)
            rec[arm] = {"success_mean": s_iv.mean, "success_ci": s_iv.ci, "score_mean": float(g[1].mean()),
                        "per_seed_success": g[0].mean(axis=1).tolist()}
        rec["start_with"] = start_record(roots, env_key, both, shared["warm_start_games"] or 0, None)["start_policy"]
        rec["start_without"] = start_record(memory_roots, env_key, both, theirs["warm_start_games"] or 0,
                                            None)["start_policy"]
        ds = paired_difference(g_with[method][0], g_without[method][0], n_boot=N_BOOT, seed=400 + k)
        rec.update({"success_diff": ds["diff"], "success_diff_ci": ds["ci"], "verdict": ds["verdict"]})
        # what RL added to each policy's own start, task by task: (after - start) with memory minus without
        gain_with = g_with[method][0] - start_grid(roots, env_key, both, tasks)
        gain_without = g_without[method][0] - start_grid(memory_roots, env_key, both, tasks)
        dg = paired_difference(gain_with, gain_without, n_boot=N_BOOT, seed=500 + k)
        rec.update({"gain_with": float(gain_with.mean()), "gain_without": float(gain_without.mean()),
                    "gain_diff": dg["diff"], "gain_diff_ci": dg["ci"], "gain_verdict": dg["verdict"]})
        out.append(rec)
    return out


def _start_folder(roots: list[Path], env_key: str, seed: int) -> Path:
    folder = next((root / env_key / "start" / f"seed{seed}" for root in roots
                   if (root / env_key / "start" / f"seed{seed}" / "eval" / "iter-0000").is_dir()), None)
    if folder is None:
        raise FileNotFoundError(f"{env_key}: no shared start for seed {seed} under {[str(r) for r in roots]}")
    return folder


def start_grid(roots: list[Path], env_key: str, seeds: list[int], tasks: list) -> np.ndarray:
    """``(S, T)`` held-out success of the shared starts before RL, on ``tasks`` in that order."""
    rows = []
    for seed in seeds:
        ep = episode_outcomes(_start_folder(roots, env_key, seed) / "eval" / "iter-0000")
        if ep["task_id"].to_list() != tasks:
            raise ValueError(f"{env_key} seed {seed}: the start was evaluated on other tasks than the runs")
        rows.append(ep["won"].cast(pl.Float64).to_numpy())
    return np.vstack(rows)


def start_record(roots: list[Path], env_key: str, seeds: list[int], warm_games: int, random_agent: dict | None) -> dict:
    succ, score = [], []
    for seed in seeds:
        ep = episode_outcomes(_start_folder(roots, env_key, seed) / "eval" / "iter-0000")
        succ.append(float(ep["won"].mean()))
        score.append(float(ep["score"].mean()))
    label = "warm start" if warm_games else "untrained"
    return {
        "random_agent": random_agent,
        "start_policy": {"label": label, "success_mean": float(np.mean(succ)), "score_mean": float(np.mean(score)),
                         "per_seed_success": succ},
    }


def random_agent_record(folder: Path | None) -> dict | None:
    if folder is None or not folder.is_dir():
        return None
    ep = episode_outcomes(folder)
    return {"label": "random agent", "episodes": ep.height, "success": float(ep["won"].mean()),
            "score": float(ep["score"].mean())}


def env_report(env: str, runs: list[dict], roots: list[Path], random_folder: Path | None,
               memory_runs: list[dict] | None = None, memory_roots: list[Path] | None = None) -> dict:
    from proxmo_analysis.paired import mean_ci, paired_difference

    shared = _check_shared(env, runs)
    methods = [m for m in ("grpo", "gigpo_wo_std", "proxmo", "proxmo_wo_psc", "proxmo_wo_psa")
               if any(r["method"] == m for r in runs)]
    # pairs need every method on the same seeds: the table holds the seeds every method finished
    ran = {m: sorted(r["seed"] for r in runs if r["method"] == m) for m in methods}
    seeds = sorted(set.intersection(*(set(v) for v in ran.values())))
    left_out = {m: [s for s in v if s not in seeds] for m, v in ran.items() if any(s not in seeds for s in v)}
    if not seeds:
        raise ValueError(f"{env}: no seed on which every method finished ({ran})")
    runs = [r for r in runs if r["seed"] in seeds]
    g, tasks = grids(runs, methods, seeds)
    out_methods = {}
    for k, m in enumerate(methods):
        s_iv = mean_ci(g[m][0], n_boot=N_BOOT, seed=k)
        c_iv = mean_ci(g[m][1], n_boot=N_BOOT, seed=k)
        out_methods[m] = {"success_mean": s_iv.mean, "success_ci": s_iv.ci, "score_mean": c_iv.mean,
                          "score_ci": c_iv.ci, "per_seed_success": g[m][0].mean(axis=1).tolist()}
    pairs = []
    for k, (a, b) in enumerate(PAIRS):
        if a not in g or b not in g:
            continue
        ds = paired_difference(g[a][0], g[b][0], n_boot=N_BOOT, seed=100 + k)
        dc = paired_difference(g[a][1], g[b][1], n_boot=N_BOOT, seed=200 + k)
        pairs.append({"a": a, "b": b, "success_diff": ds["diff"], "success_diff_ci": ds["ci"], "verdict": ds["verdict"],
                      "score_diff": dc["diff"], "score_diff_ci": dc["ci"], "score_verdict": dc["verdict"]})
    env_key = ENV_KEYS.get(env, env)
    episodes = shared["iterations"] * shared["tasks"] * shared["group_size"]
    report = {
        "env_id": env,
        "seeds": seeds,
        "reward": shared["reward"],
        "episodes_per_run": episodes,
        "eval_tasks": len(tasks),
        "budget": shared,
        "start": start_record(roots, env_key, seeds, shared["warm_start_games"] or 0, random_agent_record(random_folder)),
        "methods": out_methods,
        "pairs": pairs,
        "curves": curves(runs, methods, seeds),
        "runs_left_out": left_out,
        "bootstrap": {"replicates": N_BOOT, "level": 0.95, "resampled": "seeds, then evaluation tasks within each seed"},
    }
    if memory_runs:
        report["memory"] = memory_report(env, runs, roots, memory_runs, memory_roots or [], seeds, shared)
    if env_key == "alfworld":
        report["group_sizes"] = group_size_table([r for r in runs if r["method"] in methods])
        report["group_sizes_paper"] = PAPER_GROUP_SIZES
    return report


def build(roots: list[Path], random_agents: dict[str, Path], memory_roots: list[Path] | None = None) -> dict:
    runs = find_runs(roots)
    if not runs:
        raise FileNotFoundError(f"no finished compare_methods run under {[str(r) for r in roots]}")
    memory = find_runs(memory_roots or [])
    out = {}
    for env in sorted({r["env"] for r in runs}):
        key = ENV_KEYS.get(env, env)
        out[key] = env_report(env, [r for r in runs if r["env"] == env], roots, random_agents.get(key),
                              [r for r in memory if r["env"] == env], memory_roots)
    return out


def unfinished(roots: list[Path]) -> dict:
    """What exists but did not finish, per env key: ``{env: {"started_runs": n, "finished_runs": m}}``."""
    out: dict = {}
    finished = {(r["env"], r["method"], r["seed"]) for r in find_runs(roots)}
    for root in roots:
        for cfg_path in root.glob("*/*/seed*/config.json"):
            config = json.loads(cfg_path.read_text())
            key = ENV_KEYS.get(config["env_id"], config["env_id"])
            rec = out.setdefault(key, {"started_runs": 0, "finished_runs": 0, "started_starts": 0,
                                       "finished_starts": 0})
            if cfg_path.parent.parent.name == "start":
                rec.setdefault("budget_attempted", {k: _setting(config, k) for k in SHARED_KEYS if k != "iterations"})
                rec["started_starts"] += 1
                rec["finished_starts"] += int((cfg_path.parent / "metrics.csv").is_file())
                continue
            rec["started_runs"] += 1
            rec["finished_runs"] += int((config["env_id"], config["method"], int(config["seed"])) in finished)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("roots", nargs="+", help="compare_methods --out folders")
    ap.add_argument("--random-agent", nargs="*", default=[], metavar="ENV=FOLDER",
                    help="run folders of the random agent on the evaluation tasks, e.g. webshop=runs/random_ws")
    ap.add_argument("--memory", nargs="*", default=[], metavar="FOLDER",
                    help="compare_methods --out folders of the same budget with another scorer memory (--history)")
    ap.add_argument("--out", default="benchmarks/results/compare_methods.json")
    args = ap.parse_args(argv)
    random_agents = {}
    for item in args.random_agent:
        key, _, folder = item.partition("=")
        random_agents[key] = Path(folder)
    try:
        result = build([Path(r) for r in args.roots], random_agents, [Path(r) for r in args.memory])
    except (ValueError, FileNotFoundError) as err:
        print(f"compare_report: {err}", file=sys.stderr)
        return 1
    for key, counts in unfinished([Path(r) for r in args.roots]).items():
        if key not in result:
            result[key] = {"status": "not finished", **counts}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for env, rep in result.items():
        if rep.get("status") == "not finished":
            print(f"{env}: not finished ({rep['finished_runs']} of {rep['started_runs']} started runs)")
            continue
        print(f"{env}: {len(rep['seeds'])} seeds, reward {rep['reward']}, {rep['episodes_per_run']} episodes/run, "
              f"{rep['eval_tasks']} eval tasks")
        for m, v in rep["methods"].items():
            print(f"  {m:<15} success {v['success_mean']:.3f} [{v['success_ci'][0]:.3f}, {v['success_ci'][1]:.3f}] "
                  f"score {v['score_mean']:.3f}")
        for p in rep["pairs"]:
            print(f"  {p['a']} - {p['b']}: {p['success_diff']:+.3f} [{p['success_diff_ci'][0]:+.3f}, "
                  f"{p['success_diff_ci'][1]:+.3f}] {p['verdict']}")
        for m in rep.get("memory", []):
            print(f"  memory ({m['method']}, history {m['history']['with']} - {m['history']['without']}): "
                  f"{m['success_diff']:+.3f} [{m['success_diff_ci'][0]:+.3f}, {m['success_diff_ci'][1]:+.3f}] "
                  f"{m['verdict']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
