"""Re-scoring a run folder that need not fit in memory: whole task groups at a time, on a process pool.

Pass 1 (only for batch-level TF-IDF) streams ``iteration`` and ``observation`` row group by row group
and sums term statistics per iteration: the vocabulary and IDF equal a fit on the whole iteration.
Pass 2 reads batches of whole task groups with a polars lazy scan filtered on ``group_id`` (over only the
files that hold them, found by one pass over ``group_id``), scores them with the same functions as ``score`` and writes one scored part per batch. Memory is bounded by the
largest batch (at least the largest group) plus the vocabulary.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .parallel import pack_groups, pool
from .score import METHODS, credit_metadata, make_config, score_rows
from .similarity import TermCounts, TfidfStats, count_terms, merge_counts

CREDIT_METADATA_KEY = "proxmo.credit"
RUN_METADATA_KEY = "proxmo.run"
DEFAULT_ROWS_PER_BATCH = 100_000


def run_files(path: str | os.PathLike[str]) -> list[Path]:
    """The Parquet files of a run folder (``part-*.parquet``) or ``[path]``; validated by ``read_log``."""
    from proxmo_analysis.logs import log_files, validate_log

    validate_log(path)
    return log_files(path)


def _count_unit(path: str, row_groups: list[int]) -> dict[int, TermCounts]:
    """Term statistics per iteration of some row groups of one file (pass 1 worker)."""
    pf = pq.ParquetFile(path)
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


def fit_run_stats(files: list[Path], max_features: int, executor: Executor | None = None,
                  rows_per_unit: int = DEFAULT_ROWS_PER_BATCH) -> dict[int, TfidfStats]:
    """TF-IDF statistics per iteration over a whole run, streaming row groups (pass 1)."""
    units = []
    for f in files:
        meta = pq.ParquetFile(f).metadata
        current, rows = [], 0
        for i in range(meta.num_row_groups):
            current.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= rows_per_unit:
                units.append((str(f), current))
                current, rows = [], 0
        if current:
            units.append((str(f), current))
    results = (executor.map(_count_unit, *zip(*units)) if executor and units
               else (_count_unit(f, rg) for f, rg in units))
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


def group_index(files: list[Path]) -> tuple[pl.DataFrame, dict[str, list[int]]]:
    """One pass over the ``group_id`` column: rows per group (sorted by group_id) and, per group, the
    files holding its rows, so a batch scans only the files it needs."""
    counts, where = [], {}
    for f_idx, f in enumerate(files):
        part = pl.scan_parquet(f).group_by("group_id").agg(pl.len().alias("n")).collect()
        counts.append(part)
        for g in part["group_id"].to_list():
            where.setdefault(g, []).append(f_idx)
    sizes = pl.concat(counts).group_by("group_id").agg(pl.col("n").sum()).sort("group_id")
    return sizes, where


def read_groups(files: list[str], file_indices: list[int], groups: list[str]) -> pl.DataFrame:
    """The rows of ``groups`` (a polars lazy scan of the files that hold them), in file and row order."""
    scans = [pl.scan_parquet(files[i]) for i in sorted(file_indices)]
    lazy = scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")
    return lazy.filter(pl.col("group_id").is_in(groups)).collect()


def _score_batch(files: list[str], units: list[int], groups: list[str], method: str, cfg: Any,
                 stats: Mapping | None, out_path: str, metadata: dict[bytes, bytes], template: pa.Schema,
                 where: str) -> int:
    """Pass 2 worker: read whole groups, score, write one part atomically; returns the row count."""
    frame = read_groups(files, units, groups)
    scored = score_rows(frame, METHODS[method], cfg, stats, where=where)
    table = scored.to_arrow()
    table = table.cast(_output_schema(table, template)).replace_schema_metadata(metadata)
    tmp = Path(out_path).with_name(".tmp-" + Path(out_path).name)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, out_path)
    return table.num_rows


def score_run(run: str | os.PathLike[str], out: str | os.PathLike[str], method: str = "proxmo", *,
              workers: int = 1, rows_per_batch: int = DEFAULT_ROWS_PER_BATCH, backend: str = "local",
              address: str | None = None, **config: Any) -> dict:
    """Score a run folder (or one Parquet file) into ``out``: scored parts plus a copy of the manifest.

    Each output part holds whole task groups (rows of a group stay in their input order) and carries
    the input's ``proxmo.run`` metadata plus ``proxmo.credit`` (method and resolved parameters, JSON).
    The numbers equal ``score(read_log(run), method, **config)``. Returns a summary dict.
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
    run, out = Path(run), Path(out)
    files = run_files(run)
    if out.resolve() == (run if run.is_dir() else run.parent).resolve():
        raise ValueError(f"--out {out} is the input run folder; write the scored copy elsewhere")
    if out.exists() and any(out.glob("part-*.parquet")):
        raise ValueError(f"{out} already holds part files; choose an empty output folder")
    out.mkdir(parents=True, exist_ok=True)

    template = pq.read_schema(files[0])
    metadata = dict(template.metadata or {})
    metadata[CREDIT_METADATA_KEY.encode()] = credit_metadata(method, cfg).encode()
    template = template.remove_metadata()

    sizes, units_of = group_index(files)
    batches = pack_groups(sizes["n"].to_list(), rows_per_batch)
    names = sizes["group_id"].to_list()

    # spawned workers know only the built-in registry; a method registered at run time stays in-process
    builtin = m.name in ("grpo", "grpo_mean", "rloo", "gigpo", "proxmo") and METHODS[m.name] is m
    executor = pool(workers) if workers > 1 and builtin else None
    try:
        stats = fit_run_stats(files, cfg.max_features, executor) if m.uses_tfidf_batch(cfg) else None
        jobs = []
        for k, batch in enumerate(batches):
            groups = [names[g] for g in batch]
            units = sorted({u for g in groups for u in units_of[g]})
            args = ([str(f) for f in files], units, groups, m.name, cfg, stats,
                    str(out / f"part-{k:05d}.parquet"), metadata, template, f"{run} (group batch {k})")
            jobs.append(executor.submit(_score_batch, *args) if executor else _score_batch(*args))
        rows = [j.result() if executor else j for j in jobs]
    finally:
        if executor:
            executor.shutdown()
    if run.is_dir():
        for name in ("manifest.json", "failures.jsonl"):
            if (run / name).exists():
                shutil.copy2(run / name, out / name)
    return {"method": method, "params": cfg.to_dict(), "rows": int(np.sum(rows)) if rows else 0,
            "groups": len(names), "parts": len(batches), "out": str(out)}
