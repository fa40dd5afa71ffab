"""What the ``proxmo show`` page shows, computed in Python: advantages per method, PSA neighbours, GiGPO groups.

``page_data(df, methods, groups)`` returns one JSON-ready dict; the page's own JavaScript only lays it out.
All credit numbers come from the credit package: the advantages from ``credit.score.score`` (through
``proxmo compare``'s ``compare_methods``, with the same method settings), the PSA weights from the public
``credit.psa_weights`` on the vectors ProxMO itself makes (``credit.similarity.fit_transform_tfidf`` per
iteration, or per group for ``tfidf_scope="group"``; ``minilm_embed`` for ``similarity="minilm"``),
candidates as ProxMO's config says (same step index by default). So for every row ``i``:
``return_to_go_i - sum_j w_ij * return_to_go_j`` is ProxMO's step advantage (tested).

Shapes: per group, ``trajectories`` (one per episode, ordered by rollout index) each with ``steps`` rows
``[observation, action, reward, return_to_go, adv_method_1, ..., anchor code]``; ``psa`` maps
``"traj:step"`` to at most ``PSA_TOP`` neighbours ``[traj, step, weight]`` (largest first) plus the weight
left out; ``anchors`` lists, per anchor code, the ``[traj, step]`` rows sharing that exact observation.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

#: neighbours listed per step (the rest of the weight is shown as one number)
PSA_TOP = 12

#: a PSA candidate block larger than this is not expanded (its dense weight matrix would be too large)
PSA_MAX_BLOCK = 4000

DEFAULT_METHODS = ("grpo", "gigpo", "proxmo")


def check_methods(methods: Sequence[str]) -> list[str]:
    """The method names, validated against the credit-method registry."""
    from proxmo_analysis.credit.registry import METHODS

    names = [m.strip() for m in methods if m.strip()]
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise ValueError(f"unknown method(s) {', '.join(bad) or '(none)'}; choose from {', '.join(METHODS)}")
    return names


#: page colours for methods whose registry colour is matplotlib's cycle (``C0``..``C9``)
_CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def method_styles(methods: Sequence[str]) -> list[dict[str, str]]:
    """Name, label and colour of each method, from the credit-method registry."""
    from proxmo_analysis.credit import registry

    out = []
    for k, m in enumerate(methods):
        c = registry.color(m, k)
        out.append({"name": m, "label": registry.label(m),
                    "color": _CYCLE[int(c[1:]) % 10] if c.startswith("C") and c[1:].isdigit() else c})
    return out


def _proxmo_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    from proxmo_analysis.credit.registry import config_fields

    fields = set(config_fields("proxmo"))
    return {k: v for k, v in config.items() if k in fields}


def _psa_config(config: Mapping[str, Any]):
    """ProxMO's resolved config with the user's settings that are ProxMO fields (tau, candidates, ...)."""
    from proxmo_analysis.credit.registry import make_config

    return make_config("proxmo", _proxmo_settings(config))[1]


def _group_vectors(texts: list[str], fitted: dict[str, int], vectors) -> tuple[np.ndarray, np.ndarray]:
    """Dense vectors of a group's distinct observations (columns the group uses) and row -> vector index."""
    from proxmo_analysis.credit.proxmo import dense_rows

    distinct, inverse = np.unique(np.array([fitted[t] for t in texts]), return_inverse=True)
    dense = vectors[distinct] if isinstance(vectors, np.ndarray) else dense_rows(vectors, distinct)
    return dense, inverse.reshape(-1)


def _fit(texts: list[str], cfg) -> tuple[dict[str, int], Any]:
    """Vectors of the distinct ``texts`` as ProxMO makes them: TF-IDF fitted on these rows, or MiniLM."""
    from proxmo_analysis.credit.similarity import fit_transform_tfidf, minilm_embed

    distinct, counts = np.unique(np.array(texts, dtype=object), return_counts=True)
    if cfg.similarity == "minilm":
        vectors = np.asarray(minilm_embed(list(distinct)))
    else:
        _, vectors = fit_transform_tfidf(list(distinct), counts, max_features=cfg.max_features, norm_eps=cfg.norm_eps)
    return {t: k for k, t in enumerate(distinct)}, vectors


def psa_neighbours(group: pl.DataFrame, fitted: dict[str, int], vectors, cfg) -> dict[str, Any]:
    """``"traj:step" -> {"n": [[traj, step, w], ...], "rest": w}`` for each row of one group (see module)."""
    from proxmo_analysis.credit import psa_weights

    texts = group["observation"].to_list()
    dense, vector_index = _group_vectors(texts, fitted, vectors)
    traj = group["__traj"].to_numpy()
    step = group["step"].to_numpy()
    keys = step if cfg.candidates == "same_step" else np.zeros(len(step), dtype=np.int64)
    out: dict[str, Any] = {}
    for key in np.unique(keys):
        block = np.flatnonzero(keys == key)
        if len(block) > PSA_MAX_BLOCK:
            for i in block:
                out[f"{traj[i]}:{step[i]}"] = {"n": [], "rest": 1.0, "skipped": int(len(block))}
            continue
        w = psa_weights(dense, keys[block], cfg.tau, vector_index[block])
        for a, i in enumerate(block):
            order = np.argsort(-w[a], kind="stable")[:PSA_TOP]
            top = [[int(traj[block[b]]), int(step[block[b]]), float(w[a, b])] for b in order if w[a, b] > 0]
            out[f"{traj[i]}:{step[i]}"] = {"n": top, "rest": float(max(0.0, 1.0 - sum(t[2] for t in top)))}
    return out


def group_summaries(df: pl.DataFrame) -> pl.DataFrame:
    """One row per task group: id, task, iteration, trajectories, wins, step rows (for the picker)."""
    per_episode = df.group_by("group_id", "episode_id").agg(pl.col("won").first(), pl.col("task_id").first(),
                                                           pl.col("iteration").first(), pl.len().alias("rows"))
    return (per_episode.group_by("group_id")
            .agg(pl.col("task_id").first(), pl.col("iteration").first(), pl.len().alias("n"),
                 pl.col("won").sum().alias("wins"), pl.col("rows").sum())
            .sort("group_id"))


def page_data(df: pl.DataFrame, methods: Sequence[str] = DEFAULT_METHODS, groups: Sequence[str] | None = None,
              run_name: str = "", max_groups: int = 200, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The page's data (module doc). ``groups``: the task groups to embed (default: the first ``max_groups``
    in group-id order); the advantages are computed on the whole log, as ``proxmo compare`` does, with
    ``config`` (method parameters, each given to the methods that have it, e.g. ``{"tau": 0.5}``)."""
    from proxmo_analysis.cli.compare import compare_methods
    from proxmo_analysis.credit.score import score

    methods = check_methods(methods)
    config = dict(config or {})
    summaries = group_summaries(df)
    known = set(summaries["group_id"].to_list())
    if groups:
        missing = [g for g in groups if g not in known]
        if missing:
            sample = ", ".join(sorted(known)[:5])
            raise ValueError(f"no task group {missing[0]!r} in this run (groups include: {sample})")
        chosen = list(groups)
    else:
        chosen = summaries["group_id"].to_list()[:max_groups]
    results = compare_methods(df, methods, config)["scored"]
    cfg = _psa_config(config)
    # R shown and pooled is ProxMO's return-to-go under the same settings (the returns PSA weighs)
    base = results["proxmo"] if "proxmo" in methods else score(df, "proxmo", **_proxmo_settings(config))
    full = df.with_columns(base["return_to_go"].alias("__rtg"),
                           *[results[m]["advantage"].alias(f"__adv_{m}") for m in methods])
    sub = full.filter(pl.col("group_id").is_in(chosen))
    fits: dict[Any, tuple[dict[str, int], Any]] = {}
    batch = cfg.similarity == "tfidf" and cfg.tfidf_scope == "batch"
    if batch:  # ProxMO fits TF-IDF on every observation of the iteration
        for it in sub["iteration"].unique().to_list():
            fits[it] = _fit(full.filter(pl.col("iteration") == it)["observation"].to_list(), cfg)
    out_groups: dict[str, Any] = {}
    for gid in chosen:
        g = sub.filter(pl.col("group_id") == gid).sort("rollout_index", "episode_id", "step")
        episodes = g.select("episode_id").unique(maintain_order=True)["episode_id"].to_list()
        traj_of = {e: k for k, e in enumerate(episodes)}
        g = g.with_columns(pl.col("episode_id").replace_strict(traj_of, return_dtype=pl.Int64).alias("__traj"))
        obs_codes: dict[str, int] = {}
        anchors: list[list[list[int]]] = []
        trajectories = []
        for k, e in enumerate(episodes):
            rows = g.filter(pl.col("__traj") == k)
            steps = []
            for r in rows.iter_rows(named=True):
                code = obs_codes.setdefault(r["observation"], len(obs_codes))
                if code == len(anchors):
                    anchors.append([])
                anchors[code].append([k, r["step"]])
                steps.append([r["observation"], r["action"], round(float(r["reward"]), 6), round(float(r["__rtg"]), 6),
                              *[round(float(r[f"__adv_{m}"]), 6) for m in methods], code])
            first = rows.row(0, named=True)
            trajectories.append({"episode_id": e, "rollout_index": int(first["rollout_index"]),
                                 "won": bool(first["won"]), "return": round(float(first["episode_return"]), 6),
                                 "steps": steps})
        fitted, vectors = fits[g["iteration"][0]] if batch else _fit(g["observation"].to_list(), cfg)
        s = summaries.filter(pl.col("group_id") == gid).row(0, named=True)
        out_groups[gid] = {"task_id": s["task_id"], "iteration": int(s["iteration"]), "trajectories": trajectories,
                           "psa": psa_neighbours(g, fitted, vectors, cfg),
                           "anchors": [a for a in anchors]}
    return {
        "run": {"name": run_name, "env_id": df["env_id"][0] if df.height else "", "rows": df.height,
                "groups": summaries.height, "episodes": df["episode_id"].n_unique()},
        "methods": methods,
        "styles": method_styles(methods),
        "psa": {"tau": cfg.tau, "candidates": cfg.candidates, "similarity": cfg.similarity, "tfidf_scope": cfg.tfidf_scope},
        "config": config,
        "groups": [{"id": r["group_id"], "task": r["task_id"], "n": r["n"], "wins": r["wins"], "rows": r["rows"]}
                   for r in summaries.filter(pl.col("group_id").is_in(chosen)).iter_rows(named=True)],
        "data": out_groups,
    }


__all__ = ["page_data", "psa_neighbours", "group_summaries", "check_methods", "DEFAULT_METHODS", "PSA_TOP"]
