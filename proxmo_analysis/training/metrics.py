"""The metrics of a training run: one row per iteration, written to ``metrics.csv``."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

METRIC_FIELDS = [
    "iteration", "episodes", "train_success", "train_score", "train_length", "invalid_rate",
    "loss", "pg_loss", "kl", "entropy", "clip_frac", "grad_norm",
    "rollout_s", "score_s", "update_s", "iteration_s",
    "eval_success", "eval_score", "eval_length", "eval_s", "warm_start_loss", "warm_start_s",
]


def episode_stats(summary) -> dict[str, float]:
    return {
        "episodes": summary.episodes,
        "success": summary.success_rate,
        "score": summary.mean_score,
        "length": summary.mean_length,
        "invalid_rate": summary.invalid_action_rate,
    }


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """``metrics.csv``: one row per iteration, columns :data:`METRIC_FIELDS` (blank where not measured)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in METRIC_FIELDS})
    tmp.replace(path)


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value
