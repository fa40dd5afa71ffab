"""Regenerate the figures embedded in the README (``docs/*.png``) from a fresh, small ALFWorld rollout.

    .venv/bin/python scripts/make_docs_figures.py [--out docs] [--tasks 3 --group-size 6 --seed 0]

``docs/psc_psa.png``: ProxMO's PSC weight curve beside one task group's PSA weights and GiGPO's
exact-match groups. ``docs/advantages.png``: advantages along one won trajectory under each method.
``docs/learning_curves.png``: held-out success of the runs of ``benchmarks/compare_methods.py`` (read from
``--compare-dir``, default ``runs/compare_methods``; skipped when it holds no runs).
The rollout uses a noisy expert (the game's walkthrough, with a random admissible action at each step
with probability ``--eps``), the same policy as ``notebooks/02_credit_assignment.ipynb``. About a minute
on 2 cores; deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
METHODS = ("grpo", "rloo", "gigpo", "proxmo")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder for the PNGs (default: docs/)")
    parser.add_argument("--tasks", type=int, default=3, help="ALFWorld games (default 3)")
    parser.add_argument("--group-size", type=int, default=6, help="trajectories per game (default 6)")
    parser.add_argument("--max-steps", type=int, default=15, help="step cap per episode (default 15)")
    parser.add_argument("--eps", type=float, default=0.4, help="noisy expert's random-action rate (default 0.4)")
    parser.add_argument("--seed", type=int, default=0, help="rollout seed (default 0)")
    parser.add_argument("--compare-dir", default=str(REPO / "runs" / "compare_methods"),
                        help="benchmarks/compare_methods.py output folder (default: runs/compare_methods)")
    parser.add_argument("--dpi", type=int, default=90)
    args = parser.parse_args(argv)

    from proxmo_analysis import plots, read_log, score
    from proxmo_analysis.credit import ProxMOConfig
    from proxmo_envs.rollout import NoisyWalkthroughPolicy, rollout

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        rollout("proxmo/ALFWorld-v0", {"max_steps": args.max_steps}, NoisyWalkthroughPolicy(args.eps), args.tasks,
                args.group_size, run, seed=args.seed)
        df = read_log(run)
    episodes = df.group_by("group_id", "episode_id").agg(pl.col("won").first(), pl.len().alias("steps"))
    groups = episodes.group_by("group_id").agg(pl.col("won").mean().alias("p"), pl.col("steps").sum().alias("rows"))
    # the largest group with mixed outcomes shows both levels at work
    mixed = groups.filter((pl.col("p") > 0) & (pl.col("p") < 1))
    gid = (mixed if mixed.height else groups).sort(["rows", "group_id"], descending=[True, False])["group_id"][0]

    cfg = ProxMOConfig()
    m = plots.psa_group_matrices(df, gid)
    fig = plots.psc_psa_figure(m, alpha=cfg.alpha, beta=cfg.beta)
    fig.savefig(out / "psc_psa.png", dpi=args.dpi)

    scored = {name: score(df, name) for name in METHODS}
    wins = df.filter((pl.col("group_id") == gid) & pl.col("won"))
    episode = (wins if wins.height else df.filter(pl.col("group_id") == gid))["episode_id"][0]
    plots.advantage_trajectory_figure(scored, episode).savefig(out / "advantages.png", dpi=args.dpi)
    print(f"wrote {out / 'psc_psa.png'} and {out / 'advantages.png'} (group {gid}, {m.weights.shape[0]} rows)")

    if plots.find_training_runs(args.compare_dir):
        metrics = plots.read_training_runs(args.compare_dir)
        envs = metrics["env_id"].unique().sort().to_list()
        for env_id in envs:
            part = metrics.filter(pl.col("env_id") == env_id)
            fig = plots.learning_curve_figure(part, ("eval_success", "train_success"),
                                              title=f"{env_id}: learning curves (benchmarks/compare_methods.py)")
            name = "learning_curves.png" if len(envs) == 1 else f"learning_curves_{env_id.split('/')[-1].lower()}.png"
            fig.savefig(out / name, dpi=args.dpi)
            print(f"wrote {out / name}")
    else:
        print(f"no training runs under {args.compare_dir}: learning curves skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
