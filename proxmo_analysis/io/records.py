"""What every importer produces: whole episodes, checked, written as a run folder all at once or not at all.

An importer reads a foreign file and yields ``Episode``s; ``write_run`` strips prompts rendered with the
text protocol (``proxmo_envs.text``) down to the bare observation and turns them into a run folder of the
trajectory-log schema (``proxmo_envs.trajlog``) through the project's own ``PartWriter``. It writes into a
hidden sibling folder and renames it to ``--out`` only after every episode was written and ``read_log``'s
validation passed, so a malformed line anywhere in the input leaves nothing behind.

Bad input raises ``InputError`` (a ``ValueError``): ONE line naming the file, the 1-based line number and
the field, e.g. ``rollouts.jsonl:7: field 'reward': expected a number, got 'abc'``.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from proxmo_analysis import errors
from proxmo_envs.trajlog import MANIFEST_NAME, PartWriter
from proxmo_envs.trajlog.manifest import ImportManifest, now_utc


class InputError(errors.InputError):
    """A malformed input line: ``FILE:LINE: field 'F': what is wrong`` (proxmo's bad-input error, one line)."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, field_name: str | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        what = f" field {field_name!r}:" if field_name else ""
        super().__init__(f"{where}:{what} {message}")
        self.path, self.line, self.field = str(path), line, field_name


@dataclass
class Episode:
    """One trajectory of ``n`` steps. Lists hold one entry per step; ``line`` is where it was read (errors)."""

    task_id: str
    group_id: str
    episode_id: str
    observations: list[str]
    actions: list[str]
    rewards: list[float]
    won: bool
    task_score: float
    rollout_index: int | None = None
    iteration: int = 0
    terminated: bool = True
    truncated: bool = False
    admissible_actions: list[list[str]] | None = None
    invalid_action: list[bool] | None = None
    behavior_logprob: list[float | None] | None = None
    task_type: str | None = None
    episode_return: float | None = None
    run_id: str | None = None
    env_id: str | None = None
    # per-step terminated/truncated when the source has them (generic JSONL); else only the last step is set
    terminated_steps: list[bool] | None = None
    truncated_steps: list[bool] | None = None
    line: int | None = None
    path: str | None = None  # the file ``line`` is in, when the source is a folder of files
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; a line that is not a JSON object is an ``InputError``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    with open(p, encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                raise InputError(p, number, None, f"not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(obj, dict):
                raise InputError(p, number, None, f"expected a JSON object, got {type(obj).__name__}")
            yield number, obj


_MISSING = object()


def get_path(obj: Mapping[str, Any], dotted: str, default: Any = _MISSING) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; ``default`` (or ``KeyError``) when a part is missing."""
    cur: Any = obj
    for part in dotted.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            if default is _MISSING:
                raise KeyError(dotted)
            return default
    return cur


class Line:
    """Typed access to one input object, every failure naming file, line and field."""

    def __init__(self, path: str | os.PathLike[str], number: int, obj: Mapping[str, Any]):
        self.path, self.lineno, self.obj = str(path), number, obj

    def error(self, field_name: str | None, message: str) -> InputError:
        return InputError(self.path, self.lineno, field_name, message)

    def get(self, name: str, default: Any = _MISSING) -> Any:
        try:
            return get_path(self.obj, name)
        except KeyError:
            if default is _MISSING:
                raise self.error(name, "missing") from None
            return default

    def _value(self, name: str, default: Any) -> tuple[Any, bool]:
        """The value and whether it is the default (missing, or null when a default is given)."""
        value = self.get(name, default)
        return value, default is not _MISSING and (value is default or value is None)

    def text(self, name: str, default: Any = _MISSING) -> str:
        value, is_default = self._value(name, default)
        if is_default:
            return default
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # numeric ids (task indices) become text ids
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {_shown(value)}")
        return value

    def number(self, name: str, default: Any = _MISSING) -> float:
        value, is_default = self._value(name, default)
        return default if is_default else check_number(self, name, value)

    def integer(self, name: str, default: Any = _MISSING) -> int:
        value, is_default = self._value(name, default)
        if is_default:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {_shown(value)}")
        return value

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        value, is_default = self._value(name, default)
        if is_default:
            return default
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {_shown(value)}")
        return value


def check_number(line: Line, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise line.error(name, f"expected a finite number, got {_shown(value)}")
    return float(value)


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def episode_columns(ep: Episode, run_id: str, env_id: str) -> dict[str, list]:
    """The trajectory-log columns of one episode (``proxmo_envs.trajlog.schema``)."""
    n = len(ep)
    episode_return = float(sum(ep.rewards)) if ep.episode_return is None else float(ep.episode_return)
    terminated = ep.terminated_steps or [False] * (n - 1) + [bool(ep.terminated)]
    truncated = ep.truncated_steps or [False] * (n - 1) + [bool(ep.truncated)]
    return {
        "run_id": [ep.run_id or run_id] * n,
        "env_id": [ep.env_id or env_id] * n,
        "task_id": [ep.task_id] * n,
        "group_id": [ep.group_id] * n,
        "episode_id": [ep.episode_id] * n,
        "rollout_index": [int(ep.rollout_index or 0)] * n,
        "iteration": [int(ep.iteration)] * n,
        "step": list(range(n)),
        "observation": list(ep.observations),
        "action": list(ep.actions),
        "admissible_actions": ep.admissible_actions or [[] for _ in range(n)],
        "reward": [float(r) for r in ep.rewards],
        "terminated": terminated,
        "truncated": truncated,
        "invalid_action": ep.invalid_action or [False] * n,
        "episode_return": [episode_return] * n,
        "won": [bool(ep.won)] * n,
        "task_score": [float(ep.task_score)] * n,
        "behavior_logprob": ep.behavior_logprob or [None] * n,
        "task_type": [ep.task_type] * n,
    }


def number_rollouts(episodes: Iterable[Episode], source: str) -> Iterator[Episode]:
    """Give episodes without a ``rollout_index`` the next free index of their group (order of appearance),
    and refuse an episode id seen twice or a (group, rollout index) pair seen twice."""
    next_index: dict[str, int] = {}
    seen_pairs: dict[tuple[str, int], int | None] = {}
    seen_ids: dict[str, int | None] = {}
    for ep in episodes:
        if len(ep) == 0:
            raise InputError(ep.path or source, ep.line, None, f"episode {ep.episode_id!r} has no steps")
        if ep.rollout_index is None:
            ep.rollout_index = next_index.get(ep.group_id, 0)
        next_index[ep.group_id] = max(next_index.get(ep.group_id, 0), ep.rollout_index + 1)
        pair = (ep.group_id, ep.rollout_index)
        if pair in seen_pairs:
            raise InputError(ep.path or source, ep.line, "rollout_index",
                             f"group {ep.group_id!r} has rollout {ep.rollout_index} twice "
                             f"(first at line {seen_pairs[pair]})")
        seen_pairs[pair] = ep.line
        if ep.episode_id in seen_ids:
            raise InputError(ep.path or source, ep.line, "episode_id",
                             f"episode {ep.episode_id!r} appears twice (first at line {seen_ids[ep.episode_id]})")
        seen_ids[ep.episode_id] = ep.line
        yield ep


def strip_rendered(episodes: Iterable[Episode], source: str) -> Iterator[Episode]:
    """Keep the bare environment observation for GiGPO/PSA: an observation that is a prompt rendered with
    the text protocol (``proxmo_envs.text.render``, as the TRL/SkyRL/verifiers adapters show it) becomes
    the observation inside it, and its admissible-action block fills ``admissible_actions`` when the
    source had none."""
    from proxmo_envs import text

    for ep in episodes:
        if any(text.is_rendered(o) for o in ep.observations):
            observations, admissible = [], []
            for k, o in enumerate(ep.observations):
                if not text.is_rendered(o):
                    observations.append(o)
                    admissible.append([])
                    continue
                try:
                    r = text.unrender(o)
                except ValueError as err:
                    raise InputError(ep.path or source, ep.line, "observation", f"step {k}: {err}") from None
                observations.append(r.observation)
                admissible.append(list(r.admissible))
            ep.observations = observations
            if not ep.admissible_actions or not any(ep.admissible_actions):
                ep.admissible_actions = admissible
        yield ep


def write_run(episodes: Iterable[Episode], out: str | os.PathLike[str], *, env_id: str, source: str,
              fmt: str, run_id: str | None = None, extra_manifest: Mapping[str, Any] | None = None,
              rows_per_part: int = 4096, replace: bool = False) -> dict[str, Any]:
    """Write ``episodes`` as the run folder ``out`` (local path), all or nothing.

    ``out`` must not exist yet (or be an empty folder); with ``replace`` it may be a run folder
    (``manifest.json`` or ``part-*.parquet``), which is swapped out only once the new one is complete.
    Episodes are written by ``PartWriter`` into a hidden sibling folder, which gets a ``manifest.json``, is
    validated with ``validate_log`` and only then renamed to ``out``; any error (an ``InputError`` from the
    reader included) removes it and leaves ``out`` as it was. Returns a summary dict (``out``,
    ``episodes``, ``rows``, ``groups``).
    """
    from proxmo_analysis.io.destination import check_destination, swap_into
    from proxmo_analysis.logs import validate_log

    target = check_destination(out, replace, (MANIFEST_NAME, "part-*.parquet"), "run folder", empty_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".tmp-import-{target.name}-{secrets.token_hex(4)}"
    run_id = run_id or target.name
    manifest = ImportManifest(env_id=env_id, run_id=run_id, source_format=fmt, source=source, episodes=0, rows=0,
                              groups=0, extra=dict(extra_manifest or {}))
    groups: set[str] = set()
    try:
        with PartWriter(staging, run_metadata=manifest.run_metadata(), prefix="import", rows_per_part=rows_per_part,
                        background=False) as writer:
            for ep in number_rollouts(strip_rendered(episodes, source), source):
                groups.add(ep.group_id)
                writer.add_episode(episode_columns(ep, run_id, env_id))
        if writer.episodes_written == 0:
            raise InputError(source, None, None, "holds no episodes; nothing to import")
        manifest.episodes, manifest.rows, manifest.groups = writer.episodes_written, writer.rows_written, len(groups)
        manifest.created_at = now_utc()
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
        validate_log(staging)
        swap_into(staging, target)  # an empty folder or a run folder (checked above) is replaced
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"out": str(target), "episodes": writer.episodes_written, "rows": writer.rows_written,
            "groups": len(groups)}


__all__ = ["InputError", "Episode", "Line", "read_jsonl", "get_path", "episode_columns", "write_run",
           "number_rollouts", "check_number", "strip_rendered"]
