"""Trajectory logs: the Parquet schema, the crash-safe part writer and the recording wrapper.

Spec: ``trajectory-log.md``. Typical use outside the rollout runner::

    from proxmo_envs.trajlog import PartWriter, TrajectoryRecorder
    with PartWriter("runs/mine", run_metadata={"env_id": "proxmo/WebShop-v0"}, prefix="w0") as writer:
        env = TrajectoryRecorder(gym.make("proxmo/WebShop-v0"), sink=writer.add_episode, run_id="mine")
        ...  # reset/step as usual; each finished episode is buffered, parts are written as it fills

The run folder may be a local path or any pyarrow filesystem location (``s3://bucket/runs/x``,
``(pyarrow.fs.FileSystem, path)``): see ``proxmo_envs.trajlog.fs``.
"""

from __future__ import annotations

from .fs import RunLocation, resolve_location
from .manifest import ImportManifest, Manifest, read_manifest_data
from .recorder import OPTIONS_KEY, TrajectoryRecorder
from .schema import (
    FAILURES_NAME,
    LOG_SCHEMA,
    MANIFEST_NAME,
    NULLABLE_COLUMNS,
    PART_GLOB,
    REQUIRED_COLUMNS,
    RUN_METADATA_KEY,
    SCHEMA_VERSION,
)
from .writer import PartWriter, atomic_write_json

__all__ = [
    "TrajectoryRecorder",
    "Manifest",
    "ImportManifest",
    "read_manifest_data",
    "RunLocation",
    "resolve_location",
    "OPTIONS_KEY",
    "PartWriter",
    "atomic_write_json",
    "LOG_SCHEMA",
    "REQUIRED_COLUMNS",
    "NULLABLE_COLUMNS",
    "RUN_METADATA_KEY",
    "SCHEMA_VERSION",
    "PART_GLOB",
    "MANIFEST_NAME",
    "FAILURES_NAME",
]
