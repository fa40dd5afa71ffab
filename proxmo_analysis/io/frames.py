"""Episodes from a table that already has the log's columns (a Hugging Face split, a Parquet file)."""

from __future__ import annotations

from typing import Iterator

import polars as pl

from proxmo_envs.trajlog.schema import REQUIRED_COLUMNS

from .records import Episode, InputError


def episodes_from_frame(df: pl.DataFrame, source: str) -> Iterator[Episode]:
    """One ``Episode`` per ``episode_id`` of ``df`` (steps sorted), keeping every column's values."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(source, None, missing[0], "missing (a column of the trajectory log)")
    df = df.with_row_index("__row").sort("episode_id", "step", maintain_order=True)
    order = df.group_by("episode_id", maintain_order=True).agg(pl.col("__row").min()).sort("__row")["episode_id"]
    parts = df.partition_by("episode_id", as_dict=True, maintain_order=True)
    for episode_id in order.to_list():
        part = parts[(episode_id,)]
        steps = part["step"].to_list()
        if steps != list(range(len(steps))):
            raise InputError(source, int(part["__row"][0]) + 1, "step", f"episode {episode_id!r}: steps {steps} are not 0..n-1")
        first = part.row(0, named=True)
        yield Episode(
            task_id=first["task_id"], group_id=first["group_id"], episode_id=episode_id,
            observations=part["observation"].to_list(), actions=part["action"].to_list(),
            rewards=part["reward"].to_list(), won=bool(first["won"]), task_score=float(first["task_score"]),
            rollout_index=int(first["rollout_index"]), iteration=int(first["iteration"]),
            admissible_actions=part["admissible_actions"].to_list(), invalid_action=part["invalid_action"].to_list(),
            behavior_logprob=part["behavior_logprob"].to_list(), task_type=first["task_type"],
            episode_return=float(first["episode_return"]), run_id=first["run_id"], env_id=first["env_id"],
            terminated_steps=part["terminated"].to_list(), truncated_steps=part["truncated"].to_list(),
            line=int(first["__row"]) + 1,
        )


__all__ = ["episodes_from_frame"]
