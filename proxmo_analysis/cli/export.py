"""``proxmo export FORMAT RUN --out DEST``: write a run folder where other tools read rollouts."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from proxmo_analysis.io import EXPORTERS

    parser = subparsers.add_parser(
        "export", help="export a run folder (generic JSONL, Hugging Face datasets, Minari)",
        description="Export the step rows of a run folder. jsonl: one step a line with the log's column names; "
                    "hf: a Hugging Face DatasetDict saved to disk (datasets.load_from_disk) with a dataset card; "
                    "minari: a Minari dataset proxmo/<run>-v0 under the Minari root --out (MINARI_DATASETS_PATH). "
                    "Each is read back by `proxmo import FORMAT` with identical rows. hf and minari need the "
                    "io extra (pip install 'proxmo[io]').")
    parser.add_argument("format", choices=sorted(EXPORTERS), help="destination format")
    parser.add_argument("run", help="run folder or Parquet file")
    parser.add_argument("--out", required=True,
                        help="destination (file for jsonl, folder otherwise); must not exist unless --force")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier export of this format at --out (swapped once the new one is "
                             "complete; anything else there is refused)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proxmo_analysis.io import export_run

    summary = export_run(args.format, args.run, args.out, replace=args.force)
    print(f"exported {summary['rows']} steps ({summary['episodes']} episodes) of {args.run} -> {summary['out']}")
    return 0
