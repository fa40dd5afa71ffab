"""``score(df, method, **config)``: credit-assign a DataFrame in memory, on one or several processes."""

from __future__ import annotations

from typing import Any

import polars as pl

from .dispatch import attach, credit_metadata, needs_invalid, prepare, score_rows
from .parallel import score_parallel
from .registry import METHODS, Method, get_method, make_config, register_method, runs_in_workers

#: below this many rows ``score(..., workers>1)`` stays in one process: starting workers costs seconds
PARALLEL_MIN_ROWS = 200_000


def score(df: pl.DataFrame, method: str = "proxmo", *, workers: int = 1, **config: Any) -> pl.DataFrame:
    """Credit-assign the step rows of a trajectory log.

    df: one row per step with the log's columns (``group_id``, ``episode_id``, ``step``, ``reward``; plus
    ``observation`` for gigpo/proxmo, ``won`` for proxmo and scaled rewards, ``invalid_action`` when an
    invalid penalty is set, ``iteration`` optional: TF-IDF is fitted per iteration).
    method: a registered name (``credit.registry.METHODS``: ``grpo``, ``grpo_mean``, ``rloo``, ``gigpo``,
    ``gigpo_wo_std``, ``proxmo``, ``proxmo_wo_psc``, ``proxmo_wo_psa``, and any you register); config: the
    fields of the method's config dataclass (e.g. ``variant="reference"``, ``psc=False``, ``tau=0.5``).
    workers: processes over batches of task groups for inputs of at least ``PARALLEL_MIN_ROWS`` rows and
    methods that can run in workers (same numbers for any value; starting the pool costs a few seconds).

    Returns ``df`` with ``return_to_go``, ``adv_episode``, ``adv_step``, ``advantage`` (float32) added
    (replaced if present), rows in input order; input columns are never changed. Deterministic.
    Raises ValueError on an unknown method/parameter, a missing column, a null or non-finite value.
    """
    m, cfg = make_config(method, config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if workers == 1 or df.height < PARALLEL_MIN_ROWS or not runs_in_workers(m):
        return score_rows(df, m, cfg)
    return score_parallel(df, m, cfg, workers)


# Re-exported: older code imports these from ``credit.score``.
__all__ = ["METHODS", "Method", "PARALLEL_MIN_ROWS", "attach", "credit_metadata", "get_method", "make_config",
           "needs_invalid", "prepare", "register_method", "score", "score_rows"]
