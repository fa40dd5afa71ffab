"""``proxmo show RUN [--group G] [--methods grpo,gigpo,proxmo] --out page.html``: look at one group's credit."""

from __future__ import annotations

import argparse

from ._args import add_credit_options, credit_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "show", help="write an offline HTML page showing a task group's trajectories and credit",
        description="Write one self-contained HTML page (no network needed): a task group's trajectories as "
                    "columns, steps as rows, each step's action, reward, observation and per-method advantage; "
                    "clicking a step shows its PSA neighbours with their weights and its GiGPO exact-match group.")
    parser.add_argument("run", help="run folder or Parquet file")
    parser.add_argument("--group", action="append", default=None,
                        help="task group to show first (repeatable; default: every group, up to --max-groups)")
    parser.add_argument("--methods", default="grpo,gigpo,proxmo", help="comma-separated credit methods (grpo,gigpo,proxmo)")
    parser.add_argument("--max-groups", type=int, default=200, help="groups embedded when --group is not given (200)")
    parser.add_argument("--out", required=True, help="HTML file to write")
    add_credit_options(parser)  # the same method settings as `proxmo compare`, given to the methods that have them
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proxmo_analysis.show import write_page

    if args.max_groups < 1:
        raise ValueError(f"--max-groups must be >= 1, got {args.max_groups}")
    summary = write_page(args.run, args.out, groups=args.group, methods=args.methods.split(","),
                         max_groups=args.max_groups, config=credit_from(args))
    print(f"wrote {summary['out']} ({summary['groups']} task groups, {summary['bytes'] / 1024:.0f} KiB)")
    return 0
