"""Re-scoring a run on Ray: Ray Data groups the steps by ``group_id`` and scores each task group.

``score_run_ray(run, out, method, address=None, **config)`` is ``credit.stream.score_run`` spread over a
Ray cluster, with the same numbers (the same per-group functions, ``credit.dispatch.score_rows``):

1. Statistics that span task groups are fitted first, in a distributed pass: for batch-level TF-IDF
   (``proxmo`` with ``similarity="tfidf"``, ``tfidf_scope="batch"``) the term counts of every Parquet
   row-group unit are counted by Ray tasks (``runs.count_unit``) and merged per iteration on the
   driver, exactly as ``runs.fit_run_stats`` does on a process pool. The fitted statistics go to the
   object store once.
2. ``ray.data.read_parquet`` reads the run, ``groupby("group_id").map_groups`` hands each whole task
   group to ``score_rows`` (input columns untouched, the four credit columns added), and a datasink
   writes each write task's rows as one ``part-*.parquet`` (temporary name, then rename) carrying the
   run's ``proxmo.run`` metadata and ``proxmo.credit`` (method and resolved parameters).

The run folder and ``out`` must be reachable from every node: a pyarrow filesystem URI (``s3://``,
``gs://``, ...; ``proxmo_envs.trajlog.fs``) or a local path / ``file://`` URI on a shared file system.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import polars as pl
import pyarrow as pa

from proxmo_envs.ray_session import connect, release_idle_actors
from proxmo_envs.trajlog.fs import RunLike, RunLocation, resolve_location
from proxmo_envs.trajlog.commit import COMPLETE, IN_PROGRESS, write_marker
from proxmo_envs.trajlog.schema import CREDIT_METADATA_KEY

from .dispatch import credit_metadata, score_rows
from .registry import Method, make_config
from .runs import clear_output, copy_run_files, fit_run_stats, output_schema, prepare_output, run_location_files

#: Columns the scored rows are sorted by, so the output does not depend on Ray's shuffle order.
ROW_ORDER = ("group_id", "episode_id", "step")

#: Rows of whole task groups scored per call (a bucket of groups); bounds a worker's memory.
DEFAULT_ROWS_PER_BUCKET = 100_000

BUCKET = "__proxmo_bucket"


class RayExecutor(Executor):
    """A ``concurrent.futures.Executor`` whose calls run as Ray tasks (one CPU each)."""

    def __init__(self) -> None:
        import ray

        self._call = ray.remote(num_cpus=1)(_apply)

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        return self._call.remote(fn, *args, **kwargs).future()


def _apply(fn, *args, **kwargs):
    return fn(*args, **kwargs)


_STATS_CACHE: dict[str, Any] = {}  # per Ray worker process: object-ref hex -> TF-IDF statistics


def _stats(ref_holder: list | None) -> Any:
    if ref_holder is None:
        return None
    import ray

    ref = ref_holder[0]
    key = ref.hex()
    if key not in _STATS_CACHE:
        _STATS_CACHE.clear()
        _STATS_CACHE[key] = ray.get(ref)
    return _STATS_CACHE[key]


def add_bucket(table: pa.Table, buckets: int) -> pa.Table:
    """``map_batches`` function: a bucket column, a hash of ``group_id`` modulo ``buckets``, so a bucket
    holds whole task groups (polars' hash: the same in every worker of one installation)."""
    codes = pl.from_arrow(table.column("group_id")).hash(seed=7) % buckets
    return table.append_column(BUCKET, codes.cast(pl.Int64).to_arrow())


def score_group(table: pa.Table, method: Method, cfg: Any, stats_ref: list | None, where: str,
                template: pa.Schema) -> pa.Table:
    """``map_groups`` function: whole task groups (pyarrow; one group, or a bucket of groups) scored with
    ``score_rows`` (every credit statistic is computed per group inside it), in the log's schema."""
    frame = pl.from_arrow(table)
    if BUCKET in frame.columns:
        frame = frame.drop(BUCKET)
    bucket = f"{frame['group_id'].n_unique()} group(s) from {frame['group_id'].min()!r}" if frame.height else "?"
    scored = score_rows(frame, method, cfg, _stats(stats_ref), where=f"{where} ({bucket})")
    scored = scored.sort(list(ROW_ORDER))
    out = scored.to_arrow()
    return out.cast(output_schema(out, template))


class PartSink:
    """A Ray Data datasink writing ``part-{task:05d}.parquet`` atomically with the run's metadata."""

    def __new__(cls, *args: Any, **kwargs: Any):  # built lazily so importing this module needs no ray
        from ray.data import Datasink

        class _PartSink(Datasink):
            def __init__(self, out: RunLocation, metadata: dict[bytes, bytes], template: pa.Schema) -> None:
                self.out, self.metadata, self.template = out, metadata, template

            def write(self, blocks: Iterable[pa.Table], ctx: Any) -> list[str]:
                tables = [b for b in blocks if b.num_rows]
                if not tables:
                    return []
                table = pa.concat_tables([t.cast(output_schema(t, self.template)) for t in tables])
                table = table.replace_schema_metadata(self.metadata)
                # temporary name, fsync (local) and rename, or upload then move (pyarrow filesystems)
                return [self.out.write_table(f"part-{ctx.task_idx:05d}.parquet", table, compression="zstd")]

        return _PartSink(*args, **kwargs)


def score_run_ray(run: RunLike, out: RunLike, method: str = "proxmo", *,
                  address: str | None = None, num_cpus: int | None = None,
                  rows_per_bucket: int = DEFAULT_ROWS_PER_BUCKET, force: bool = False, **config: Any) -> dict:
    """Score a run folder (or one Parquet file) into ``out`` on Ray; same numbers as ``score_run``.

    Args:
        run: a run folder (``part-*.parquet``) or one Parquet file; validated by ``read_log``'s rules. A
            local path or a pyarrow filesystem location (``file://``, ``s3://``, ``(FileSystem, path)``),
            as is ``out``.
        out: the output folder (must not be ``run`` nor hold parts yet, unless ``force`` clears a previous
            scoring); gets the scored parts, a copy of ``manifest.json`` / ``failures.jsonl`` and, last, the
            commit marker ``scoring.json`` (``proxmo_envs.trajlog.commit``).
        method, config: as ``proxmo_analysis.score`` (a registered method name, ``credit.registry``, and
            the fields of the method's config). The Method travels to the Ray workers pickled.
        address: a Ray cluster to join; ``None`` starts a local Ray with ``num_cpus`` CPUs (default: all)
            unless one is already running in this process.
        rows_per_bucket: groups are hashed into ``ceil(rows / rows_per_bucket)`` buckets (at least one per
            CPU) and ``map_groups`` scores a bucket of whole groups per call; ``0`` scores one group per
            call (slower: a call per group).

    Returns a summary dict: ``method``, ``params``, ``rows``, ``groups``, ``parts``, ``out``. Rows of a part
    are ordered by ``(group_id, episode_id, step)``; parts are numbered by Ray write task.
    """
    m, cfg = make_config(method, config)
    if isinstance(rows_per_bucket, bool) or not isinstance(rows_per_bucket, int) or rows_per_bucket < 0:
        raise ValueError(f"rows_per_bucket must be an int >= 0, got {rows_per_bucket!r}")
    run_loc = resolve_location(run)
    if not run_loc.exists():
        raise FileNotFoundError(f"{run_loc}: no such run folder or Parquet file")
    run_loc, files = run_location_files(run_loc)
    out = resolve_location(out)
    if out.is_local:
        out = RunLocation(str(Path(out.path).resolve()))  # every Ray worker, whatever its directory
    prepare_output(run_loc, out, check_only=True)
    if force:
        clear_output(out)
    folder = prepare_output(run_loc, out)
    location = None if run_loc.is_local else run_loc
    info = {"input": str(run_loc), "method": method, "params": cfg.to_dict(), "backend": "ray"}
    write_marker(out, IN_PROGRESS, info)  # committed last: a killed scoring leaves a folder readers refuse

    import ray
    from ray.data.context import DataContext, ShuffleStrategy

    connect(address, num_cpus=num_cpus)
    release_idle_actors()  # idle pooled env actors hold a CPU each; Ray Data needs them for its tasks

    template = run_loc.parquet_file(files[0]).schema_arrow
    metadata = dict(template.metadata or {})
    metadata[CREDIT_METADATA_KEY.encode()] = credit_metadata(method, cfg).encode()
    template = template.remove_metadata()

    # pass 1: statistics spanning groups (TF-IDF per iteration), fitted by Ray tasks over row groups
    stats = (fit_run_stats(files, cfg.max_features, RayExecutor(), location=location)
             if m.uses_tfidf_batch(cfg) else None)
    stats_ref = [ray.put(stats)] if stats is not None else None  # in a list: passed as a ref, not resolved

    # pass 2: whole task groups through the per-group credit functions. The pull-based sort shuffle runs
    # as plain tasks; the default hash shuffle starts aggregator actors, seconds of fixed cost per call.
    context = DataContext.get_current()
    previous = context.shuffle_strategy
    context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    try:
        if location is None:
            ds = ray.data.read_parquet([str(Path(f).resolve()) for f in files])
        else:
            ds = ray.data.read_parquet(files, filesystem=location.filesystem)
        key = "group_id"
        if rows_per_bucket:
            n_rows = sum(run_loc.parquet_file(f).metadata.num_rows for f in files)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            buckets = max(cpus, int(np.ceil(n_rows / rows_per_bucket)))
            ds, key = ds.map_batches(add_bucket, batch_format="pyarrow", fn_kwargs={"buckets": buckets}), BUCKET
        scored = ds.groupby(key).map_groups(
            score_group, batch_format="pyarrow",
            fn_kwargs={"method": m, "cfg": cfg, "stats_ref": stats_ref, "where": str(run_loc),
                       "template": template},
        )
        scored.write_datasink(PartSink(out, metadata, template))
    finally:
        context.shuffle_strategy = previous

    parts = out.glob("part-*.parquet")
    rows = int(np.sum([out.parquet_file(p).metadata.num_rows for p in parts])) if parts else 0
    groups = out.scan_parquet(parts).select("group_id").unique().collect().height if parts else 0
    copy_run_files(folder, out)
    write_marker(out, COMPLETE, {**info, "parts": len(parts), "rows": rows, "groups": groups})
    return {"method": method, "params": cfg.to_dict(), "rows": rows, "groups": groups, "parts": len(parts),
            "out": str(out)}


__all__ = ["score_run_ray", "score_group", "add_bucket", "RayExecutor", "PartSink", "ROW_ORDER",
           "DEFAULT_ROWS_PER_BUCKET"]
