"""The scored copy of a run folder, as the streaming scorer (``credit.stream``) writes it.

``output_schema`` (the log's schema plus the float32 credit columns), ``prepare_output`` (refuse the input
folder or an output that already holds parts), ``clear_output`` (what ``--force`` removes) and
``copy_run_files`` (manifest and failures files into the scored copy).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from proxmo_envs.trajlog.commit import SCORING_NAME
from proxmo_envs.trajlog.fs import FAILURES_GLOB, TMP_PREFIX, RunLocation
from proxmo_envs.trajlog.schema import ANALYSIS_COLUMNS, MANIFEST_NAME, PART_GLOB

#: rows per unit of work (a batch of whole task groups, or row groups counted together)
DEFAULT_ROWS_PER_BATCH = 100_000


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


__all__ = ["DEFAULT_ROWS_PER_BATCH", "clear_output", "copy_run_files", "output_schema", "prepare_output"]
