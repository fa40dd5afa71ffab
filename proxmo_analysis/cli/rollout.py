"""``proxmo rollout``: N episodes per task of an env with a policy, written as one run folder.

    proxmo rollout --env proxmo/WebShop-v0 --tasks 32 --group-size 8 --policy random --out runs/NAME \
        [--workers 2] [--seed 0] [--env-kwargs KEY=VALUE ...] [--resume | --force]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from typing import Any

from proxmo_analysis.errors import InputError
from proxmo_envs.trajlog.writer import DEFAULT_ROWS_PER_PART

from ._args import add_env_kwargs, add_force, env_kwargs_from, progress_bar, remove_for_force


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rollout",
        help="run N episodes per task of an env and write a Parquet run folder",
        description="Run --group-size episodes of each task with a policy and write a crash-safe run folder "
        "(part-*.parquet, manifest.json, failures.jsonl). Re-run with --resume to finish an interrupted run.",
    )
    p.add_argument("--env", required=True, help="env id, e.g. proxmo/WebShop-v0 or proxmo/ALFWorld-v0")
    p.add_argument(
        "--tasks", required=True, help="N (the first N tasks of the split) or a comma-separated list of task indices or ids"
    )
    p.add_argument("--group-size", type=int, default=8, help="episodes per task, sharing one group_id (default 8)")
    p.add_argument(
        "--policy",
        default="random",
        help="random | oracle | walkthrough, or module:attr importable from the working directory or the "
        "Python path (a class is instantiated with no arguments)",
    )
    p.add_argument("--out", required=True, help="run folder to create (or to complete with --resume)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, or Ray actors (default 1)")
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="local processes or Ray actors")
    p.add_argument("--address", default=None, help="with --backend ray: cluster to join (default: local Ray)")
    p.add_argument("--seed", type=int, default=0, help="run seed; per-episode seeds derive from it (default 0)")
    p.add_argument("--iteration", type=int, default=0, help="training iteration written in the log (default 0)")
    add_env_kwargs(p)
    p.add_argument("--resume", action="store_true", help="run only the episodes the run folder lacks")
    add_force(p, "run folder (manifest.json, part-*.parquet)")
    p.add_argument("--rows-per-part", type=int, default=DEFAULT_ROWS_PER_PART, help="rows per Parquet part")
    p.add_argument("--max-steps", type=int, default=None, help="extra step cap over the env's own")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_tasks(text: str) -> int | list[int] | list[str]:
    """``"32"`` -> 32; ``"0,4,7"`` -> [0, 4, 7]; anything else -> list of task ids."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"--tasks {text!r}: give N or a comma-separated list of task indices or ids")
    if all(t.isdigit() for t in items):
        return [int(t) for t in items]
    return items


def load_policy(spec: str) -> Any:
    """A built-in policy name as is, or ``module:attr`` imported (classes instantiated)."""
    if ":" not in spec:
        from proxmo_envs.rollout.policies import POLICY_NAMES

        if spec not in POLICY_NAMES:
            raise ValueError(f"--policy {spec!r}: built-ins are {', '.join(POLICY_NAMES)}, or give module:attr")
        return spec
    module_name, _, attr = spec.partition(":")
    # The console script's sys.path starts at its own bin/ folder, not the working directory: add it, as
    # ``python -m`` does, so a policy file next to the user's data imports (spawned workers inherit sys.path).
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"--policy {spec!r}: cannot import ({err})") from None
    return obj() if inspect.isclass(obj) else obj


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from proxmo_envs.rollout import rollout

    env_kwargs = env_kwargs_from(args)
    policy = load_policy(args.policy)
    if args.force:
        if args.resume:
            raise InputError("--force starts the run again and --resume completes it: give one of them")
        remove_for_force(args.out, ("manifest.json", "part-*.parquet"), "run folder")

    progress = progress_bar("rollout", disable=args.no_progress, remaining=True)
    with progress:
        bar = progress.add_task(args.env, total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        summary = rollout(
            env_id=args.env,
            env_kwargs=env_kwargs,
            policy=policy,
            tasks=parse_tasks(args.tasks),
            group_size=args.group_size,
            out=args.out,
            workers=args.workers,
            seed=args.seed,
            iteration=args.iteration,
            resume=args.resume,
            rows_per_part=args.rows_per_part,
            max_steps=args.max_steps,
            progress=on_progress,
            backend=args.backend,
            address=args.address,
        )
    table = Table(show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("env", args.env)
    for label, value in summary.rows():
        table.add_row(label, value)
    Console(file=sys.stdout).print(table)
    return 0


__all__ = ["register", "run", "parse_tasks", "load_policy"]
