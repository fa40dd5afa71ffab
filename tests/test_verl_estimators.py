"""verl-style estimators: the ProxMO release's numbers (reference vectors), hand-computed PSC values, and
``register()`` inside verl 0.9.1 (in a cached side venv: verl pins transformers below the test venv's)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import torch

from proxmo_analysis.credit import score
from proxmo_analysis.integrations.verl import (
    compute_gigpo_outcome_advantage,
    compute_proxmo_outcome_advantage,
    compute_psc_outcome_advantage,
)

from overlay_venv import REPO, overlay_venv

SETTINGS = {  # file setting -> (function, kwargs), the release's arguments for that setting
    "proxmo_reference": (compute_proxmo_outcome_advantage,
                         {"mode": "soft_grouping", "enable_psc": True, "psc_alpha": 4.0}),
    "proxmo_reference_no_psc": (compute_proxmo_outcome_advantage, {"mode": "soft_grouping"}),
    "gigpo_reference_mean_norm": (compute_gigpo_outcome_advantage, {"mode": "mean_norm"}),
    "gigpo_reference_mean_std_norm": (compute_gigpo_outcome_advantage, {"mode": "mean_std_norm"}),
}
FILES = [f"{batch}__{setting}.json" for batch in ("small", "alfworld_like") for setting in SETTINGS]
L = 4  # response length; row i answers with 1 + i % L tokens


def release_inputs(data: dict):
    """The release's tensors for a reference file: the score at the row's last response token, R_t."""
    setup = data["reference_setup"]
    inputs = pl.DataFrame(data["inputs"])
    # R_t exactly as the reference setup defines it (checked against the same vectors in test_credit_reference)
    rtg = score(inputs, "gigpo", variant="reference")["return_to_go"].to_numpy()
    n = inputs.height
    lengths = 1 + np.arange(n) % L
    mask = torch.zeros(n, L)
    for i, k in enumerate(lengths):
        mask[i, :k] = 1
    row_score = setup["win_reward"] * inputs["won"].to_numpy() - setup["invalid_action_penalty"] * inputs[
        "invalid_action"].to_numpy()
    rewards = torch.zeros(n, L)
    rewards[np.arange(n), lengths - 1] = torch.tensor(row_score, dtype=torch.float32)
    return (rewards, torch.tensor(rtg, dtype=torch.float32), mask, np.array(inputs["observation"].to_list(),
            dtype=object), np.array(inputs["group_id"].to_list(), dtype=object),
            np.array(inputs["episode_id"].to_list(), dtype=object), setup)


@pytest.mark.parametrize("name", FILES)
def test_release_numbers_on_reference_vectors(reference_vectors_dir, name):
    data = json.loads((reference_vectors_dir / name).read_text())
    fn, kwargs = SETTINGS[name.split("__")[1].removesuffix(".json")]
    rewards, rtg, mask, obs, index, traj, setup = release_inputs(data)
    if kwargs.get("enable_psc"):
        kwargs = {**kwargs, "psc_beta": setup["psc_beta"]}
    adv, returns = fn(rewards, rtg, mask, obs, index, traj, **kwargs)
    assert adv is returns and adv.shape == mask.shape and adv.dtype == torch.float32
    assert torch.all(adv[mask == 0] == 0)
    expected = np.asarray(data["expected"]["advantage"])
    np.testing.assert_allclose(adv[:, 0].numpy(), expected, rtol=0, atol=1e-5, err_msg=name)
    np.testing.assert_allclose((adv * mask).sum(1).numpy() / mask.sum(1).numpy(), expected, atol=1e-5)
    if fn is compute_proxmo_outcome_advantage:
        episode, step = fn(rewards, rtg, mask, obs, index, traj, return_components=True, **kwargs)
        np.testing.assert_allclose(episode[:, 0].numpy(), data["expected"]["adv_episode"], atol=1e-5)
        np.testing.assert_allclose(step[:, 0].numpy(), data["expected"]["adv_step"], atol=1e-5)


def _w(success: bool, p: float, alpha: float, beta: float) -> float:
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    return 1 + beta * ((sig((1 - p) ** alpha) - 0.5) if success else (sig(-(p ** alpha)) - 0.5))


def test_psc_outcome_advantage_by_hand():
    # uid "a": rewards 1, 0, 0, 0 (p = 1/4); uid "b": a single response (advantage 0)
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    adv, ret = compute_psc_outcome_advantage(rewards, mask, np.array(["a", "a", "a", "a", "b"], dtype=object))
    sd = math.sqrt((0.75 ** 2 + 3 * 0.25 ** 2) / 4)  # population std of (1, 0, 0, 0)
    a_win = 0.75 / (sd + 1e-6) * _w(True, 0.25, 4.0, 0.1)
    a_lose = -0.25 / (sd + 1e-6) * _w(False, 0.25, 4.0, 0.1)
    assert a_win == pytest.approx(1.7321 * 1.0078447, abs=1e-4)
    expected = torch.tensor([[a_win, a_win], [a_lose, 0.0], [a_lose, a_lose], [a_lose, a_lose], [0.0, 0.0]])
    torch.testing.assert_close(adv, expected.float(), atol=1e-6, rtol=0)
    assert ret is adv
    no_std, _ = compute_psc_outcome_advantage(rewards, mask, np.array(["a"] * 4 + ["b"], dtype=object),
                                              norm_adv_by_std=False)
    assert no_std[0, 0].item() == pytest.approx(0.75 * _w(True, 0.25, 4.0, 0.1), abs=1e-6)


def test_paper_variant_by_hand():
    # one task group, two trajectories of two steps; t0 won (score 10 on both rows), t1 lost
    rewards = torch.tensor([[10.0], [10.0], [0.0], [0.0]])
    mask = torch.ones(4, 1)
    rtg = torch.tensor([9.5, 10.0, 0.0, 0.0])
    obs = np.array(["room", "table", "room", "sofa"], dtype=object)
    uid, traj = np.array(["g"] * 4, dtype=object), np.array(["t0", "t0", "t1", "t1"], dtype=object)
    episode, step = compute_proxmo_outcome_advantage(rewards, rtg, mask, obs, uid, traj, mode="mean_norm",
                                                     enable_psc=True, psc_alpha=4.0, psc_beta=0.1,
                                                     return_components=True, variant="paper")
    # trajectory outcomes 10 and 0: mean 5, p = 1/2; exact anchor groups: "room" holds rows 0 and 2
    assert episode[:, 0].tolist() == pytest.approx([5 * _w(True, 0.5, 4, 0.1)] * 2 + [-5 * _w(False, 0.5, 4, 0.1)] * 2)
    assert step[:, 0].tolist() == pytest.approx([4.75, 0.0, -4.75, 0.0])
    # same_step PSA: rows 0 and 2 share step 0, rows 1 and 3 step 1; identical "room" states weigh 1/2 each
    _, soft = compute_proxmo_outcome_advantage(rewards, rtg, mask, obs, uid, traj, mode="soft_grouping",
                                               return_components=True, variant="paper")
    assert soft[0, 0].item() == pytest.approx(4.75) and soft[2, 0].item() == pytest.approx(-4.75)
    # "table" vs "sofa" share no term: cosine 0, so w = softmax(1/tau, 0) = 1/(1 + e^-10) on itself
    w_self = 1 / (1 + math.exp(-10))
    assert soft[1, 0].item() == pytest.approx(10.0 - (w_self * 10.0 + (1 - w_self) * 0.0), abs=1e-6)


def test_bad_arguments_are_clear_errors():
    rewards, mask = torch.zeros(2, 3), torch.ones(2, 3)
    args = (rewards, torch.zeros(2), mask, np.array(["a", "b"], dtype=object), np.array(["g", "g"], dtype=object),
            np.array(["t0", "t1"], dtype=object))
    with pytest.raises(ValueError, match="Unknown mode"):
        compute_proxmo_outcome_advantage(*args, mode="fuzzy")
    with pytest.raises(ValueError, match="Unknown mode: 'soft_grouping'"):
        compute_gigpo_outcome_advantage(*args, mode="soft_grouping")
    with pytest.raises(ValueError, match="index has 3 entries"):
        compute_gigpo_outcome_advantage(rewards, torch.zeros(2), mask, args[3], np.array(["g"] * 3), args[5])
    with pytest.raises(ValueError, match="response_mask"):
        compute_gigpo_outcome_advantage(rewards, torch.zeros(2), torch.ones(2, 2), *args[3:])
    with pytest.raises(ValueError, match="similarity_thresh"):
        compute_gigpo_outcome_advantage(*args, enable_similarity=True, similarity_thresh=1.0)


def test_similarity_grouping_matches_the_greedy_rule():
    obs = np.array(["you see a red mug on the table", "you see a red mug on the tables", "a sofa"], dtype=object)
    rtg = torch.tensor([1.0, 3.0, 5.0])
    adv, _ = compute_gigpo_outcome_advantage(torch.zeros(3, 1), rtg, torch.ones(3, 1), obs,
                                             np.array(["g"] * 3, dtype=object),
                                             np.array(["a", "b", "c"], dtype=object), enable_similarity=True)
    # rows 0 and 1 are 98% similar: one step group with mean 2; "a sofa" is alone (advantage 0)
    assert adv[:, 0].tolist() == pytest.approx([-1.0, 1.0, 0.0])


VERL_REQUIREMENTS = ["verl==0.9.1", "kernels>=0.12,<0.13"]
VERL_SCRIPT = r"""
import json, sys
import numpy as np, torch
import verl
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from proxmo_analysis.integrations.verl import register
print(json.dumps({"registered": register(), "again": register(beta=0.2), "verl": verl.__version__}))
fn = get_adv_estimator_fn("proxmo_psc")
rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
mask = torch.ones(4, 2)
adv, ret = fn(token_level_rewards=rewards, response_mask=mask, index=np.array(["u"] * 4, dtype=object),
              config={"norm_adv_by_std_in_grpo": False})
print(json.dumps({"adv": adv[:, 0].tolist(), "same": bool(ret is adv)}))
"""


@pytest.mark.slow
def test_register_in_verl_0_9_1(tmp_path):
    # verl pins transformers below the test venv's, so it lives in a cached side venv (tests/overlay_venv.py)
    # kernels: transformers 5.10 (verl's pin) breaks on the test venv's newer kernels package
    python = overlay_venv("verl-0.9.1", VERL_REQUIREMENTS)
    out = subprocess.run([str(python), "-c", VERL_SCRIPT], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    first, second = [json.loads(line) for line in out.stdout.strip().splitlines()[-2:]]
    assert first["verl"] == "0.9.1" and first["registered"] == first["again"] == ["proxmo_psc"]
    w_win, w_lose = _w(True, 0.25, 4.0, 0.2), _w(False, 0.25, 4.0, 0.2)
    assert second["adv"] == pytest.approx([0.75 * w_win, -0.25 * w_lose, -0.25 * w_lose, -0.25 * w_lose], abs=1e-6)
    assert second["same"] is True
    assert sys.prefix  # the side venv shares this venv's packages through a .pth file


def test_docs_quote_the_committed_benchmark():
    rows = json.loads((REPO / "benchmarks" / "results" / "verl_estimators.json").read_text())["rows"]
    big = {r["arm"]: r for r in rows if r["rows"] > 50_000}
    ours, dense = big["proxmo (ours)"], big["release-style dense PSA"]
    docs = (REPO / "docs" / "integrations.md").read_text()
    quoted = (f"batch of {ours['rows']:,} rows", f"takes {ours['seconds']:.1f} s at {ours['peak_rss_mb']:.0f} MB",
              f"needs {dense['release_needs_gb']:.1f} GB", f"about {dense['seconds']:.0f} s (extrapolated)")
    flat = " ".join(docs.split())
    for text in quoted:
        assert text in flat, text
    assert dense["extrapolated"] is True
