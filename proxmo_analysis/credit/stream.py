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

import base64
import hashlib
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from proxmo_analysis.logs import check_part, check_same_run, located_parts
from proxmo_envs.trajlog.commit import COMPLETE, IN_PROGRESS, SCORING_NAME, read_marker, write_marker
from proxmo_envs.trajlog.fs import RunLike, RunLocation, resolve_location
from proxmo_envs.trajlog.schema import CREDIT_METADATA_KEY, LOG_SCHEMA, PART_GLOB, RUN_METADATA_KEY  # noqa: F401

from .dispatch import credit_columns, credit_metadata
from .frame import ADDED_COLUMNS
from .parallel import pack_groups, pool, share_work, tapered_chunks
from .registry import Method, make_config, runs_in_workers
from .runs import DEFAULT_ROWS_PER_BATCH, clear_output, copy_run_files, output_schema, prepare_output
from .similarity import TermCounts, TfidfStats, count_terms, merge_counts

#: the columns the credit methods read (whichever of them the log has)
SCORING_COLUMNS = ("group_id", "episode_id", "step", "reward", "observation", "won", "invalid_action", "iteration")

#: the log's text columns, read dictionary-encoded (``read_table``)
TEXT_COLUMNS = [f.name for f in LOG_SCHEMA if pa.types.is_large_string(f.type)]


def _element_type(t: pa.DataType) -> pa.DataType | None:
    """The element type of a list column's type, None for other types."""
    return t.value_type if pa.types.is_list(t) or pa.types.is_large_list(t) else None


def _is_text_list(t: pa.DataType) -> bool:
    return (e := _element_type(t)) is not None and pa.types.is_large_string(e)


def _is_encoded(t: pa.DataType) -> bool:
    """Dictionary-encoded text, or a list of it (what ``read_table`` gives for ``DICTIONARY_PATHS``)."""
    return pa.types.is_dictionary(t) or ((e := _element_type(t)) is not None and pa.types.is_dictionary(e))


#: ``read_table``'s dictionary-encoded Parquet paths: the text columns and the texts of the lists of text
#: (``admissible_actions``: decoding and re-encoding its many repeated strings was a tenth of a part's read
#: and write; written back from the dictionary the file's bytes are the same)
DICTIONARY_PATHS = TEXT_COLUMNS + [f"{f.name}.list.element" for f in LOG_SCHEMA if _is_text_list(f.type)]


# ---- pass 1: the index ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """Rows of one part file read together in pass 1: ``row_groups`` of file number ``file``."""

    file: int
    path: str
    shown: str
    row_groups: list[int]


def read_table(location: RunLocation, path: str, columns: list[str] | None = None,
               row_groups: list[int] | None = None) -> pa.Table:
    """Columns of one part file (all when ``columns`` is None; only ``row_groups`` when given) with the
    text columns (and the texts inside lists, ``DICTIONARY_PATHS``) dictionary-encoded as Parquet stores
    them: each distinct string is decoded once, its rows are integer codes (``pyarrow.DictionaryArray``),
    and every column is one chunk."""
    pf = location.parquet_file(path, read_dictionary=DICTIONARY_PATHS)
    if columns is not None:
        columns = [c for c in columns if c in pf.schema_arrow.names]
    table = (pf.read(columns=columns, use_threads=False) if row_groups is None
             else pf.read_row_groups(row_groups, columns=columns, use_threads=False))
    if any(col.num_chunks != 1 for col in table.columns):
        table = table.unify_dictionaries().combine_chunks()
    return table


def codes_of(table: pa.Table, name: str) -> tuple[np.ndarray, pl.Series]:
    """A text column's per-row codes (int64, (n,)) and its values (``values[codes[i]]`` is row i's text),
    from ``read_table``'s dictionary encoding (an empty table gives empty arrays)."""
    column = table.column(name)
    if column.num_chunks == 0 or len(column) == 0:
        return np.zeros(0, dtype=np.int64), pl.Series(name, [], dtype=pl.String)
    chunk = column.chunk(0)
    if not pa.types.is_dictionary(chunk.type):  # e.g. a string_view column: encode it here
        chunk = pc.dictionary_encode(chunk)
    values = pl.from_arrow(chunk.dictionary)
    return numpy_of(chunk.indices).astype(np.int64, copy=False), values.rename(name).cast(pl.String)


def dictionary_column(table: pa.Table, name: str) -> tuple[np.ndarray, pl.Series] | None:
    """A dictionary-encoded text column of ``table`` as (indices (n,), dictionary), one chunk (the
    dictionaries of several files' pieces unified), or None when it is absent, plain or has nulls."""
    if name not in table.column_names:
        return None
    column = table.column(name)
    if not pa.types.is_dictionary(column.type) or column.null_count:
        return None
    if column.num_chunks != 1:
        table = table.select([name]).unify_dictionaries().combine_chunks()
    return codes_of(table, name)


def numpy_of(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow array as numpy, through polars: pyarrow's own ``to_numpy`` imports pandas (~1 s a process)."""
    return pl.from_arrow(array).to_numpy()


def index_unit(unit: Unit, need_text: bool, location: RunLocation) -> dict[str, Any]:
    """Pass-1 worker: the per-file checks, then per task group its rows, per episode its group (hashes),
    and the term counts per iteration when ``need_text``. Works on the files' dictionary codes: every
    distinct id and text is hashed or tokenised once per unit, never once per row."""
    first = not unit.row_groups or unit.row_groups[0] == 0  # the file's checks run once, with its first unit
    if first:
        check_part(location, unit.path, unit.shown)
    columns = ["group_id", "episode_id", "iteration"] + ["observation"] * need_text
    table = read_table(location, unit.path, columns, unit.row_groups)
    group, group_values = codes_of(table, "group_id")
    episode, episode_values = codes_of(table, "episode_id")
    rows = np.bincount(group, minlength=len(group_values))
    present = np.flatnonzero(rows)
    groups = pl.DataFrame({"group_id": group_values.gather(present), "n": rows[present].astype(np.int64),
                           "file": np.full(len(present), unit.file, dtype=np.int32)})
    # one (episode, group) pair per distinct combination, as 64-bit hashes of the two ids
    pair = np.sort(episode * max(len(group_values), 1) + group)  # np.unique without its hash table: 3x faster here
    pair = pair[np.concatenate([[True], pair[1:] != pair[:-1]])] if len(pair) else pair
    episode_hash = episode_values.hash(seed=1).to_numpy()
    group_hash = group_values.hash(seed=1).to_numpy()
    pairs = (episode_hash[pair // max(len(group_values), 1)], group_hash[pair % max(len(group_values), 1)])
    counts: dict[int, TermCounts] = {}
    if need_text:
        text, texts = codes_of(table, "observation")
        iteration = (numpy_of(table.column("iteration")) if "iteration" in table.column_names
                     else np.zeros(len(text), dtype=np.int64))
        its = iteration[:1] if len(iteration) and iteration.min() == iteration.max() else np.unique(iteration)
        for it in its:
            sel = text if len(its) == 1 else text[iteration == it]
            mult = np.bincount(sel, minlength=len(texts))
            used = np.flatnonzero(mult)
            counts[int(it)] = count_terms(texts.gather(used), mult[used])[0]
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


#: a segment may exceed ``rows_per_batch`` by this factor to keep the groups ending in one file together
SEGMENT_SLACK = 1.5


def pack_file_blocks(sizes: np.ndarray, last: np.ndarray, rows_per_batch: int) -> list[np.ndarray]:
    """Segments (arrays of group numbers) of groups 0..n-1 in order, where ``last[g]`` (non-decreasing) is
    the file holding group g's last row. The groups ending in one file form a *block*; consecutive blocks
    share a segment while it stays within ``rows_per_batch`` rows; a block is kept whole up to
    ``SEGMENT_SLACK * rows_per_batch`` rows, and a larger one is cut into about equal segments of at most
    ``rows_per_batch`` rows (a group larger than that gets a segment of its own). So a run whose groups
    lie within its files gives about one segment per file, and a segment reads each file it needs whole."""
    n = len(sizes)
    if n == 0:
        return []
    cut = np.flatnonzero(np.diff(last)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [n]])
    block_rows = np.add.reduceat(np.asarray(sizes, dtype=np.int64), starts)
    segments: list[np.ndarray] = []
    current: list[int] = []
    rows = 0
    for lo, hi, b in zip(starts, ends, block_rows):
        if current and rows + b > rows_per_batch:
            segments.append(np.arange(current[0], current[1]))
            current, rows = [], 0
        if b > SEGMENT_SLACK * rows_per_batch:
            pieces = -(-int(b) // rows_per_batch)
            for piece in pack_groups(sizes[lo:hi], -(-int(b) // pieces)):
                segments.append(piece + lo)
            continue
        current = [current[0] if current else lo, hi]
        rows += int(b)
    if current:
        segments.append(np.arange(current[0], current[1]))
    return segments


def plan_segments(groups: pl.DataFrame, rows_per_batch: int) -> Plan:
    """Segments of whole task groups from the index rows (group_id, n, file): groups in order of the
    file holding their last row (then their first file, then id), packed by ``pack_file_blocks``."""
    per_group = groups.group_by("group_id").agg(pl.col("n").sum(), pl.col("file").max().alias("last"),
                                                pl.col("file").min().alias("first")).sort("last", "first",
                                                                                          "group_id")
    batches = pack_file_blocks(per_group["n"].to_numpy(), per_group["last"].to_numpy(), rows_per_batch)
    segment = np.zeros(per_group.height, dtype=np.int64)
    for k, b in enumerate(batches):
        segment[b] = k
    assigned = per_group.select("group_id").with_columns(pl.Series("segment", segment))
    files = (groups.join(assigned, on="group_id").group_by("segment")
             .agg(pl.col("file").unique().sort()).sort("segment"))
    names = per_group["group_id"]
    return Plan(segments=[names.gather(b).to_list() for b in batches], files=files["file"].to_list(),
                rows=int(per_group["n"].sum()), groups=per_group.height)


def index_run(location: RunLocation, files: list[str], shown: list[str], need_text: bool,
              executor: Executor | None, rows_per_unit: int = DEFAULT_ROWS_PER_BATCH, workers: int = 1
              ) -> tuple[pl.DataFrame, dict[int, TermCounts] | None]:
    """Pass 1 over all files: the (group_id, n, file) index rows and, when ``need_text``, the TF-IDF term
    counts per iteration (``fit_stats`` turns them into statistics for a ``max_features``). The units are
    shared by this process and ``executor``'s ``workers - 1`` workers (``parallel.share_work``)."""
    units = _units(location, files, shown, rows_per_unit)
    results = share_work(index_unit, [(u, need_text, location) for u in units], executor, workers)
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
    ``columns`` when given; text columns dictionary-encoded, ``read_table``), and a function naming a row
    of the result by file and row. ``cache``: tables already read (updated). A file whose rows all belong
    to the segment is used as it is (the usual case: ``pack_file_blocks``)."""
    wanted = pl.Series("g", segment, dtype=pl.String).implode()
    pieces, origin = [], []
    for k in file_indices:
        if k not in cache:
            cache[k] = read_table(location, files[k], columns)
        table = cache[k]
        codes, values = codes_of(table, "group_id")
        mask = values.is_in(wanted).to_numpy()[codes]
        if mask.all():
            pieces.append(table)
            origin.append((k, None))
            continue
        rows = np.flatnonzero(mask)
        if len(rows):
            contiguous = rows[-1] - rows[0] + 1 == len(rows)
            pieces.append(table.slice(int(rows[0]), len(rows)) if contiguous else table.take(pa.array(rows)))
            origin.append((k, rows))
    table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    starts = np.cumsum([0] + [len(p) for p in pieces])

    def locate(i: int) -> str:
        p = int(np.searchsorted(starts, i, side="right")) - 1
        k, rows = origin[p]
        return f"row {int(i - starts[p] if rows is None else rows[i - starts[p]])} of {shown[k]}"

    return table, locate


def float32_array(values: np.ndarray) -> pa.Array:
    """A float32 numpy array as an Arrow array without a copy (``pa.array`` on numpy imports pandas)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    return pa.Array.from_buffers(pa.float32(), len(values), [None, pa.py_buffer(values)])


def polars_column(column: pa.ChunkedArray) -> pl.Series:
    """A column as polars, dictionary-encoded text decoded to String (a polars gather: about three times
    faster than Arrow's ``dictionary_decode`` followed by a conversion)."""
    if not pa.types.is_dictionary(column.type):
        return pl.from_arrow(column)
    parts = [pl.from_arrow(c.dictionary).cast(pl.String).gather(pl.from_arrow(c.indices)) for c in column.chunks]
    return pl.concat(parts) if len(parts) != 1 else parts[0]


def scoring_frame(table: pa.Table) -> pl.DataFrame:
    """The columns the credit methods read, as polars (the other columns are never converted)."""
    return pl.DataFrame([polars_column(table.column(c)).alias(c) for c in SCORING_COLUMNS if c in table.column_names])


def encoded_schema(schema: pa.Schema) -> bytes:
    """The ``ARROW:schema`` value pyarrow stores in a Parquet footer (base64 of the IPC schema): what a
    reader's column types come from."""
    return base64.b64encode(schema.serialize().to_pybytes())


def write_part(out: RunLocation, name: str, table: pa.Table, schema: pa.Schema) -> None:
    """Write ``table`` as part ``name`` of ``out`` (atomically) so it reads back with ``schema``'s types
    and metadata. Dictionary-encoded text columns are written as they are (no re-hashing of the strings)
    and ``schema`` is stored as the Arrow schema, so readers see the log's plain ``large_string`` columns."""
    physical = pa.schema([pa.field(f.name, table.schema.field(f.name).type, f.nullable)
                          if _is_encoded(table.schema.field(f.name).type) else f for f in schema])
    table = table.select(schema.names).cast(physical)

    def fill(fh) -> None:
        # no dictionary for the float credit columns: nearly every value is distinct, so pyarrow would build a
        # dictionary per column only to fall back to plain encoding (a third of the write time)
        plain = [n for n in schema.names if n not in ADDED_COLUMNS]
        writer = pq.ParquetWriter(fh, physical, compression="zstd", store_schema=False, use_dictionary=plain)
        writer.write_table(table)
        writer.add_key_value_metadata({**(schema.metadata or {}), b"ARROW:schema": encoded_schema(schema)})
        writer.close()

    out.write_file(name, fill)


def score_segment(job: Job, segment: list[str], files: list[int], name: str, cache: dict[int, pa.Table]
                  ) -> tuple[pa.Table, pa.Schema]:
    """Read the rows of ``segment``'s groups from ``files`` (``cache``: tables already read, updated) and
    score them; returns the scored table and the schema part ``name`` is written with (``write_part``)."""
    table, locate = read_segment(job.location, job.files, job.shown, segment, files, cache)
    observations = dictionary_column(table, "observation") if job.method.needs_observation(job.cfg) else None
    credit = credit_columns(scoring_frame(table), job.method, job.cfg, job.stats, where=job.where, locate=locate,
                            observation_dictionary=observations)
    for c in ADDED_COLUMNS:
        if c in table.column_names:
            table = table.drop_columns([c])
        table = table.append_column(c, float32_array(credit[c]))
    return table, output_schema(table, job.template).with_metadata(job.metadata)


def release_cache(cache: dict[int, pa.Table], keep: list[int]) -> None:
    """Drop the cached tables the next segment does not read."""
    for k in [k for k in cache if k not in set(keep)]:
        del cache[k]


def score_segments(job: Job, tasks: list[tuple[list[str], list[int], str]]) -> list[int]:
    """Pass-2 worker: consecutive segments in order, keeping only the files the next segment still needs.
    Each part is written (and fsynced) on a background thread while the next segment is scored; at most
    one write is pending, so memory holds at most two segments."""
    cache: dict[int, pa.Table] = {}
    rows = []
    with ThreadPoolExecutor(1) as writer:
        pending = None
        for i, (segment, files, name) in enumerate(tasks):
            table, schema = score_segment(job, segment, files, name, cache)
            release_cache(cache, tasks[i + 1][1] if i + 1 < len(tasks) else [])
            if pending is not None:
                pending.result()
            pending = writer.submit(write_part, job.out, name, table, schema)
            rows.append(table.num_rows)
            del table
        if pending is not None:
            pending.result()
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

    workers: processes (1: everything in this process; N: this one and N - 1 spawned workers).
    rows_per_batch: rows of whole groups per output part (bounds memory; ``pack_file_blocks``). resume:
    finish an interrupted scoring into the same ``out`` with the same settings (parts already written are
    kept). force: clear a previous scoring in ``out`` first. ``backend="ray"`` runs the same passes as Ray
    tasks on the cluster at ``address`` (``credit.ray_scorer.score_run_ray``; ``workers`` is then the
    cluster's CPUs).

    Returns a summary dict: method, params, rows, groups, parts, out. Raises ValueError (one line naming
    file, column and row) on a log that breaks the spec; nothing is left in ``out`` then.
    """
    if backend == "ray":
        return score_run_ray(run, out, method, address=address, rows_per_batch=rows_per_batch, resume=resume,
                             force=force, **config)
    if backend != "local":
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    m, cfg = make_config(method, config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    check_rows_per_batch(rows_per_batch)
    run_loc, files, shown = located_parts(run)
    out = resolve_location(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    # workers get the Method pickled; one that cannot travel (lambdas, a notebook's __main__) stays in-process.
    # This process works too (parallel.share_work), so ``workers`` processes take ``workers - 1`` spawned ones.
    executor = pool(workers - 1) if workers > 1 and runs_in_workers(m) else None
    committed = False
    try:
        summary = score_located(run_loc, files, shown, out, method, executor, workers, rows_per_batch, resume,
                                force, config)
        committed = True
        return summary
    finally:
        if executor:
            executor.shutdown(cancel_futures=not committed)


def check_rows_per_batch(rows_per_batch: Any) -> None:
    if isinstance(rows_per_batch, bool) or not isinstance(rows_per_batch, int) or rows_per_batch < 1:
        raise ValueError(f"rows_per_batch must be a positive int, got {rows_per_batch!r}")


def score_located(run_loc: RunLocation, files: list[str], shown: list[str], out: RunLocation, method: str,
                  executor: Executor | None, workers: int, rows_per_batch: int, resume: bool, force: bool,
                  config: Mapping[str, Any]) -> dict:
    """``score_run``'s two passes over the checked ``files`` of ``run_loc`` into ``out``, the calls shared
    by this process and ``executor`` (a process pool, Ray tasks, or None) as ``parallel.share_work``."""
    m, cfg = make_config(method, dict(config))
    created, folder, opened = False, None, False
    try:
        index, counts = index_run(run_loc, files, shown, m.uses_tfidf_batch(cfg), executor, workers=workers)
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
        # consecutive segments per call (a file shared by neighbours is read once), several calls per process
        per_call = max(1, len(tasks) // (8 * workers)) if executor is not None else max(len(tasks), 1)
        calls = [(job, tasks[s]) for s in tapered_chunks(len(tasks), workers if executor is not None else 1, per_call)]
        share_work(score_segments, calls, executor, workers)
        copy_run_files(folder, out)
        write_marker(out, COMPLETE, info)
    except ValueError:
        if opened:  # a bad log found while scoring: leave no half-written folder behind
            _remove_output(out, created)
        raise
    return {"method": method, "params": cfg.to_dict(), "rows": plan.rows, "groups": plan.groups,
            "parts": len(plan.segments), "out": str(out)}


def score_run_ray(run: RunLike, out: RunLike, method: str = "proxmo", *, address: str | None = None,
                  num_cpus: int | None = None, rows_per_batch: int = DEFAULT_ROWS_PER_BATCH, resume: bool = False,
                  force: bool = False, **config: Any) -> dict:
    """Score a run folder (or one Parquet file) into ``out`` on Ray (``credit.ray_scorer``); the numbers of ``score_run``, bit for bit.

    Args:
        run, out: as ``credit.stream.score_run`` (local paths are made absolute, so every Ray worker finds
            them whatever its working directory).
        method, config: as ``proxmo_analysis.score`` (a registered method name, ``credit.registry``, and
            the fields of the method's config). The Method travels to the Ray workers pickled.
        address: a Ray cluster to join; ``None`` starts a local Ray with ``num_cpus`` CPUs (default: all)
            unless one is already running in this process.
        rows_per_batch, resume, force: as ``score_run``.

    Returns ``score_run``'s summary dict: ``method``, ``params``, ``rows``, ``groups``, ``parts``, ``out``.
    """
    make_config(method, dict(config))  # a bad method or setting is refused before Ray starts
    check_rows_per_batch(rows_per_batch)
    run_loc, files, shown = located_parts(run)
    if run_loc.is_local:
        run_loc = RunLocation(str(Path(run_loc.path).resolve()))
        files = [str(Path(f).resolve()) for f in files]
    out = resolve_location(out)
    if out.is_local:
        out = RunLocation(str(Path(out.path).resolve()))
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")

    import ray

    from proxmo_envs.ray_session import connect, release_idle_actors

    from .ray_scorer import RayExecutor  # lazy: the local path never imports ray

    connect(address, num_cpus=num_cpus)
    release_idle_actors()  # idle pooled env actors hold a CPU each; the scoring tasks need them
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return score_located(run_loc, files, shown, out, method, RayExecutor(), cpus + 1, rows_per_batch, resume,
                         force, config)


__all__ = ["DEFAULT_ROWS_PER_BATCH", "Plan", "fit_stats", "index_run", "plan_segments", "score_located", "score_run",
           "score_run_ray", "score_segment"]
