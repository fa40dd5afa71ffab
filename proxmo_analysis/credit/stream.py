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

import shutil
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from proxmo_envs.trajlog.fs import FAILURES_GLOB, RunLike, RunLocation, resolve_location

from .parallel import pack_groups, pool
from .score import METHODS, credit_metadata, make_config, score_rows
from .similarity import TermCounts, TfidfStats, count_terms, merge_counts

CREDIT_METADATA_KEY = "proxmo.credit"
RUN_METADATA_KEY = "proxmo.run"
DEFAULT_ROWS_PER_BATCH = 100_000


def run_files(path: RunLike) -> list[Path] | list[str]:
    """The Parquet files of a run folder (``part-*.parquet``) or ``[path]``; validated by ``read_log``."""
    from proxmo_analysis.logs import validate_log

    return validate_log(path)


def run_location_files(path: RunLike) -> tuple[RunLocation, list[str]]:
    """The validated run's location (the folder, or the one file) and its Parquet file paths."""
    loc = resolve_location(path)
    return loc, [str(f) for f in run_files(loc)]


def _count_unit(path: str, row_groups: list[int], location: RunLocation | None = None) -> dict[int, TermCounts]:
    """Term statistics per iteration of some row groups of one file (pass 1 worker)."""
    pf = location.parquet_file(path) if location is not None else pq.ParquetFile(path)
    names = pf.schema_arrow.names
    columns = ["observation"] + (["iteration"] if "iteration" in names else [])
    frame = pl.from_arrow(pf.read_row_groups(row_groups, columns=columns))
    if "iteration" not in frame.columns:
        frame = frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("iteration"))
    out = {}
    for (it,), part in frame.group_by("iteration"):
        counts = part.group_by("observation").len()
        out[int(it)] = count_terms(counts["observation"].to_list(), counts["len"].to_numpy())[0]
    return out


def fit_run_stats(files: list[Path] | list[str], max_features: int, executor: Executor | None = None,
                  rows_per_unit: int = DEFAULT_ROWS_PER_BATCH,
                  location: RunLocation | None = None) -> dict[int, TfidfStats]:
    """TF-IDF statistics per iteration over a whole run, streaming row groups (pass 1). ``location``:
    the filesystem the ``files`` are on (``None``: local paths)."""
    units = []
    for f in files:
        meta = (location.parquet_file(str(f)) if location is not None else pq.ParquetFile(f)).metadata
        current, rows = [], 0
        for i in range(meta.num_row_groups):
            current.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= rows_per_unit:
                units.append((str(f), current, location))
                current, rows = [], 0
        if current:
            units.append((str(f), current, location))
    results = (executor.map(_count_unit, *zip(*units)) if executor and units
               else (_count_unit(f, rg, loc) for f, rg, loc in units))
    merged: dict[int, TermCounts] = {}
    for part in results:
        for it, counts in part.items():
            merged[it] = merge_counts([merged[it], counts]) if it in merged else counts
    return {it: TfidfStats.from_counts(c, max_features) for it, c in merged.items()}


def _output_schema(table: pa.Table, template: pa.Schema) -> pa.Schema:
    fields = []
    for field in table.schema:
        if field.name in template.names:
            fields.append(template.field(field.name))
        elif field.name in ("return_to_go", "adv_episode", "adv_step", "advantage"):
            fields.append(pa.field(field.name, pa.float32()))
        else:
            fields.append(field)
    return pa.schema(fields)


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


def _score_batch(files: list[str], units: list[int], groups: list[str], method: str, cfg: Any,
                 stats: Mapping | None, out: RunLocation, name: str, metadata: dict[bytes, bytes],
                 template: pa.Schema, where: str, location: RunLocation | None = None) -> int:
    """Pass 2 worker: read whole groups, score, write part ``name`` of ``out`` atomically (temporary name,
    then rename / move); returns the row count."""
    frame = read_groups(files, units, groups, location)
    scored = score_rows(frame, METHODS[method], cfg, stats, where=where)
    table = scored.to_arrow()
    table = table.cast(_output_schema(table, template)).replace_schema_metadata(metadata)
    out.write_table(name, table, compression="zstd")
    return table.num_rows


def _same_folder(a: RunLocation, b: RunLocation) -> bool:
    if a.is_local and b.is_local:
        return Path(a.path).resolve() == Path(b.path).resolve()
    return not a.is_local and not b.is_local and a.filesystem.equals(b.filesystem) and a.path == b.path


def prepare_output(run: RunLocation, out: RunLocation) -> RunLocation | None:
    """Check ``out`` is neither the run folder nor holds parts, create it; return the run's folder
    (``None`` when ``run`` is one file)."""
    folder = run if run.is_dir() else None
    parent = folder or (RunLocation(str(Path(run.path).parent)) if run.is_local else
                        RunLocation(run.path.rpartition("/")[0], run.filesystem, str(run).rpartition("/")[0]))
    if _same_folder(out, parent):
        raise ValueError(f"--out {out} is the input run folder; write the scored copy elsewhere")
    if out.glob("part-*.parquet"):
        raise ValueError(f"{out} already holds part files; choose an empty output folder")
    out.make_dirs()
    return folder


def copy_run_files(folder: RunLocation | None, out: RunLocation) -> None:
    """Copy ``manifest.json`` and the failures files of the input run folder into ``out``."""
    if folder is None:
        return
    names = ["manifest.json"] + [Path(p).name for p in folder.glob(FAILURES_GLOB)]
    for name in names:
        if folder.exists(name):
            if folder.is_local and out.is_local:
                shutil.copy2(Path(folder.path) / name, Path(out.path) / name)
            else:
                folder.copy_into(out, name)


def score_run(run: RunLike, out: RunLike, method: str = "proxmo", *,
              workers: int = 1, rows_per_batch: int = DEFAULT_ROWS_PER_BATCH, backend: str = "local",
              address: str | None = None, **config: Any) -> dict:
    """Score a run folder (or one Parquet file) into ``out``: scored parts plus a copy of the manifest.

    Each output part holds whole task groups (rows of a group stay in their input order) and carries
    the input's ``proxmo.run`` metadata plus ``proxmo.credit`` (method and resolved parameters, JSON).
    The numbers equal ``score(read_log(run), method, **config)``. Returns a summary dict. ``run`` and
    ``out`` are local paths or pyarrow filesystem locations (``file://``, ``s3://``, ``(FileSystem, path)``).
    ``backend="ray"`` scores with Ray Data on the cluster at ``address`` (``credit_ray.score_run_ray``).
    """
    if backend == "ray":
        from proxmo_analysis.credit_ray import score_run_ray  # lazy: the local path never imports ray

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

    # spawned workers know only the built-in registry; a method registered at run time stays in-process
    builtin = m.name in ("grpo", "grpo_mean", "rloo", "gigpo", "proxmo") and METHODS[m.name] is m
    executor = pool(workers) if workers > 1 and builtin else None
    try:
        stats = (fit_run_stats(files, cfg.max_features, executor, location=location)
                 if m.uses_tfidf_batch(cfg) else None)
        jobs = []
        for k, batch in enumerate(batches):
            groups = [names[g] for g in batch]
            units = sorted({u for g in groups for u in units_of[g]})
            args = ([str(f) for f in files], units, groups, m.name, cfg, stats, out, f"part-{k:05d}.parquet",
                    metadata, template, f"{run_loc} (group batch {k})", location)
            jobs.append(executor.submit(_score_batch, *args) if executor else _score_batch(*args))
        rows = [j.result() if executor else j for j in jobs]
    finally:
        if executor:
            executor.shutdown()
    copy_run_files(folder, out)
    return {"method": method, "params": cfg.to_dict(), "rows": int(np.sum(rows)) if rows else 0,
            "groups": len(names), "parts": len(batches), "out": str(out)}
