"""``proxmo plot KIND ... --out FILE``: the figures of ``proxmo_analysis.plots`` from the command line.

Kinds: ``psc`` (PSC weight curve), ``psa RUN`` (one task group's similarity, PSA weights and GiGPO groups),
``advantages RUN`` (advantages along one trajectory per method), ``curves DIR...`` (learning curves of
training runs), ``bars DIR...`` (final held-out results per method).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from proxmo_analysis.credit.registry import make_config, settings_per_method

from ._args import add_credit_options, credit_from

KINDS = ("psc", "psa", "advantages", "curves", "bars")
DEFAULT_METHODS = "grpo,rloo,gigpo,proxmo"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot", help="draw a figure (PSC curve, PSA heatmap, advantages, learning curves, comparison bars) to a file",
        description="Draw one of proxmo_analysis.plots' figures and save it (format from the --out suffix).")
    p.add_argument("kind", choices=KINDS, help="which figure")
    p.add_argument("paths", nargs="*", default=[],
                   help="psa/advantages: one run folder or Parquet file; curves/bars: folders holding training runs")
    p.add_argument("--out", required=True, help="image file to write, e.g. fig.png or fig.pdf")
    p.add_argument("--group", default=None, help="psa/advantages: group_id (default: the largest mixed-outcome group)")
    p.add_argument("--episode", default=None, help="advantages: episode_id (default: a won episode of --group)")
    p.add_argument("--methods", default=DEFAULT_METHODS, help=f"advantages: methods (default {DEFAULT_METHODS})")
    p.add_argument("--group-size", type=int, default=8, help="psc: N, for the reachable rates k/N (8)")
    p.add_argument("--values", default=None,
                   help="curves/bars: comma-separated metrics.csv columns (default eval_success,train_success "
                        "for curves, eval_success,eval_score for bars)")
    p.add_argument("--dpi", type=int, default=100, help="resolution of raster output (100)")
    add_credit_options(p)  # psc: alpha, beta; psa: tau, candidates, variant, ...; advantages: per method
    p.set_defaults(func=run)


def pick_group(df) -> str:
    """The task group with the most step rows among those with both wins and losses (else among all)."""
    import polars as pl

    groups = (df.group_by("group_id", "episode_id").agg(pl.col("won").first(), pl.len().alias("steps"))
                .group_by("group_id").agg(pl.col("won").mean().alias("p"), pl.col("steps").sum().alias("rows")))
    mixed = groups.filter((pl.col("p") > 0) & (pl.col("p") < 1))
    return (mixed if mixed.height else groups).sort(["rows", "group_id"], descending=[True, False])["group_id"][0]


def _one_run(args: argparse.Namespace):
    from proxmo_analysis import read_log

    if len(args.paths) != 1:
        raise ValueError(f"plot {args.kind} needs exactly one run folder or Parquet file, got {len(args.paths)}")
    df = read_log(args.paths[0])
    if df.height == 0:
        raise ValueError(f"{args.paths[0]}: the run has no rows")
    return df


def _values(args: argparse.Namespace, default: str) -> list[str]:
    return [v.strip() for v in (args.values or default).split(",") if v.strip()]


def build_figure(args: argparse.Namespace):
    """The figure ``args`` ask for (no file written)."""
    import polars as pl

    from proxmo_analysis import plots

    credit = credit_from(args)
    if args.kind == "psc":
        _, cfg = make_config("proxmo", credit)
        return plots.psc_weight_figure(alpha=cfg.alpha, beta=cfg.beta, group_size=args.group_size)
    if args.kind in ("psa", "advantages"):
        df = _one_run(args)
        group = args.group or pick_group(df)
        if args.kind == "psa":
            make_config("proxmo", credit)  # one error naming a setting ProxMO does not have
            return plots.psa_figure(plots.psa_group_matrices(df, group, **credit))
        from proxmo_analysis import score

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        settings = settings_per_method(methods, credit)
        scored = {m: score(df, m, **settings[m]) for m in methods}
        episode = args.episode
        if episode is None:
            rows = df.filter(pl.col("group_id") == group)
            if rows.height == 0:
                raise ValueError(f"no rows with group_id {group!r}")
            wins = rows.filter(pl.col("won"))
            episode = (wins if wins.height else rows)["episode_id"][0]
        return plots.advantage_trajectory_figure(scored, episode)
    if not args.paths:
        raise ValueError(f"plot {args.kind} needs one or more folders holding training runs")
    metrics = plots.read_training_runs(*args.paths)
    if args.kind == "curves":
        return plots.learning_curve_figure(metrics, _values(args, "eval_success,train_success"))
    values = _values(args, "eval_success,eval_score")
    final = metrics.filter(pl.col(values[0]).is_not_null()).sort("iteration").group_by("run", maintain_order=True).last()
    hue = "env_id" if final["env_id"].n_unique() > 1 else None
    return plots.comparison_bar_figure(final, values, hue=hue, title="Final held-out results per method")


def run(args: argparse.Namespace) -> int:
    fig = build_figure(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    print(f"wrote {out}")
    return 0
