"""``proxmo compare RUN``: advantage statistics per method, exact-match singleton share, correlations."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Callable, Iterator

import numpy as np

from proxmo_analysis.credit import score
from proxmo_analysis.credit.registry import METHODS, method_names, settings_per_method

from ._args import add_credit_options, credit_from, progress_bar


def default_methods() -> list[str]:
    """The registered methods that are not ablations of another (ablations have fixed ``defaults``)."""
    return [name for name, m in METHODS.items() if not m.defaults]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare credit-assignment methods on one run",
        description="Score a run with several methods (streamed: memory flat in the run's size) and print, "
                    "per method, advantage "
                    "statistics; the share of singleton step groups under exact anchor matching; and the "
                    "correlation between the methods' advantages. Method flags apply where the method "
                    "has that parameter.")
    parser.add_argument("run", help="run folder or Parquet file")
    parser.add_argument("--methods", default=",".join(default_methods()),
                        help=f"comma-separated registered methods (default: %(default)s; also "
                             f"{','.join(m for m in method_names() if m not in default_methods())})")
    parser.add_argument("--workers", type=int, default=1, help="processes for gigpo/proxmo (1)")
    parser.add_argument("--rows-per-batch", type=int, default=100_000,
                        help="rows of whole task groups scored at once; bounds memory (100000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_credit_options(parser)
    parser.set_defaults(func=run)


def singleton_shares(df) -> dict[str, float]:
    """Share of step rows alone in their exact-match step group: over all steps of the task group
    (GiGPO's grouping) and within the same step index (the paper's PSA candidates)."""
    import polars as pl

    out = {}
    for name, keys in (("all_steps", ["group_id", "observation"]), ("same_step", ["group_id", "step", "observation"])):
        size = df.select(pl.len().over(keys).alias("n"))["n"]
        out[name] = float((size == 1).mean()) if df.height else 0.0
    return out


def compare_methods(df, methods: list[str], config: dict, workers: int = 1) -> dict:
    """Per method: advantage columns; per method pair: Pearson correlation of ``advantage``."""
    settings = settings_per_method(methods, config)
    results = {name: score(df, name, workers=workers, **settings[name]) for name in methods}
    adv = {m: r["advantage"].to_numpy().astype(np.float64) for m, r in results.items()}
    corr = {}
    for a in methods:
        for b in methods:
            x, y = adv[a], adv[b]
            corr[(a, b)] = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
    return {"scored": results, "advantage": adv, "correlation": corr}


@contextlib.contextmanager
def _progress(disable: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on stderr (the first pass, then segments compared against the plan); off with
    ``--no-progress`` and when stderr is not a terminal. Yields the callback ``compare_run`` reports to."""
    if disable or not sys.stderr.isatty():
        yield None
        return
    progress = progress_bar("compare")
    bar = progress.add_task("indexing (pass 1 of 2)", total=None)

    def report(stage: str, done: int, total: int) -> None:
        if stage == "segments":
            progress.update(bar, description="segments (pass 2 of 2)", total=total, completed=done)

    with progress:
        yield report


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from proxmo_analysis.credit.compare_stream import compare_run

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"unknown method(s) {', '.join(bad) or '(none)'}; choose from {', '.join(method_names())}")
    # streamed segment by segment (credit.compare_stream): memory stays flat in the size of the run
    with _progress(args.no_progress) as report:
        result = compare_run(args.run, methods, credit_from(args), workers=args.workers,
                             rows_per_batch=args.rows_per_batch, progress=report)
    console = Console()
    shares = result["shares"]
    console.print(f"{result['rows']} step rows, {result['groups']} task groups, "
                  f"{result['episodes']} trajectories. Singleton step groups under exact matching: "
                  f"{shares['all_steps']:.1%} (any step), {shares['same_step']:.1%} (same step).", soft_wrap=True)
    stats = Table(title="advantage per method")
    stats.add_column("method", no_wrap=True)
    for col in ("mean", "std", "min", "max", "|A|>0", "episode std", "step std"):
        stats.add_column(col, justify="right")
    for m in methods:
        s = result["stats"][m]
        stats.add_row(m, f"{s['mean']:.4f}", f"{s['std']:.4f}", f"{s['min']:.4f}", f"{s['max']:.4f}",
                      f"{s['nonzero']:.1%}", f"{s['episode_std']:.4f}", f"{s['step_std']:.4f}")
    console.print(stats)
    corr = Table(title="Pearson correlation of advantages")
    corr.add_column("", no_wrap=True)
    for m in methods:
        corr.add_column(m, justify="right")
    for a in methods:
        corr.add_row(a, *[f"{result['correlation'][(a, b)]:.3f}" for b in methods])
    console.print(corr)
    return 0
