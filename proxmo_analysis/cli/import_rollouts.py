"""``proxmo import FORMAT SRC --out RUN``: turn another framework's rollout file into a run folder.

(The module cannot be called ``import.py``: ``import`` is a Python keyword; its ``register`` names the
subcommand.)
"""

from __future__ import annotations

import argparse

from ._args import add_force


def register(subparsers: argparse._SubParsersAction) -> None:
    from proxmo_analysis.io import IMPORTERS

    formats = "; ".join(f"{name}: {imp.description}" for name, imp in sorted(IMPORTERS.items()))
    parser = subparsers.add_parser(
        "import", help="convert rollouts of another framework into a run folder",
        description="Read rollouts written by another framework and write a run folder of the trajectory-log "
                    "schema (validated, all or nothing: a malformed line writes nothing). Formats: " + formats)
    parser.add_argument("format", choices=sorted(IMPORTERS), help="source format")
    parser.add_argument("src", help="source file (verl-agent: a dump file or its folder)")
    parser.add_argument("--out", required=True, help="run folder to create (must not exist or be empty)")
    parser.add_argument("--observation-field", default=None,
                        help="source field holding the bare environment observation (format default: "
                             "verifiers content, nemo-gym output/content, verl-agent anchor_obs, jsonl observation)")
    parser.add_argument("--env-id", default=None, help="env_id written to the rows (default: the format name)")
    # --force of the shared grammar; the old run folder is swapped out only once the new one is complete
    add_force(parser, "run folder (manifest.json, part-*.parquet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proxmo_analysis.io import import_rollouts

    summary = import_rollouts(args.format, args.src, args.out, observation_field=args.observation_field,
                              env_id=args.env_id, replace=args.force)
    print(f"imported {summary['episodes']} episodes ({summary['rows']} steps, {summary['groups']} task groups) "
          f"from {args.src} -> {summary['out']}")
    return 0
