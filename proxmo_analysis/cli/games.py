"""``proxmo games [--split SPLIT] [--data-dir DIR] [--json]``: ALFWorld games per task type and split."""

from __future__ import annotations

import argparse
import json
import os
from statistics import mean

SPLIT_CHOICES = ("train", "eval_seen", "eval_unseen", "all")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "games",
        help="count the ALFWorld games per task type and split (shipped set or a downloaded dataset)",
        description="Count the ALFWorld games that proxmo/ALFWorld-v0 plays, per task type and split.",
    )
    p.add_argument("--split", choices=SPLIT_CHOICES, default="all", help="one split or all (default)")
    p.add_argument("--data-dir", default=None,
                   help="a downloaded ALFWorld dataset (folder holding json_2.1.1/); default: the shipped games")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=run)


def summary(split: str, data_dir: str | None) -> dict:
    """Per-split counts by task type, number of rooms and mean walkthrough length."""
    from proxmo_envs.alfworld.games import SPLITS, dataset_splits, load_games, task_type_counts

    splits = SPLITS
    if split == "all" and data_dir is not None:
        # a download often holds only some splits (e.g. the validation ones): count those it has
        splits = tuple(dataset_splits(data_dir)) if os.path.isdir(data_dir) else SPLITS
        if not splits:
            raise FileNotFoundError(f"ALFWorld data_dir {data_dir} holds none of the splits {', '.join(SPLITS)} "
                                    "(expected json_2.1.1/train, valid_seen, valid_unseen)")
    out = {}
    for s in splits if split == "all" else (split,):
        games = load_games(s, data_dir)
        lengths = [len(g.walkthrough) for g in games if g.walkthrough]
        out[s] = {
            "games": len(games),
            "by_type": task_type_counts(games),
            "rooms": len({g.room for g in games}),
            "mean_walkthrough": round(mean(lengths), 2) if lengths else None,
        }
    return out


def run(args: argparse.Namespace) -> int:
    result = summary(args.split, args.data_dir)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    splits = list(result)
    types = list(next(iter(result.values()))["by_type"])
    width = max(len(t) for t in types + ["task type"])
    header = f"{'task type':<{width}}" + "".join(f"{s:>13}" for s in splits)
    print(header)
    print("-" * len(header))
    for t in types:
        print(f"{t:<{width}}" + "".join(f"{result[s]['by_type'][t]:>13}" for s in splits))
    print("-" * len(header))
    for key, label in (("games", "total"), ("rooms", "rooms"), ("mean_walkthrough", "mean walkthrough")):
        print(f"{label:<{width}}" + "".join(f"{result[s][key]!s:>13}" for s in splits))
    return 0
