"""Crash-safe Parquet parts: buffered complete episodes, written to a temporary name, then renamed.

A run folder holds ``part-*.parquet`` files, ``manifest.json`` and, when episodes failed,
``failures.jsonl``. A part becomes visible under its final name only once it is completely written
(``os.replace`` of a hidden temporary file), and it only ever holds whole episodes, so a rollout killed at
any moment leaves a folder whose visible parts all read cleanly.

The run folder may be a local path or any pyarrow filesystem URI / ``(FileSystem, path)`` pair (see
``proxmo_envs.trajlog.fs``): on an object store the part is uploaded under the temporary key and then
moved, so it is visible under ``part-*.parquet`` only once fully uploaded.
"""

from __future__ import annotations

import json
import os
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import pyarrow as pa

from .fs import TMP_PREFIX, RunLike, RunLocation, local_atomic_write, resolve_location
from .schema import LOG_SCHEMA, REQUIRED_COLUMNS, RUN_METADATA_KEY, schema_with_metadata

#: Rows buffered before a part is written. ~10 steps per episode, so a part holds a few hundred
#: episodes: large enough that the per-part cost (Parquet footer, zstd setup, rename) is negligible,
#: small enough that a crash loses little work.
DEFAULT_ROWS_PER_PART = 4096

#: A part is also written once its text columns exceed this many bytes (long observations).
DEFAULT_BYTES_PER_PART = 64 * 1024 * 1024

ZSTD_LEVEL = 3


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one."""
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    local_atomic_write(tmp, path, lambda fh: fh.write(data))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """``atomic_write_bytes`` of ``obj`` as indented, key-sorted JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def episode_table(columns: Mapping[str, list], metadata: Mapping[str, str] | None = None) -> pa.Table:
    """A pyarrow table of the log schema from a dict ``column -> list of values`` (all required columns)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"trajectory rows lack required column(s) {missing}")
    schema = schema_with_metadata(dict(metadata)) if metadata else LOG_SCHEMA
    return pa.Table.from_pydict({c: columns[c] for c in REQUIRED_COLUMNS}, schema=schema)


class PartWriter:
    """Buffers complete episodes and writes them as ``part-{prefix}-{seq:05d}.parquet`` in ``out_dir``.

    Args:
        out_dir: the run folder (created if needed): a local path, a pyarrow filesystem URI
            (``file://``, ``s3://``, ...), a ``(pyarrow.fs.FileSystem, path)`` pair or a ``RunLocation``.
        run_metadata: the run's metadata (JSON-serialisable dict), stored under ``proxmo.run`` in every
            part's key-value metadata so a part copied out of its folder still says where it came from.
        prefix: distinguishes the writers of one run folder (one per worker and session); it must be
            unique per writer, e.g. ``f"{session}-w{worker}"``.
        rows_per_part: rows buffered before a part is written (default 4096).
        bytes_per_part: text bytes buffered before a part is written (default 64 MiB).
        background: write full parts (zstd, fsync, rename) on a background thread while the caller goes
            on stepping; at most one part is in flight, and its errors surface at the next flush or
            ``close``. The last part (``close``) is always written before returning.

    Use ``add_episode(columns)`` with one whole episode (dict column -> list, one entry per step), and
    ``close()`` (or the context manager) to write the remainder. Nothing is written for an empty buffer.
    """

    def __init__(
        self,
        out_dir: RunLike,
        run_metadata: Mapping[str, Any],
        prefix: str,
        rows_per_part: int = DEFAULT_ROWS_PER_PART,
        bytes_per_part: int = DEFAULT_BYTES_PER_PART,
        background: bool = True,
    ) -> None:
        if rows_per_part < 1:
            raise ValueError(f"rows_per_part must be >= 1, got {rows_per_part}")
        if not prefix or "/" in prefix or os.sep in prefix:
            raise ValueError(f"prefix must be a non-empty file-name fragment, got {prefix!r}")
        self.location: RunLocation = resolve_location(out_dir)
        self.location.make_dirs()
        self.out_dir = Path(self.location.path) if self.location.is_local else PurePosixPath(self.location.path)
        self.prefix = prefix
        self.rows_per_part = int(rows_per_part)
        self.bytes_per_part = int(bytes_per_part)
        self._metadata = {RUN_METADATA_KEY: json.dumps(dict(run_metadata), sort_keys=True)}
        self._buffer: dict[str, list] = {c: [] for c in REQUIRED_COLUMNS}
        self._rows = 0
        self._bytes = 0
        self._seq = 0
        self.parts: list[Path] = []
        self.rows_written = 0
        self.episodes_written = 0
        self._buffered_episodes = 0
        self._closed = False
        self.background = bool(background)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: tuple[Future, Path, int, int] | None = None

    @property
    def buffered_rows(self) -> int:
        return self._rows

    def add_episode(self, columns: Mapping[str, list]) -> None:
        """Buffer one complete episode (dict column -> list with one entry per step); may write a part."""
        if self._closed:
            raise ValueError("PartWriter is closed")
        n = len(columns["step"])
        for name in REQUIRED_COLUMNS:
            values = columns[name]
            if len(values) != n:
                raise ValueError(f"episode column {name!r} has {len(values)} values, expected {n}")
            self._buffer[name].extend(values)
        self._rows += n
        self._buffered_episodes += 1
        self._bytes += sum(len(o) for o in columns["observation"])
        if self._rows >= self.rows_per_part or self._bytes >= self.bytes_per_part:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> Path | None:
        """Write the buffered episodes as one part; return its final path (``None`` if nothing buffered).

        The part is written to a hidden temporary name, fsynced, then renamed to ``part-*.parquet``. With
        ``wait=False`` and ``background=True`` that happens on the background thread; ``wait=True``
        returns once every part handed over so far is visible.
        """
        if self._rows == 0:
            if wait:
                self._drain()
            return None
        table = episode_table(self._buffer, self._metadata)
        final = self.out_dir / f"part-{self.prefix}-{self._seq:05d}.parquet"  # a Path, or a filesystem path
        rows, episodes = self._rows, self._buffered_episodes
        self._seq += 1
        self._buffer = {c: [] for c in REQUIRED_COLUMNS}
        self._rows = self._bytes = self._buffered_episodes = 0
        self._drain()  # one part in flight at most: bounded memory, and errors surface here
        if self.background and not wait:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proxmo-part-writer")
            self._pending = (self._executor.submit(_write_part, self.location, table, final), final, rows, episodes)
        else:
            _write_part(self.location, table, final)
            self._written(final, rows, episodes)
        return final

    def _drain(self) -> None:
        if self._pending is not None:
            future, final, rows, episodes = self._pending
            self._pending = None
            future.result()
            self._written(final, rows, episodes)

    def _written(self, final: Path, rows: int, episodes: int) -> None:
        self.parts.append(final)
        self.rows_written += rows
        self.episodes_written += episodes

    def close(self) -> None:
        """Write what is buffered and wait for every part; further ``add_episode`` calls raise."""
        if not self._closed:
            self._closed = True
            try:
                self.flush(wait=True)
            finally:
                if self._executor is not None:
                    self._executor.shutdown(wait=True)
                    self._executor = None

    def __enter__(self) -> "PartWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_part(location: RunLocation, table: pa.Table, final: Path | PurePosixPath) -> None:
    """Write ``table`` to ``final`` atomically: hidden temporary name, zstd, fsync (local), rename/move."""
    location.write_table(final.name, table, compression="zstd", compression_level=ZSTD_LEVEL)


def remove_stale_temporaries(out_dir: RunLike) -> list[Path]:
    """Delete temporary files a killed writer left in ``out_dir`` (any run location); return what was removed."""
    return [Path(p) for p in resolve_location(out_dir).remove_temporaries()]


__all__ = [
    "DEFAULT_ROWS_PER_PART",
    "DEFAULT_BYTES_PER_PART",
    "PartWriter",
    "atomic_write_bytes",
    "atomic_write_json",
    "episode_table",
    "remove_stale_temporaries",
]
