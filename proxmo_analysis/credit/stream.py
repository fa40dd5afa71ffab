"""Re-scoring a run folder that need not fit in memory: whole task groups at a time, on a process pool.

Pass 1 (only for batch-level TF-IDF) streams ``iteration`` and ``observation`` row group by row group
and sums term statistics per iteration: the vocabulary and IDF equal a fit on the whole iteration.
Pass 2 reads batches of whole task groups with a polars lazy scan filtered on ``group_id`` (over only the
files that hold them, found by one pass over ``group_id``), scores them with the same functions as ``score`` and writes one scored part per batch. Memory is bounded by the
largest batch (at least the largest group) plus the vocabulary.

``run`` and ``out`` may be local paths or any pyarrow filesystem location (``file://``, ``s3://``, a
``(pyarrow.fs.FileSystem, path)`` pair; ``proxmo_envs.trajlog.fs``); scored parts are written to a
temporary name then moved. Process-pool workers reopen the filesystem, so an in-process filesystem
(fsspec ``memory``) needs ``workers=1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl
import pyarrow as pa

from proxmo_envs.trajlog.fs import RunLike, RunLocation, resolve_location
from proxmo_envs.trajlog.schema import CREDIT_METADATA_KEY, RUN_METADATA_KEY  # noqa: F401

from .dispatch import credit_metadata, score_rows
from .parallel import pack_groups, pool
from .registry import Method, make_config, runs_in_workers
from .runs import (  # noqa: F401  (re-exported: stream.fit_run_stats etc. were public here)
    DEFAULT_ROWS_PER_BATCH,
    copy_run_files,
    fit_run_stats,
    output_schema,
    prepare_output,
    run_files,
    run_location_files,
)


def _scan(location: RunLocation | None, path) -> pl.LazyFrame:
    return location.scan_parquet([str(path)]) if location is not None else pl.scan_parquet(path)


def group_index(files: list[Path] | list[str],
                location: RunLocation | None = None) -> tuple[pl.DataFrame, dict[str, list[int]]]:
    """One pass over the ``group_id`` column: rows per group (sorted by group_id) and, per group, the
    files holding its rows, so a batch scans only the files it needs."""
    counts, where = [], {}
    for f_idx, f in enumerate(files):
        part = _scan(location, f).group_by("group_id").agg(pl.len().alias("n")).collect()
        counts.append(part)
        for g in part["group_id"].to_list():
            where.setdefault(g, []).append(f_idx)
    sizes = pl.concat(counts).group_by("group_id").agg(pl.col("n").sum()).sort("group_id")
    return sizes, where


def read_groups(files: list[str], file_indices: list[int], groups: list[str],
                location: RunLocation | None = None) -> pl.DataFrame:
    """The rows of ``groups`` (a polars lazy scan of the files that hold them), in file and row order."""
    scans = [_scan(location, files[i]) for i in sorted(file_indices)]
    lazy = scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")
    return lazy.filter(pl.col("group_id").is_in(groups)).collect()


def _score_batch(files: list[str], units: list[int], groups: list[str], method: Method, cfg: Any,
                 stats: Mapping | None, out: RunLocation, name: str, metadata: dict[bytes, bytes],
                 template: pa.Schema, where: str, location: RunLocation | None = None) -> int:
    """Pass 2 worker: read whole groups, score, write part ``name`` of ``out`` atomically (temporary name,
    then rename / move); returns the row count."""
    frame = read_groups(files, units, groups, location)
    scored = score_rows(frame, method, cfg, stats, where=where)
    table = scored.to_arrow()
    table = table.cast(output_schema(table, template)).replace_schema_metadata(metadata)
    out.write_table(name, table, compression="zstd")
    return table.num_rows


def score_run(run: RunLike, out: RunLike, method: str = "proxmo", *,
              workers: int = 1, rows_per_batch: int = DEFAULT_ROWS_PER_BATCH, backend: str = "local",
              address: str | None = None, **config: Any) -> dict:
    """Score a run folder (or one Parquet file) into ``out``: scored parts plus a copy of the manifest.

    Each output part holds whole task groups (rows of a group stay in their input order) and carries
    the input's ``proxmo.run`` metadata plus ``proxmo.credit`` (method and resolved parameters, JSON).
    The numbers equal ``score(read_log(run), method, **config)``. Returns a summary dict. ``run`` and
    ``out`` are local paths or pyarrow filesystem locations (``file://``, ``s3://``, ``(FileSystem, path)``).
    ``backend="ray"`` scores with Ray Data on the cluster at ``address`` (``credit.ray_scorer.score_run_ray``).
    """
    if backend == "ray":
        from .ray_scorer import score_run_ray  # lazy: the local path never imports ray

        return score_run_ray(run, out, method, address=address, **config)
    if backend != "local":
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    m, cfg = make_config(method, config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if rows_per_batch < 1:
        raise ValueError(f"rows_per_batch must be >= 1, got {rows_per_batch!r}")
    run_loc, files = run_location_files(run)
    out = resolve_location(out)
    folder = prepare_output(run_loc, out)
    location = None if run_loc.is_local else run_loc

    template = run_loc.parquet_file(files[0]).schema_arrow
    metadata = dict(template.metadata or {})
    metadata[CREDIT_METADATA_KEY.encode()] = credit_metadata(method, cfg).encode()
    template = template.remove_metadata()

    sizes, units_of = group_index(files, location)
    batches = pack_groups(sizes["n"].to_list(), rows_per_batch)
    names = sizes["group_id"].to_list()

    # workers get the Method pickled; one that cannot travel (lambdas, a notebook's __main__) stays in-process
    executor = pool(workers) if workers > 1 and runs_in_workers(m) else None
    try:
        stats = (fit_run_stats(files, cfg.max_features, executor, location=location)
                 if m.uses_tfidf_batch(cfg) else None)
        jobs = []
        for k, batch in enumerate(batches):
            groups = [names[g] for g in batch]
            units = sorted({u for g in groups for u in units_of[g]})
            args = ([str(f) for f in files], units, groups, m, cfg, stats, out, f"part-{k:05d}.parquet",
                    metadata, template, f"{run_loc} (group batch {k})", location)
            jobs.append(executor.submit(_score_batch, *args) if executor else _score_batch(*args))
        rows = [j.result() if executor else j for j in jobs]
    finally:
        if executor:
            executor.shutdown()
    copy_run_files(folder, out)
    return {"method": method, "params": cfg.to_dict(), "rows": int(np.sum(rows)) if rows else 0,
            "groups": len(names), "parts": len(batches), "out": str(out)}
