"""The end-of-rollout summary, computed from the run folder itself (so it covers resumed sessions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from proxmo_envs.trajlog.fs import FAILURES_GLOB, RunLike, resolve_location
from proxmo_envs.trajlog.schema import PART_GLOB


@dataclass(frozen=True)
class RolloutSummary:
    """Counts and rates of a run folder, plus the speed of the session that just ran.

    ``episodes``: logged episodes; ``failed``: episodes in ``failures.jsonl`` that are still not logged;
    ``success_rate``, ``mean_score``: mean of ``won`` / ``task_score`` over logged episodes;
    ``mean_length``: steps per logged episode; ``invalid_action_rate``: invalid steps / steps;
    ``session_steps``, ``session_seconds``, ``steps_per_second``: this session only (NaN when none ran).
    """

    out: str
    run_id: str
    episodes: int
    failed: int
    success_rate: float
    mean_score: float
    mean_length: float
    invalid_action_rate: float
    session_episodes: int
    session_steps: int
    session_seconds: float

    @property
    def steps_per_second(self) -> float:
        return self.session_steps / self.session_seconds if self.session_seconds > 0 else float("nan")

    def rows(self) -> list[tuple[str, str]]:
        """(label, formatted value) pairs for a one-table display."""
        return [
            ("run folder", self.out),
            ("episodes", f"{self.episodes}"),
            ("failed episodes", f"{self.failed}"),
            ("success rate", f"{self.success_rate:.3f}"),
            ("mean score", f"{self.mean_score:.3f}"),
            ("mean length (steps)", f"{self.mean_length:.2f}"),
            ("invalid-action rate", f"{self.invalid_action_rate:.3f}"),
            ("steps/s (this session)", f"{self.steps_per_second:.1f}"),
        ]


def logged_pairs(out: RunLike) -> set[tuple[str, int]]:
    """``(task_id, rollout_index)`` of every episode in the visible parts of a run folder (any location)."""
    loc = resolve_location(out)
    parts = loc.glob(PART_GLOB)
    if not parts:
        return set()
    df = loc.scan_parquet(parts).select("task_id", "rollout_index").unique().collect()
    return {(t, int(r)) for t, r in df.iter_rows()}


def read_failures(out: RunLike) -> list[dict]:
    """The records of ``failures.jsonl`` (and of the per-writer ``failures-*.jsonl`` of non-local
    filesystems); empty when there is none; a torn last line is ignored."""
    loc = resolve_location(out)
    records = []
    for path in loc.glob(FAILURES_GLOB):
        for line in loc.read_text(Path(path).name).splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a writer killed mid-line; the episode is re-run on resume anyway
    return records


def summarize_run(
    out: RunLike,
    run_id: str = "",
    session_episodes: int = 0,
    session_steps: int = 0,
    session_seconds: float = 0.0,
) -> RolloutSummary:
    """Summarise the run folder ``out`` (see ``RolloutSummary``)."""
    loc = resolve_location(out)
    parts = loc.glob(PART_GLOB)
    nan = float("nan")
    if parts:
        per_episode = (
            loc.scan_parquet(parts)
            .group_by("episode_id")
            .agg(
                pl.col("won").first(),
                pl.col("task_score").first(),
                pl.len().alias("length"),
                pl.col("invalid_action").sum().alias("invalid"),
            )
            .collect()
        )
        episodes = per_episode.height
        steps = int(per_episode["length"].sum())
        success = float(per_episode["won"].cast(pl.Float64).mean())
        score = float(per_episode["task_score"].cast(pl.Float64).mean())
        length = steps / episodes
        invalid = int(per_episode["invalid"].sum()) / steps if steps else nan
    else:
        episodes, success, score, length, invalid = 0, nan, nan, nan, nan
    done = logged_pairs(loc)
    outstanding = {
        (f.get("task_id"), f.get("rollout_index"))
        for f in read_failures(loc)
        if (f.get("task_id"), f.get("rollout_index")) not in done
    }
    return RolloutSummary(
        out=str(loc),
        run_id=run_id,
        episodes=episodes,
        failed=len(outstanding),
        success_rate=success,
        mean_score=score,
        mean_length=length,
        invalid_action_rate=invalid,
        session_episodes=session_episodes,
        session_steps=session_steps,
        session_seconds=session_seconds,
    )


__all__ = ["RolloutSummary", "summarize_run", "logged_pairs", "read_failures"]
