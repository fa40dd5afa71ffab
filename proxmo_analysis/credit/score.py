"""``score(df, method, **config)``: the registry of methods and the in-memory dispatcher."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import polars as pl

from .config import GiGPOConfig, GRPOConfig, ProxMOConfig, ReturnConfig
from .frame import ADDED_COLUMNS, StepRows, prepare_rows
from .gigpo import gigpo
from .grpo import grpo, grpo_mean
from .proxmo import proxmo
from .returns import Credit
from .rloo import rloo


@dataclass(frozen=True)
class Method:
    """A registered credit-assignment method: ``function(rows, config) -> Credit`` and its config class."""

    name: str
    function: Callable[..., Credit]
    config: type
    needs_observation: Callable[[Any], bool] = lambda cfg: False
    needs_won: Callable[[Any], bool] = lambda cfg: False
    uses_tfidf_batch: Callable[[Any], bool] = lambda cfg: False


METHODS: dict[str, Method] = {}

#: below this many rows ``score(..., workers>1)`` stays in one process: starting workers costs seconds
PARALLEL_MIN_ROWS = 200_000


def register_method(method: Method) -> None:
    """Add (or replace) a method in the registry, under ``method.name``."""
    METHODS[method.name] = method


register_method(Method("grpo", grpo, GRPOConfig))
register_method(Method("grpo_mean", grpo_mean, ReturnConfig))
register_method(Method("rloo", rloo, ReturnConfig))
register_method(Method("gigpo", gigpo, GiGPOConfig, needs_observation=lambda c: True,
                       needs_won=lambda c: c.reward_scale is not None))
register_method(Method(
    "proxmo", proxmo, ProxMOConfig, needs_observation=lambda c: c.psa, needs_won=lambda c: True,
    uses_tfidf_batch=lambda c: c.psa and c.similarity == "tfidf" and c.tfidf_scope == "batch"))


def get_method(name: str) -> Method:
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def make_config(method: str, config: Mapping[str, Any]) -> tuple[Method, Any]:
    """The method and its validated config; unknown parameters raise one ValueError listing the known ones."""
    m = get_method(method)
    known = [f.name for f in dataclasses.fields(m.config)]
    unknown = [k for k in config if k not in known]
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                         f"known: {', '.join(known)}")
    return m, m.config(**config)


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
    credit = m.function(rows, cfg, stats) if m.name == "proxmo" else m.function(rows, cfg)
    return attach(df, credit, order)


def score(df: pl.DataFrame, method: str = "proxmo", *, workers: int = 1, **config: Any) -> pl.DataFrame:
    """Credit-assign the step rows of a trajectory log.

    df: one row per step with the log's columns (``group_id``, ``episode_id``, ``step``, ``reward``; plus
    ``observation`` for gigpo/proxmo, ``won`` for proxmo and scaled rewards, ``invalid_action`` when an
    invalid penalty is set, ``iteration`` optional: TF-IDF is fitted per iteration).
    method: one of ``grpo``, ``grpo_mean``, ``rloo``, ``gigpo``, ``proxmo``; config: the fields of the
    method's config dataclass (e.g. ``variant="reference"``, ``psc=False``, ``tau=0.5``).
    workers: processes over batches of task groups for gigpo/proxmo inputs of at least
    ``PARALLEL_MIN_ROWS`` rows (same numbers for any value; starting the pool costs a few seconds).

    Returns ``df`` with ``return_to_go``, ``adv_episode``, ``adv_step``, ``advantage`` (float32) added
    (replaced if present), rows in input order; input columns are never changed. Deterministic.
    Raises ValueError on an unknown method/parameter, a missing column, a null or non-finite value.
    """
    m, cfg = make_config(method, config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if workers == 1 or df.height < PARALLEL_MIN_ROWS or m.name not in ("proxmo", "gigpo"):
        return score_rows(df, m, cfg)
    from .parallel import score_parallel

    return score_parallel(df, m, cfg, workers)
