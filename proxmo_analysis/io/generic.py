"""The generic JSONL format: one step a line, the trajectory-log column names (``proxmo_envs.trajlog.schema``).

Required on every line: ``group_id``, ``episode_id``, ``step`` (0-based), ``observation``, ``action``,
``reward``. Optional (default): ``task_id`` (``group_id``), ``rollout_index`` (order of first appearance in
its group), ``iteration`` (0), ``run_id``/``env_id`` (the run's), ``admissible_actions`` ([]),
``terminated`` (true on the last step), ``truncated`` (false), ``invalid_action`` (false),
``episode_return`` (sum of rewards), ``won`` (episode_return > 0), ``task_score`` (episode_return),
``behavior_logprob`` (null), ``task_type`` (null). Lines may come in any order; an episode's steps must be
exactly 0..n-1. ``export_jsonl`` writes every column, so export -> import gives identical rows.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

from .records import Episode, InputError, Line, read_jsonl

REQUIRED = ("group_id", "episode_id", "step", "observation", "action", "reward")


def _step_fields(line: Line, observation_field: str) -> dict[str, Any]:
    step = line.integer("step")
    if step < 0:
        raise line.error("step", f"must be >= 0, got {step}")
    row: dict[str, Any] = {
        "group_id": line.text("group_id"),
        "episode_id": line.text("episode_id"),
        "step": step,
        "observation": line.text(observation_field),
        "action": line.text("action"),
        "reward": line.number("reward"),
        "terminated": line.boolean("terminated", None),
        "truncated": line.boolean("truncated", False),
        "invalid_action": line.boolean("invalid_action", False),
        "task_id": line.text("task_id", None),
        "rollout_index": line.integer("rollout_index", None),
        "iteration": line.integer("iteration", 0),
        "run_id": line.text("run_id", None),
        "env_id": line.text("env_id", None),
        "task_type": line.text("task_type", None),
    }
    adm = line.get("admissible_actions", [])
    if not isinstance(adm, list) or not all(isinstance(a, str) for a in adm):
        raise line.error("admissible_actions", "expected a list of strings")
    row["admissible_actions"] = adm
    for name in ("behavior_logprob", "episode_return", "task_score"):
        row[name] = line.number(name, None)
    row["won"] = line.boolean("won", None)
    return row


def read_generic(path: str | os.PathLike[str], observation_field: str = "observation") -> Iterator[Episode]:
    """Episodes of a generic JSONL file (see module doc), in order of each episode's first line."""
    episodes: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, obj in read_jsonl(path):
        line = Line(path, number, obj)
        row = _step_fields(line, observation_field)
        rows = episodes.setdefault(row["episode_id"], [])
        if rows and rows[0][1]["group_id"] != row["group_id"]:
            raise line.error("group_id", f"episode {row['episode_id']!r} is under group "
                                         f"{rows[0][1]['group_id']!r} at line {rows[0][0]}")
        rows.append((number, row))
    for episode_id, rows in episodes.items():
        rows.sort(key=lambda r: r[1]["step"])
        for expected, (number, row) in enumerate(rows):
            if row["step"] != expected:
                what = (f"step {row['step']} appears twice" if row["step"] < expected
                        else f"step {expected} is missing (next is {row['step']})")
                raise InputError(path, number, "step", f"episode {episode_id!r}: {what}")
        first = rows[0][1]
        last = rows[-1][1]
        rewards = [r["reward"] for _, r in rows]
        ret = last["episode_return"] if last["episode_return"] is not None else float(sum(rewards))
        yield Episode(
            task_id=first["task_id"] if first["task_id"] is not None else first["group_id"],
            group_id=first["group_id"], episode_id=episode_id,
            observations=[r["observation"] for _, r in rows], actions=[r["action"] for _, r in rows],
            rewards=rewards,
            won=last["won"] if last["won"] is not None else ret > 0,
            task_score=last["task_score"] if last["task_score"] is not None else ret,
            rollout_index=first["rollout_index"], iteration=first["iteration"],
            admissible_actions=[r["admissible_actions"] for _, r in rows],
            invalid_action=[r["invalid_action"] for _, r in rows],
            behavior_logprob=[r["behavior_logprob"] for _, r in rows],
            task_type=first["task_type"], episode_return=ret, run_id=first["run_id"], env_id=first["env_id"],
            terminated_steps=[r["terminated"] if r["terminated"] is not None else k == len(rows) - 1
                              for k, (_, r) in enumerate(rows)],
            truncated_steps=[r["truncated"] for _, r in rows],
            line=rows[0][0],
        )


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"cannot export a non-finite number ({v}) to JSON")
    return v


def export_jsonl(run: str | os.PathLike[str], dest: str | os.PathLike[str], replace: bool = False) -> dict[str, Any]:
    """Write every step row of ``run`` as one generic-JSONL line to the file ``dest`` (atomically; an existing
    file only with ``replace``)."""
    from proxmo_analysis.io.destination import check_destination
    from proxmo_analysis.logs import read_log
    from proxmo_envs.trajlog.schema import REQUIRED_COLUMNS
    from proxmo_envs.trajlog.writer import atomic_write_bytes

    out = check_destination(dest, replace, (), "JSONL file")
    df = read_log(run).select(list(REQUIRED_COLUMNS))
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False)
             for row in df.iter_rows(named=True)]
    atomic_write_bytes(out, ("\n".join(lines) + "\n").encode())
    return {"out": str(out), "rows": df.height, "episodes": df["episode_id"].n_unique()}


__all__ = ["read_generic", "export_jsonl", "REQUIRED"]
