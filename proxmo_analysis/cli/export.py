"""``proxmo export FORMAT RUN --out DEST``: write a run folder where other tools read rollouts."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from proxmo_analysis.io import EXPORTERS

    parser = subparsers.add_parser(
        "export", help="export a run folder (generic JSONL, Hugging Face datasets, Minari)",
        description="Export the step rows of a run folder. jsonl: one step a line with the log's column names "
                    "(read back by `proxmo import jsonl`).")
    parser.add_argument("format", choices=sorted(EXPORTERS), help="destination format")
    parser.add_argument("run", help="run folder or Parquet file")
    parser.add_argument("--out", required=True, help="destination (file for jsonl, folder otherwise); must not exist")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proxmo_analysis.io import export_run

    summary = export_run(args.format, args.run, args.out)
    print(f"exported {summary['rows']} steps ({summary['episodes']} episodes) of {args.run} -> {summary['out']}")
    return 0
