"""``proxmo score RUN --method proxmo [--variant reference] [--out OUT]``: write a scored copy of a run."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from pathlib import Path
from typing import Iterator

from proxmo_analysis.credit.registry import method_names

from ._args import add_credit_options, add_force, credit_from, progress_bar

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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
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


@contextlib.contextmanager
def _progress(out: str | Path, disable: bool) -> Iterator[None]:
    """A progress bar on stderr while scoring into a local ``out``: "indexing" during the first pass, then
    the scored parts written against the planned count that ``scoring.json`` records. It watches the folder
    (so it follows worker processes and Ray tasks alike); off with ``--no-progress``, when stderr is not a
    terminal, and for object-store outputs."""
    if disable or "://" in str(out) or not sys.stderr.isatty():
        yield
        return
    from proxmo_envs.trajlog.commit import COMPLETE, SCORING_NAME
    from proxmo_envs.trajlog.schema import PART_GLOB

    folder = Path(out)
    stop = threading.Event()
    progress = progress_bar("score")
    bar = progress.add_task("indexing (pass 1 of 2)", total=None)

    def refresh(final: bool = False) -> None:
        try:  # written atomically: "in progress" with the planned part count once the first pass is done
            marker = json.loads((folder / SCORING_NAME).read_text())
        except (OSError, ValueError):
            return
        if not isinstance(marker, dict) or not isinstance(marker.get("parts"), int):
            return
        if marker.get("state") == COMPLETE and not final:  # an earlier scoring that --force will replace
            return
        progress.update(bar, description="scored parts" if final else "scoring parts (pass 2 of 2)",
                        total=marker["parts"], completed=sum(1 for _ in folder.glob(PART_GLOB)))

    def watch() -> None:
        while not stop.wait(0.5):
            refresh()

    with progress:
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield
            refresh(final=True)  # the finished count, before the bar's last render
        finally:
            stop.set()
            thread.join()


def run(args: argparse.Namespace) -> int:
    src, out = _locations(args.run, args.out, args.method)
    with _progress(out, args.no_progress):
        summary = _score(args, src, out)
    print(f"scored {summary['rows']} rows in {summary['groups']} task groups with {args.method} "
          f"-> {summary['out']} ({summary['parts']} parts)")
    return 0


def _score(args: argparse.Namespace, src: str | Path, out: str | Path) -> dict:
    from proxmo_analysis.credit.stream import score_run

    if args.backend == "ray":
        from proxmo_analysis.credit.stream import score_run_ray

        return score_run_ray(src, out, args.method, address=args.address, num_cpus=args.workers,
                             rows_per_batch=args.rows_per_batch, resume=args.resume, force=args.force,
                             **credit_from(args))
    return score_run(src, out, args.method, workers=args.workers, rows_per_batch=args.rows_per_batch,
                     resume=args.resume, force=args.force, **credit_from(args))
