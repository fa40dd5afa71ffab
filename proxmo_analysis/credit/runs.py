"""A run folder as the scorers see it: its validated files, statistics over all its rows, the output folder.

Public helpers shared by the process-pool scorer (``credit.stream``) and the Ray scorer
(``credit.ray_scorer``): ``run_location_files`` (validated Parquet files of a run), ``fit_run_stats``
(TF-IDF statistics per iteration, streaming row groups), ``output_schema`` (the log's schema plus the
float32 credit columns), ``prepare_output`` (refuse the input folder or an output that already holds
parts) and ``copy_run_files`` (manifest and failures files into the scored copy).
"""

from __future__ import annotations

import shutil
from concurrent.futures import Executor
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from proxmo_analysis.logs import validate_log
from proxmo_envs.trajlog.commit import SCORING_NAME
from proxmo_envs.trajlog.fs import FAILURES_GLOB, TMP_PREFIX, RunLike, RunLocation, resolve_location
from proxmo_envs.trajlog.schema import ANALYSIS_COLUMNS, MANIFEST_NAME, PART_GLOB

from .similarity import TermCounts, TfidfStats, count_terms, merge_counts

#: rows per unit of work (a batch of whole task groups, or row groups counted together)
DEFAULT_ROWS_PER_BATCH = 100_000


def run_files(path: RunLike) -> list[Path] | list[str]:
    """The Parquet files of a run folder (``part-*.parquet``) or ``[path]``; validated by ``read_log``."""
    return validate_log(path)


def run_location_files(path: RunLike) -> tuple[RunLocation, list[str]]:
    """The validated run's location (the folder, or the one file) and its Parquet file paths."""
    loc = resolve_location(path)
    return loc, [str(f) for f in run_files(loc)]


def count_unit(path: str, row_groups: list[int], location: RunLocation | None = None) -> dict[int, TermCounts]:
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
    results = (executor.map(count_unit, *zip(*units)) if executor and units
               else (count_unit(f, rg, loc) for f, rg, loc in units))
    merged: dict[int, TermCounts] = {}
    for part in results:
        for it, counts in part.items():
            merged[it] = merge_counts([merged[it], counts]) if it in merged else counts
    return {it: TfidfStats.from_counts(c, max_features) for it, c in merged.items()}


def output_schema(table: pa.Table, template: pa.Schema) -> pa.Schema:
    """``table``'s schema with the log's column types from ``template`` and float32 credit columns."""
    fields = []
    for field in table.schema:
        if field.name in template.names:
            fields.append(template.field(field.name))
        elif field.name in ANALYSIS_COLUMNS:
            fields.append(pa.field(field.name, pa.float32()))
        else:
            fields.append(field)
    return pa.schema(fields)


def _same_folder(a: RunLocation, b: RunLocation) -> bool:
    if a.is_local and b.is_local:
        return Path(a.path).resolve() == Path(b.path).resolve()
    return not a.is_local and not b.is_local and a.filesystem.equals(b.filesystem) and a.path == b.path


def prepare_output(run: RunLocation, out: RunLocation, check_only: bool = False) -> RunLocation | None:
    """Check ``out`` is neither the run folder nor holds parts, create it; return the run's folder
    (``None`` when ``run`` is one file). ``check_only``: only refuse the run's own folder."""
    folder = run if run.is_dir() else None
    parent = folder or (RunLocation(str(Path(run.path).parent)) if run.is_local else
                        RunLocation(run.path.rpartition("/")[0], run.filesystem, str(run).rpartition("/")[0]))
    if _same_folder(out, parent):
        raise ValueError(f"--out {out} is the input run folder; write the scored copy elsewhere")
    if check_only:
        return folder
    if out.glob(PART_GLOB):
        raise ValueError(f"{out} already holds part files; choose an empty output folder")
    out.make_dirs()
    return folder


def clear_output(out: RunLocation) -> None:
    """Remove what a scoring writes into ``out`` (parts, commit marker, manifest and failures copies,
    temporaries) and nothing else: ``--force`` never touches a user's other files."""
    for pattern in (PART_GLOB, f"{TMP_PREFIX}*", SCORING_NAME, MANIFEST_NAME, FAILURES_GLOB):
        for p in out.glob(pattern):
            out.delete(p)


def copy_run_files(folder: RunLocation | None, out: RunLocation) -> None:
    """Copy ``manifest.json`` and the failures files of the input run folder into ``out``."""
    if folder is None:
        return
    names = [MANIFEST_NAME] + [Path(p).name for p in folder.glob(FAILURES_GLOB)]
    for name in names:
        if folder.exists(name):
            if folder.is_local and out.is_local:
                shutil.copy2(Path(folder.path) / name, Path(out.path) / name)
            else:
                folder.copy_into(out, name)


__all__ = ["DEFAULT_ROWS_PER_BATCH", "clear_output", "copy_run_files", "count_unit", "fit_run_stats", "output_schema",
           "prepare_output", "run_files", "run_location_files"]
