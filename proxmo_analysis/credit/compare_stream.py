"""``proxmo compare`` over a run folder in flat memory: several methods scored segment by segment.

The run is indexed once (``stream.index_run``: checks, groups, TF-IDF term counts) and cut into segments
of whole task groups (``stream.plan_segments``). Each segment's scoring columns are read once and scored
with every method; what is kept is a handful of numbers per method: counts, minimum and maximum, and the
means and co-moments of the methods' ``advantage``, ``adv_episode`` and ``adv_step``, merged segment by
segment with Chan et al.'s pairwise update (as stable as two passes). Means, standard deviations and
Pearson correlations equal those of the in-memory comparison up to rounding in the last digits. Singleton
shares are per task group, so they are exact per segment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import polars as pl
import pyarrow as pa

from proxmo_envs.trajlog.fs import RunLike

from .dispatch import credit_columns
from .parallel import pool, share_work
from .registry import make_config, runs_in_workers, settings_per_method
from .runs import DEFAULT_ROWS_PER_BATCH
from .stream import check_rows_per_batch, fit_stats, index_run, plan_segments, read_segment, release_cache, scoring_frame
from proxmo_analysis.logs import located_parts


@dataclass
class Moments:
    """Count, means and co-moment matrix of k variables, mergeable (Chan, Golub & LeVeque 1979)."""

    k: int
    n: int = 0
    mean: np.ndarray = field(default=None)  # type: ignore[assignment]
    comoment: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.mean = np.zeros(self.k) if self.mean is None else self.mean
        self.comoment = np.zeros((self.k, self.k)) if self.comoment is None else self.comoment

    @staticmethod
    def of(values: np.ndarray) -> "Moments":
        """Moments of the rows of ``values`` (n, k)."""
        n, k = values.shape
        if n == 0:
            return Moments(k)
        mean = values.mean(axis=0)
        centred = values - mean
        return Moments(k, n, mean, centred.T @ centred)

    def merge(self, other: "Moments") -> "Moments":
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(self.k, n, self.mean + delta * (other.n / n),
                       self.comoment + other.comoment + np.outer(delta, delta) * (self.n * other.n / n))


def _segment_summary(location, files, shown, tasks, methods, configs, stats_by_features) -> dict[str, Any]:
    """Worker: the summaries of consecutive segments (rows, groups, episodes, singleton counts, moments)."""
    cache: dict[int, pa.Table] = {}
    k = len(methods)
    total = {"rows": 0, "groups": 0, "episodes": 0, "single_all": 0, "single_same": 0,
             "moments": Moments(3 * k), "min": np.full(k, np.inf), "max": np.full(k, -np.inf),
             "nonzero": np.zeros(k, dtype=np.int64)}
    columns = ["group_id", "episode_id", "step", "reward", "observation", "won", "invalid_action", "iteration"]
    for i, (segment, file_indices) in enumerate(tasks):
        table, locate = read_segment(location, files, shown, segment, file_indices, cache, columns)
        release_cache(cache, tasks[i + 1][1] if i + 1 < len(tasks) else [])
        frame = scoring_frame(table)
        cols = []
        for j, name in enumerate(methods):
            m, cfg = make_config(name, configs[name])
            stats = stats_by_features.get(getattr(cfg, "max_features", 0)) if m.uses_tfidf_batch(cfg) else None
            credit = credit_columns(frame, m, cfg, stats, where=str(location), locate=locate)
            adv = credit["advantage"].astype(np.float64)
            total["min"][j] = min(total["min"][j], adv.min(initial=np.inf))
            total["max"][j] = max(total["max"][j], adv.max(initial=-np.inf))
            total["nonzero"][j] += int(np.count_nonzero(adv))
            cols.append((adv, credit["adv_episode"].astype(np.float64), credit["adv_step"].astype(np.float64)))
        values = np.column_stack([c[0] for c in cols] + [c[1] for c in cols] + [c[2] for c in cols])
        total["moments"] = total["moments"].merge(Moments.of(values))
        total["rows"] += frame.height
        total["groups"] += frame["group_id"].n_unique()
        total["episodes"] += frame["episode_id"].n_unique()
        for key, by in (("single_all", ["group_id", "observation"]), ("single_same", ["group_id", "step", "observation"])):
            total[key] += int((frame.select(pl.len().over(by).alias("n"))["n"] == 1).sum())
    return total


def compare_run(run: RunLike, methods: list[str], config: dict, *, workers: int = 1,
                rows_per_batch: int = DEFAULT_ROWS_PER_BATCH,
                progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Compare ``methods`` on a run folder or file without holding it in memory.

    Returns ``rows``, ``groups``, ``episodes``, ``shares`` (singleton share of step rows under exact matching,
    ``all_steps`` / ``same_step``), ``stats`` (per method: mean, std, min, max, nonzero share of
    ``advantage``, population std; ``episode_std``, ``step_std``, sample std) and ``correlation`` (per method
    pair, Pearson correlation of ``advantage``; NaN when one is constant).

    ``progress(stage, done, total)``: called with ``("indexing", 0, 0)`` before the first pass and with
    ``("segments", k, n)`` as the second pass's segments finish (a progress bar; must be thread-safe)."""
    check_rows_per_batch(rows_per_batch)  # as score_run: before any reading
    settings = settings_per_method(methods, config)
    cfgs = {name: make_config(name, settings[name]) for name in methods}
    run_loc, files, shown = located_parts(run)
    need_text = any(m.uses_tfidf_batch(cfg) for m, cfg in cfgs.values())
    features = sorted({getattr(cfg, "max_features", 0) for m, cfg in cfgs.values() if m.uses_tfidf_batch(cfg)})
    parallel = workers > 1 and all(runs_in_workers(m) for m, _ in cfgs.values())
    executor = pool(workers - 1) if parallel else None  # this process works too (parallel.share_work)
    try:
        if progress is not None:
            progress("indexing", 0, 0)
        index, counts = index_run(run_loc, files, shown, need_text, executor, workers=workers)
        stats_by_features = {f: fit_stats(counts, f) for f in features}  # one fit per feature cap in use
        plan = plan_segments(index, rows_per_batch)
        tasks = list(zip(plan.segments, plan.files))
        per_call = max(1, len(tasks) // (8 * workers)) if executor is not None else max(len(tasks), 1)
        calls = [(run_loc, files, shown, tasks[i:i + per_call], methods, settings, stats_by_features)
                 for i in range(0, len(tasks), per_call)]
        on_done = None
        if progress is not None:
            done = {"segments": 0}
            counting = threading.Lock()  # this thread and the pool's result thread both report
            progress("segments", 0, len(tasks))

            def on_done(i: int) -> None:
                with counting:
                    done["segments"] += len(calls[i][3])
                    progress("segments", done["segments"], len(tasks))
        parts = share_work(_segment_summary, calls, executor, workers, on_done=on_done)
    finally:
        if executor:
            executor.shutdown(cancel_futures=True)
    k = len(methods)
    moments = Moments(3 * k)
    for p in parts:
        moments = moments.merge(p["moments"])
    n = max(moments.n, 1)
    var = np.diag(moments.comoment) / n
    std = np.sqrt(np.maximum(var, 0.0))  # population (numpy's default), as the advantage column shows
    sample_std = np.sqrt(np.maximum(np.diag(moments.comoment) / max(moments.n - 1, 1), 0.0))  # polars' default
    rows = sum(p["rows"] for p in parts)
    out = {"rows": rows, "groups": sum(p["groups"] for p in parts), "episodes": sum(p["episodes"] for p in parts),
           "shares": {"all_steps": sum(p["single_all"] for p in parts) / rows if rows else 0.0,
                      "same_step": sum(p["single_same"] for p in parts) / rows if rows else 0.0},
           "stats": {}, "correlation": {}}
    for j, name in enumerate(methods):
        out["stats"][name] = {
            "mean": float(moments.mean[j]), "std": float(std[j]),
            "min": float(min(p["min"][j] for p in parts)), "max": float(max(p["max"][j] for p in parts)),
            "nonzero": sum(int(p["nonzero"][j]) for p in parts) / rows if rows else 0.0,
            "episode_std": float(sample_std[k + j]), "step_std": float(sample_std[2 * k + j])}
    for a, name_a in enumerate(methods):
        for b, name_b in enumerate(methods):
            sa, sb = std[a], std[b]
            out["correlation"][(name_a, name_b)] = (float(moments.comoment[a, b] / n / (sa * sb))
                                                    if sa > 0 and sb > 0 else float("nan"))
    return out


__all__ = ["Moments", "compare_run"]
