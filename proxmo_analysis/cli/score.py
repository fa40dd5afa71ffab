"""``proxmo score RUN --method proxmo [--variant reference] [--out OUT]``: write a scored copy of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from proxmo_analysis.credit.registry import method_names

from ._args import add_credit_options, add_force, credit_from

# The credit settings' grammar (``--set KEY=VALUE`` and the named flags) lives in ``cli._args``.
add_method_options = add_credit_options
config_from_args = credit_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="credit-assign a run's step rows and write a scored copy",
        description="Add return_to_go, adv_episode, adv_step and advantage to every step row of a run "
                    "folder (or Parquet file), streaming whole task groups; the method and its parameters "
                    "go into each part's 'proxmo.credit' metadata.")
    parser.add_argument("run", help="run folder (part-*.parquet + manifest.json) or one Parquet file")
    parser.add_argument("--method", default="proxmo", choices=method_names(),
                        help="credit method, a registered name (default: %(default)s)")
    parser.add_argument("--out", default=None, help="output folder (default: RUN-scored-METHOD beside RUN)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes over batches of task groups (default 1; 2 uses both cores: "
                             "see docs/scale.md for when it pays)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="local processes, or Ray Data over a Ray cluster (needs the ray extra)")
    parser.add_argument("--address", default=None, help="with --backend ray: cluster to join (default: local Ray)")
    parser.add_argument("--rows-per-batch", type=int, default=100_000,
                        help="rows of whole task groups per output part; bounds memory (100000)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted scoring into the same --out (same settings; written parts kept)")
    add_force(parser, "scored copy (scoring.json, part-*.parquet; other files in --out are kept)")
    add_credit_options(parser)
    parser.set_defaults(func=run)


def _locations(run: str, out: str | None, method: str) -> tuple[str | Path, str | Path]:
    """The run to read and the folder to write: local paths as ``Path``; URIs (``s3://…``, ``file://…``)
    passed through as given, since the readers and writers resolve them on their pyarrow filesystem."""
    if "://" in run:
        return run, out if out else f"{run.rstrip('/')}-scored-{method}"
    src = Path(run)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such run folder or Parquet file")
    base = src if src.is_dir() else src.with_suffix("")
    return src, Path(out) if out else base.with_name(f"{base.name}-scored-{method}")


def run(args: argparse.Namespace) -> int:
    from proxmo_analysis.credit.stream import score_run

    src, out = _locations(args.run, args.out, args.method)
    if args.backend == "ray":
        from proxmo_analysis.credit.stream import score_run_ray

        summary = score_run_ray(src, out, args.method, address=args.address, num_cpus=args.workers,
                                rows_per_batch=args.rows_per_batch, resume=args.resume, force=args.force,
                                **credit_from(args))
    else:
        summary = score_run(src, out, args.method, workers=args.workers, rows_per_batch=args.rows_per_batch,
                            resume=args.resume, force=args.force, **credit_from(args))
    print(f"scored {summary['rows']} rows in {summary['groups']} task groups with {args.method} "
          f"-> {summary['out']} ({summary['parts']} parts)")
    return 0
