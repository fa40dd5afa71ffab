"""The learning sanity checks of issue 14 (proxmo_analysis.training.sanity): RL alone overfits a handful of
tasks. WebShop from scratch to >= 0.5 training success on 16 fixed goals; ALFWorld from a warm start to
>= 0.8 on 8 fixed train games. Both train for real (about a minute of CPU each on one thread)."""

from __future__ import annotations

import pytest
import torch

from proxmo_analysis.training.sanity import ALFWORLD_TRAIN_GAMES, CHECKS, run_check
from proxmo_analysis.training.tasks import task_count

pytestmark = pytest.mark.slow


@pytest.fixture
def one_thread():
    """The scorer's tensors are tiny: a second torch thread only contends (as `proxmo train --threads 1`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_webshop_from_scratch_overfits_16_goals(tmp_path, one_thread):
    check = CHECKS["webshop"]
    curve = run_check("webshop", str(tmp_path / "ws"))
    assert len(curve) == 20
    assert curve[0] <= 0.02  # from scratch: the uniform policy wins (almost) nothing
    assert curve[-1] >= check.bar, f"WebShop training success {curve}"


def test_alfworld_rl_alone_from_the_warm_start(tmp_path, one_thread):
    assert task_count("proxmo/ALFWorld-v0", {"split": "train"}) == ALFWORLD_TRAIN_GAMES
    check = CHECKS["alfworld"]
    curve = run_check("alfworld", str(tmp_path / "alf"))
    assert curve[0] <= 0.6  # the warm start leaves room for RL (measured: 0.53)
    assert curve[-1] >= check.bar, f"ALFWorld training success {curve}"
