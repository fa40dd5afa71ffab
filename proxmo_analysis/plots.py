"""Matplotlib figures of credit assignment and training, for the notebooks, the docs and the CLI.

Every function takes arrays or polars DataFrames and returns a :class:`matplotlib.figure.Figure` built
without pyplot (no global figure state; in Jupyter the returned figure displays itself). Saving is the
caller's: ``fig.savefig(path)``. Every figure has labelled axes and a title.

The maths is never re-done here: PSC weights come from :func:`proxmo_analysis.credit.psc_weights`, the
PSA weight matrix from :func:`proxmo_analysis.credit.psa_weights` (see :func:`psa_group_matrices`), the
GiGPO groups from :func:`proxmo_analysis.credit.gigpo.anchor_step_groups`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from proxmo_analysis.credit import ProxMOConfig, psa_weights, psc_weights, registry
from proxmo_analysis.credit.frame import dense_codes
from proxmo_analysis.credit.gigpo import anchor_step_groups
from proxmo_analysis.credit.proxmo import embed_states, fit_batch_stats

__all__ = [
    "PSAGroupMatrices",
    "psa_group_matrices",
    "psc_weight_figure",
    "psc_effect_note",
    "psa_figure",
    "psc_psa_figure",
    "advantage_trajectory_figure",
    "learning_curve_figure",
    "training_curve_figure",
    "find_training_runs",
    "read_training_runs",
    "comparison_bar_figure",
]

def _color(name: str, k: int) -> str:
    """A method keeps its registered colour across figures; other names take matplotlib's cycle."""
    return registry.color(name, k)


def _require(df: Any, columns: Sequence[str], where: str) -> None:
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"{where}: expected a polars DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)} (has: {', '.join(df.columns)})")


# ---- PSC --------------------------------------------------------------------------------------------------
def psc_weight_figure(alpha: float = 4.0, beta: float = 0.1, group_size: int | None = 8,
                      n_points: int = 201) -> Figure:
    """ProxMO's PSC weight ``w(R, p)`` against the group success rate ``p`` (spec §4.1).

    Two curves, successes (R = 1) and failures (R = 0), over p in [0, 1] (``n_points`` points); with
    ``group_size`` N, markers at the rates a group of N can have (k/N; successes need k >= 1, failures
    k <= N-1). Values come from :func:`proxmo_analysis.credit.psc_weights`. Line 0 is the success curve,
    line 1 the failure curve (``fig.axes[0].lines``).
    """
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    if group_size is not None and (isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2):
        raise ValueError(f"group_size must be an int >= 2 or None, got {group_size!r}")
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    _draw_psc(fig.subplots(), alpha, beta, group_size, n_points)
    return fig


def psc_effect_note(alpha: float, beta: float, group_size: int | None) -> str:
    """How small PSC's effect is: the largest change ``|w - 1|`` of the episode advantage over every p (the
    bound ``beta * (sigmoid(1) - 0.5)``) and over the rates a group of N can reach (k/N, 0 < k < N: a group
    that is all wins or all losses has a zero episode advantage anyway). Printed on the PSC figure."""
    p = np.linspace(0.0, 1.0, 2001)
    dev = max(np.abs(psc_weights(np.ones(len(p), dtype=bool), p, alpha, beta) - 1).max(),
              np.abs(psc_weights(np.zeros(len(p), dtype=bool), p, alpha, beta) - 1).max())
    note = f"PSC changes the episode advantage by at most {100 * dev:.1f}% (beta = {beta:g})"
    if group_size is not None:
        k = np.arange(1, group_size) / group_size
        reach = max(np.abs(psc_weights(np.ones(len(k), dtype=bool), k, alpha, beta) - 1).max(),
                    np.abs(psc_weights(np.zeros(len(k), dtype=bool), k, alpha, beta) - 1).max())
        note += f";\nat mixed rates k/N of a group of N = {group_size}: at most {100 * reach:.1f}%"
    return note


def _draw_psc(ax, alpha: float, beta: float, group_size: int | None, n_points: int) -> None:
    p = np.linspace(0.0, 1.0, n_points)
    w_success = psc_weights(np.ones(n_points, dtype=bool), p, alpha, beta)
    w_failure = psc_weights(np.zeros(n_points, dtype=bool), p, alpha, beta)
    ax.plot(p, w_success, color="#2ca02c", label="success (R = 1): amplified when successes are rare")
    ax.plot(p, w_failure, color="#d62728", label="failure (R = 0): damped when failures are rare")
    if group_size is not None:
        k = np.arange(group_size + 1) / group_size
        ks, kf = k[1:], k[:-1]
        ax.plot(ks, psc_weights(np.ones(len(ks), dtype=bool), ks, alpha, beta), "o", color="#2ca02c", ms=4,
                label=f"reachable rates k/N, N = {group_size}")
        ax.plot(kf, psc_weights(np.zeros(len(kf), dtype=bool), kf, alpha, beta), "o", color="#d62728", ms=4)
    ax.axhline(1.0, color="black", lw=0.6, ls=":")
    ax.text(0.5, 0.04, psc_effect_note(alpha, beta, group_size), transform=ax.transAxes, ha="center",
            va="bottom", fontsize=8, bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "lw": 0.4})
    ax.set_xlabel("group success rate p")
    ax.set_ylabel("w(R, p), the factor on the episode advantage")
    ax.set_title(f"ProxMO PSC weight (alpha = {alpha:g}, beta = {beta:g})")
    ax.set_xlim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


# ---- PSA vs GiGPO ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PSAGroupMatrices:
    """The state-proximity view of one task group, rows ordered as ``order`` says.

    ``similarity[i, j]``: cosine of the state embeddings of rows i and j (n, n); ``weights[i, j]``: PSA's
    soft-baseline weight w_ij (rows sum to 1 over cand(i), 0 elsewhere); ``anchor_group``: (n,) GiGPO
    exact-match step-group code of each row; ``rollout``/``step``: (n,) trajectory number in the group and
    step index; ``observation``: (n,) the state texts; ``row_index``: (n,) positions in the input frame.
    """

    group_id: str
    rollout: np.ndarray
    step: np.ndarray
    observation: list[str]
    row_index: np.ndarray
    similarity: np.ndarray
    weights: np.ndarray
    anchor_group: np.ndarray
    tau: float
    candidates: str

    @property
    def exact_match(self) -> np.ndarray:
        """(n, n) bool: rows i and j share GiGPO's anchor-state group (identical observation text)."""
        return self.anchor_group[:, None] == self.anchor_group[None, :]

    @property
    def singleton_share(self) -> float:
        """Share of the group's rows alone in their GiGPO step group (their step advantage is 0)."""
        if not len(self.anchor_group):
            return 0.0
        sizes = np.bincount(self.anchor_group)
        return float(np.mean(sizes[self.anchor_group] == 1))


def psa_group_matrices(log: pl.DataFrame, group_id: str, *, order: str = "step",
                       **config: Any) -> PSAGroupMatrices:
    """Similarity matrix, PSA weights and GiGPO exact-match groups of task group ``group_id``.

    log: step rows holding the group (``group_id``, ``episode_id``, ``step``, ``observation``; optional
    ``rollout_index`` and ``iteration``). With ``tfidf_scope="batch"`` (the default) the TF-IDF model is
    fitted on every row of the group's iteration in ``log``, as ``score`` does, so pass the whole run.
    config: :class:`~proxmo_analysis.credit.ProxMOConfig` fields (``tau``, ``candidates``,
    ``variant``, ...). order: ``"step"`` (rows by step, then trajectory: same-step candidate sets are
    diagonal blocks) or ``"trajectory"`` (trajectory by trajectory).

    The weights come from :func:`~proxmo_analysis.credit.psa_weights`, which shares its softmax with the
    scoring kernel :func:`~proxmo_analysis.credit.psa_group`: the same numbers ``score`` uses.
    """
    _require(log, ["group_id", "episode_id", "step", "observation"], "psa_group_matrices")
    if order not in ("step", "trajectory"):
        raise ValueError(f"order must be 'step' or 'trajectory', got {order!r}")
    cfg = ProxMOConfig(**config)
    indexed = log.with_row_index("_row")
    group = indexed.filter(pl.col("group_id") == group_id)
    if group.height == 0:
        known = log.get_column("group_id").unique().sort().head(5).to_list()
        raise ValueError(f"psa_group_matrices: no rows with group_id {group_id!r} (e.g. {known})")
    if "rollout_index" in group.columns:
        rollout = group.get_column("rollout_index").cast(pl.Int64)
    else:
        rollout = group.get_column("episode_id").rank("dense").cast(pl.Int64) - 1
    group = group.with_columns(rollout.alias("_rollout"))
    keys = ["step", "_rollout"] if order == "step" else ["_rollout", "step"]
    group = group.sort(keys)
    obs = group.get_column("observation")
    obs_code = dense_codes(obs)
    _, first, inverse = np.unique(obs_code, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    texts = [obs[int(i)] for i in first]
    mult = np.bincount(inverse).astype(np.float64)

    stats = None
    if cfg.similarity == "tfidf" and cfg.tfidf_scope == "batch":  # fitted on the group's whole iteration
        batch_rows = log
        if "iteration" in log.columns:
            it = group.get_column("iteration")[0]
            batch_rows = log.filter(pl.col("iteration") == it)
        batch_obs = batch_rows.get_column("observation")
        stats = fit_batch_stats(batch_obs, np.zeros(len(batch_obs), dtype=np.int64), cfg.max_features)[0]
    vectors, skip = embed_states(texts, mult, cfg, stats)  # the credit code's own choice of vectors
    gram = vectors @ vectors.T
    gram = gram.toarray() if hasattr(gram, "toarray") else np.asarray(gram, dtype=np.float64)
    similarity = gram[np.ix_(inverse, inverse)]

    n = group.height
    step = group.get_column("step").cast(pl.Int64).to_numpy()
    cand_keys = step if cfg.candidates == "same_step" else np.zeros(n, dtype=np.int64)
    if skip:
        weights = np.eye(n)  # the reference skips PSA on an empty vocabulary (A_S = 0), as ``score`` does
    else:
        weights = psa_weights(vectors, cand_keys, cfg.tau, inverse)
    anchor = anchor_step_groups(obs_code, np.zeros(n, dtype=np.int64))
    return PSAGroupMatrices(
        group_id=str(group_id), rollout=group.get_column("_rollout").to_numpy(), step=step,
        observation=obs.to_list(), row_index=group.get_column("_row").to_numpy(), similarity=similarity,
        weights=weights, anchor_group=anchor, tau=cfg.tau, candidates=cfg.candidates,
    )


def _block_ticks(ax, values: np.ndarray, label: str) -> None:
    """Ticks at the first row of each run of equal ``values`` (steps or trajectories), at most ~12."""
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    stride = max(1, int(np.ceil(len(starts) / 12)))
    shown = starts[::stride]
    ax.set_xticks(shown, [str(values[i]) for i in shown], fontsize=7)
    ax.set_yticks(shown, [str(values[i]) for i in shown], fontsize=7)
    for s in starts[1:]:
        ax.axhline(s - 0.5, color="white", lw=0.4)
        ax.axvline(s - 0.5, color="white", lw=0.4)
    ax.set_xlabel(f"row j ({label} starts)")
    ax.set_ylabel(f"row i ({label} starts)")


PSA_PANELS = ("similarity", "weights", "exact")


def psa_figure(m: PSAGroupMatrices, title: str | None = None, panels: Sequence[str] = PSA_PANELS) -> Figure:
    """Heatmaps of one task group: state cosine similarity, PSA weights w_ij, GiGPO exact-match groups
    (``panels``: any of ``"similarity"``, ``"weights"``, ``"exact"``, in order).

    Rows and columns are the group's step rows in ``m``'s order; ticks mark where each step (or
    trajectory) starts.
    """
    panels = _check_panels(panels)
    fig = Figure(figsize=(5.0 * len(panels), 4.8), layout="constrained")
    _draw_psa(fig, m, panels)
    fig.suptitle(title or f"Task group {m.group_id}: {len(m.step)} step rows, "
                 f"{len(np.unique(m.rollout))} trajectories")
    return fig


def psc_psa_figure(m: PSAGroupMatrices, alpha: float = 4.0, beta: float = 0.1, group_size: int | None = None,
                   title: str | None = None) -> Figure:
    """ProxMO at a glance: the PSC weight curve beside one task group's PSA weights and GiGPO's
    exact-match groups (the README figure). ``group_size`` defaults to the group's trajectory count."""
    n = len(np.unique(m.rollout))
    fig = Figure(figsize=(16.0, 4.8), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.0, 2.1])
    _draw_psc(left.subplots(), alpha, beta, group_size or (n if n >= 2 else None), 201)
    left.suptitle("Episode level (PSC)")
    _draw_psa(right, m, ("weights", "exact"))
    right.suptitle(f"Step level (PSA vs GiGPO): one task group, {len(m.step)} step rows, {n} trajectories"
                   if title is None else title)
    return fig


def _check_panels(panels: Sequence[str]) -> list[str]:
    panels = [panels] if isinstance(panels, str) else list(panels)
    bad = [x for x in panels if x not in PSA_PANELS]
    if bad or not panels:
        raise ValueError(f"panels must be a non-empty subset of {PSA_PANELS}, got {panels!r}")
    return panels


def _draw_psa(fig, m: PSAGroupMatrices, panels: Sequence[str]) -> None:
    rows_by_step = len(m.step) < 2 or bool(np.all(np.diff(m.step) >= 0))
    blocks, label = (m.step, "step") if rows_by_step else (m.rollout, "trajectory")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels):
        if panel == "similarity":
            im = ax.imshow(m.similarity, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title("cosine similarity of states")
            fig.colorbar(im, ax=ax, shrink=0.8, label="cos(s_i, s_j)")
        elif panel == "weights":
            weights = np.ma.masked_where(m.weights <= 0.0, m.weights)
            im = ax.imshow(weights, cmap="magma_r", vmin=0.0, vmax=float(max(m.weights.max(), 1e-12)),
                           interpolation="nearest")
            ax.set_title(f"ProxMO PSA weights w_ij (tau = {m.tau:g}, {m.candidates})")
            fig.colorbar(im, ax=ax, shrink=0.8, label="w_ij (each row sums to 1)")
        else:
            exact = m.exact_match.astype(float)
            np.fill_diagonal(exact, np.where(np.bincount(m.anchor_group)[m.anchor_group] == 1, 0.5, 1.0))
            im = ax.imshow(exact, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(f"GiGPO exact-match step groups ({m.singleton_share:.0%} of rows singletons)")
            fig.colorbar(im, ax=ax, shrink=0.8, ticks=[0.0, 0.5, 1.0], label="same anchor state (0.5: singleton)")
        _block_ticks(ax, blocks, label)


# ---- advantages along a trajectory -----------------------------------------------------------------------
def advantage_trajectory_figure(scored: Mapping[str, pl.DataFrame], episode_id: str,
                                columns: Sequence[str] = ("advantage", "adv_step")) -> Figure:
    """Advantages along one trajectory under each method: one panel per column, one line per method.

    scored: method name -> the log scored by that method (``episode_id``, ``step`` and ``columns``).
    """
    if not scored:
        raise ValueError("advantage_trajectory_figure: no scored logs given")
    fig = Figure(figsize=(5.2 * len(columns), 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(columns)))
    won = None
    for k, (name, df) in enumerate(scored.items()):
        _require(df, ["episode_id", "step", *columns], f"advantage_trajectory_figure[{name!r}]")
        ep = df.filter(pl.col("episode_id") == episode_id).sort("step")
        if ep.height == 0:
            raise ValueError(f"advantage_trajectory_figure[{name!r}]: no rows with episode_id {episode_id!r}")
        if won is None and "won" in ep.columns:
            won = bool(ep.get_column("won")[0])
        for ax, col in zip(axes, columns):
            ax.plot(ep["step"].to_numpy(), ep[col].to_numpy(), marker="o", ms=3, color=_color(name, k), label=name)
    for ax, col in zip(axes, columns):
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_xlabel("step t")
        ax.set_ylabel(col)
        ax.set_title({"advantage": "total advantage A", "adv_step": "step part A_step",
                      "adv_episode": "episode part A_episode", "return_to_go": "return to go R_t"}.get(col, col))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    outcome = "" if won is None else (" (won)" if won else " (lost)")
    fig.suptitle(f"Advantages along trajectory {episode_id}{outcome}")
    return fig


# ---- training ----------------------------------------------------------------------------------------------
def find_training_runs(root: str | Path) -> list[Path]:
    """Training-run folders at or under ``root``: those holding both ``metrics.csv`` and ``config.json``
    (what ``proxmo train`` / ``proxmo_analysis.train`` writes), sorted; [] when ``root`` does not exist.
    A shared start (``"iterations": 0`` in its config: warm start and evaluation 0 only, branched by the
    runs of ``benchmarks/compare_methods.py``) is not a training run of any method and is left out."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("metrics.csv")
                  if (p.parent / "config.json").is_file() and not _is_start(p.parent / "config.json"))


def _is_start(config_path: Path) -> bool:
    try:
        return json.loads(config_path.read_text()).get("iterations") == 0
    except (json.JSONDecodeError, AttributeError):
        return False  # read_training_runs reports a bad config.json with its path


def read_training_runs(*roots: str | Path) -> pl.DataFrame:
    """The ``metrics.csv`` of every training run under ``roots``, stacked, with the run's ``method``,
    ``seed`` and ``env_id`` (from its ``config.json``) and its folder as ``run``; metric columns as Float64
    (blank -> null), ``iteration`` as Int64. The input of
    :func:`learning_curve_figure`; rows sorted by env, method (GRPO, GiGPO, ProxMO and its ablations first),
    seed and iteration. Raises FileNotFoundError when no run is found."""
    runs = [run for root in roots for run in find_training_runs(root)]
    if not runs:
        raise FileNotFoundError(f"no training run (metrics.csv + config.json) under {', '.join(map(str, roots))}")
    frames = []
    for run in runs:
        try:
            config = json.loads((run / "config.json").read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{run / 'config.json'}: not valid JSON ({err})") from None
        missing = [k for k in ("method", "seed", "env_id") if k not in config]
        if missing:
            raise ValueError(f"{run / 'config.json'}: missing key(s) {', '.join(missing)}")
        metrics = pl.read_csv(run / "metrics.csv", infer_schema_length=None)
        if "iteration" not in metrics.columns:
            raise ValueError(f"{run / 'metrics.csv'}: no 'iteration' column (has: {', '.join(metrics.columns)})")
        # metrics.csv is all numbers; a column left blank in every row would otherwise be read as text
        metrics = metrics.with_columns(pl.col("iteration").cast(pl.Int64),
                                       pl.exclude("iteration").cast(pl.Float64, strict=False))
        frames.append(metrics.with_columns(
            pl.lit(str(config["method"])).alias("method"), pl.lit(int(config["seed"])).alias("seed"),
            pl.lit(str(config["env_id"])).alias("env_id"), pl.lit(str(run)).alias("run")))
    stacked = pl.concat(frames, how="diagonal_relaxed")
    # known methods in the order GRPO -> GiGPO -> ProxMO and its ablations, then any other alphabetically
    rank = {m: k for k, m in enumerate(registry.METHODS)}
    return (stacked.with_columns(pl.col("method").replace_strict(rank, default=len(rank)).alias("_rank"))
                   .sort("env_id", "_rank", "method", "seed", "iteration").drop("_rank"))


def _unit_axis(ax, values: np.ndarray) -> None:
    """Rates and scores in [0, 1] get the whole [0, 1] range, so flat curves are not blown up."""
    finite = values[np.isfinite(values)]
    if len(finite) and finite.min() >= 0.0 and finite.max() <= 1.0:
        ax.set_ylim(-0.03, 1.03)


def _mean_std(df: pl.DataFrame, by: list[str], value: str, ddof: int) -> pl.DataFrame:
    return (df.filter(pl.col(value).is_not_null() & pl.col(value).is_not_nan())
            .group_by(by, maintain_order=True)
            .agg(pl.col(value).mean().alias("mean"), pl.col(value).std(ddof=ddof).fill_null(0.0).alias("std"),
                 pl.len().alias("n"))
            .sort(by))


def training_curve_figure(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """One training run's curves: training and held-out success rate (left) and mean task score (right)
    against the iteration. ``rows``: the run's metrics rows (``train_*`` / ``eval_*`` keys, None or absent
    where not measured), as ``Trainer.run`` returns them; the trainer saves it as ``learning_curve.png``."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, what in ((axes[0], "success", "success rate"), (axes[1], "score", "mean task score")):
        tr = [(r["iteration"], r[f"train_{key}"]) for r in rows if r.get(f"train_{key}") is not None]
        ev = [(r["iteration"], r[f"eval_{key}"]) for r in rows if r.get(f"eval_{key}") is not None]
        if tr:
            ax.plot(*zip(*tr), marker=".", label="training rollouts (sampled)")
        if ev:
            ax.plot(*zip(*ev), marker="o", label="held-out (greedy)")
        ax.set_xlabel("iteration (PPO updates)")
        ax.set_ylabel(what)
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if tr or ev:
            ax.legend(loc="upper left")
        else:  # e.g. a start made with iterations=0 and no evaluation: say so instead of an empty legend
            ax.text(0.5, 0.5, f"no {what} measured yet", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(title or "training run")
    return fig


def learning_curve_figure(metrics: pl.DataFrame, values: Sequence[str] = ("eval_success", "train_success"),
                          by: str = "method", x: str = "iteration", title: str | None = None,
                          ddof: int = 0) -> Figure:
    """Learning curves: one panel per column of ``values``, one line per ``by`` value (mean over the
    other rows at each ``x``, e.g. over seeds, with a ± std band when there are several; ``ddof`` 0 is the
    population std, as ``benchmarks/compare_methods.py`` reports, 1 the sample std).

    metrics: long format, one row per (run, iteration), e.g. the ``metrics.csv`` files of training runs
    stacked with a ``method`` (and ``seed``) column. Null / NaN values (iterations without evaluation)
    are skipped.
    """
    values = [values] if isinstance(values, str) else list(values)
    _require(metrics, [by, x, *values], "learning_curve_figure")
    fig = Figure(figsize=(5.2 * len(values), 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(values)))
    names = metrics.get_column(by).unique(maintain_order=True).to_list()
    for ax, value in zip(axes, values):
        stats = _mean_std(metrics.with_columns(pl.col(value).cast(pl.Float64)), [by, x], value, ddof)
        for k, name in enumerate(names):
            s = stats.filter(pl.col(by) == name)
            if not s.height:
                continue
            xs, mean, std = s[x].to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy()
            n_runs = int(s["n"].max())
            ax.plot(xs, mean, marker="o", ms=3, color=_color(name, k),
                    label=f"{name} (n = {n_runs})" if n_runs > 1 else str(name))
            if n_runs > 1:
                ax.fill_between(xs, mean - std, mean + std, color=_color(name, k), alpha=0.15, lw=0)
        _unit_axis(ax, stats["mean"].to_numpy())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(x.replace("_", " "))
        ax.set_ylabel(value.replace("_", " "))
        ax.set_title(value.replace("_", " ") + " (mean ± std over runs)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "Learning curves")
    return fig


def comparison_bar_figure(results: pl.DataFrame, values: Sequence[str] = ("eval_success",), by: str = "method",
                          hue: str | None = None, title: str | None = None, ddof: int = 0) -> Figure:
    """Bars of the mean of each column of ``values`` per ``by`` value (± std over the rows, e.g. seeds;
    ``ddof`` as in :func:`learning_curve_figure`), one panel per column; with ``hue`` (e.g. ``env_id`` or
    ``task_type``), grouped bars.

    results: one row per run (e.g. final held-out success per method and seed).
    """
    values = [values] if isinstance(values, str) else list(values)
    _require(results, [by, *values] + ([hue] if hue else []), "comparison_bar_figure")
    fig = Figure(figsize=(max(5.0, 1.2 * results[by].n_unique() + 2.0) * len(values), 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(values)))
    names = results.get_column(by).unique(maintain_order=True).to_list()
    hues = [None] if hue is None else results.get_column(hue).unique(maintain_order=True).to_list()
    width = 0.8 / len(hues)
    for ax, value in zip(axes, values):
        stats = _mean_std(results.with_columns(pl.col(value).cast(pl.Float64)), [by] + ([hue] if hue else []), value,
                          ddof)
        for h, hv in enumerate(hues):
            s = stats if hue is None else stats.filter(pl.col(hue) == hv)
            lookup = {row[by]: (row["mean"], row["std"]) for row in s.iter_rows(named=True)}
            xs = np.arange(len(names)) + (h - (len(hues) - 1) / 2) * width
            mean = np.array([lookup.get(nm, (np.nan, 0.0))[0] for nm in names])
            err = np.array([lookup.get(nm, (np.nan, 0.0))[1] for nm in names])
            colors = [_color(nm, k) for k, nm in enumerate(names)] if hue is None else f"C{h % 10}"
            several = bool(s.height) and int(s["n"].max()) > 1
            ax.bar(xs, mean, width=width, yerr=err if several else None, capsize=3, color=colors,
                   label=None if hue is None else str(hv))
        _unit_axis(ax, stats["mean"].to_numpy())
        ax.set_xticks(np.arange(len(names)), [str(nm) for nm in names], rotation=20, ha="right")
        ax.set_xlabel(by.replace("_", " "))
        ax.set_ylabel(value.replace("_", " "))
        ax.set_title(value.replace("_", " ") + " (mean ± std)")
        ax.grid(alpha=0.3, axis="y")
        if hue is not None:
            ax.legend(fontsize=8, title=hue)
    fig.suptitle(title or "Method comparison")
    return fig
