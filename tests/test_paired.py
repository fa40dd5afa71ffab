"""Paired bootstrap statistics on hand-made outcome grids (seeds x evaluation tasks)."""

from __future__ import annotations

import numpy as np
import pytest

from proxmo_analysis.paired import bootstrap_means, mean_ci, paired_difference, verdict


def test_constant_difference_has_a_degenerate_interval():
    a = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 1, 1]], dtype=float)
    b = a - 0.25  # every cell 0.25 lower: every resample's mean difference is exactly 0.25
    out = paired_difference(a, b, n_boot=200)
    assert out["diff"] == pytest.approx(0.25)
    assert out["ci"] == pytest.approx([0.25, 0.25])
    assert out["verdict"] == "supported"
    assert paired_difference(b, a, n_boot=200)["verdict"] == "contradicted"


def test_pairing_cancels_what_the_methods_share():
    # Seeds differ a lot (easy/hard), the methods differ by one task per seed: unpaired CIs of the two means
    # overlap, the paired difference is decided.
    base = np.array([[1.0] * 16 + [0.0] * 4, [0.0] * 20, [1.0] * 8 + [0.0] * 12])
    a = base.copy()
    a[:, 16:] = 1.0  # A also wins the last 4 tasks of every seed
    ia, ib = mean_ci(a, n_boot=2000), mean_ci(base, n_boot=2000)
    assert ia.lo < ib.hi  # the unpaired intervals overlap
    out = paired_difference(a, base, n_boot=2000)
    assert out["diff"] == pytest.approx(0.2)
    assert out["ci"][0] > 0.0 and out["verdict"] == "supported"


def test_symmetric_differences_are_undecided_and_the_mean_is_exact():
    a = np.array([[1, 0, 1, 0], [0, 1, 0, 1]], dtype=float)
    b = np.array([[0, 1, 0, 1], [1, 0, 1, 0]], dtype=float)
    out = paired_difference(a, b, n_boot=2000)
    assert out["diff"] == 0.0
    assert out["ci"][0] < 0.0 < out["ci"][1] and out["verdict"] == "undecided"


def test_one_seed_one_task_by_hand():
    # A 1 x 2 grid [0, 1]: a replicate draws 2 tasks → mean 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4
    reps = bootstrap_means([[0.0, 1.0]], n_boot=20_000, seed=3)
    values, counts = np.unique(reps, return_counts=True)
    assert values.tolist() == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(counts / counts.sum(), [0.25, 0.5, 0.25], atol=0.01)
    iv = mean_ci([[0.0, 1.0]], n_boot=20_000, seed=3)
    assert (iv.mean, iv.lo, iv.hi) == (0.5, 0.0, 1.0)


def test_reproducible_from_the_seed():
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 30)), rng.random((4, 30))
    assert paired_difference(a, b, n_boot=500, seed=7) == paired_difference(a, b, n_boot=500, seed=7)


def test_verdict_rule():
    assert verdict(0.01, 0.2) == "supported"
    assert verdict(-0.2, -0.01) == "contradicted"
    assert verdict(-0.1, 0.1) == verdict(0.0, 0.1) == "undecided"


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="unpaired"):
        paired_difference(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2-d"):
        mean_ci(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([[0.0, float("nan")]])
    with pytest.raises(ValueError, match="level"):
        mean_ci([[0.0, 1.0]], level=1.5)
