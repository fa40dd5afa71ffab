"""ProxMO (arXiv 2602.19225): PSC episode modulation and PSA soft step baselines (spec §4).

``psa_group`` is the per-task-group kernel: a plain pure function, so a distributed backend calling it
group by group gets the same numbers as ``proxmo`` over a whole log.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import polars as pl
import scipy.sparse as sp

from .config import ProxMOConfig
from .episode import row_mean_advantage, trajectory_advantage
from .frame import StepRows, code_values, dense_codes
from .groups import group_count, group_mean
from .returns import Credit, episode_groups, episode_sums, step_returns, step_rewards
from .similarity import TfidfStats, count_terms, fit_transform_tfidf, minilm_embed


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def psc_weights(success: np.ndarray, p: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Polarized Signal Controller weights ``w = 1 + beta * f(R, p)`` (spec §4.1).

    success: (n,) bool; p: (n,) group success rate in [0, 1].
    ``f(1, p) = sigmoid((1-p)^alpha) - 0.5``, ``f(0, p) = sigmoid(-p^alpha) - 0.5``.
    """
    p = np.asarray(p, dtype=np.float64)
    f = np.where(success, _sigmoid((1.0 - p) ** alpha) - 0.5, _sigmoid(-(p ** alpha)) - 0.5)
    return 1.0 + beta * f


def _candidate_blocks(vectors, keys: np.ndarray, tau: float, vector_index: np.ndarray | None):
    """Softmax weights of every candidate block of one group, blocks padded to the largest one.

    Returns ``rows`` (blocks, L) row indices (-1 = padding), ``valid`` (blocks, L) and ``weights``
    (blocks, L, L) with ``weights[b, i, j] = w(rows[b, i], rows[b, j])``.
    """
    n = len(keys)
    gram = vectors @ vectors.T
    gram = gram.toarray() if sp.issparse(gram) else np.asarray(gram, dtype=np.float64)
    vi = np.arange(n) if vector_index is None else np.asarray(vector_index)
    # rows of each candidate block side by side, padded to the largest block
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    start = np.ones(n, dtype=bool)
    start[1:] = sorted_keys[1:] != sorted_keys[:-1]
    block = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    pos = np.arange(n) - first[block]
    rows = np.full((len(first), int(pos.max()) + 1), -1, dtype=np.int64)
    rows[block, pos] = order
    valid = rows >= 0
    idx = vi[np.where(valid, rows, 0)]
    logits = gram[idx[:, :, None], idx[:, None, :]] / tau
    logits = np.where(valid[:, None, :], logits, -np.inf)
    logits -= logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=2, keepdims=True)
    return rows, valid, weights


def psa_weights(vectors, keys: np.ndarray, tau: float, vector_index: np.ndarray | None = None) -> np.ndarray:
    """The (n, n) PSA weight matrix ``w_ij`` of one task group (0 outside cand(i)); rows sum to 1.

    Arguments as :func:`psa_group`; ``psa_group(..., returns, ...) == returns - psa_weights(...) @ returns``.
    Dense: meant for inspecting one group (plots, notebooks), not for scoring a log.
    """
    keys = np.asarray(keys)
    n = len(keys)
    out = np.zeros((n, n))
    if n == 0:
        return out
    rows, valid, weights = _candidate_blocks(vectors, keys, tau, vector_index)
    b, i, j = np.nonzero(valid[:, :, None] & valid[:, None, :])
    out[rows[b, i], rows[b, j]] = weights[b, i, j]
    return out


def psa_group(vectors, returns: np.ndarray, keys: np.ndarray, tau: float,
              vector_index: np.ndarray | None = None) -> np.ndarray:
    """PSA step advantages of one task group: ``A_S,i = R_i - sum_j w_ij R_j`` (spec §4.2).

    vectors: (m, d) L2-normalised state embeddings (scipy sparse or numpy); vector_index: (n,) row -> vector
    row (default: row i uses vector i, m = n); returns: (n,) R_t; keys: (n,) candidate key (the step index
    for ``same_step``, a constant for ``all_steps``): cand(i) = rows with keys[i]. w_ij is the softmax of
    cos(s_i, s_j) / tau over cand(i), computed with the candidates' maximum subtracted, so tiny tau is exact
    grouping rather than an overflow. Work is per candidate block: (blocks, L, L) with L the largest block.
    """
    returns = np.asarray(returns, dtype=np.float64)
    n = len(returns)
    if n == 0:
        return np.zeros(0)
    rows, valid, weights = _candidate_blocks(vectors, np.asarray(keys), tau, vector_index)
    r = np.where(valid, returns[np.where(valid, rows, 0)], 0.0)
    baseline = np.einsum("bij,bj->bi", weights, r)
    out = np.empty(n)
    out[rows[valid]] = returns[rows[valid]] - baseline[valid]
    return out


def dense_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """``matrix[rows]`` as a dense array over only the columns those rows use (cosines are unchanged).

    A task group's states share few terms, so this small dense block and one BLAS product beat a
    scipy sparse product per group (whose per-call overhead dominates at this size)."""
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    starts, ends = indptr[rows], indptr[rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    out_row = np.repeat(np.arange(len(rows)), lengths)
    if total == 0:
        return np.zeros((len(rows), 1))
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    cols, col_index = np.unique(indices[offsets], return_inverse=True)
    dense = np.zeros((len(rows), len(cols)))
    dense[out_row, col_index.reshape(-1)] = data[offsets]
    return dense


def psc_episode(rows: StepRows, cfg: ProxMOConfig) -> np.ndarray:
    """Episode part per row: A_E (trajectory or row baseline) times the PSC weight if ``cfg.psc``.

    ``trajectory`` (paper): the episode return is the sum of the step rewards every other method uses
    (the logged ``reward``, or ``reward_scale * won`` on the last step, minus the invalid penalty), so
    GRPO, GiGPO and ProxMO of one comparison see the same return; PSC's success indicator and its group
    success rate p come from ``won``. (With rewards ``10 * won`` on the last step this equals the paper's
    binary outcome; with a continuous score the return is the score and success is still ``won``.)
    """
    scale = 1.0 if cfg.reward_scale is None else float(cfg.reward_scale)
    if cfg.episode_norm == "trajectory":
        starts = rows.episode_starts()
        outcome = episode_sums(step_rewards(rows, cfg.reward_scale, cfg.invalid_penalty), rows.episode)
        success = np.zeros(len(outcome), dtype=bool)
        success[rows.episode[starts]] = rows.won[starts].astype(bool)
        traj_group = episode_groups(rows)
        adv = trajectory_advantage(outcome, traj_group, normalize_std=cfg.normalize_std, std=cfg.std,
                                   epsilon=cfg.epsilon)
        p = group_mean(success.astype(np.float64), traj_group)[traj_group]
        if cfg.psc:
            adv = adv * psc_weights(success, p, cfg.alpha, cfg.beta)
        return adv[rows.episode]
    score = scale * rows.won - cfg.invalid_penalty * rows.invalid
    adv, mean = row_mean_advantage(score, rows.group, normalize_std=cfg.normalize_std, std=cfg.std,
                                   epsilon=cfg.epsilon, float32=cfg.variant == "reference")
    if cfg.psc:
        # The reference takes p from the (length-weighted, reward-scaled) row mean, clamped to [0, 1].
        p = np.clip(mean, 0.0, 1.0)[rows.group]
        adv = adv * psc_weights(score > cfg.success_threshold, p, cfg.alpha, cfg.beta)
    return adv


def fit_batch_stats(observation: pl.Series, batch: np.ndarray, max_features: int) -> dict[int, TfidfStats]:
    """TF-IDF statistics per batch value (iteration), fitted on every row's observation of that batch."""
    out = {}
    frame = pl.DataFrame({"b": batch, "o": observation})
    for (b,), part in frame.group_by("b", maintain_order=True):
        counts = part.group_by("o").len()
        terms, _ = count_terms(counts["o"].to_list(), counts["len"].to_numpy())
        out[int(b)] = TfidfStats.from_counts(terms, max_features)
    return out


def _group_slices(group: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(group, kind="stable")
    bounds = np.cumsum(group_count(group))[:-1]
    return [s for s in np.split(order, bounds) if len(s)]


def embed_states(texts: list[str], multiplicity: np.ndarray | None, cfg: ProxMOConfig,
                 stats: TfidfStats | None = None):
    """The state vectors PSA compares, one row per distinct text of ``texts``, and whether PSA is skipped.

    ``similarity="minilm"``: MiniLM sentence embeddings (dense, unit norm). TF-IDF: with ``stats`` (fitted on
    the whole iteration, ``tfidf_scope="batch"``) the texts are transformed; without, a TF-IDF model is
    fitted on ``texts`` weighted by ``multiplicity`` (``tfidf_scope="group"``, or rows that hold the whole
    iteration). Rows are L2-normalised (plus ``norm_eps``). Skip: the reference code's zero step advantage
    when the vocabulary is empty. ``plots.psa_group_matrices`` calls this too, so figures show these vectors.
    """
    if cfg.similarity == "minilm":
        return minilm_embed(texts), False
    if stats is not None:
        return stats.transform(texts, cfg.norm_eps), stats.is_empty and cfg.variant == "reference"
    st, vectors = fit_transform_tfidf(texts, multiplicity, max_features=cfg.max_features, norm_eps=cfg.norm_eps)
    return vectors, st.is_empty and cfg.variant == "reference"


def psa_step(rows: StepRows, returns: np.ndarray, cfg: ProxMOConfig,
             stats: Mapping[int, TfidfStats] | None = None) -> np.ndarray:
    """PSA step advantages for every row, one task group at a time.

    stats: TF-IDF statistics per batch value (iteration) for ``tfidf_scope="batch"``; fitted here from
    ``rows`` when None (correct when ``rows`` hold whole iterations). Fitting from ``TermCounts`` makes
    both routes give the same vocabulary and IDF.
    """
    adv = np.zeros(rows.n_rows)
    if not rows.n_rows:
        return adv
    obs_code = dense_codes(rows.observation)
    texts = code_values(rows.observation, obs_code)
    keys_all = rows.step if cfg.candidates == "same_step" else np.zeros(rows.n_rows, dtype=np.int64)
    slices = _group_slices(rows.group)
    batch_of_group = np.array([rows.batch[s[0]] for s in slices])
    for s, b in zip(slices, batch_of_group):
        if np.any(rows.batch[s] != b):
            raise ValueError("a task group spans several iterations; group_id must be unique per iteration")

    if cfg.similarity == "minilm":
        vectors, _ = embed_states(texts, None, cfg)
        for s in slices:
            local, inverse = np.unique(obs_code[s], return_inverse=True)
            adv[s] = psa_group(vectors[local], returns[s], keys_all[s], cfg.tau, inverse.reshape(-1))
        return adv

    if cfg.tfidf_scope == "group":
        for s in slices:
            local, inverse, mult = np.unique(obs_code[s], return_inverse=True, return_counts=True)
            vectors, skip = embed_states([texts[c] for c in local], mult, cfg)
            if skip:
                continue
            adv[s] = psa_group(dense_rows(vectors, np.arange(vectors.shape[0])), returns[s], keys_all[s], cfg.tau,
                               inverse.reshape(-1))
        return adv

    for b in np.unique(batch_of_group):
        in_batch = [s for s, gb in zip(slices, batch_of_group) if gb == b]
        rows_b = np.concatenate(in_batch)
        codes, mult = np.unique(obs_code[rows_b], return_counts=True)
        st = None
        if stats is not None:
            st = stats.get(int(b))
            if st is None:
                raise ValueError(f"no TF-IDF statistics for iteration {int(b)}")
        # no statistics: the rows hold the whole iteration, fitted and embedded with one tokenisation
        vectors, skip = embed_states([texts[c] for c in codes], mult, cfg, st)
        if skip:
            continue
        position = np.empty(len(texts), dtype=np.int64)
        position[codes] = np.arange(len(codes))
        for s in in_batch:
            local, inverse = np.unique(position[obs_code[s]], return_inverse=True)
            adv[s] = psa_group(dense_rows(vectors, local), returns[s], keys_all[s], cfg.tau, inverse.reshape(-1))
    return adv


def proxmo(rows: StepRows, cfg: ProxMOConfig, stats: Mapping[int, TfidfStats] | None = None) -> Credit:
    """ProxMO per row: ``A = w(R, p) * A_E + omega * A_S`` (PSC / PSA each switchable)."""
    rtg = step_returns(rows, cfg.gamma, cfg.reward_scale, cfg.invalid_penalty, cfg.discount_penalty)
    adv_episode = psc_episode(rows, cfg)
    adv_step = psa_step(rows, rtg, cfg, stats) if cfg.psa else np.zeros(rows.n_rows)
    return Credit(rtg, adv_episode, adv_step, cfg.omega)
