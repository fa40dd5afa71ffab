"""The released ProxMO code's outputs (../shared/vectors/reference) reproduced with variant="reference"."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from proxmo_analysis.credit import score
from proxmo_analysis.credit.score import make_config

SETTINGS = {
    "proxmo_reference": ("proxmo", {}),
    "proxmo_reference_no_psc": ("proxmo", {"psc": False}),
    "gigpo_reference_mean_norm": ("gigpo", {"normalize_std": False}),
    "gigpo_reference_mean_std_norm": ("gigpo", {"normalize_std": True}),
}
FILES = [f"{batch}__{setting}.json" for batch in ("small", "alfworld_like") for setting in SETTINGS]


@pytest.mark.parametrize("name", FILES)
def test_reference_vectors(reference_vectors_dir, name):
    data = json.loads((reference_vectors_dir / name).read_text())
    method, extra = SETTINGS[name.split("__")[1].removesuffix(".json")]
    setup = data["reference_setup"]
    inputs = pl.DataFrame(data["inputs"])
    out = score(inputs, method, variant="reference", **extra)
    # the variant's defaults are the parameters the vectors were produced with
    params = {"gamma": setup["gamma"], "invalid_penalty": setup["invalid_action_penalty"],
              "reward_scale": setup["win_reward"]}
    if method == "proxmo":
        params |= {"alpha": setup["psc_alpha"], "beta": setup["psc_beta"], "tau": setup["temperature"],
                   "max_features": setup["tfidf_max_features"], "psc": setup["enable_psc"]}
    _, cfg = make_config(method, {"variant": "reference", **extra})
    for key, value in params.items():
        assert getattr(cfg, key) == pytest.approx(value), key
    assert out.select(inputs.columns).equals(inputs)  # inputs untouched, same row order
    for column in ("adv_episode", "adv_step", "advantage"):
        np.testing.assert_allclose(out[column].to_numpy(), np.asarray(data["expected"][column]),
                                   rtol=0, atol=1e-5, err_msg=f"{name}: {column}")
