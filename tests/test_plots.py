"""proxmo_analysis.plots: the numbers behind each figure, and readable figures (titles, axis labels)."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from proxmo_analysis import score
from proxmo_analysis.credit.synthetic import alfworld_like_log
from proxmo_analysis.plots import (
    advantage_trajectory_figure,
    comparison_bar_figure,
    learning_curve_figure,
    psa_figure,
    psa_group_matrices,
    psc_psa_figure,
    psc_weight_figure,
)


def assert_readable(fig: Figure) -> None:
    """Every panel with data has both axis labels, and the figure or each panel has a title."""
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert panels
    for ax in panels:
        assert ax.get_xlabel().strip(), f"panel {ax.get_title()!r} has no x label"
        assert ax.get_ylabel().strip(), f"panel {ax.get_title()!r} has no y label"
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    assert suptitle.strip() or all(ax.get_title().strip() for ax in panels)
    fig.canvas.draw()  # renders without error (no pyplot needed)


def tiny_group() -> pl.DataFrame:
    """One task group, 3 trajectories x 2 steps; rollouts 0 and 1 share their step-0 state text."""
    obs = {
        (0, 0): "you see a red apple on the table", (0, 1): "you take the red apple",
        (1, 0): "you see a red apple on the table", (1, 1): "the fridge is closed",
        (2, 0): "you see a green pear in the fridge", (2, 1): "you take the red apple from the table",
    }
    reward = {(0, 1): 1.0, (2, 1): 1.0}
    rows = [
        {"group_id": "g", "episode_id": f"e{r}", "rollout_index": r, "iteration": 0, "step": t,
         "observation": obs[(r, t)], "reward": reward.get((r, t), 0.0), "won": r != 1}
        for r in range(3) for t in range(2)
    ]
    return pl.DataFrame(rows).with_columns(pl.col("rollout_index", "step", "iteration").cast(pl.Int32))


# ---- PSC ---------------------------------------------------------------------------------------------------
def test_psc_curve_hits_the_spec_worked_values():
    fig = psc_weight_figure(alpha=4.0, beta=0.1, group_size=8)
    assert_readable(fig)
    ax = fig.axes[0]
    success_pts, failure_pts = ax.lines[2], ax.lines[3]  # markers at k/8
    ps, ws = success_pts.get_xdata(), success_pts.get_ydata()
    pf, wf = failure_pts.get_xdata(), failure_pts.get_ydata()
    # spec §4.1 worked values (alpha 4, beta 0.1, N = 8)
    assert ws[np.isclose(ps, 1 / 8)][0] == pytest.approx(1.0142, abs=1e-4)
    assert ws[np.isclose(ps, 1 / 2)][0] == pytest.approx(1.0016, abs=1e-4)
    assert wf[np.isclose(pf, 1 / 2)][0] == pytest.approx(0.9984, abs=1e-4)
    assert wf[np.isclose(pf, 7 / 8)][0] == pytest.approx(0.9858, abs=1e-4)
    # successes need k >= 1, failures k <= N-1
    assert ps.min() == pytest.approx(1 / 8) and pf.max() == pytest.approx(7 / 8)
    # the curves stay inside 1 +- 0.231 beta, and at p = 0 / 1 are the bounds
    curve_s, curve_f = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    bound = 1.0 / (1.0 + math.exp(-1.0)) - 0.5
    assert curve_s[0] == pytest.approx(1 + 0.1 * bound) and curve_f[-1] == pytest.approx(1 - 0.1 * bound)
    assert np.all(np.abs(np.r_[curve_s, curve_f] - 1) <= 0.1 * bound + 1e-12)


def test_psc_curve_rejects_bad_sizes():
    with pytest.raises(ValueError, match="group_size"):
        psc_weight_figure(group_size=1)
    with pytest.raises(ValueError, match="n_points"):
        psc_weight_figure(n_points=1)


# ---- PSA / GiGPO matrices ----------------------------------------------------------------------------------
def test_psa_matrices_match_a_hand_computation_with_sklearn_cosines():
    from sklearn.feature_extraction.text import TfidfVectorizer

    df = tiny_group()
    tau = 0.1
    m = psa_group_matrices(df, "g", tau=tau, candidates="same_step", order="step")
    # order="step": (step 0: r0 r1 r2), (step 1: r0 r1 r2)
    assert m.step.tolist() == [0, 0, 0, 1, 1, 1] and m.rollout.tolist() == [0, 1, 2, 0, 1, 2]
    texts = m.observation
    x = TfidfVectorizer().fit(df["observation"].to_list()).transform(texts)
    cos = (x @ x.T).toarray()
    np.testing.assert_allclose(m.similarity, cos, atol=1e-12)
    assert m.similarity[0, 1] == pytest.approx(1.0)  # identical step-0 states
    # w_ij = softmax over the same-step candidates of cos / tau (spec §4.2), 0 across steps
    expected = np.zeros((6, 6))
    for block in (slice(0, 3), slice(3, 6)):
        e = np.exp(cos[block, block] / tau)
        expected[block, block] = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(m.weights, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(m.weights.sum(axis=1), 1.0)
    # GiGPO: rows 0 and 1 share a state; the other four are singletons
    assert m.exact_match[0, 1] and not m.exact_match[0, 2] and not m.exact_match[3, 5]
    assert m.singleton_share == pytest.approx(4 / 6)


def test_psa_all_steps_candidates_span_the_whole_group():
    m = psa_group_matrices(tiny_group(), "g", candidates="all_steps")
    assert np.all(m.weights > 0)
    np.testing.assert_allclose(m.weights.sum(axis=1), 1.0)


def test_tiny_tau_is_exact_grouping():
    m = psa_group_matrices(tiny_group(), "g", tau=1e-6, candidates="all_steps")
    np.testing.assert_allclose(m.weights, m.exact_match / m.exact_match.sum(axis=1, keepdims=True), atol=1e-12)


@pytest.mark.parametrize("config", [{}, {"candidates": "all_steps"}, {"variant": "reference"},
                                    {"tfidf_scope": "group", "tau": 0.5}])
def test_psa_weights_reproduce_score_adv_step(config):
    # no invalid actions: the reference's invalid penalty touches R_t outside PSA's baseline
    df = alfworld_like_log(600, group_size=4, max_steps=12, iterations=2, seed=3).with_columns(
        pl.lit(False).alias("invalid_action"))
    scored = score(df, "proxmo", **config)
    for gid in df["group_id"].unique().sort().to_list()[:4]:
        m = psa_group_matrices(df, gid, **config)
        part = scored[m.row_index]
        rtg = part["return_to_go"].to_numpy().astype(np.float64)
        np.testing.assert_allclose(rtg - m.weights @ rtg, part["adv_step"].to_numpy(), atol=2e-5)


def test_psa_figure_is_readable():
    m = psa_group_matrices(tiny_group(), "g")
    fig = psa_figure(m)
    assert_readable(fig)
    assert any("67% of rows singletons" in ax.get_title() for ax in fig.axes)


def test_psa_matrices_bad_input():
    df = tiny_group()
    with pytest.raises(ValueError, match="no rows with group_id 'nope'"):
        psa_group_matrices(df, "nope")
    with pytest.raises(ValueError, match="observation"):
        psa_group_matrices(df.drop("observation"), "g")
    with pytest.raises(TypeError, match="DataFrame"):
        psa_group_matrices(df.to_dicts(), "g")
    with pytest.raises(ValueError, match="order"):
        psa_group_matrices(df, "g", order="random")
    with pytest.raises(ValueError, match="tau"):
        psa_group_matrices(df, "g", tau=0.0)


# ---- advantages along a trajectory ------------------------------------------------------------------------
def test_advantage_trajectory_lines_are_the_scored_values():
    df = tiny_group().sample(fraction=1.0, shuffle=True, seed=1)  # rows out of order
    scored = {m: score(df, m) for m in ("grpo", "gigpo", "proxmo")}
    fig = advantage_trajectory_figure(scored, "e2")
    assert_readable(fig)
    for k, m in enumerate(scored):
        ep = scored[m].filter(pl.col("episode_id") == "e2").sort("step")
        line = fig.axes[0].lines[k]
        assert line.get_label() == m
        np.testing.assert_allclose(line.get_xdata(), [0, 1])
        np.testing.assert_allclose(line.get_ydata(), ep["advantage"].to_numpy())
        np.testing.assert_allclose(fig.axes[1].lines[k].get_ydata(), ep["adv_step"].to_numpy())
    assert "(won)" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="no rows with episode_id 'e9'"):
        advantage_trajectory_figure(scored, "e9")
    with pytest.raises(ValueError, match="no scored logs"):
        advantage_trajectory_figure({}, "e0")


# ---- training figures --------------------------------------------------------------------------------------
def metrics_frame() -> pl.DataFrame:
    nan = float("nan")
    return pl.DataFrame({
        "method": ["grpo"] * 6 + ["proxmo"] * 3,
        "seed": [0, 0, 0, 1, 1, 1, 0, 0, 0],
        "iteration": [0, 1, 2, 0, 1, 2, 0, 1, 2],
        "eval_success": [0.1, nan, 0.3, 0.2, nan, 0.5, 0.1, nan, 0.6],
        "train_success": [None, 0.2, 0.4, None, 0.3, 0.6, None, 0.5, 0.7],
    })


def test_learning_curves_average_over_seeds_and_skip_missing():
    fig = learning_curve_figure(metrics_frame(), ("eval_success", "train_success"))
    assert_readable(fig)
    grpo_eval, proxmo_eval = fig.axes[0].lines
    np.testing.assert_allclose(grpo_eval.get_xdata(), [0, 2])  # iteration 1 has no evaluation
    np.testing.assert_allclose(grpo_eval.get_ydata(), [0.15, 0.4])
    assert grpo_eval.get_label() == "grpo (n = 2)" and proxmo_eval.get_label() == "proxmo"
    np.testing.assert_allclose(proxmo_eval.get_ydata(), [0.1, 0.6])
    grpo_train = fig.axes[1].lines[0]
    np.testing.assert_allclose(grpo_train.get_xdata(), [1, 2])
    np.testing.assert_allclose(grpo_train.get_ydata(), [0.25, 0.5])
    # the +- std band of grpo's evaluation: population std of (0.3, 0.5) at iteration 2 (0.1), as the
    # benchmark reports; ddof=1 gives the sample std
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(0.5)
    sample = learning_curve_figure(metrics_frame(), "eval_success", ddof=1)
    band = sample.axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(0.4 + np.std([0.3, 0.5], ddof=1))
    with pytest.raises(ValueError, match="missing column"):
        learning_curve_figure(metrics_frame(), "eval_score")


def test_comparison_bars_are_means_with_std():
    final = metrics_frame().filter(pl.col("iteration") == 2)
    fig = comparison_bar_figure(final, ("eval_success",))
    assert_readable(fig)
    bars = fig.axes[0].patches
    assert [b.get_height() for b in bars] == pytest.approx([0.4, 0.6])
    from matplotlib.container import ErrorbarContainer

    err = next(c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer))
    segments = err.lines[2][0].get_segments()
    assert segments[0][1][1] - segments[0][0][1] == pytest.approx(2 * 0.1)  # population std of (0.3, 0.5)
    single = comparison_bar_figure(final.filter(pl.col("seed") == 0), "eval_success")
    assert not any(isinstance(c, ErrorbarContainer) for c in single.axes[0].containers)  # no std from 1 run
    grouped = comparison_bar_figure(final.with_columns(pl.lit("webshop").alias("env")), "eval_success", hue="env")
    assert_readable(grouped)
    assert len(grouped.axes[0].patches) == 2
    with pytest.raises(ValueError, match="missing column"):
        comparison_bar_figure(final, "eval_success", hue="task_type")


def test_psc_psa_figure_combines_both_levels():
    m = psa_group_matrices(tiny_group(), "g")
    fig = psc_psa_figure(m, alpha=4.0, beta=0.1)
    assert_readable(fig)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("ProxMO PSC weight") for t in titles)
    assert any(t.startswith("ProxMO PSA weights") for t in titles)
    assert not any(t.startswith("cosine") for t in titles)
    psc_ax = next(ax for ax in fig.axes if ax.get_title().startswith("ProxMO PSC"))
    assert len(psc_ax.lines[2].get_xdata()) == 3  # N = 3 trajectories: k/3 for k = 1..3
    with pytest.raises(ValueError, match="panels"):
        psa_figure(m, panels=("weights", "heat"))
    assert len([ax for ax in psa_figure(m, panels="weights").axes if ax.get_label() != "<colorbar>"]) == 1


# ---- the `proxmo plot` command ----------------------------------------------------------------------------
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def webshop_run(tmp_path_factory):
    from proxmo_envs.rollout import rollout

    out = tmp_path_factory.mktemp("plot-cli") / "run"
    rollout("proxmo/WebShop-v0", {"max_steps": 6}, "random", 2, 3, out, seed=0)
    return out


@pytest.fixture()
def training_runs(tmp_path):
    """Two methods x two seeds of hand-written training runs (metrics.csv + config.json)."""
    import json

    for method, base in (("grpo", 0.1), ("proxmo", 0.3)):
        for seed in (0, 1):
            run = tmp_path / "runs" / f"{method}-s{seed}"
            run.mkdir(parents=True)
            (run / "config.json").write_text(json.dumps({"method": method, "seed": seed, "env_id": "proxmo/WebShop-v0"}))
            (run / "metrics.csv").write_text(
                "iteration,train_success,eval_success,eval_score,kl\n"
                f"0,,{base},{base},\n1,{base + 0.1},,,\n2,{base + 0.2},{base + 0.1 * (seed + 1)},{base + 0.2},\n")
    return tmp_path / "runs"


def test_read_training_runs_stacks_metrics_with_their_config(training_runs):
    from proxmo_analysis.plots import read_training_runs

    df = read_training_runs(training_runs)
    assert df.height == 12 and set(df["seed"]) == {0, 1}
    assert df["method"].unique(maintain_order=True).to_list() == ["grpo", "proxmo"]
    assert df.schema["eval_success"] == pl.Float64 and df.schema["iteration"] == pl.Int64
    assert df.schema["kl"] == pl.Float64 and df["kl"].null_count() == df.height  # blank everywhere: not text
    final = df.filter((pl.col("method") == "proxmo") & (pl.col("iteration") == 2)).sort("seed")
    assert final["eval_success"].to_list() == pytest.approx([0.4, 0.5])
    with pytest.raises(FileNotFoundError, match="no training run"):
        read_training_runs(training_runs / "grpo-s0" / "checkpoints")
    # a shared start (iterations 0) next to the runs is not one of them
    start = training_runs / "start" / "seed0"
    start.mkdir(parents=True)
    (start / "config.json").write_text(json.dumps({"method": "grpo", "seed": 0, "env_id": "proxmo/WebShop-v0",
                                                   "iterations": 0}))
    (start / "metrics.csv").write_text("iteration,eval_success\n0,0.1\n")
    assert read_training_runs(training_runs).height == 12


@pytest.mark.parametrize("kind", ["psc", "psa", "advantages", "curves", "bars"])
def test_plot_command_writes_a_png(kind, webshop_run, training_runs, tmp_path, capsys):
    from proxmo_analysis.cli import main

    paths = {"psc": [], "psa": [str(webshop_run)], "advantages": [str(webshop_run)],
             "curves": [str(training_runs)], "bars": [str(training_runs)]}[kind]
    out = tmp_path / f"{kind}.png"
    assert main(["plot", kind, *paths, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {out}" in capsys.readouterr().out


def test_plot_command_bad_input_is_one_line(webshop_run, tmp_path, capsys):
    from proxmo_analysis.cli import main

    assert main(["plot", "psa", "--out", str(tmp_path / "x.png")]) == 2
    assert "needs exactly one run folder" in capsys.readouterr().err
    assert main(["plot", "psa", str(webshop_run), "--group", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "no rows with group_id 'nope'" in capsys.readouterr().err
    assert main(["plot", "curves", str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")]) == 2
    assert "no training run" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_empty_vocabulary_follows_the_variant():
    """Only one-character tokens: no TF-IDF vocabulary. The paper variant's PSA is then the candidate mean,
    the reference skips PSA (A_S = 0); the matrices agree with score() in both cases."""
    df = tiny_group().with_columns(pl.format("{} a", pl.col("step")).alias("observation"),
                                   pl.lit(False).alias("invalid_action"))
    for variant, expected in (("paper", "mean"), ("reference", "identity")):
        m = psa_group_matrices(df, "g", variant=variant, candidates="all_steps")
        n = len(m.step)
        np.testing.assert_allclose(m.weights, np.full((n, n), 1 / n) if expected == "mean" else np.eye(n))
        scored = score(df, "proxmo", variant=variant, candidates="all_steps")[m.row_index]
        if variant == "paper":
            rtg = scored["return_to_go"].to_numpy().astype(np.float64)
            np.testing.assert_allclose(rtg - m.weights @ rtg, scored["adv_step"].to_numpy(), atol=1e-6)
        else:
            assert np.all(scored["adv_step"].to_numpy() == 0)


def test_psc_figure_states_how_small_the_effect_is():
    from proxmo_analysis.plots import psc_effect_note

    # by hand: beta * (sigmoid(1) - 0.5) = 0.1 * 0.23106 = 2.3%; N = 8, k = 1: 0.1 * (sigmoid((7/8)^4) - 0.5)
    # = 0.1 * 0.14248 = 1.4% (the failure curve at k = 7 mirrors it)
    note = psc_effect_note(4.0, 0.1, 8)
    assert "at most 2.3% (beta = 0.1)" in note and "N = 8: at most 1.4%" in note
    texts = [t.get_text() for t in psc_weight_figure(alpha=4.0, beta=0.1, group_size=8).axes[0].texts]
    assert texts == [note]
