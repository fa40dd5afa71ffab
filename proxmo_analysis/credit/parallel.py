"""Scoring on several processes: batches of whole task groups, TF-IDF statistics fitted once up front.

Every statistic is per task group (TF-IDF per iteration is fitted before the split), so any split of the
groups and any number of workers give the same numbers as one process.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterable, Mapping

import numpy as np
import polars as pl

from .frame import ADDED_COLUMNS, dense_codes
from .proxmo import fit_batch_stats
from .score import METHODS, Method, prepare, score_rows

_SOURCE_COLUMNS = ("group_id", "episode_id", "step", "reward", "observation", "won", "invalid_action", "iteration")


def pool(workers: int) -> ProcessPoolExecutor:
    """A process pool that does not fork (polars and torch threads do not survive a fork)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def pack_groups(sizes: Iterable[int], rows_per_batch: int) -> list[np.ndarray]:
    """Split groups 0..n-1 (in order) into consecutive batches of at most ``rows_per_batch`` rows
    (a larger group gets a batch of its own)."""
    batches, current, total = [], [], 0
    for g, size in enumerate(sizes):
        if current and total + size > rows_per_batch:
            batches.append(np.array(current))
            current, total = [], 0
        current.append(g)
        total += int(size)
    if current:
        batches.append(np.array(current))
    return batches


def score_chunk(chunk: pl.DataFrame, method: str, cfg: Any, stats: Mapping | None) -> pl.DataFrame:
    """Worker entry point: the four credit columns of a frame of whole task groups."""
    return score_rows(chunk, METHODS[method], cfg, stats).select(ADDED_COLUMNS)


def batch_stats(df: pl.DataFrame, m: Method, cfg: Any) -> dict | None:
    """TF-IDF statistics per iteration when the method needs batch-level ones, else None."""
    if not m.uses_tfidf_batch(cfg):
        return None
    batch = df["iteration"].cast(pl.Int64).to_numpy() if "iteration" in df.columns else np.zeros(df.height, np.int64)
    return fit_batch_stats(df["observation"], batch, cfg.max_features)


def score_parallel(df: pl.DataFrame, m: Method, cfg: Any, workers: int,
                   rows_per_batch: int | None = None) -> pl.DataFrame:
    """``score`` over ``workers`` processes (same result as one process)."""
    prepare(df, m, cfg)  # every input error is raised here, with the input's row numbers
    stats = batch_stats(df, m, cfg)
    codes = dense_codes(df["group_id"])
    sizes = np.bincount(codes)
    rows_per_batch = rows_per_batch or max(1, int(np.ceil(df.height / (4 * workers))))
    source = df.select([c for c in _SOURCE_COLUMNS if c in df.columns]).with_columns(
        pl.Series("__group", codes), pl.Series("__row", np.arange(df.height)))
    parts = []
    with pool(workers) as ex:
        futures = []
        for groups in pack_groups(sizes, rows_per_batch):
            chunk = source.filter(pl.col("__group").is_in(groups))
            futures.append((chunk["__row"].to_numpy(),
                            ex.submit(score_chunk, chunk.drop("__group", "__row"), m.name, cfg, stats)))
        for rows, fut in futures:
            parts.append((rows, fut.result()))
    values = {c: np.zeros(df.height, dtype=np.float32) for c in ADDED_COLUMNS}
    for rows, out in parts:
        for c in ADDED_COLUMNS:
            values[c][rows] = out[c].to_numpy()
    return df.drop([c for c in ADDED_COLUMNS if c in df.columns]).with_columns(
        [pl.Series(c, values[c], dtype=pl.Float32) for c in ADDED_COLUMNS])
