"""Scoring on several processes: batches of whole task groups, TF-IDF statistics fitted once up front.

Every statistic is per task group (TF-IDF per iteration is fitted before the split), so any split of the
groups and any number of workers give the same numbers as one process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from .frame import ADDED_COLUMNS, dense_codes
from .proxmo import fit_batch_stats
from .similarity import TermCounts, TfidfStats, count_terms, merge_counts
from .dispatch import prepare, score_rows
from .registry import Method

_SOURCE_COLUMNS = ("group_id", "episode_id", "step", "reward", "observation", "won", "invalid_action", "iteration")


_THREAD_LIMITS = []


def _init_worker() -> None:
    # Workers already fill the cores; BLAS threads on top of them only spin against each other.
    from threadpoolctl import threadpool_limits

    _THREAD_LIMITS.append(threadpool_limits(limits=1))


def pool(workers: int) -> ProcessPoolExecutor:
    """A process pool that does not fork (polars and torch threads do not survive a fork), its workers
    started at once (they import while this process works) with one polars thread each: the processes
    already fill the cores, and polars' own thread pool on top cost about 5 % more CPU time."""
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker)
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"  # read by polars when a spawned worker imports it
    try:
        for _ in range(workers):
            executor.submit(int)
    finally:
        if saved is None:
            del os.environ["POLARS_MAX_THREADS"]
        else:
            os.environ["POLARS_MAX_THREADS"] = saved
    return executor


def share_work(fn: Callable[..., Any], calls: Sequence[tuple], executor: Executor | None, workers: int = 1,
               ahead: int = 2, on_done: Callable[[int], None] | None = None) -> list:
    """``[fn(*args) for args in calls]``, computed by this process and ``executor``'s ``workers - 1``
    workers at once: the workers take calls from the front (each keeps ``ahead`` queued, so it never waits
    for this process), this process takes them from the back, until the two meet. Results come in the
    order of ``calls``; the first exception (this process's or a worker's) is raised once every call
    handed out has finished, and no new call is started after it. ``executor=None``: all here, in order.

    This process works instead of waiting: with ``--workers 2`` one worker is spawned, not two, so one
    interpreter's memory is saved and the cores are not shared by three busy processes.

    ``on_done(i)`` is called in this process after call ``i`` finished without error (for a progress bar;
    from a worker's callback thread too, so it must be quick and thread-safe)."""
    n = len(calls)
    if executor is None or n == 0:
        out = []
        for i, args in enumerate(calls):
            out.append(fn(*args))
            if on_done is not None:
                on_done(i)
        return out
    results: list = [None] * n
    lock = threading.Condition()
    state = {"front": 0, "back": n, "done": 0, "error": None}

    def take(front: bool) -> int | None:
        with lock:
            if state["front"] >= state["back"] or state["error"] is not None:
                return None
            if front:
                state["front"] += 1
                return state["front"] - 1
            state["back"] -= 1
            return state["back"]

    def finished(i: int, value: Any = None, error: BaseException | None = None) -> None:
        with lock:
            results[i] = value
            state["done"] += 1
            if error is not None and state["error"] is None:
                state["error"] = error
            lock.notify_all()
        if error is None and on_done is not None:
            on_done(i)

    def submit_next(_: Any = None) -> None:
        i = take(front=True)
        if i is None:
            return
        try:
            future = executor.submit(fn, *calls[i])
        except RuntimeError as err:  # the executor is shutting down after an error
            finished(i, error=err)
            return

        def done(f, i=i) -> None:
            err = f.exception()
            finished(i, None if err else f.result(), err)
            if err is None:
                submit_next()

        future.add_done_callback(done)

    for _ in range(max(1, workers - 1) * ahead):
        submit_next()
    while (i := take(front=False)) is not None:
        try:
            value = fn(*calls[i])
        except BaseException as err:
            finished(i, error=err)
            break
        finished(i, value)
    with lock:
        # every call handed out (front + the back ones) must have finished before returning or raising
        lock.wait_for(lambda: state["done"] == state["front"] + (n - state["back"]))
        if state["error"] is not None:
            raise state["error"]
    return results


def tapered_chunks(n: int, workers: int, largest: int) -> list[slice]:
    """Consecutive slices covering 0..n-1 for ``share_work``: the spawned workers take calls from the
    front and this process from the back, so the two meet about ``(workers - 1) / workers`` of the way.
    Slices hold at most ``largest`` items and shrink to one item towards that point (each about a quarter
    of the items left on its side per worker there), so when they meet neither side waits long for the
    other's last call (nor for the calls queued ahead, ``share_work``'s ``ahead``)."""
    if n == 0:
        return []
    if workers < 2:
        return [slice(i, min(i + largest, n)) for i in range(0, n, largest)]
    meet = (n * (workers - 1) + workers - 1) // workers

    def sizes(items: int, takers: int) -> list[int]:
        out = []
        while items > 0:
            out.append(max(1, min(largest, items // (4 * takers))))
            items -= out[-1]
        return out

    front, back = sizes(meet, workers - 1), sizes(n - meet, 1)[::-1]
    bounds = np.cumsum([0] + front + back)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


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


def score_chunk(chunk: pl.DataFrame, method: Method, cfg: Any, stats: Mapping | None) -> pl.DataFrame:
    """Worker entry point: the four credit columns of a frame of whole task groups (``method`` is sent
    pickled, so one registered after the workers started is known to them)."""
    return score_rows(chunk, method, cfg, stats).select(ADDED_COLUMNS)


def _count_texts(texts: list[str], multiplicity: np.ndarray) -> TermCounts:
    return count_terms(texts, multiplicity)[0]


def batch_stats(df: pl.DataFrame, m: Method, cfg: Any, executor: ProcessPoolExecutor | None = None,
                pieces: int = 1) -> dict | None:
    """TF-IDF statistics per iteration when the method needs batch-level ones, else None.

    With an executor the distinct texts of each iteration are tokenised in ``pieces`` parallel parts
    whose term counts are summed (the same statistics as one fit)."""
    if not m.uses_tfidf_batch(cfg):
        return None
    batch = df["iteration"].cast(pl.Int64).to_numpy() if "iteration" in df.columns else np.zeros(df.height, np.int64)
    if executor is None:
        return fit_batch_stats(df["observation"], batch, cfg.max_features)
    frame = pl.DataFrame({"b": batch, "o": df["observation"]})
    jobs = []
    for (b,), part in frame.group_by("b", maintain_order=True):
        counts = part.group_by("o").len()
        step = max(1, -(-counts.height // pieces))
        for lo in range(0, counts.height, step):
            piece = counts.slice(lo, step)
            jobs.append((int(b), executor.submit(_count_texts, piece["o"].to_list(), piece["len"].to_numpy())))
    merged: dict[int, TermCounts] = {}
    for b, job in jobs:
        merged[b] = merge_counts([merged[b], job.result()]) if b in merged else job.result()
    return {b: TfidfStats.from_counts(c, cfg.max_features) for b, c in merged.items()}


def score_parallel(df: pl.DataFrame, m: Method, cfg: Any, workers: int,
                   rows_per_batch: int | None = None) -> pl.DataFrame:
    """``score`` over ``workers`` processes (same result as one process)."""
    prepare(df, m, cfg)  # every input error is raised here, with the input's row numbers
    codes = dense_codes(df["group_id"])
    sizes = np.bincount(codes)
    rows_per_batch = rows_per_batch or max(1, int(np.ceil(df.height / (4 * workers))))
    source = df.select([c for c in _SOURCE_COLUMNS if c in df.columns]).with_columns(
        pl.Series("__group", codes), pl.Series("__row", np.arange(df.height)))
    parts = []
    with pool(workers) as ex:
        stats = batch_stats(df, m, cfg, ex, pieces=workers)
        futures = []
        for groups in pack_groups(sizes, rows_per_batch):
            chunk = source.filter(pl.col("__group").is_in(groups))
            futures.append((chunk["__row"].to_numpy(),
                            ex.submit(score_chunk, chunk.drop("__group", "__row"), m, cfg, stats)))
        for rows, fut in futures:
            parts.append((rows, fut.result()))
    values = {c: np.zeros(df.height, dtype=np.float32) for c in ADDED_COLUMNS}
    for rows, out in parts:
        for c in ADDED_COLUMNS:
            values[c][rows] = out[c].to_numpy()
    return df.drop([c for c in ADDED_COLUMNS if c in df.columns]).with_columns(
        [pl.Series(c, values[c], dtype=pl.Float32) for c in ADDED_COLUMNS])
