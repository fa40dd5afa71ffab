"""Re-scoring a run folder that need not fit in memory, in memory flat in the number of rows.

``score_run(run, out, method)`` makes two passes over the run's Parquet parts:

1. **Index** (one read of ``group_id``, ``episode_id`` and, for batch-level TF-IDF, ``iteration`` and
   ``observation``, unit by unit, on the worker pool): the per-file checks of ``read_log`` (columns, types,
   nulls), rows per task group and the files holding each group, one group per episode (64-bit hashes of
   the ids, collisions resolved exactly) and the TF-IDF term counts per iteration. What stays in memory is
   per group and per term, never per row.
2. **Score** (one read of every column of each part, in file order): groups are ordered by the file where
   their last row lies and packed into *segments* of about ``rows_per_batch`` rows; each segment becomes
   one output part. A task takes consecutive segments and keeps the last file it read, so each part file
   is decoded about once. Every episode's steps are checked to be 0..n-1 (``read_log``'s rule) on the way.

Memory is bounded by a few parts plus a segment plus the vocabulary. The numbers equal
``score(read_log(run), method)`` bit for bit, for any ``rows_per_batch`` and any number of workers:
every statistic is per task group (or fitted per iteration before the split) and the kernels' sums never
depend on which other groups share a call.

The output is committed last (``proxmo_envs.trajlog.commit``): ``scoring.json`` says "in progress" from
the start and "complete" only after every part, the manifest and the failures files are written, so a
killed scoring leaves a folder readers refuse; ``resume=True`` finishes it (parts already written are
kept), ``force=True`` starts over.

``run`` and ``out`` may be local paths or any pyarrow filesystem location (``file://``, ``s3://``, a
``(pyarrow.fs.FileSystem, path)`` pair; ``proxmo_envs.trajlog.fs``). Workers reopen the filesystem, so an
in-process filesystem (fsspec ``memory``) needs ``workers=1``.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import polars as pl
import pyarrow as pa

from proxmo_analysis.logs import check_part, check_same_run, located_parts
from proxmo_envs.trajlog.commit import COMPLETE, IN_PROGRESS, SCORING_NAME, read_marker, write_marker
from proxmo_envs.trajlog.fs import RunLike, RunLocation, resolve_location
from proxmo_envs.trajlog.schema import CREDIT_METADATA_KEY, PART_GLOB, RUN_METADATA_KEY  # noqa: F401

from .dispatch import credit_columns, credit_metadata
from .frame import ADDED_COLUMNS
from .parallel import pack_groups, pool
from .registry import Method, make_config, runs_in_workers
from .runs import (  # noqa: F401  (re-exported: stream.fit_run_stats etc. were public here)
    DEFAULT_ROWS_PER_BATCH,
    clear_output,
    copy_run_files,
    fit_run_stats,
    output_schema,
    prepare_output,
    run_files,
    run_location_files,
)
from .similarity import TermCounts, TfidfStats, count_terms, merge_counts

#: the columns the credit methods read (whichever of them the log has)
SCORING_COLUMNS = ("group_id", "episode_id", "step", "reward", "observation", "won", "invalid_action", "iteration")


# ---- pass 1: the index ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """Rows of one part file read together in pass 1: ``row_groups`` of file number ``file``."""

    file: int
    path: str
    shown: str
    row_groups: list[int]


def index_unit(unit: Unit, need_text: bool, location: RunLocation) -> dict[str, Any]:
    """Pass-1 worker: the per-file checks, then per task group its rows, per episode its group (hashes),
    and the term counts per iteration when ``need_text``."""
    first = not unit.row_groups or unit.row_groups[0] == 0  # the file's checks run once, with its first unit
    pf = check_part(location, unit.path, unit.shown) if first else location.parquet_file(unit.path)
    names = pf.schema_arrow.names
    columns = ["group_id", "episode_id"] + (["iteration"] if "iteration" in names else [])
    columns += ["observation"] * need_text
    frame = pl.from_arrow(pf.read_row_groups(unit.row_groups, columns=columns, use_threads=False))
    groups = frame.group_by("group_id").agg(pl.len().alias("n")).with_columns(
        pl.lit(unit.file, dtype=pl.Int32).alias("file"))
    pairs = frame.select(pl.col("episode_id").hash(seed=1).alias("episode"),
                         pl.col("group_id").hash(seed=1).alias("group")).unique()
    pairs = (pairs["episode"].to_numpy(), pairs["group"].to_numpy())
    counts: dict[int, TermCounts] = {}
    if need_text:
        if "iteration" not in frame.columns:
            frame = frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("iteration"))
        for (it,), part in frame.group_by("iteration"):
            texts = part.group_by("observation").len()
            counts[int(it)] = count_terms(texts["observation"].to_list(), texts["len"].to_numpy())[0]
    return {"groups": groups, "pairs": pairs, "counts": counts}


def _units(location: RunLocation, files: list[str], shown: list[str], rows_per_unit: int) -> list[Unit]:
    units = []
    for k, (f, name) in enumerate(zip(files, shown)):
        meta = location.parquet_file(f).metadata
        current, rows = [], 0
        for i in range(meta.num_row_groups):
            current.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= rows_per_unit:
                units.append(Unit(k, f, name, current))
                current, rows = [], 0
        if current or meta.num_row_groups == 0:
            units.append(Unit(k, f, name, current))
    return units


def _check_one_group_per_episode(episodes: np.ndarray, groups: np.ndarray, location: RunLocation,
                                 files: list[str], shown: list[str]) -> None:
    """Refuse an episode under two group_ids. ``episodes`` / ``groups``: 64-bit hashes of the (episode,
    group) pairs of every unit (16 bytes per episode and file it lies in). Hashes flag candidates; the
    flagged ids are then compared as strings (a hash collision is not an error), and the message names
    file, column and row."""
    order = np.argsort(episodes, kind="stable")
    e, g = episodes[order], groups[order]
    clash = (e[1:] == e[:-1]) & (g[1:] != g[:-1])
    if not clash.any():
        return
    flagged = pl.Series("episode", np.unique(e[1:][clash]), dtype=pl.UInt64)
    first_group: dict[str, str] = {}
    for k, f in enumerate(files):
        ids = location.read_parquet(f, columns=["episode_id", "group_id"]).with_row_index("row").filter(
            pl.col("episode_id").hash(seed=1).is_in(flagged.implode()))
        for ep, g, row in zip(ids["episode_id"], ids["group_id"], ids["row"]):
            if first_group.setdefault(ep, g) != g:
                raise ValueError(f"{shown[k]}: column 'group_id', row {row}: episode {ep!r} appears under two "
                                 f"groups ({first_group[ep]!r} and {g!r})")


@dataclass(frozen=True)
class Plan:
    """Pass 2's work: ``segments[k]`` (group ids) becomes ``part-{k:05d}.parquet``, reading ``files[k]``
    (indices into the run's files); ``rows`` and ``groups`` count the whole run."""

    segments: list[list[str]]
    files: list[list[int]]
    rows: int
    groups: int

    def fingerprint(self) -> str:
        """A hash of the segments: a resumed scoring must cut the run the same way."""
        h = hashlib.sha256()
        for seg in self.segments:
            h.update("\x1f".join(seg).encode())
            h.update(b"\x1e")
        return h.hexdigest()[:16]


def plan_segments(groups: pl.DataFrame, rows_per_batch: int) -> Plan:
    """Segments of whole task groups from the index rows (group_id, n, file): groups in order of the
    file holding their last row (then their first file, then id), packed into ``rows_per_batch``."""
    per_group = groups.group_by("group_id").agg(pl.col("n").sum(), pl.col("file").max().alias("last"),
                                                pl.col("file").min().alias("first")).sort("last", "first",
                                                                                          "group_id")
    batches = pack_groups(per_group["n"].to_list(), rows_per_batch)
    segment = np.zeros(per_group.height, dtype=np.int64)
    for k, b in enumerate(batches):
        segment[b] = k
    assigned = per_group.select("group_id").with_columns(pl.Series("segment", segment))
    files = (groups.join(assigned, on="group_id").group_by("segment")
             .agg(pl.col("file").unique().sort()).sort("segment"))
    names = per_group["group_id"].to_list()
    return Plan(segments=[[names[g] for g in b] for b in batches], files=files["file"].to_list(),
                rows=int(per_group["n"].sum()), groups=per_group.height)


def index_run(location: RunLocation, files: list[str], shown: list[str], need_text: bool,
              executor: Executor | None, rows_per_unit: int = DEFAULT_ROWS_PER_BATCH
              ) -> tuple[pl.DataFrame, dict[int, TermCounts] | None]:
    """Pass 1 over all files: the (group_id, n, file) index rows and, when ``need_text``, the TF-IDF term
    counts per iteration (``fit_stats`` turns them into statistics for a ``max_features``)."""
    units = _units(location, files, shown, rows_per_unit)
    args = [(u, need_text, location) for u in units]
    results = executor.map(index_unit, *zip(*args)) if executor and args else (index_unit(*a) for a in args)
    groups, episodes, group_hashes, merged = [], [], [], {}
    for r in results:
        groups.append(r["groups"])
        episodes.append(r["pairs"][0])
        group_hashes.append(r["pairs"][1])
        for it, counts in r["counts"].items():
            merged[it] = merge_counts([merged[it], counts]) if it in merged else counts
    check_same_run(location, files, shown)
    _check_one_group_per_episode(np.concatenate(episodes), np.concatenate(group_hashes), location, files, shown)
    del episodes, group_hashes
    return pl.concat(groups), (merged if need_text else None)


def fit_stats(counts: Mapping[int, TermCounts] | None, max_features: int) -> dict[int, TfidfStats] | None:
    """TF-IDF statistics per iteration from the term counts of ``index_run`` (None stays None)."""
    return None if counts is None else {it: TfidfStats.from_counts(c, max_features) for it, c in counts.items()}


# ---- pass 2: scoring segments --------------------------------------------------------------------------

@dataclass
class Job:
    """Settings shared by every pass-2 task (sent once per task to a worker)."""

    method: Method
    cfg: Any
    stats: Mapping | None
    location: RunLocation
    files: list[str]
    shown: list[str]
    out: RunLocation
    metadata: dict[bytes, bytes]
    template: pa.Schema
    where: str


def read_segment(location: RunLocation, files: list[str], shown: list[str], segment: list[str],
                 file_indices: list[int], cache: dict[int, pa.Table], columns: list[str] | None = None
                 ) -> tuple[pa.Table, Callable[[int], str]]:
    """The rows of ``segment``'s groups (in file and row order) from the files ``file_indices`` (only
    ``columns`` when given), and a function naming a row of the result by file and row. ``cache``: tables
    already read (updated)."""
    wanted = pl.Series("g", segment, dtype=pl.String).implode()
    pieces, origin = [], []
    for k in file_indices:
        if k not in cache:
            pf = location.parquet_file(files[k])
            names = [c for c in columns if c in pf.schema_arrow.names] if columns is not None else None
            cache[k] = pf.read(columns=names, use_threads=False)
        table = cache[k]
        mask = pl.from_arrow(table.column("group_id")).is_in(wanted)
        rows = np.flatnonzero(mask.to_numpy())
        if len(rows):
            contiguous = rows[-1] - rows[0] + 1 == len(rows)
            pieces.append(table.slice(int(rows[0]), len(rows)) if contiguous else table.take(pa.array(rows)))
            origin.append((k, rows))
    table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    starts = np.cumsum([0] + [len(r) for _, r in origin])

    def locate(i: int) -> str:
        p = int(np.searchsorted(starts, i, side="right")) - 1
        k, rows = origin[p]
        return f"row {int(rows[i - starts[p]])} of {shown[k]}"

    return table, locate


def scoring_frame(table: pa.Table) -> pl.DataFrame:
    """The columns the credit methods read, as polars (the other columns are never converted)."""
    return pl.from_arrow(table.select([c for c in SCORING_COLUMNS if c in table.column_names]))


def score_segment(job: Job, segment: list[str], files: list[int], name: str, cache: dict[int, pa.Table]) -> int:
    """Read the rows of ``segment``'s groups from ``files`` (``cache``: tables already read, updated),
    score them and write part ``name`` of the output atomically; returns its row count."""
    table, locate = read_segment(job.location, job.files, job.shown, segment, files, cache)
    credit = credit_columns(scoring_frame(table), job.method, job.cfg, job.stats, where=job.where, locate=locate)
    for c in ADDED_COLUMNS:
        if c in table.column_names:
            table = table.drop_columns([c])
        table = table.append_column(c, pa.array(credit[c], type=pa.float32()))
    table = table.cast(output_schema(table, job.template)).replace_schema_metadata(job.metadata)
    job.out.write_table(name, table, compression="zstd")
    return table.num_rows


def release_cache(cache: dict[int, pa.Table], keep: list[int]) -> None:
    """Drop the cached tables the next segment does not read."""
    for k in [k for k in cache if k not in set(keep)]:
        del cache[k]


def score_segments(job: Job, tasks: list[tuple[list[str], list[int], str]]) -> list[int]:
    """Pass-2 worker: consecutive segments in order, keeping only the files the next segment still needs."""
    cache: dict[int, pa.Table] = {}
    rows = []
    for i, (segment, files, name) in enumerate(tasks):
        rows.append(score_segment(job, segment, files, name, cache))
        release_cache(cache, tasks[i + 1][1] if i + 1 < len(tasks) else [])
    return rows


# ---- the output folder -----------------------------------------------------------------------------------

def open_output(run_loc: RunLocation, out: RunLocation, info: dict[str, Any], resume: bool, force: bool
                ) -> tuple[RunLocation | None, set[str], bool]:
    """Prepare ``out`` for a scoring described by ``info``: refuse the input folder; with ``force`` clear a
    previous scoring; with ``resume`` check the unfinished one matches ``info`` and return the parts it
    already wrote; write the "in progress" marker. Returns the input folder (None for one file), the part
    names to keep and whether ``out`` was created here."""
    prepare_output(run_loc, out, check_only=True)  # never the input folder, whatever the flags
    created = not out.exists()
    marker = read_marker(out) if not created and out.is_dir() else None
    if resume and not force:
        if marker is None:
            raise ValueError(f"{out}: nothing to resume (no {SCORING_NAME}); run without --resume")
        if marker.get("state") == COMPLETE:
            raise ValueError(f"{out}: this scoring is already complete; use --force to score it again")
        differs = [k for k in ("input", "method", "params", "rows_per_batch", "plan") if marker.get(k) != info[k]]
        if differs:
            raise ValueError(f"{out}: the unfinished scoring used different settings ({', '.join(differs)}); "
                             "resume it with the same ones, or use --force to start over")
        out.remove_temporaries()
        keep = {Path(p).name if out.is_local else p.rpartition("/")[2] for p in out.glob(PART_GLOB)}
        return (run_loc if run_loc.is_dir() else None), keep, False
    if force:
        clear_output(out)
    elif marker is not None and marker.get("state") != COMPLETE:
        raise ValueError(f"{out} holds an unfinished scoring ({SCORING_NAME} says {marker.get('state')!r}); "
                         "use --resume to finish it or --force to start over")
    elif out.glob(PART_GLOB):
        raise ValueError(f"{out} already holds part files; choose an empty output folder or use --force")
    folder = prepare_output(run_loc, out)
    write_marker(out, IN_PROGRESS, info)
    return folder, set(), created


def _remove_output(out: RunLocation, created: bool) -> None:
    clear_output(out)
    if created and out.is_local:
        try:
            os.rmdir(out.path)
        except OSError:
            pass


# ---- the entry point -----------------------------------------------------------------------------------

def score_run(run: RunLike, out: RunLike, method: str = "proxmo", *,
              workers: int = 1, rows_per_batch: int = DEFAULT_ROWS_PER_BATCH, backend: str = "local",
              address: str | None = None, resume: bool = False, force: bool = False, **config: Any) -> dict:
    """Score a run folder (or one Parquet file) into ``out``: scored parts, the manifest, the commit marker.

    Each output part holds whole task groups (rows of a group in their input order) and carries the
    input's ``proxmo.run`` metadata plus ``proxmo.credit`` (method and resolved parameters, JSON). The
    numbers equal ``score(read_log(run), method, **config)`` bit for bit. ``run`` and ``out`` are local
    paths or pyarrow filesystem locations (``file://``, ``s3://``, ``(FileSystem, path)``).

    workers: processes (1: everything in this process). rows_per_batch: rows of whole groups per output
    part (bounds memory). resume: finish an interrupted scoring into the same ``out`` with the same
    settings (parts already written are kept). force: clear a previous scoring in ``out`` first.
    ``backend="ray"`` scores on the Ray cluster at ``address`` (``credit.ray_scorer.score_run_ray``).

    Returns a summary dict: method, params, rows, groups, parts, out. Raises ValueError (one line naming
    file, column and row) on a log that breaks the spec; nothing is left in ``out`` then.
    """
    if backend == "ray":
        if resume:
            raise ValueError("--resume is not supported with the ray backend; use --force to score again")
        from .ray_scorer import score_run_ray  # lazy: the local path never imports ray

        return score_run_ray(run, out, method, address=address, force=force, **config)
    if backend != "local":
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    m, cfg = make_config(method, config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if isinstance(rows_per_batch, bool) or not isinstance(rows_per_batch, int) or rows_per_batch < 1:
        raise ValueError(f"rows_per_batch must be a positive int, got {rows_per_batch!r}")
    run_loc, files, shown = located_parts(run)
    out = resolve_location(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")

    # workers get the Method pickled; one that cannot travel (lambdas, a notebook's __main__) stays in-process
    executor = pool(workers) if workers > 1 and runs_in_workers(m) else None
    created, folder, committed, opened = False, None, False, False
    try:
        index, counts = index_run(run_loc, files, shown, m.uses_tfidf_batch(cfg), executor)
        stats = fit_stats(counts, getattr(cfg, "max_features", 0))
        plan = plan_segments(index, rows_per_batch)
        source = str(Path(run_loc.path).resolve()) if run_loc.is_local else str(run_loc)  # any cwd can resume
        info = {"input": source, "method": method, "params": cfg.to_dict(), "rows_per_batch": rows_per_batch,
                "plan": plan.fingerprint(), "parts": len(plan.segments), "rows": plan.rows, "groups": plan.groups}
        folder, done, created = open_output(run_loc, out, info, resume, force)
        opened = not resume or force

        template = run_loc.parquet_file(files[0]).schema_arrow
        metadata = dict(template.metadata or {})
        metadata[CREDIT_METADATA_KEY.encode()] = credit_metadata(method, cfg).encode()
        job = Job(m, cfg, stats, run_loc, files, shown, out, metadata, template.remove_metadata(), str(run_loc))
        tasks = [(seg, fs, f"part-{k:05d}.parquet") for k, (seg, fs) in enumerate(zip(plan.segments, plan.files))
                 if f"part-{k:05d}.parquet" not in done]
        # consecutive segments per task (a file shared by neighbours is read once); several tasks per worker
        n_tasks = 1 if executor is None else min(len(tasks), 4 * workers)
        chunks = [c for c in np.array_split(np.arange(len(tasks)), max(n_tasks, 1)) if len(c)]
        if executor is None:
            for c in chunks:
                score_segments(job, [tasks[i] for i in c])
        else:
            for f in [executor.submit(score_segments, job, [tasks[i] for i in c]) for c in chunks]:
                f.result()
        copy_run_files(folder, out)
        write_marker(out, COMPLETE, info)
        committed = True
    except ValueError:
        if opened:  # a bad log found while scoring: leave no half-written folder behind
            _remove_output(out, created)
        raise
    finally:
        if executor:
            executor.shutdown(cancel_futures=not committed)
    return {"method": method, "params": cfg.to_dict(), "rows": plan.rows, "groups": plan.groups,
            "parts": len(plan.segments), "out": str(out)}


__all__ = ["DEFAULT_ROWS_PER_BATCH", "Plan", "fit_stats", "index_run", "plan_segments", "score_run", "score_segment"]
