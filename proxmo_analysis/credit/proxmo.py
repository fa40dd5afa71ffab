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
from .frame import StepRows
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


def _sequential_sum(x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``(x * weights).sum(axis=-1)`` added strictly left to right (the numbers of ``np.add.accumulate``,
    which is sequential by definition), so a block's sums never depend on the shape of the array it was
    computed in. weights: broadcast against ``x`` (default: none). One vectorised add per position of the
    short last axis: numpy's reductions along a short axis spend their time in per-row loop overhead."""
    term = (lambda j: x[..., j]) if weights is None else (lambda j: x[..., j] * weights[..., j])
    total = np.array(term(0), dtype=np.result_type(x), copy=True)
    for j in range(1, x.shape[-1]):
        total += term(j)
    return total


def _last_axis_max(x: np.ndarray) -> np.ndarray:
    """``x.max(axis=-1)`` (exact, NaN-propagating like it) as one vectorised maximum per position."""
    top = x[..., 0].copy()
    for j in range(1, x.shape[-1]):
        np.maximum(top, x[..., j], out=top)
    return top


#: elements of the (blocks, L, L) similarity arrays built at once; bounds the kernel's memory
_BLOCK_ELEMENTS = 1 << 22


def _blocks(group: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate blocks (rows of one group sharing a key): rows sorted by (group, key, row), the start of
    each block in that order and each block's size."""
    span = int(keys.max()) - int(keys.min()) + 1
    order = np.argsort(group.astype(np.int64) * span + (keys - keys.min()), kind="stable")
    g, k = group[order], keys[order]
    start = np.ones(len(order), dtype=bool)
    start[1:] = (g[1:] != g[:-1]) | (k[1:] != k[:-1])
    first = np.flatnonzero(start)
    return order, first, np.diff(np.append(first, len(order)))


def soft_baselines(gram: np.ndarray, gram_start: np.ndarray, gram_width: np.ndarray, local: np.ndarray,
                   group: np.ndarray, keys: np.ndarray, returns: np.ndarray, tau: float,
                   weights_out: np.ndarray | None = None) -> np.ndarray:
    """PSA baselines ``b_i = sum_j w_ij R_j`` of every row, all task groups at once (spec §4.2).

    gram: the flat cosine matrices of all groups; group g's (u_g, u_g) matrix starts at ``gram_start[g]``
    with ``u_g = gram_width[g]``; local: (n,) each row's state index inside its group's matrix; group: (n,)
    group codes; keys: (n,) candidate keys (cand(i) = rows of i's group with i's key); returns: (n,) R.
    ``w_ij`` is the softmax of cos/tau over cand(i) with the maximum subtracted. Blocks are processed in
    pieces of equal-size blocks; every sum runs left to right over a block's rows in row order, so a row's
    numbers depend only on its own block, never on which other groups are scored with it.
    weights_out: optional (n, n) array receiving ``w_ij`` (``psa_weights``).
    """
    n = len(returns)
    out = np.zeros(n)
    if n == 0:
        return out
    order, first, size = _blocks(group, keys)
    by_size = np.argsort(size, kind="stable")
    sorted_size = size[by_size]
    bounds = np.flatnonzero(np.diff(sorted_size)) + 1
    for cls in np.split(by_size, bounds):  # blocks of one size L, in pieces of at most _BLOCK_ELEMENTS
        width = int(size[cls[0]])
        step = max(1, _BLOCK_ELEMENTS // (width * width))
        for lo in range(0, len(cls), step):
            chosen = cls[lo:lo + step]
            rows = order[first[chosen][:, None] + np.arange(width)[None, :]]
            g = group[rows[:, 0]]
            li = local[rows]
            flat = (gram_start[g][:, None] + li * gram_width[g][:, None])[:, :, None] + li[:, None, :]
            w = gram[flat]  # the logits, then the weights, in place (no new array of nb * L * L per step)
            w /= tau
            w -= _last_axis_max(w)[:, :, None]
            np.exp(w, out=w)
            w /= _sequential_sum(w)[:, :, None]
            out[rows] = _sequential_sum(w, returns[rows][:, None, :])
            if weights_out is not None:
                weights_out[rows[:, :, None], rows[:, None, :]] = w
    return out


def _gram_of(vectors) -> np.ndarray:
    gram = vectors @ vectors.T
    return gram.toarray() if sp.issparse(gram) else np.asarray(gram, dtype=np.float64)


def psa_weights(vectors, keys: np.ndarray, tau: float, vector_index: np.ndarray | None = None) -> np.ndarray:
    """The (n, n) PSA weight matrix ``w_ij`` of one task group (0 outside cand(i)); rows sum to 1.

    Arguments as :func:`psa_group`; ``psa_group(..., returns, ...) == returns - psa_weights(...) @ returns``.
    Dense: meant for inspecting one group (plots, notebooks), not for scoring a log.
    """
    keys = np.asarray(keys)
    n = len(keys)
    out = np.zeros((n, n))
    if n:
        vi = np.arange(n) if vector_index is None else np.asarray(vector_index).reshape(-1)
        gram = _gram_of(vectors)
        soft_baselines(gram.ravel(), np.zeros(1, dtype=np.int64), np.array([gram.shape[0]]), vi,
                       np.zeros(n, dtype=np.int64), keys, np.zeros(n), tau, weights_out=out)
    return out


def psa_group(vectors, returns: np.ndarray, keys: np.ndarray, tau: float,
              vector_index: np.ndarray | None = None) -> np.ndarray:
    """PSA step advantages of one task group: ``A_S,i = R_i - sum_j w_ij R_j`` (spec §4.2).

    vectors: (m, d) L2-normalised state embeddings (scipy sparse or numpy); vector_index: (n,) row -> vector
    row (default: row i uses vector i, m = n); returns: (n,) R_t; keys: (n,) candidate key (the step index
    for ``same_step``, a constant for ``all_steps``): cand(i) = rows with keys[i]. w_ij is the softmax of
    cos(s_i, s_j) / tau over cand(i), computed with the candidates' maximum subtracted, so tiny tau is exact
    grouping rather than an overflow. The same kernel (:func:`soft_baselines`) scores whole logs.
    """
    returns = np.asarray(returns, dtype=np.float64)
    n = len(returns)
    if n == 0:
        return np.zeros(0)
    vi = np.arange(n) if vector_index is None else np.asarray(vector_index).reshape(-1)
    gram = _gram_of(vectors)
    base = soft_baselines(gram.ravel(), np.zeros(1, dtype=np.int64), np.array([gram.shape[0]]), vi,
                          np.zeros(n, dtype=np.int64), np.asarray(keys), returns, tau)
    return returns - base


def dense_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """``matrix[rows]`` as a dense array over only the columns those rows use (cosines are unchanged):
    the block ``group_grams`` builds for one group (kept for callers inspecting a single group)."""
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


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for non-negative int64 keys, sorting them as uint32 when
    they fit (numpy's vectorised sort of 4-byte keys is about twice as fast as of 8-byte ones)."""
    if not len(keys):
        return keys.copy(), np.zeros(0, dtype=np.intp)
    small = int(keys.max()) < 2 ** 32
    perm = np.argsort(keys.astype(np.uint32) if small else keys)
    ordered = keys[perm]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(keys), dtype=np.intp)
    inverse[perm] = np.cumsum(new) - 1
    return ordered[new], inverse


def _block_columns(e_group: np.ndarray, e_index: np.ndarray, n_groups: int, n_cols: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each group's number of distinct columns (G,) and each entry's rank among its group's sorted
    columns (entries,): ``e_group`` / ``e_index`` give every stored entry's group and column. A (G, n_cols)
    table of used columns when that is small (TF-IDF vocabularies are): no sort of the entries."""
    if n_groups * n_cols <= max(1 << 16, 4 * len(e_index)):
        cell = e_group * max(n_cols, 1) + e_index
        used = np.zeros((n_groups, max(n_cols, 1)), dtype=bool)
        used.reshape(-1)[cell] = True
        rank = np.cumsum(used, axis=1, dtype=np.int64)
        return rank[:, -1], rank.reshape(-1)[cell] - 1
    n_cols = max(n_cols, 1)
    col_key, e_col = np.unique(e_group * n_cols + e_index, return_inverse=True)
    cols = np.bincount(col_key // n_cols, minlength=n_groups)
    c_first = np.cumsum(cols) - cols
    return cols, e_col.reshape(-1) - c_first[e_group]


def group_grams(matrix: sp.csr_matrix, group: np.ndarray, state: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cosine matrix of every group's distinct states, from one CSR matrix of state vectors.

    group: (n,) group codes 0..G-1; state: (n,) row of ``matrix`` each row's state uses. Returns the flat
    grams, each group's start and width (``soft_baselines``) and each row's local state index. A group's
    states become a small dense block over only the columns they use (sorted states, sorted columns) and
    one BLAS product per group gives its gram: the block depends only on the group, so the numbers do not
    depend on which other groups share the call.
    """
    n_groups = int(group.max()) + 1
    n_states = matrix.shape[0]
    pair, row_pair = _unique_inverse(group.astype(np.int64) * n_states + state)
    p_group, p_state = pair // n_states, pair % n_states
    width = np.bincount(p_group, minlength=n_groups)
    p_first = np.cumsum(width) - width
    p_local = np.arange(len(pair)) - p_first[p_group]
    local = p_local[row_pair]
    # every stored entry of every (group, state) pair, and its column inside the group's block
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    lengths = indptr[p_state + 1] - indptr[p_state]
    total = int(lengths.sum())
    offsets = np.repeat(indptr[p_state] - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
    e_group = np.repeat(p_group, lengths)
    cols, e_col = _block_columns(e_group, indices[offsets], n_groups, matrix.shape[1])
    block_size = width * cols
    b_start = np.cumsum(block_size) - block_size
    dense = np.zeros(int(block_size.sum()))
    dense[np.repeat(b_start[p_group] + p_local * cols[p_group], lengths) + e_col] = data[offsets]
    gram_size = width * width
    g_start = np.cumsum(gram_size) - gram_size
    gram = np.zeros(int(gram_size.sum()))
    for g in range(n_groups):
        u, c = int(width[g]), int(cols[g])
        if u and c:
            block = dense[b_start[g]:b_start[g] + u * c].reshape(u, c)
            gram[g_start[g]:g_start[g] + u * u] = (block @ block.T).ravel()
    return gram, g_start, width, local


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


def _flat_grams(grams: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    width = np.array([g.shape[0] for g in grams], dtype=np.int64)
    start = np.cumsum(width * width) - width * width
    flat = np.concatenate([g.ravel() for g in grams]) if grams else np.zeros(0)
    return flat, start, width


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
    """PSA step advantages for every row, all task groups at once (:func:`soft_baselines`).

    stats: TF-IDF statistics per batch value (iteration) for ``tfidf_scope="batch"``; fitted here from
    ``rows`` when None (correct when ``rows`` hold whole iterations). Fitting from ``TermCounts`` makes
    both routes give the same vocabulary and IDF. Each group's cosines come from its own states only, so
    any split of the groups (streaming, workers) gives the same numbers.
    """
    adv = np.zeros(rows.n_rows)
    if not rows.n_rows:
        return adv
    group = rows.group
    n_groups = int(group.max()) + 1
    batch_of_group = np.zeros(n_groups, dtype=rows.batch.dtype)
    batch_of_group[group] = rows.batch
    if np.any(batch_of_group[group] != rows.batch):
        raise ValueError("a task group spans several iterations; group_id must be unique per iteration")
    obs_code, texts = rows.observation_text_codes()
    keys = rows.step if cfg.candidates == "same_step" else np.zeros(rows.n_rows, dtype=np.int64)
    scored = np.ones(rows.n_rows, dtype=bool)  # rows whose group gets a PSA baseline

    if cfg.similarity == "minilm" or cfg.tfidf_scope == "group":
        # one embedding per group (MiniLM vectors are global; group-scope TF-IDF is fitted per group)
        vectors_all = embed_states(texts.to_list(), None, cfg)[0] if cfg.similarity == "minilm" else None
        order = np.argsort(group, kind="stable")
        bounds = np.cumsum(group_count(group))[:-1]
        grams, local = [], np.zeros(rows.n_rows, dtype=np.int64)
        for g, s in enumerate(np.split(order, bounds)):
            codes, inverse, mult = np.unique(obs_code[s], return_inverse=True, return_counts=True)
            local[s] = inverse.reshape(-1)
            if vectors_all is not None:
                grams.append(_gram_of(vectors_all[codes]))
                continue
            vectors, skip = embed_states(texts.gather(codes).to_list(), mult, cfg)
            if skip:
                scored[s] = False
            grams.append(_gram_of(vectors))
        gram, start, width = _flat_grams(grams)
    else:
        # batch scope: the distinct states of each iteration, embedded with that iteration's statistics
        if rows.batch.min() == rows.batch.max():  # one iteration (a streamed segment): every text is a state
            pair, state = int(rows.batch[0]) * len(texts) + np.arange(len(texts)), obs_code
        else:
            pair, state = np.unique(rows.batch.astype(np.int64) * len(texts) + obs_code, return_inverse=True)
            state = state.reshape(-1)
        pair_batch, pair_text = pair // len(texts), pair % len(texts)
        matrices = []
        for b in np.unique(pair_batch):
            sel = np.flatnonzero(pair_batch == b)
            batch_texts = texts.gather(pair_text[sel])
            st, mult = None, None
            if stats is not None:
                st = stats.get(int(b))
                if st is None:
                    raise ValueError(f"no TF-IDF statistics for iteration {int(b)}")
            else:  # the rows hold the whole iteration: fitted and embedded with one tokenisation
                mult = np.bincount(state, minlength=len(pair))[sel].astype(np.float64)
            vectors, skip = embed_states(batch_texts.to_list(), mult, cfg, st)
            if skip:
                scored[rows.batch == b] = False  # the reference gives zero step advantages without a vocabulary
            matrices.append(sp.csr_matrix(vectors))
        width = max(m.shape[1] for m in matrices)
        matrix = sp.vstack([sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width))
                            for m in matrices], format="csr")
        gram, start, width, local = group_grams(matrix, group, state)
    if not scored.any():
        return adv
    sel = np.flatnonzero(scored)
    base = soft_baselines(gram, start, width, local[sel], group[sel], keys[sel], returns[sel], cfg.tau)
    adv[sel] = returns[sel] - base
    return adv


def proxmo(rows: StepRows, cfg: ProxMOConfig, stats: Mapping[int, TfidfStats] | None = None) -> Credit:
    """ProxMO per row: ``A = w(R, p) * A_E + omega * A_S`` (PSC / PSA each switchable)."""
    rtg = step_returns(rows, cfg.gamma, cfg.reward_scale, cfg.invalid_penalty, cfg.discount_penalty)
    adv_episode = psc_episode(rows, cfg)
    adv_step = psa_step(rows, rtg, cfg, stats) if cfg.psa else np.zeros(rows.n_rows)
    return Credit(rtg, adv_episode, adv_step, cfg.omega)
