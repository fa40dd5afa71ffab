"""Game sets: the generated games shipped in ``data/alfworld/`` and a downloaded ALFWorld dataset.

Both are read once per process (cached by folder and split) and shared read-only by every env instance.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from proxmo_envs.alfworld.engine import TASK_TYPES

SPLITS: tuple[str, ...] = ("train", "eval_seen", "eval_unseen")
# Our split names -> the folders of ALFWorld's download (json_2.1.1/<folder>).
DATASET_FOLDERS = {"train": "train", "eval_seen": "valid_seen", "eval_unseen": "valid_unseen"}


@dataclass(frozen=True)
class GameRecord:
    """One playable game: either generated (``pddl_problem`` + ``task``) or a ``game.tw-pddl`` file (``path``)."""

    game_id: str
    task_type: str
    room: str
    task: str | None = None
    pddl_problem: str | None = None
    walkthrough: tuple[str, ...] | None = None
    path: Path | None = None


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown ALFWorld split {split!r}; expected one of {SPLITS}")


def read_jsonl_gz(path: Path, strict: bool = False) -> list[dict[str, Any]]:
    """Records of a ``.jsonl.gz`` file.

    ``strict=False`` (the generator resuming its own output): a truncated last line of an interrupted run
    ends the records. ``strict=True`` (the shipped games): every line must be a JSON object, else one
    ValueError naming the file and line, so a damaged game file never silently loses games.
    """
    records = []
    line_no = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as err:
                    if strict:
                        raise ValueError(f"{path}: line {line_no} is not valid JSON ({err.msg}); the game file "
                                         "is damaged: reinstall proxmo or regenerate it") from None
                    break
                if strict and not isinstance(rec, dict):
                    raise ValueError(f"{path}: line {line_no} is not a JSON object")
                records.append(rec)
    except (EOFError, OSError, UnicodeDecodeError) as err:
        if strict:
            raise ValueError(f"{path}: unreadable after line {line_no} ({type(err).__name__}: {err}); the game "
                             "file is damaged: reinstall proxmo or regenerate it") from None
    return records


@lru_cache(maxsize=8)
def shipped_games(folder: str, split: str) -> tuple[GameRecord, ...]:
    """The generated games of ``split`` in ``folder`` (``<split>.jsonl.gz``), in file order."""
    _check_split(split)
    path = Path(folder) / f"{split}.jsonl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"no generated ALFWorld games for split {split!r}: {path} is missing")
    games = []
    for i, rec in enumerate(read_jsonl_gz(path, strict=True)):
        missing = {"game_id", "task_type", "task", "pddl_problem", "room"} - set(rec)
        if missing:
            raise ValueError(f"{path}: record {i} lacks {sorted(missing)}")
        wt = rec.get("walkthrough")
        games.append(GameRecord(rec["game_id"], rec["task_type"], rec["room"], rec["task"], rec["pddl_problem"],
                                tuple(wt) if wt else None))
    if not games:
        raise ValueError(f"{path} holds no games")
    return tuple(games)


def _find_split_root(data_dir: Path, split: str) -> Path | None:
    folder = DATASET_FOLDERS[split]
    for root in (data_dir / "json_2.1.1" / folder, data_dir / folder):
        if root.is_dir():
            return root
    return None


def dataset_splits(data_dir: str | os.PathLike) -> list[str]:
    """The splits (of ``SPLITS``) a downloaded dataset folder holds."""
    if is_generated_folder(data_dir):
        return [s for s in SPLITS if (Path(data_dir) / f"{s}.jsonl.gz").is_file()]
    return [s for s in SPLITS if _find_split_root(Path(data_dir), s) is not None]


def _split_root(data_dir: Path, split: str) -> Path:
    root = _find_split_root(data_dir, split)
    if root is not None:
        return root
    folder = DATASET_FOLDERS[split]
    present = dataset_splits(data_dir)
    raise FileNotFoundError(
        f"ALFWorld data_dir {data_dir} has no {folder!r} split (it has: {', '.join(present) or 'none'}): expected "
        f"{data_dir / 'json_2.1.1' / folder} (the layout of alfworld-download) or {data_dir / folder}"
    )


@lru_cache(maxsize=8)
def dataset_games(data_dir: str, split: str) -> tuple[GameRecord, ...]:
    """The games of a downloaded ALFWorld dataset, selected with ALFWorld's own rules.

    As ``AlfredTWEnv.collect_game_files``: every folder holding ``traj_data.json``, skipping paths that
    contain ``movable`` or ``Sliced``, whose ``task_type`` is one of the six, with a ``game.tw-pddl`` whose
    ``solvable`` is true. Unlike ALFWorld (``os.walk`` order), games are sorted by path so that indices are
    the same on every machine.
    """
    _check_split(split)
    base = Path(data_dir)
    if not base.is_dir():
        raise FileNotFoundError(f"ALFWorld data_dir does not exist: {base}")
    root = _split_root(base, split)
    games = []
    for dirpath, _dirs, files in sorted(os.walk(root)):
        if "traj_data.json" not in files:
            continue
        if "movable" in dirpath or "Sliced" in dirpath:
            continue
        traj = _read_json(Path(dirpath) / "traj_data.json")
        if traj.get("task_type") not in TASK_TYPES:
            continue
        game_file = Path(dirpath) / "game.tw-pddl"
        if not game_file.is_file():
            continue
        game = _read_json(game_file)
        if not game.get("solvable", False):
            continue
        problem = game.get("pddl_problem")
        if not isinstance(problem, str) or problem.count("(") != problem.count(")"):
            # a truncated download: TextWorld would fail on it at reset, far from the cause
            raise ValueError(f"{game_file}: its pddl_problem is missing or truncated (unbalanced parentheses); "
                             "re-download this game")
        scene = traj.get("scene", {}).get("floor_plan", "") if isinstance(traj.get("scene"), dict) else ""
        wt = game.get("walkthrough")
        games.append(GameRecord(str(Path(dirpath).relative_to(root)), traj["task_type"], scene,
                                walkthrough=tuple(wt) if wt else None, path=game_file))
    if not games:
        raise ValueError(f"no playable ALFWorld game under {root} (need traj_data.json + solvable game.tw-pddl)")
    return tuple(games)


def _read_json(path: Path) -> dict[str, Any]:
    """A dataset file's JSON object, or one ValueError naming the game's file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); re-download this game") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_games(split: str, data_dir: str | os.PathLike | None = None) -> tuple[GameRecord, ...]:
    """The games of ``split``: the shipped generated set; with ``data_dir``, a folder of generated games
    (``<split>.jsonl.gz``, e.g. your own run of the generator) or a downloaded ALFWorld dataset."""
    if data_dir is None:
        from proxmo_envs._paths import data_root

        return shipped_games(str(data_root() / "alfworld"), split)
    if is_generated_folder(data_dir):  # a folder written by the generator (proxmo_envs.builders.alfworld_games)
        return shipped_games(str(Path(data_dir).resolve()), split)
    return dataset_games(str(Path(data_dir).resolve()), split)


def generated_folder(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder of generated games that :func:`load_games` reads for ``data_dir`` (the shipped set's for
    None), or None for a downloaded ALFWorld dataset."""
    if data_dir is None:
        from proxmo_envs._paths import data_root

        return data_root() / "alfworld"
    return Path(data_dir).resolve() if is_generated_folder(data_dir) else None


def is_generated_folder(data_dir: str | os.PathLike) -> bool:
    """Whether ``data_dir`` holds generated games (``<split>.jsonl.gz``, the shipped set's format) rather
    than a downloaded ALFWorld dataset (``json_2.1.1/...``)."""
    base = Path(data_dir)
    return any((base / f"{s}.jsonl.gz").is_file() for s in SPLITS)


def task_type_counts(games: tuple[GameRecord, ...] | list[GameRecord]) -> dict[str, int]:
    """Number of games per task type, in ALFWorld's task-type order (types with no game count 0)."""
    counts = {t: 0 for t in TASK_TYPES}
    for g in games:
        counts[g.task_type] = counts.get(g.task_type, 0) + 1
    return counts
