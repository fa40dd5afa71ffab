"""The scorer with memory (ScorerConfig.history = k): a GRU over the last k (observation, action) pairs."""

from __future__ import annotations

import polars as pl
import pytest
import torch

from proxmo_analysis.policy import ActionScorer, ScorerConfig, load_checkpoint, make_context, save_checkpoint

OBS = "You are in the middle of a room.\n\nYour task is to: put a mug in the drawer."
ADMISSIBLE = ["go to desk 1", "open drawer 1", "go to shelf 1"]


def policy(history: int, seed: int = 0) -> ActionScorer:
    p = ActionScorer(ScorerConfig(encoder="hashed", hashed_dim=16, hashed_buckets=4096, hidden=16, history=history))
    with torch.no_grad():  # non-uniform: the output layer starts at zero
        p.mlp[2].weight.normal_(generator=torch.Generator().manual_seed(seed))
    return p


def test_history_zero_is_the_memoryless_scorer_parameter_for_parameter():
    plain = ActionScorer(ScorerConfig(encoder="hashed", hashed_dim=16, hashed_buckets=4096, hidden=16))
    zero = ActionScorer(ScorerConfig(encoder="hashed", hashed_dim=16, hashed_buckets=4096, hidden=16, history=0))
    assert [k for k, _ in plain.named_parameters()] == [k for k, _ in zero.named_parameters()]
    assert not hasattr(zero, "memory")
    with pytest.raises(ValueError, match="history"):
        ScorerConfig(history=-1)


def test_memory_reads_steps_beyond_the_last_action_but_only_k_of_them():
    mem, plain = policy(2), policy(0)
    # same goal, observation and last action; they differ only in the step before the last
    h_a = [(OBS, "go to desk 1"), ("On the desk 1 you see a mug.", "go to shelf 1")]
    h_b = [(OBS, "open drawer 1"), ("On the desk 1 you see a mug.", "go to shelf 1")]
    now = "On the shelf 1 you see nothing."
    ca, cb = make_context(now, ADMISSIBLE, h_a), make_context(now, ADMISSIBLE, h_b)
    with torch.no_grad():
        assert not torch.allclose(mem.log_probs_all([ca]), mem.log_probs_all([cb]))
        older = [("x", "look"), (OBS, "go to desk 1"), ("On the desk 1 you see a mug.", "go to shelf 1")]
        oldest = [("y", "inventory"), (OBS, "go to desk 1"), ("On the desk 1 you see a mug.", "go to shelf 1")]
        # with k = 2 a step three back (with the same taken-before counts) is outside the window: identical
        c1, c2 = make_context(now, ADMISSIBLE, older), make_context(now, ADMISSIBLE, oldest)
        assert torch.equal(mem.log_probs_all([c1]), mem.log_probs_all([c2]))
        assert torch.equal(plain.log_probs_all([c1]), plain.log_probs_all([c2]))


def test_acting_and_rebuilding_from_the_log_agree_and_checkpoints_round_trip(tmp_path):
    p = policy(2, seed=5)
    actor = p.episodic()
    rows = []
    for ep in range(2):
        actor.reset(seed=ep)
        obs = OBS
        for t in range(4):
            action, lp = actor(obs, {"admissible_actions": ADMISSIBLE})
            rows.append({"episode_id": f"e{ep}", "step": t, "observation": obs, "action": action,
                         "admissible_actions": ADMISSIBLE, "behavior_logprob": lp})
            obs = f"You did {action} at {t}."
    df = pl.DataFrame(rows)
    with torch.no_grad():
        assert torch.allclose(p.logprobs(df), torch.tensor(df["behavior_logprob"].to_list()), atol=1e-5)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.pt", p)).policy
    assert loaded.config.history == 2
    with torch.no_grad():
        assert torch.equal(loaded.logprobs(df), p.logprobs(df))
