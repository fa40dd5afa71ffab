"""Reading trajectory logs: ``read_log`` opens a run folder or one Parquet file and validates the spec.

Validation (spec ``trajectory-log.md``) raises ONE ``ValueError`` naming the file, the column and the
first offending row (0-based, within that file) for: a missing required column, a column of the wrong
type, a null in a non-nullable column, a trajectory whose ``step`` values are not exactly 0..n-1 (a gap,
a duplicate, or not starting at 0), a NaN/inf ``reward``/``episode_return``/``task_score``, one ``episode_id`` under two ``group_id``s, and a part whose
``run_id``/``env_id`` differs from the folder's ``manifest.json`` (unless ``union=True``). Rows are never
dropped.

``path`` may be a local path, a ``file://`` URI, any URI ``pyarrow.fs.FileSystem.from_uri`` accepts
(``s3://bucket/runs/x``, ``gs://...``, ``hdfs://...``) or a ``(pyarrow.fs.FileSystem, path)`` pair
(``proxmo_envs.trajlog.fs``). Only ``part-*.parquet`` are read, so temporary keys of a writer still
uploading (object stores have no atomic rename) are never seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from proxmo_envs.trajlog.commit import check_committed
from proxmo_envs.trajlog.fs import RunLike, RunLocation, resolve_location
from proxmo_envs.trajlog.manifest import read_manifest_data
from proxmo_envs.trajlog.schema import (
    LOG_SCHEMA,
    MANIFEST_NAME,
    NULLABLE_COLUMNS,
    PART_GLOB,
    REQUIRED_COLUMNS,
    RUN_METADATA_KEY,
    type_matches,
)

_ID_COLUMNS = ["episode_id", "group_id", "step"]


def _located_files(path: RunLike) -> tuple[RunLocation, list[str], list[str]]:
    """The location, the Parquet file paths (``part-*.parquet`` sorted, or the one file) and how messages
    name each file."""
    loc = resolve_location(path)
    if loc.is_dir():
        files = loc.glob(PART_GLOB)
        if not files:
            raise FileNotFoundError(f"{loc}: no {PART_GLOB} files in this run folder")
        return loc, files, [loc.display_path(f) for f in files]
    if not loc.exists():
        raise FileNotFoundError(f"{loc}: no such run folder or Parquet file")
    return loc, [loc.path], [str(loc)]


def log_files(path: RunLike) -> list[Path] | list[str]:
    """The Parquet files of a run folder (``part-*.parquet``, sorted) or ``[path]`` for one file: local
    ``Path``s, or filesystem paths (str) on a non-local filesystem."""
    loc, files, _ = _located_files(path)
    return [Path(f) for f in files] if loc.is_local else files


def _parquet_file(loc: RunLocation, path: str, shown: str) -> pq.ParquetFile:
    try:
        return loc.parquet_file(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{shown}: not a readable Parquet file ({err})") from None


def _check_schema(path: str, pf: pq.ParquetFile) -> None:
    schema = pf.schema_arrow
    for field in LOG_SCHEMA:
        if field.name not in schema.names:
            raise ValueError(
                f"{path}: column {field.name!r}, row 0: missing (a required column of the trajectory log; "
                f"the file has {pf.metadata.num_rows} rows)"
            )
        actual = schema.field(field.name).type
        if not type_matches(field.type, actual):
            raise ValueError(f"{path}: column {field.name!r}, row 0: type {actual}, expected {field.type}")


def _first_null_row(path: str, pf: pq.ParquetFile, column: str) -> int | None:
    """The first row where ``column`` is null, using the Parquet statistics to skip clean row groups."""
    meta = pf.metadata
    leaves = [i for i in range(meta.num_columns) if meta.schema.column(i).path.split(".")[0] == column]
    offset = 0
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        clean = True
        for i in leaves:
            stats = group.column(i).statistics
            if stats is None or not stats.has_null_count or stats.null_count > 0:
                clean = False
        if not clean:
            arr = pf.read_row_group(rg, columns=[column]).column(0)
            if arr.null_count:
                mask = arr.is_null().to_numpy(zero_copy_only=False)
                return offset + int(mask.argmax())
        offset += group.num_rows
    return None


def _check_nulls(path: str, pf: pq.ParquetFile) -> None:
    for column in REQUIRED_COLUMNS:
        if column in NULLABLE_COLUMNS:
            continue
        row = _first_null_row(path, pf, column)
        if row is not None:
            raise ValueError(f"{path}: column {column!r}, row {row}: null in a non-nullable column")


#: Float columns that must be finite: a NaN/inf reward would reach every method's advantages.
FINITE_COLUMNS = ("reward", "episode_return", "task_score")


def _check_finite(path: str, pf: pq.ParquetFile) -> None:
    """The first non-finite value of a ``FINITE_COLUMNS`` column, named by file and row within the file."""
    for column in FINITE_COLUMNS:
        # pyarrow.compute, not to_numpy: converting an Arrow array to numpy imports pandas (~1 s per process)
        values = pf.read(columns=[column], use_threads=False).column(0)
        if pc.all(pc.is_finite(values)).as_py() is False:
            series = pl.from_arrow(values)
            row = int(series.is_finite().arg_min())
            raise ValueError(f"{path}: column {column!r}, row {row}: non-finite value {series[row]}")


def _check_trajectories(loc: RunLocation, files: list[str], shown: list[str]) -> None:
    """Step contiguity and one group per episode, over all files (an episode may span files)."""
    frames = [
        loc.read_parquet(f, columns=_ID_COLUMNS)
        .with_row_index("__row")
        .with_columns(pl.lit(k, dtype=pl.UInt32).alias("__file"))
        for k, f in enumerate(files)
    ]
    ids = pl.concat(frames, how="vertical_relaxed").with_row_index("__order")
    if ids.height == 0:
        return

    conflict = (
        ids.with_columns(pl.col("group_id").first().over("episode_id").alias("__first_group"))
        .filter(pl.col("group_id") != pl.col("__first_group"))
        .head(1)
    )
    problems: list[tuple[int, str, int, str]] = []  # (order, column, file index, message) of each check
    if conflict.height:
        r = conflict.row(0, named=True)
        problems.append(
            (
                r["__order"],
                "group_id",
                r["__file"],
                f"row {r['__row']}: episode {r['episode_id']!r} appears under two groups "
                f"({r['__first_group']!r} and {r['group_id']!r})",
            )
        )

    ranked = ids.sort(["episode_id", "step", "__order"]).with_columns(
        pl.int_range(pl.len()).over("episode_id").cast(pl.Int64).alias("__expected")
    )
    bad = ranked.filter(pl.col("step").cast(pl.Int64) != pl.col("__expected"))
    if bad.height:
        # The offending row of each bad episode is its first step out of place; report the episode whose
        # offending row comes first in file order.
        first_bad = bad.group_by("episode_id", maintain_order=True).agg(pl.all().first()).sort("__order").row(0, named=True)
        ep, step, expected = first_bad["episode_id"], first_bad["step"], first_bad["__expected"]
        if step < expected:
            what = f"step {step} appears twice"
        elif expected == 0:
            what = f"the trajectory starts at step {step}, not 0"
        else:
            what = f"gap in step: {expected - 1} is followed by {step}"
        problems.append(
            (first_bad["__order"], "step", first_bad["__file"], f"row {first_bad['__row']}: episode {ep!r}: {what}")
        )
    if problems:
        order, column, file_index, message = min(problems)
        raise ValueError(f"{shown[file_index]}: column {column!r}, {message}")


#: Keys of a part's ``proxmo.run`` metadata that must equal the folder manifest's: a part of another run
#: (another seed, another env) dropped into the folder would otherwise be read and scored with it.
PROVENANCE_KEYS = ("run_id", "env_id")


def check_same_run(loc: RunLocation, files: list[str], shown: list[str]) -> None:
    """Every part whose ``proxmo.run`` metadata names a run_id/env_id names the manifest's (parts and
    manifests without those keys, e.g. hand-made logs, are not compared)."""
    if not loc.is_dir() or not loc.exists(MANIFEST_NAME):
        return
    manifest = read_manifest_data(loc)
    for f, name in zip(files, shown):
        raw = (_parquet_file(loc, f, name).schema_arrow.metadata or {}).get(RUN_METADATA_KEY.encode())
        if raw is None:
            continue
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"{name}: its {RUN_METADATA_KEY!r} metadata is not valid JSON") from None
        for key in PROVENANCE_KEYS:
            if key in manifest and key in meta and meta[key] != manifest[key]:
                raise ValueError(
                    f"{name}: belongs to another run ({key} {meta[key]!r}, the folder's {MANIFEST_NAME} says "
                    f"{manifest[key]!r}); move it out, or read the mix on purpose with read_log(..., union=True)"
                )


def check_part(loc: RunLocation, path: str, shown: str) -> pq.ParquetFile:
    """The per-file checks of ``read_log`` (readable Parquet, the spec's columns and types, no null in a
    non-nullable column, from the Parquet statistics where it can, finite values); returns the opened file."""
    pf = _parquet_file(loc, path, shown)
    _check_schema(shown, pf)
    _check_nulls(shown, pf)
    _check_finite(shown, pf)
    return pf


def located_parts(path: RunLike) -> tuple[RunLocation, list[str], list[str]]:
    """The location, its Parquet files and how messages name them, after refusing an unfinished scored
    copy (``proxmo_envs.trajlog.commit``: a folder without its complete ``scoring.json``)."""
    loc, files, shown = _located_files(path)
    if loc.is_dir():
        check_committed(loc, _parquet_file(loc, files[0], shown[0]).schema_arrow.metadata)
    return loc, files, shown


def _validate(path: RunLike, union: bool = False) -> tuple[RunLocation, list[str]]:
    loc, files, shown = located_parts(path)
    for f, name in zip(files, shown):
        check_part(loc, f, name)
    if not union:
        check_same_run(loc, files, shown)
    _check_trajectories(loc, files, shown)
    return loc, files


def validate_log(path: RunLike) -> list[Path] | list[str]:
    """Check a run folder or file (any location) against the spec (see module doc); return its files
    (as ``log_files``)."""
    loc, files = _validate(path)
    return [Path(f) for f in files] if loc.is_local else files


def read_log(path: RunLike, lazy: bool = False, union: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """Read and validate a trajectory log: a run folder (its ``part-*.parquet``) or one Parquet file.

    Args:
        path: run folder or Parquet file: a local path, a ``file://`` or other pyarrow filesystem URI
            (``s3://bucket/runs/x``, ...), or a ``(pyarrow.fs.FileSystem, path)`` pair.
        lazy: return a ``pl.LazyFrame`` over the files (validation still runs now, reading only the id
            columns and the Parquet statistics) instead of a ``pl.DataFrame``.
        union: read parts of several runs together. By default a part whose ``run_id`` or ``env_id``
            differs from the folder's ``manifest.json`` is refused, naming the file.

    Returns:
        one row per step, the spec's columns (text as ``pl.String``, ``rollout_index``/``iteration``/
        ``step`` as ``pl.Int32``, rewards and scores as ``pl.Float32``) plus any columns the analysis
        added, files in name order and rows in file order.

    Raises:
        FileNotFoundError: no such path, or a folder without parts.
        ValueError: the log breaks the spec; the message names the file, the column and the first
            offending row.
    """
    loc, files = _validate(path, union=union)
    scans = [loc.scan_parquet([f]) for f in files]
    frame = scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")
    return frame if lazy else frame.collect()


def read_run_metadata(path: RunLike) -> dict[str, Any]:
    """The run's metadata: ``manifest.json`` of a run folder, or a file's ``proxmo.run`` key-value metadata."""
    loc = resolve_location(path)
    if loc.is_dir():
        return read_manifest_data(loc)
    if not loc.exists():
        raise FileNotFoundError(f"{loc}: no such run folder or Parquet file")
    meta = _parquet_file(loc, loc.path, str(loc)).schema_arrow.metadata or {}
    raw = meta.get(RUN_METADATA_KEY.encode())
    if raw is None:
        raise ValueError(f"{loc}: no {RUN_METADATA_KEY!r} key-value metadata")
    return json.loads(raw)


__all__ = ["read_log", "validate_log", "log_files", "read_run_metadata", "check_part", "check_same_run", "located_parts"]
