"""Scoring whole task groups with a registered method: rows in, the four credit columns out.

``score_rows`` is the one place a DataFrame meets a method's function; ``score`` (in memory), the
process-pool scorers and the Ray scorer all call it on whole task groups.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import numpy as np
import polars as pl

from proxmo_analysis.errors import InputError

from .frame import ADDED_COLUMNS, StepRows, prepare_rows
from .registry import Method
from .returns import Credit


def needs_invalid(cfg: Any) -> bool:
    return bool(getattr(cfg, "invalid_penalty", 0.0))


def credit_metadata(method: str, cfg: Any) -> str:
    """The ``proxmo.credit`` JSON: method name and every resolved parameter."""
    return json.dumps({"method": method, "params": cfg.to_dict()}, sort_keys=True)


def prepare(df: pl.DataFrame, m: Method, cfg: Any, where: str = "input") -> tuple[StepRows, np.ndarray]:
    return prepare_rows(df, need_observation=m.needs_observation(cfg), need_won=m.needs_won(cfg),
                        need_invalid=needs_invalid(cfg), where=where)


def attach(df: pl.DataFrame, credit: Credit, order: np.ndarray) -> pl.DataFrame:
    """``df`` with the four credit columns (float32) in input row order; other columns untouched."""
    values = {
        "return_to_go": credit.return_to_go, "adv_episode": credit.adv_episode,
        "adv_step": credit.adv_step, "advantage": credit.advantage,
    }
    identity = bool(np.all(order == np.arange(len(order))))
    if not identity:
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
    new = [pl.Series(name, (values[name] if identity else values[name][inverse]).astype(np.float32))
           for name in ADDED_COLUMNS]
    return df.drop([c for c in ADDED_COLUMNS if c in df.columns]).with_columns(new)


def score_rows(df: pl.DataFrame, m: Method, cfg: Any, stats: Mapping | None = None,
               where: str = "input") -> pl.DataFrame:
    """Score whole task groups of ``df`` (stats: TF-IDF per iteration when fitted elsewhere)."""
    rows, order = prepare(df, m, cfg, where)
    if rows.n_rows == 0:
        empty = np.zeros(0)
        return attach(df, Credit(empty, empty, empty), order)
    credit = m.run(rows, cfg, stats)
    check_finite(credit, m.name, cfg)
    return attach(df, credit, order)


def check_finite(credit: Credit, method: str, cfg: Any) -> None:
    """Refuse inf/NaN credit before anything is written: finite inputs and settings can still overflow
    (e.g. ``beta=1e300``), and a log of NaN advantages would train nothing without a word."""
    for name in ("return_to_go", "adv_episode", "adv_step", "advantage"):
        values = np.asarray(getattr(credit, name), dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            # float32 is what is written: a value finite in float64 may still overflow there
            bad = ~np.isfinite(values.astype(np.float32))
        if bad.any():
            raise InputError(f"{method} produced {int(bad.sum())} non-finite {name} value(s) of {len(values)} "
                             f"with {_changed_settings(cfg)}; they are not written; use smaller settings")


def _changed_settings(cfg: Any) -> str:
    """The settings of ``cfg`` that differ from its class defaults (for its variant), as ``k=v`` pairs."""
    try:
        base = type(cfg)(**({"variant": cfg.variant} if hasattr(cfg, "variant") else {})).to_dict()
    except (TypeError, ValueError):
        base = {}
    changed = {k: v for k, v in cfg.to_dict().items() if base.get(k) != v}
    return ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "the default settings"


def credit_columns(df: pl.DataFrame, m: Method, cfg: Any, stats: Mapping | None = None, where: str = "input",
                   locate: Callable[[int], str] | None = None,
                   observation_dictionary: tuple[np.ndarray, pl.Series] | None = None) -> dict[str, np.ndarray]:
    """The four credit columns of whole task groups of ``df`` (float32, ``df``'s row order): the numbers
    ``score_rows`` attaches. Also checks every episode's steps are 0..n-1 (``locate`` names a row).
    observation_dictionary: ``df``'s observation column as (indices, dictionary) (``prepare_rows``)."""
    rows, order = prepare_rows(df, need_observation=m.needs_observation(cfg), need_won=m.needs_won(cfg),
                               need_invalid=needs_invalid(cfg), where=where, locate=locate, contiguous_steps=True,
                               observation_dictionary=observation_dictionary)
    if rows.n_rows == 0:
        return {name: np.zeros(0, dtype=np.float32) for name in ADDED_COLUMNS}
    credit = m.run(rows, cfg, stats)
    check_finite(credit, m.name, cfg)
    values = {"return_to_go": credit.return_to_go, "adv_episode": credit.adv_episode,
              "adv_step": credit.adv_step, "advantage": credit.advantage}
    out = {}
    for name in ADDED_COLUMNS:
        column = np.empty(rows.n_rows, dtype=np.float32)
        column[order] = values[name]
        out[name] = column
    return out


__all__ = ["attach", "check_finite", "credit_columns", "credit_metadata", "needs_invalid", "prepare", "score_rows"]
