"""Where a run folder lives: a local path, a ``file://`` URI, or any pyarrow filesystem URI.

``resolve_location(out)`` turns what a user passes as a run folder into a ``RunLocation`` offering the few
operations the writer, the rollout runner and the readers need: write bytes / a Parquet table to a
temporary name then move it to its final name, list parts, read and write ``manifest.json``, append to
``failures.jsonl``, delete temporary leftovers, and open Parquet files for reading.

Accepted locations:

- a local path (``str`` or ``os.PathLike``) or a ``file://`` URI: the local file system, with exactly the
  behaviour of a plain path (``open``, ``fsync``, ``os.replace``, ``flock`` locks, ``O_APPEND``);
- any URI ``pyarrow.fs.FileSystem.from_uri`` accepts (``s3://bucket/runs/x``, ``gs://...``,
  ``hdfs://...``, ``abfs://...``): the pyarrow filesystem it names;
- an explicit ``(pyarrow.fs.FileSystem, path)`` pair, e.g. an fsspec filesystem wrapped as
  ``pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))``;
- a ``RunLocation`` (returned as is).

On a non-local filesystem:

- Object stores have no atomic rename. A part is uploaded under a separate temporary key
  (``.tmp-part-...``) and then moved (copy + delete on S3/GCS) to ``part-*.parquet``; readers only ever
  list ``part-*.parquet``, so a part becomes visible under its final name only once it is fully uploaded.
  A writer killed mid-upload leaves at most a temporary key, deleted on ``resume``.
- There are no ``flock`` locks: two rollouts on the same remote folder at once are the user's
  responsibility (the local backend guards a local folder; a remote one is not guarded).
- Object stores cannot append, so each writer keeps its own ``failures-{prefix}.jsonl`` (rewritten whole
  on each failure; failures are rare) instead of appending to the shared ``failures.jsonl``;
  ``read_failures`` reads both.
- In-process filesystems (fsspec ``memory``) only work with ``workers=1``: a worker process would see its
  own empty copy.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .schema import FAILURES_NAME

#: Name prefix of files being written; readers never see them (they glob ``part-*.parquet``).
TMP_PREFIX = ".tmp-"

#: ``failures.jsonl`` plus the per-writer ``failures-{prefix}.jsonl`` of non-local filesystems.
FAILURES_GLOB = "failures*.jsonl"

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

RunLike = Any  # str | os.PathLike | (pyarrow.fs.FileSystem, str) | RunLocation


def local_atomic_write(tmp: str | os.PathLike[str], final: str | os.PathLike[str], fill: Callable[[Any], Any]) -> None:
    """``fill(fh)`` into the local file ``tmp``, fsync, rename to ``final``. On any failure (a full disk, a
    read-only folder, Ctrl-C) ``tmp`` is removed, so a failed write leaves neither a torn file nor a temporary."""
    try:
        with open(tmp, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass(frozen=True)
class RunLocation:
    """A folder on the local disk (``filesystem is None``) or on a pyarrow filesystem.

    ``path`` is the local path or the filesystem path (no trailing slash); ``uri`` is what messages show.
    Picklable when the filesystem is (pyarrow's own filesystems are), so workers can be handed one.
    """

    path: str
    filesystem: pafs.FileSystem | None = None
    uri: str = ""

    @property
    def is_local(self) -> bool:
        return self.filesystem is None

    @property
    def name(self) -> str:
        return Path(self.path).name if self.is_local else self.path.rstrip("/").rpartition("/")[2]

    def __str__(self) -> str:
        return self.uri or self.path

    # ---- paths -----------------------------------------------------------------------------------

    def join(self, name: str) -> str:
        """The path of ``name`` inside this folder (a local path or a filesystem path)."""
        return str(Path(self.path) / name) if self.is_local else f"{self.path}/{name}"

    def display(self, name: str | None = None) -> str:
        """``name`` inside this folder as messages show it (the local path, or the URI)."""
        if name is None:
            return str(self)
        return self.join(name) if self.is_local else f"{str(self).rstrip('/')}/{name}"

    def display_path(self, path: str) -> str:
        """A path returned by ``glob`` as messages show it."""
        return path if self.is_local else self.display(path.rpartition("/")[2])

    # ---- queries ---------------------------------------------------------------------------------

    def _info(self, path: str) -> pafs.FileInfo:
        return self.filesystem.get_file_info(path)  # type: ignore[union-attr]

    def is_dir(self) -> bool:
        if self.is_local:
            return Path(self.path).is_dir()
        return self._info(self.path).type == pafs.FileType.Directory

    def exists(self, name: str | None = None) -> bool:
        path = self.path if name is None else self.join(name)
        if self.is_local:
            return Path(path).exists()
        return self._info(path).type != pafs.FileType.NotFound

    def size(self, name: str) -> int:
        """Bytes of ``name`` (0 when it does not exist)."""
        path = self.join(name)
        if self.is_local:
            return Path(path).stat().st_size if Path(path).exists() else 0
        info = self._info(path)
        return int(info.size or 0) if info.type == pafs.FileType.File else 0

    def glob(self, pattern: str) -> list[str]:
        """Sorted paths of the files directly in this folder whose name matches ``pattern``."""
        if self.is_local:
            return sorted(str(p) for p in Path(self.path).glob(pattern))
        try:
            infos = self.filesystem.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))  # type: ignore[union-attr]
        except FileNotFoundError:
            return []
        return sorted(
            f"{self.path}/{i.base_name}"
            for i in infos
            if i.type == pafs.FileType.File and fnmatch.fnmatchcase(i.base_name, pattern)
        )

    # ---- writing ---------------------------------------------------------------------------------

    def make_dirs(self) -> None:
        if self.is_local:
            Path(self.path).mkdir(parents=True, exist_ok=True)
        else:
            self.filesystem.create_dir(self.path, recursive=True)  # type: ignore[union-attr]

    def _tmp_path(self, name: str, unique: bool) -> str:
        """The hidden temporary path ``name`` is written under (a random suffix when ``unique``)."""
        return self.join(f"{TMP_PREFIX}{name}" + (f".{secrets.token_hex(4)}" if unique else ""))

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` as ``name`` so readers see either the old file or the complete new one."""
        final = self.join(name)
        tmp = self._tmp_path(name, unique=True)
        if self.is_local:
            local_atomic_write(tmp, final, lambda fh: fh.write(data))
            return
        with self.filesystem.open_output_stream(tmp) as fh:  # type: ignore[union-attr]
            fh.write(data)
        self.filesystem.move(tmp, final)  # type: ignore[union-attr]

    def write_json(self, name: str, obj: Any) -> None:
        """``write_bytes`` of ``obj`` as indented, key-sorted JSON."""
        self.write_bytes(name, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

    def write_table(self, name: str, table: pa.Table, **parquet_options: Any) -> str:
        """Write ``table`` as the Parquet file ``name`` (temporary name, fsync on local disks, then
        rename / move); returns its path. ``parquet_options`` go to ``pyarrow.parquet.write_table``."""
        return self.write_file(name, lambda fh: pq.write_table(table, fh, **parquet_options))

    def write_file(self, name: str, fill: Callable[[Any], Any]) -> str:
        """Write the file ``name`` as ``fill(fh)`` writes it into a binary stream (temporary name, fsync on
        local disks, then rename / move), so readers never see a torn file; returns its path."""
        final = self.join(name)
        tmp = self._tmp_path(name, unique=False)
        if self.is_local:
            local_atomic_write(tmp, final, fill)
            return final
        with self.filesystem.open_output_stream(tmp) as fh:  # type: ignore[union-attr]
            fill(fh)
        self.filesystem.move(tmp, final)  # type: ignore[union-attr]
        return final

    def append_failure(self, line: bytes, writer: str) -> None:
        """Record one JSON line of a failed episode.

        Local: one ``write`` with ``O_APPEND`` to ``failures.jsonl`` (safe across processes). Elsewhere:
        the writer's own ``failures-{writer}.jsonl`` is rewritten whole with the line added (object stores
        cannot append; one writer owns the file, so there is no race).
        """
        if self.is_local:
            fd = os.open(self.join(FAILURES_NAME), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            return
        name = f"failures-{writer}.jsonl"
        old = self.read_bytes(name) if self.exists(name) else b""
        self.write_bytes(name, old + line)

    def delete(self, path: str) -> None:
        if self.is_local:
            Path(path).unlink(missing_ok=True)
            return
        try:
            self.filesystem.delete_file(path)  # type: ignore[union-attr]
        except FileNotFoundError:
            pass

    def remove_temporaries(self, pattern: str = f"{TMP_PREFIX}*") -> list[str]:
        """Delete the temporary files (``pattern``) a killed writer left; return their paths."""
        removed = self.glob(pattern)
        for p in removed:
            self.delete(p)
        return removed

    def copy_into(self, target: "RunLocation", name: str) -> None:
        """Copy the file ``name`` of this folder into ``target`` (atomically there)."""
        target.write_bytes(name, self.read_bytes(name))

    # ---- reading ---------------------------------------------------------------------------------

    def read_bytes(self, name: str) -> bytes:
        path = self.join(name)
        if self.is_local:
            return Path(path).read_bytes()
        with self.filesystem.open_input_stream(path) as fh:  # type: ignore[union-attr]
            return fh.read()

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode()

    def parquet_file(self, path: str, read_dictionary: Sequence[str] | None = None) -> pq.ParquetFile:
        """``pyarrow.parquet.ParquetFile`` of ``path`` (a path from ``glob`` or ``join``); the columns named
        in ``read_dictionary`` are read dictionary-encoded (``pyarrow.parquet.ParquetFile``)."""
        if self.is_local:
            return pq.ParquetFile(path, read_dictionary=read_dictionary)
        return pq.ParquetFile(self.filesystem.open_input_file(path),  # type: ignore[union-attr]
                              read_dictionary=read_dictionary)

    def read_parquet(self, path: str, columns: Sequence[str] | None = None):
        """One Parquet file as a ``polars.DataFrame`` (only ``columns`` when given)."""
        import polars as pl

        if self.is_local:
            return pl.read_parquet(path, columns=list(columns) if columns is not None else None)
        cols = list(columns) if columns is not None else None
        return pl.from_arrow(pq.read_table(path, columns=cols, filesystem=self.filesystem))

    def scan_parquet(self, paths: Sequence[str]):
        """A ``polars.LazyFrame`` over the Parquet ``paths`` (same schema), rows in path and file order.

        Local: ``pl.scan_parquet``. Elsewhere: a pyarrow dataset on the filesystem, scanned lazily by
        polars (projections and filters are pushed down to pyarrow)."""
        import polars as pl

        if self.is_local:
            return pl.scan_parquet(list(paths))
        import pyarrow.dataset as ds

        return pl.scan_pyarrow_dataset(ds.dataset(list(paths), filesystem=self.filesystem, format="parquet"))


def _from_uri(uri: str) -> RunLocation:
    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OSError) as err:
        raise ValueError(f"{uri}: not a run location pyarrow can open ({err})") from None
    return _from_pair(filesystem, path, uri)


def _from_pair(filesystem: pafs.FileSystem, path: str, uri: str | None = None) -> RunLocation:
    if isinstance(filesystem, pafs.LocalFileSystem):
        return RunLocation(path=str(Path(path)))
    path = str(path).rstrip("/") or "/"
    return RunLocation(path=path, filesystem=filesystem, uri=(uri or f"{filesystem.type_name}://{path}").rstrip("/"))


def resolve_location(out: RunLike) -> RunLocation:
    """A ``RunLocation`` from a local path, a ``file://`` or other pyarrow URI, a ``(FileSystem, path)``
    pair, or a ``RunLocation``. Raises ``ValueError`` for a URI pyarrow cannot open and ``TypeError`` for
    anything else."""
    if isinstance(out, RunLocation):
        return out
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], pafs.FileSystem):
        if not isinstance(out[1], (str, os.PathLike)):
            raise TypeError(f"run location (filesystem, path): path must be a str, got {type(out[1]).__name__}")
        return _from_pair(out[0], os.fspath(out[1]))
    if isinstance(out, str) and _URI.match(out):
        return _from_uri(out)
    if isinstance(out, (str, os.PathLike)):
        return RunLocation(path=str(Path(os.fspath(out))))
    raise TypeError(
        "a run location must be a local path, a filesystem URI (file://, s3://, ...) or a "
        f"(pyarrow.fs.FileSystem, path) pair; got {type(out).__name__}"
    )


__all__ = ["RunLocation", "resolve_location", "TMP_PREFIX", "FAILURES_GLOB"]
