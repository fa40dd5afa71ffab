"""Recovery states for the warm start: the walkthrough repair rule by hand, and labels on real ALFWorld games."""

from __future__ import annotations

import pytest
import torch

from proxmo_analysis.policy.pretrain import recovery_pairs, repair_action

WALK = ["go to cabinet 1", "open cabinet 1", "take plate 1 from cabinet 1", "go to microwave 1",
        "heat plate 1 with microwave 1", "go to countertop 1", "move plate 1 to countertop 1"]


def test_repair_action_by_hand():
    assert repair_action(WALK, 0, None) == "go to cabinet 1"
    # on the path: the walkthrough's next step
    assert repair_action(WALK, 1, "cabinet 1") == "open cabinet 1"
    # wandered off to the sink before opening the cabinet: go back first
    assert repair_action(WALK, 1, "sinkbasin 1") == "go to cabinet 1"
    assert repair_action(WALK, 2, "sinkbasin 1") == "go to cabinet 1"
    # the next step is a go to: reachable from anywhere
    assert repair_action(WALK, 3, "sinkbasin 1") == "go to microwave 1"
    assert repair_action(WALK, 4, "microwave 1") == "heat plate 1 with microwave 1"
    assert repair_action(WALK, 6, "fridge 1") == "go to countertop 1"
    assert repair_action(WALK, 7, "countertop 1") is None


def _alfworld() -> bool:
    try:
        import gymnasium as gym

        import proxmo_envs  # noqa: F401

        gym.make("proxmo/ALFWorld-v0", split="train").close()
        return True
    except Exception:  # noqa: BLE001 - the engine or its games are not installed
        return False


@pytest.mark.skipif(not _alfworld(), reason="the ALFWorld engine or its games are not available")
def test_recovery_labels_are_admissible_and_follow_the_repair_rule():
    from proxmo_analysis.policy.scorer import ActionScorer, ScorerConfig

    policy = ActionScorer(ScorerConfig(hashed_dim=16, hidden=16))  # uniform: it deviates a lot
    contexts, labels, stats = recovery_pairs(policy, "proxmo/ALFWorld-v0", {"split": "train"}, [0, 1], seed=0,
                                             max_steps=12)
    assert stats["episodes"] == 2 and stats["states"] == len(contexts) == len(labels) >= 2
    for ctx, label in zip(contexts, labels):
        assert label in ctx.candidates
    # the first state of each episode is the game start: the walkthrough's first step
    starts = [i for i, c in enumerate(contexts) if c.step == 0]
    assert len(starts) == 2 and all(labels[i].startswith("go to ") for i in starts)
    # each episode ends its labelling at a world-changing deviation, the cap, or the game's end
    assert stats["stopped"] <= 2 and stats["off_path"] <= stats["states"]
    # deterministic from the seed
    again = recovery_pairs(policy, "proxmo/ALFWorld-v0", {"split": "train"}, [0, 1], seed=0, max_steps=12)
    assert again[1] == labels
