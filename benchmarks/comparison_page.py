"""``docs/comparison.md`` and ``docs/comparison.png``, generated from ``benchmarks/results/compare_methods.json``.

Every number, table, verdict line and the figure of the page come from the JSON; the page is never edited by
hand (``tests/test_comparison_page.py`` regenerates it and checks it is identical).

    python benchmarks/comparison_page.py            # rewrite docs/comparison.md and docs/comparison.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "compare_methods.json"
PAGE = ROOT / "docs" / "comparison.md"
FIGURE = ROOT / "docs" / "comparison.png"
LABELS = {"grpo": "GRPO", "gigpo_wo_std": "GiGPO (w/o std)", "proxmo": "ProxMO", "proxmo_wo_psc": "ProxMO w/o PSC",
          "proxmo_wo_psa": "ProxMO w/o PSA"}
ENV_NAMES = {"webshop": "WebShop", "alfworld": "ALFWorld"}
#: the issue's bar for a deciding table
BAR = {"webshop": {"seeds": 10, "episodes": 0}, "alfworld": {"seeds": 3, "episodes": 4800}}
CLAIMS = {
    ("proxmo", "grpo"): "ProxMO trains better agents than GRPO",
    ("proxmo", "gigpo_wo_std"): "ProxMO trains better agents than GiGPO (w/o std)",
    ("gigpo_wo_std", "grpo"): "GiGPO (w/o std) trains better agents than GRPO",
    ("proxmo", "proxmo_wo_psc"): "PSC helps (ProxMO vs ProxMO w/o PSC)",
    ("proxmo", "proxmo_wo_psa"): "PSA helps (ProxMO vs ProxMO w/o PSA)",
}


def _ci(v: list[float], signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"[{f.format(v[0])}, {f.format(v[1])}]"


def _reward_text(reward: str) -> str:
    if reward == "won":
        return "`won` (the paper's: return 10 × won on the last step, for every method)"
    return ("`env` (every method's return is the environment's continuous score; ProxMO's PSC still uses `won` "
            "as its success indicator)")


def shortfall(key: str, rep: dict) -> list[str]:
    """What a finished table lacks against the issue's bar (seeds, training episodes per run)."""
    bar = BAR.get(key, {"seeds": 0, "episodes": 0})
    short = []
    if len(rep["seeds"]) < bar["seeds"]:
        short.append(f"{len(rep['seeds'])} seed{'s' * (len(rep['seeds']) != 1)} (bar: {bar['seeds']})")
    if rep["episodes_per_run"] < bar["episodes"]:
        short.append(f"{rep['episodes_per_run']:,} training episodes per run (bar: {bar['episodes']:,})")
    return short


def env_section(key: str, rep: dict) -> list[str]:
    name = ENV_NAMES.get(key, key)
    lines = [f"## {name}", ""]
    if rep.get("status") == "not finished":
        return lines + [f"**No table: the comparison did not finish in this session** (shared starts finished: "
                        f"{rep['finished_starts']} of {rep['started_starts']}; method runs finished: "
                        f"{rep['finished_runs']} of {rep['started_runs']}; a pair needs every method on the same "
                        "seeds). Nothing is claimed for this environment. Budget attempted (per run): "
                        f"`{json.dumps(rep.get('budget_attempted', {}), sort_keys=True)}`.", ""]
    b = rep["budget"]
    short = shortfall(key, rep)
    lines += [
        f"Budget that ran: seeds {', '.join(map(str, rep['seeds']))}; reward {_reward_text(rep['reward'])}; "
        f"{b['iterations']} iterations × {b['tasks']} tasks × group {b['group_size']} = "
        f"**{rep['episodes_per_run']:,} training episodes per run**; greedy evaluation on {rep['eval_tasks']} held-out "
        f"tasks; step cap {b['max_steps'] if b['max_steps'] is not None else 'the env default'}; scorer policy "
        f"`{json.dumps(b['policy_config'], sort_keys=True)}`; PPO lr {b['ppo']['lr']}, KL {b['ppo'].get('kl_estimator', 'k3')}, "
        # runs from before PPOConfig.loss_agg existed weighed every row the same
        f"loss averaged per {b['ppo'].get('loss_agg', 'row')}"
        + (f"; warm start: behaviour cloning on {b['warm_start_games']} train walkthroughs + "
           f"{b.get('warm_start_recovery') or 0} round(s) of recovery states" if b.get("warm_start_games") else "")
        + ".",
        "",
    ]
    if short:
        lines += [f"**Below the issue's bar for a deciding table:** {'; '.join(short)}. The verdicts below are what "
                  "this budget shows, not what the bar would.", ""]
    st = rep["start"]
    sp = st["start_policy"]
    lines += ["Start (shared by every method of a seed):", ""]
    if st.get("random_agent"):
        ra = st["random_agent"]
        lines.append(f"* random agent: success {ra['success']:.3f}, score {ra['score']:.3f} ({ra['episodes']} episodes)")
    lines += [f"* {sp['label']}: success {sp['success_mean']:.3f}, score {sp['score_mean']:.3f} (mean over seeds)", ""]
    lines += ["| method | held-out success [95 % CI] | held-out score [95 % CI] | per seed success |",
              "|---|---|---|---|"]
    for m, v in rep["methods"].items():
        per = " ".join(f"{x:.2f}" for x in v["per_seed_success"])
        lines.append(f"| {LABELS.get(m, m)} | {v['success_mean']:.3f} {_ci(v['success_ci'])} | "
                     f"{v['score_mean']:.3f} {_ci(v['score_ci'])} | {per} |")
    lines += ["", "| pair a − b | success difference [95 % CI] | verdict | score difference [95 % CI] | verdict |",
              "|---|---|---|---|---|"]
    for p in rep["pairs"]:
        lines.append(f"| {LABELS.get(p['a'], p['a'])} − {LABELS.get(p['b'], p['b'])} | {p['success_diff']:+.3f} "
                     f"{_ci(p['success_diff_ci'], True)} | {p['verdict']} | {p['score_diff']:+.3f} "
                     f"{_ci(p['score_diff_ci'], True)} | {p['score_verdict']} |")
    lines += ["", "Verdicts (held-out success):", ""]
    for p in rep["pairs"]:
        claim = CLAIMS.get((p["a"], p["b"]), f"{p['a']} > {p['b']}")
        lines.append(f"* {claim}: **{p['verdict']}** ({p['success_diff']:+.3f}, CI {_ci(p['success_diff_ci'], True)}).")
    lines.append("")
    if rep.get("curves"):
        lines += learning_lines(rep)
    for m in rep.get("memory", []):
        lines += memory_lines(m)
    if "group_sizes" in rep:
        lines += ["Exact-match step groups (GiGPO's anchor states: equal observation within a task group), % of groups by "
                  "size, and % of rows in a singleton group (their GiGPO step advantage is 0), early / mid / late in "
                  "training over all runs, beside the paper's appendix (iterations 40 / 80 / 120):", "",
                  "| iteration | size 1 | size 2 | size 3 | size > 3 | groups | rows in singletons |", "|---|---|---|---|---|---|---|"]
        its = sorted(rep["group_sizes"], key=int)
        picks = sorted({its[0], its[len(its) // 2], its[-1]}, key=int) if its else []
        for it in picks:
            g = rep["group_sizes"][it]
            lines.append(f"| {it} (ours) | {g['1']:.1f} % | {g['2']:.1f} % | {g['3']:.1f} % | {g['>3']:.1f} % | "
                         f"{g['groups']:,} | {g['singleton_rows']:.1f} % |")
        for it, g in rep["group_sizes_paper"].items():
            lines.append(f"| {it} (paper) | {g['1']:.1f} % | {g['2']:.1f} % | {g['3']:.1f} % | {g['>3']:.1f} % | — | — |")
        lines.append("")
    return lines


def learning_lines(rep: dict) -> list[str]:
    """Held-out success at every evaluation and mean training success early and late, per method."""
    curves = rep["curves"]
    its = sorted({it for c in curves.values() for it in c["eval"]}, key=int)
    n = min(len(c["train"]) for c in curves.values())
    k = max(1, min(10, n // 3))
    lines = [f"Learning (means over seeds): held-out success at each evaluation (iteration 0 is the shared start), "
             f"and training success (the sampled policy on its training tasks) over the first and the last {k} "
             "iterations:", "",
             "| method | " + " | ".join(f"held-out @ {it}" for it in its) + f" | training, first {k} | training, last {k} |",
             "|---|" + "---|" * (len(its) + 2)]
    for m, c in curves.items():
        ev = " | ".join(f"{c['eval'][it]:.3f}" if it in c["eval"] else "—" for it in its)
        first, last = sum(c["train"][:k]) / k, sum(c["train"][n - k:n]) / k
        lines.append(f"| {LABELS.get(m, m)} | {ev} | {first:.3f} | {last:.3f} |")
    return lines + [""]


def memory_lines(m: dict) -> list[str]:
    """The scorer's memory, paired on the same seeds, tasks and evaluation set."""
    name = LABELS.get(m["method"], m["method"])
    w, wo = m["with"], m["without"]
    return [f"Memory: {name} with the scorer's window of the last {m['history']['with']} steps against the "
            f"memoryless scorer (history {m['history']['without']}), each from its own warm start by the same recipe "
            f"(held-out success before RL: {m['start_with']['success_mean']:.3f} with memory, "
            f"{m['start_without']['success_mean']:.3f} without), same seeds ({', '.join(map(str, m['seeds']))}), "
            "training tasks and evaluation set:", "",
            "| policy | held-out success [95 % CI] | per seed |", "|---|---|---|",
            f"| history {m['history']['with']} | {w['success_mean']:.3f} {_ci(w['success_ci'])} | "
            f"{' '.join(f'{x:.2f}' for x in w['per_seed_success'])} |",
            f"| history {m['history']['without']} | {wo['success_mean']:.3f} {_ci(wo['success_ci'])} | "
            f"{' '.join(f'{x:.2f}' for x in wo['per_seed_success'])} |", "",
            f"* The memory helps {name}: **{m['verdict']}** (paired difference {m['success_diff']:+.3f}, CI "
            f"{_ci(m['success_diff_ci'], True)}).",
            f"* RL gains more over its start with the memory: **{m['gain_verdict']}** (gain {m['gain_with']:+.3f} with, "
            f"{m['gain_without']:+.3f} without; paired difference {m['gain_diff']:+.3f}, CI "
            f"{_ci(m['gain_diff_ci'], True)}).", ""]


def reproduce_lines(results: dict) -> list[str]:
    """The commands that rebuild the committed tables, with the budgets that ran (from the JSON)."""
    cmds = []
    for key in ("webshop", "alfworld"):
        rep = results.get(key)
        if not rep or rep.get("status") == "not finished":
            continue
        b = rep["budget"]
        seeds = " ".join(map(str, rep["seeds"]))
        cmd = (f"python benchmarks/compare_methods.py --envs {key} --seeds {seeds} --reward {rep['reward']} "
               f"--iterations {b['iterations']} --tasks {b['tasks']} --group-size {b['group_size']} --out runs/{key}")
        cmds.append(cmd)
        if rep.get("memory"):
            hist = rep["memory"][0]["history"]["without"]
            methods = " ".join(m["method"] for m in rep["memory"])
            cmds.append(f"python benchmarks/compare_methods.py --envs {key} --methods {methods} --seeds {seeds} "
                        f"--reward {rep['reward']} --iterations {b['iterations']} --tasks {b['tasks']} "
                        f"--group-size {b['group_size']} --history {hist} --out runs/{key}_memoryless")
    roots = " ".join(f"runs/{k}" for k in ("webshop", "alfworld") if k in results)
    memory = " ".join(f"runs/{k}_memoryless" for k in ("webshop", "alfworld") if results.get(k, {}).get("memory"))
    cmds.append(f"python benchmarks/compare_report.py {roots} --random-agent webshop=runs/random_ws "
                f"alfworld=runs/random_alf" + (f" --memory {memory}" if memory else ""))
    cmds.append("python benchmarks/comparison_page.py")
    return ["Reproduce (hours on 2 cores; finished runs resume; the other settings are the script's defaults, "
            "printed by `--help`):", "", "```console", *cmds, "```", ""]


def readme_summary(results: dict) -> str:
    """The README's "Method comparison" verdict sentence(s), from the JSON (tests/test_docs.py checks the README
    holds exactly this text)."""
    parts = []
    for key in ("webshop", "alfworld"):
        rep = results.get(key)
        name = ENV_NAMES.get(key, key)
        if rep is None:
            continue
        if rep.get("status") == "not finished":
            parts.append(f"The {name} comparison did not finish in this session.")
            continue
        head = (f"On {name} ({len(rep['seeds'])} seed{'s' * (len(rep['seeds']) != 1)}, {rep['episodes_per_run']:,} training episodes per run, "
                f"reward `{rep['reward']}`)")
        decided = [p for p in rep["pairs"] if p["verdict"] != "undecided"]
        if not decided:
            parts.append(f"{head} every paired difference is undecided.")
        else:
            said = "; ".join(f"{LABELS.get(p['a'], p['a'])} − {LABELS.get(p['b'], p['b'])} {p['verdict']} "
                             f"({p['success_diff']:+.3f}, CI {_ci(p['success_diff_ci'], True)})" for p in decided)
            parts.append(f"{head}: {said}; every other pair is undecided.")
        short = shortfall(key, rep)
        if short:
            parts.append(f"That is below the issue's bar for {name} ({'; '.join(short)}).")
        for m in rep.get("memory", []):
            parts.append(f"The scorer's memory ({LABELS.get(m['method'], m['method'])}, history "
                         f"{m['history']['with']} vs {m['history']['without']}, seed"
                         f"{'s' * (len(m['seeds']) != 1)} {', '.join(map(str, m['seeds']))}): {m['verdict']} "
                         f"({m['success_diff']:+.3f}, CI {_ci(m['success_diff_ci'], True)}).")
    return " ".join(parts)


def render(results: dict) -> str:
    lines = [
        "# Does ProxMO train better agents? A paired comparison",
        "",
        "<!-- generated by benchmarks/comparison_page.py from benchmarks/results/compare_methods.json; do not edit -->",
        "",
        "GRPO, GiGPO (w/o std), ProxMO and its two ablations, trained by `benchmarks/compare_methods.py` under one "
        "budget. All methods of a seed share the seed, the starting policy, the training tasks of every iteration "
        "and the evaluation set, so their held-out outcomes are **paired** task by task; only the advantages "
        "differ. Every method gets the same reward column (`--reward`), and a comparison refuses runs that differ "
        "in reward or budget. For each pair the mean paired difference a − b in held-out success and score comes "
        "with a 95 % CI from a two-stage bootstrap (seeds with replacement, then evaluation tasks within each "
        "seed; `proxmo_analysis.paired`): **supported** when the CI lies above 0, **contradicted** below 0, "
        "**undecided** otherwise. The policy is the small scorer with a memory of the last 2 steps (verl-agent's "
        "`history_length`), not an LLM, so absolute numbers are not comparable with the paper's. The training loop "
        "passes the learning sanity checks of [training.md](training.md#does-the-loop-learn-the-sanity-checks) (RL "
        "alone overfits 16 WebShop goals from scratch and 8 ALFWorld games from a warm start); a table whose budget "
        "says \"loss averaged per row\" ran before the loss-aggregation fix found there.",
        "",
    ]
    for key in ("webshop", "alfworld"):
        if key in results:
            lines += env_section(key, results[key])
    lines += [
        "![held-out success per method with 95 % CIs, paired differences, and learning curves](comparison.png)",
        "",
    ]
    lines += reproduce_lines(results)
    lines += [
        "The exact budget of each table is the one printed above and stored under `budget` in the JSON.",
        "",
    ]
    return "\n".join(lines)


def figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    envs = [k for k in ("webshop", "alfworld") if k in results and results[k].get("status") != "not finished"]
    rows = 3 if any(results[k].get("curves") for k in envs) else 2
    fig, axes = plt.subplots(rows, len(envs), figsize=(6.5 * len(envs), 4 * rows), squeeze=False)
    for j, key in enumerate(envs):
        rep = results[key]
        ax = axes[0][j]
        names = list(rep["methods"])
        means = [rep["methods"][m]["success_mean"] for m in names]
        err = np.array([[m_ - rep["methods"][m]["success_ci"][0], rep["methods"][m]["success_ci"][1] - m_]
                        for m, m_ in zip(names, means)]).T
        x = np.arange(len(names))
        ax.bar(x, means, yerr=err, capsize=4, color="#7fa7d9")
        sp = rep["start"]["start_policy"]
        ax.axhline(sp["success_mean"], color="grey", ls="--", label=sp["label"])
        if rep["start"].get("random_agent"):
            ax.axhline(rep["start"]["random_agent"]["success"], color="black", ls=":", label="random agent")
        ax.set_xticks(x, [LABELS.get(m, m) for m in names], rotation=20)
        ax.set_ylabel("held-out success (95 % CI)")
        ax.set_title(f"{ENV_NAMES.get(key, key)}: {len(rep['seeds'])} seeds, {rep['episodes_per_run']:,} episodes/run")
        ax.legend()
        ax = axes[1][j]
        pairs = rep["pairs"]
        y = np.arange(len(pairs))
        d = [p["success_diff"] for p in pairs]
        e = np.array([[p["success_diff"] - p["success_diff_ci"][0], p["success_diff_ci"][1] - p["success_diff"]]
                      for p in pairs]).T
        ax.errorbar(d, y, xerr=e, fmt="o", capsize=4)
        ax.axvline(0.0, color="grey")
        ax.set_yticks(y, [f"{LABELS.get(p['a'], p['a'])} − {LABELS.get(p['b'], p['b'])}: {p['verdict']}" for p in pairs])
        ax.set_xlabel("paired difference in held-out success (95 % CI)")
        if rows == 3 and rep.get("curves"):
            ax = axes[2][j]
            for m, c in rep["curves"].items():
                t = np.asarray(c["train"])
                w = min(5, len(t))
                smooth = np.convolve(t, np.ones(w) / w, mode="valid") if w else t
                ax.plot(np.arange(w, len(t) + 1), smooth, label=LABELS.get(m, m))
                ev = sorted(c["eval"].items(), key=lambda kv: int(kv[0]))
                ax.plot([int(i) for i, _ in ev], [v for _, v in ev], "o--", color=ax.lines[-1].get_color(), ms=4)
            ax.set_xlabel("iteration")
            ax.set_ylabel(f"success: training (mean of {w} iterations), held-out (o)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--page", default=str(PAGE))
    ap.add_argument("--figure", default=str(FIGURE))
    args = ap.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    Path(args.page).write_text(render(results))
    figure(results, Path(args.figure))
    print(f"wrote {args.page} and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
