"""``manifest.json`` of a run folder: the typed :class:`Manifest` the rollout runner writes, read in one place.

A run folder's manifest records everything needed to re-create the run (spec ``trajectory-log.md``): the
env and its resolved config, the tasks, group size, seeds, policy, the ``proxmo rollout`` command, and one
entry per session that wrote to the folder. :func:`read_manifest_data` is the one reader of the JSON (any
run folder, also hand-made or imported ones whose manifest holds other keys); :meth:`Manifest.read` gives
the typed view of a rollout's manifest and :meth:`Manifest.write` writes it atomically; :class:`ImportManifest` is
the manifest ``proxmo import`` writes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any

from .fs import RunLike, RunLocation, resolve_location
from .schema import MANIFEST_NAME, SCHEMA_VERSION


def now_utc() -> str:
    """The manifest's timestamp format (UTC, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_manifest_data(location: RunLike) -> dict[str, Any]:
    """The ``manifest.json`` of a run folder as a dict. FileNotFoundError when absent; ValueError naming the
    file when it is not a JSON object."""
    loc = location if isinstance(location, RunLocation) else resolve_location(location)
    if not loc.exists(MANIFEST_NAME):
        raise FileNotFoundError(f"{loc}: no {MANIFEST_NAME}")
    try:
        data = json.loads(loc.read_text(MANIFEST_NAME))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{loc.display(MANIFEST_NAME)}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{loc.display(MANIFEST_NAME)}: not a JSON object")
    return data


@dataclass
class Manifest:
    """A rollout run folder's manifest. The first nine fields identify the run (a resume must match them)."""

    env_id: str
    """the env's registered id as the rows carry it (``proxmo/WebShop-v0``)"""
    env_kwargs: dict[str, Any]
    """the ``gym.make`` keyword arguments"""
    tasks: list[list[Any]]
    """``[[task_index, task_id], ...]`` in run order"""
    group_size: int
    seed: int
    iteration: int
    policy: dict[str, Any]
    """``describe_policy``: a built-in's name or a class path, and its settings"""
    max_steps: int | None
    config_digest: str
    """hash of env, kwargs, policy, seed and step cap: part of every episode id"""
    run_id: str = ""
    make_id: str = ""
    """the id ``gym.make`` was called with (may be ``module:proxmo/X-v0``)"""
    command: list[str] = field(default_factory=list)
    """the ``proxmo rollout`` argv that re-creates the run"""
    env_config: dict[str, Any] = field(default_factory=dict)
    """the env constructor's defaults overlaid with ``env_kwargs``"""
    seeds: dict[str, Any] = field(default_factory=dict)
    """``{"seed": run seed, "rule": how episode seeds derive from it}``"""
    package_version: str = ""
    created_at: str = ""
    sessions: list[dict[str, Any]] = field(default_factory=list)
    """one entry per ``rollout`` call that wrote to the folder (workers, backend, counts, times)"""
    status: str = "running"
    """``running`` while a session writes, ``complete`` after it finished"""
    updated_at: str = ""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    """keys this version does not know, kept when the manifest is rewritten"""

    #: the fields a resumed session must agree on (they decide which episodes exist and their seeds)
    IDENTITY = ("env_id", "env_kwargs", "tasks", "group_size", "seed", "iteration", "policy", "max_steps",
                "config_digest")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = MANIFEST_NAME) -> "Manifest":
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        missing = [k for k in cls.IDENTITY if k not in data]
        if missing:
            raise ValueError(f"{where}: not a rollout manifest, missing {', '.join(missing)}")
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``manifest.json`` (unknown keys kept)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **out}

    def identity(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.IDENTITY}

    def mismatch(self, other: dict[str, Any]) -> tuple[str, Any, Any] | None:
        """The first identity field whose value differs from ``other`` (key, this run's, other's), or None."""
        for key in self.IDENTITY:
            if getattr(self, key) != other.get(key):
                return key, getattr(self, key), other.get(key)
        return None

    def run_metadata(self) -> dict[str, Any]:
        """The ``proxmo.run`` key-value metadata every part of the run carries."""
        return {
            "schema_version": self.schema_version, "run_id": self.run_id, "env_id": self.env_id,
            "env_kwargs": self.env_kwargs, "env_config": self.env_config, "package_version": self.package_version,
            "seeds": self.seeds, "group_size": int(self.group_size), "iteration": int(self.iteration),
            "policy": self.policy, "created_at": self.created_at,
        }

    @classmethod
    def read(cls, location: RunLike) -> "Manifest":
        loc = location if isinstance(location, RunLocation) else resolve_location(location)
        return cls.from_dict(read_manifest_data(loc), loc.display(MANIFEST_NAME))

    def write(self, location: RunLike) -> None:
        """Write ``manifest.json`` atomically (temporary name, then rename / move)."""
        loc = location if isinstance(location, RunLocation) else resolve_location(location)
        loc.write_json(MANIFEST_NAME, self.to_dict())


@dataclass
class ImportManifest:
    """The manifest of a run folder written by ``proxmo import``: where the rollouts came from and what was
    written. It has no rollout settings (no tasks, seeds or policy: the source decides those), so it is not a
    :class:`Manifest`; readers tell the two apart by ``imported_from``."""

    env_id: str
    """the env id every imported row carries (``--env-id``, or the format's default)"""
    run_id: str
    source_format: str
    """the importer's registered name (``jsonl``, ``verl-agent``, ``verifiers``, ...)"""
    source: str
    """the file or folder that was read, as given"""
    episodes: int
    rows: int
    groups: int
    created_at: str = ""
    status: str = "complete"
    """an import is written whole or not at all"""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    """an importer's own settings (e.g. ``observation_field``), stored as top-level keys"""

    def run_metadata(self) -> dict[str, Any]:
        """The ``proxmo.run`` key-value metadata every imported part carries."""
        return {"schema_version": self.schema_version, "run_id": self.run_id, "env_id": self.env_id,
                "imported_from": {"format": self.source_format, "source": self.source}}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``manifest.json``."""
        return {**self.extra, **self.run_metadata(), "status": self.status, "created_at": self.created_at,
                "episodes": self.episodes, "rows": self.rows, "groups": self.groups}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = MANIFEST_NAME) -> "ImportManifest":
        """The typed view of ``data``; ValueError naming ``where`` when a key ``to_dict`` writes is missing."""
        own = cls("", "", "", "", 0, 0, 0).to_dict().keys()  # the keys to_dict writes, derived, not listed twice
        missing = sorted(own - data.keys())
        origin = data.get("imported_from")
        if "imported_from" in data and not (isinstance(origin, dict) and {"format", "source"} <= origin.keys()):
            missing.append("imported_from's format and source")
        if missing:
            raise ValueError(f"{where}: not an import manifest, missing {', '.join(missing)}")
        return cls(env_id=data["env_id"], run_id=data["run_id"], source_format=origin["format"],
                   source=origin["source"], episodes=data["episodes"], rows=data["rows"], groups=data["groups"],
                   created_at=data["created_at"], status=data["status"], schema_version=data["schema_version"],
                   extra={k: v for k, v in data.items() if k not in own})

    @classmethod
    def read(cls, location: RunLike) -> "ImportManifest":
        loc = location if isinstance(location, RunLocation) else resolve_location(location)
        return cls.from_dict(read_manifest_data(loc), loc.display(MANIFEST_NAME))


__all__ = ["ImportManifest", "Manifest", "now_utc", "read_manifest_data"]
