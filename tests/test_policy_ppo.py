"""PPO loss on hand-computed numbers, clip and KL behaviour, one update, checkpoints, context rebuilding."""

from __future__ import annotations

import math

import polars as pl
import pytest
import torch

from proxmo_analysis.policy import (
    ActionScorer,
    PPOConfig,
    ScorerConfig,
    contexts_from_rows,
    expand_candidates,
    load_checkpoint,
    make_context,
    ppo_loss,
    ppo_update,
    save_checkpoint,
    search_queries,
)
from proxmo_analysis.policy.ppo import make_optimizer


def hashed_policy(seed: int = 0) -> ActionScorer:
    return ActionScorer(ScorerConfig(encoder="hashed", hashed_dim=16, hashed_buckets=4096, hidden=16, init_seed=seed))


# ---- the loss -----------------------------------------------------------------------------------------
def test_ppo_loss_matches_hand_computation():
    logp = torch.log(torch.tensor([0.5, 0.25]))
    beh = torch.log(torch.tensor([0.4, 0.5]))
    adv = torch.tensor([1.0, -2.0])
    ref = torch.log(torch.tensor([0.5, 0.3]))
    loss, stats = ppo_loss(logp, beh, adv, ref_logp=ref, clip_eps=0.2, kl_coef=0.01)
    # ratios 1.25 and 0.5; surrogates min(1.25, 1.2) = 1.2 and min(-1.0, -1.6) = -1.6
    assert stats["pg_loss"] == pytest.approx(-(1.2 - 1.6) / 2, abs=1e-6)
    # k3: delta = [0, ln 1.2] -> [0, 1.2 - ln 1.2 - 1]
    kl = (0.0 + (1.2 - math.log(1.2) - 1.0)) / 2
    assert stats["kl"] == pytest.approx(kl, abs=1e-6)
    assert float(loss) == pytest.approx(0.2 + 0.01 * kl, abs=1e-6)
    assert stats["clip_frac"] == 1.0
    assert stats["ratio_mean"] == pytest.approx(0.875, abs=1e-6)


def test_entropy_bonus_enters_with_minus_sign():
    logp = torch.zeros(3)
    ent = torch.tensor([1.0, 2.0, 3.0])
    base, _ = ppo_loss(logp, logp, torch.zeros(3), entropy=ent, entropy_coef=0.0)
    bonus, stats = ppo_loss(logp, logp, torch.zeros(3), entropy=ent, entropy_coef=0.5)
    assert float(base) == pytest.approx(0.0)
    assert float(bonus) == pytest.approx(-0.5 * 2.0)
    assert stats["entropy"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "ratio, adv, grad_zero",
    [
        (1.5, 1.0, True),  # positive advantage, ratio above 1+eps: clipped, no push further up
        (1.1, 1.0, False),  # inside the trust region: gradient flows
        (0.5, -1.0, True),  # negative advantage, ratio below 1-eps: clipped
        (0.5, 1.0, False),  # ratio below 1-eps but positive advantage: the unclipped term is the min
        (1.5, -1.0, False),  # ratio above 1+eps with negative advantage: still penalised
    ],
)
def test_clip_stops_gradient_only_on_the_pessimistic_side(ratio, adv, grad_zero):
    logp = torch.tensor([math.log(ratio)], requires_grad=True)
    loss, _ = ppo_loss(logp, torch.zeros(1), torch.tensor([adv]), kl_coef=0.0)
    loss.backward()
    assert (float(logp.grad.abs()) == 0.0) is grad_zero
    if not grad_zero:
        # d(-ratio*A)/dlogp = -ratio*A
        assert float(logp.grad) == pytest.approx(-ratio * adv, rel=1e-6)


def test_k3_kl_is_zero_at_the_reference_and_pulls_towards_it():
    ref = torch.log(torch.tensor([0.3]))
    at_ref, stats = ppo_loss(ref.clone(), ref.clone(), torch.zeros(1), ref_logp=ref, kl_coef=1.0)
    assert stats["kl"] == pytest.approx(0.0, abs=1e-7)
    logp = torch.log(torch.tensor([0.6])).requires_grad_(True)
    loss, stats = ppo_loss(logp, logp.detach(), torch.zeros(1), ref_logp=ref, kl_coef=1.0)
    assert stats["kl"] > 0
    loss.backward()
    # d/dl [exp(r-l) - (r-l) - 1] = 1 - exp(r-l) = 1 - 0.5 > 0: descending lowers l towards r
    assert float(logp.grad) == pytest.approx(1 - 0.3 / 0.6, rel=1e-5)
    # kl_coef = 0 switches the term off
    _, off = ppo_loss(logp.detach(), logp.detach(), torch.zeros(1), ref_logp=ref, kl_coef=0.0)
    assert off["kl"] == 0.0


def test_shape_mismatch_is_one_clear_error():
    with pytest.raises(ValueError, match="shape mismatch"):
        ppo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2))


# ---- rows, contexts and the update ---------------------------------------------------------------------
ADMISSIBLE = ["go to desk 1", "open drawer 1", "take mug 1 from desk 1"]
OBS0 = "You are in the middle of a room.\n\nYour task is to: put a mug in the drawer."


def one_step_rows(actions: list[str], advantages: list[float], behavior: list[float | None]) -> pl.DataFrame:
    n = len(actions)
    return pl.DataFrame(
        {
            "episode_id": [f"e{i}" for i in range(n)],
            "group_id": ["g"] * n,
            "step": [0] * n,
            "observation": [OBS0] * n,
            "action": actions,
            "admissible_actions": [ADMISSIBLE] * n,
            "advantage": advantages,
            "behavior_logprob": behavior,
        },
        schema_overrides={"behavior_logprob": pl.Float32, "advantage": pl.Float32},
    )


def prob_of(policy, action: str) -> float:
    ctx = make_context(OBS0, ADMISSIBLE)
    with torch.no_grad():
        return float(policy.evaluate([ctx], [action])[0].exp())


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_update_moves_the_probability_with_the_advantage_sign(sign):
    policy = hashed_policy()
    ref = policy.clone_frozen()
    before = prob_of(policy, "open drawer 1")
    assert before == pytest.approx(1 / 3, abs=1e-6)  # zero-initialised output layer: uniform
    lp = math.log(before)
    rows = one_step_rows(["open drawer 1", "go to desk 1"], [sign, 0.0], [lp, lp])
    stats = ppo_update(policy, rows, PPOConfig(lr=0.05, epochs=1), ref_policy=ref)
    after = prob_of(policy, "open drawer 1")
    assert (after > before + 1e-3) if sign > 0 else (after < before - 1e-3)
    assert stats["rows"] == 2 and stats["optimizer_steps"] == 1
    assert stats["ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # behaviour == current before the step
    # the frozen reference did not move
    assert prob_of(ref, "open drawer 1") == pytest.approx(before, abs=1e-7)


def test_update_rejects_missing_columns_behaviour_and_unknown_actions():
    policy = hashed_policy()
    rows = one_step_rows(["open drawer 1"], [1.0], [None])
    with pytest.raises(ValueError, match="no behavior_logprob"):
        ppo_update(policy, rows, PPOConfig())
    # "current" fills the gap with the policy's own log-probability (ratio 1)
    stats = ppo_update(policy, rows, PPOConfig(missing_behavior="current", epochs=1))
    assert stats["ratio_mean"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(KeyError, match="advantage"):
        ppo_update(policy, rows.drop("advantage"), PPOConfig())
    bad = one_step_rows(["fly to the moon"], [1.0], [-1.0])
    with pytest.raises(ValueError, match="row 0.*fly to the moon"):
        ppo_update(policy, bad, PPOConfig())


def test_contexts_rebuild_the_history_the_acting_policy_saw():
    """Acting step by step and re-evaluating the logged rows give identical log-probabilities."""
    policy = hashed_policy()
    with torch.no_grad():  # make the policy non-uniform and history-dependent
        for p in policy.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.5)
    actor = policy.episodic()
    rows = []
    for ep in range(3):
        actor.reset(seed=ep)
        obs = OBS0
        for t in range(4):
            action, lp = actor(obs, {"admissible_actions": ADMISSIBLE})
            rows.append(
                {"episode_id": f"e{ep}", "step": t, "observation": obs, "action": action,
                 "admissible_actions": ADMISSIBLE, "behavior_logprob": lp}
            )
            obs = f"You did {action}. Nothing happens {t}."
    df = pl.DataFrame(rows).reverse()  # row order must not matter
    ctxs = contexts_from_rows(df)
    assert ctxs[0].step == 3 and ctxs[0].goal == "put a mug in the drawer."
    with torch.no_grad():
        got = policy.logprobs(df)
    assert torch.allclose(got, torch.tensor(df["behavior_logprob"].to_list()), atol=1e-5)


def test_episodic_policy_is_reproducible_from_the_episode_seed():
    policy = hashed_policy()
    with torch.no_grad():
        policy.mlp[2].weight.normal_(generator=torch.Generator().manual_seed(3))
    a, b = policy.episodic(), policy.episodic()
    a.reset(seed=7)
    b.reset(seed=7)
    seq_a = [a(OBS0, {"admissible_actions": ADMISSIBLE})[0] for _ in range(6)]
    seq_b = [b(OBS0, {"admissible_actions": ADMISSIBLE})[0] for _ in range(6)]
    assert seq_a == seq_b
    greedy = policy.episodic(greedy=True)
    greedy.reset(seed=1)
    ctx = make_context(OBS0, ADMISSIBLE)
    best = ctx.candidates[int(policy.log_probs_all([ctx])[0].argmax())]
    assert greedy(OBS0, {"admissible_actions": ADMISSIBLE})[0] == best


def test_batched_act_tracks_episodes_by_id():
    policy = hashed_policy()
    infos = [{"admissible_actions": ADMISSIBLE, "episode_id": "x", "step": 0},
             {"admissible_actions": ADMISSIBLE, "episode_id": "y", "step": 0}]
    actions, logps = policy.act([OBS0, OBS0], infos)
    assert len(actions) == 2 and all(a in ADMISSIBLE for a in actions)
    assert logps == pytest.approx([math.log(1 / 3)] * 2, abs=1e-6)
    assert [len(h) for h in policy.tracker.histories.values()] == [1, 1]


# ---- checkpoints ---------------------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    policy = hashed_policy(seed=4)
    ref = policy.clone_frozen()
    opt = make_optimizer(policy, PPOConfig())
    rows = one_step_rows(["open drawer 1"], [1.0], [math.log(1 / 3)])
    ppo_update(policy, rows, PPOConfig(lr=0.05), ref_policy=ref, optimizer=opt)
    path = save_checkpoint(tmp_path / "ck.pt", policy, ref_policy=ref, optimizer=opt, extra={"iteration": 3})
    loaded = load_checkpoint(path)
    ctx = make_context(OBS0, ADMISSIBLE)
    with torch.no_grad():
        assert torch.equal(loaded.policy.log_probs_all([ctx]), policy.log_probs_all([ctx]))
        assert torch.equal(loaded.ref_policy.log_probs_all([ctx]), ref.log_probs_all([ctx]))
    assert loaded.extra == {"iteration": 3}
    assert loaded.policy.config == policy.config
    opt2 = make_optimizer(loaded.policy, PPOConfig())
    opt2.load_state_dict(loaded.optimizer_state)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):
        load_checkpoint(tmp_path / "junk.pt")


# ---- candidates ----------------------------------------------------------------------------------------
def test_search_candidates_come_from_the_instruction():
    goal = "i'm looking for a red cotton t-shirt with color: red, and size: large, and price lower than 30.00 dollars"
    assert search_queries(goal) == [goal, "red cotton t-shirt"]
    goal2 = "i need a long clip-on desk lamp which is easy to carry, and price lower than 40.00 dollars"
    assert search_queries(goal2) == [
        goal2,
        "long clip-on desk lamp which is easy to carry",
        "long clip-on desk lamp easy carry",
    ]
    obs = f"WebShop [SEP] Instruction: [SEP] {goal2} [SEP] Search"
    ctx = make_context(obs, ["search[<query>]"])
    assert ctx.goal == goal2
    assert ctx.candidates == tuple(f"search[{q}]" for q in search_queries(goal2))


def test_asin_candidates_read_the_title_next_to_them():
    obs = ("Instruction: [SEP] red shoes [SEP] Back to Search [SEP] Page 1 (Total results: 2) [SEP] Next > [SEP] "
           "B01ABC1234 [SEP] Red Running Shoes [SEP] $20.00 [SEP] B01ABC9999 [SEP] Blue hat [SEP] $10.00")
    actions, texts = expand_candidates(obs, ["click[back to search]", "click[b01abc1234]", "click[b01abc9999]"], "")
    assert actions == ["click[back to search]", "click[b01abc1234]", "click[b01abc9999]"]
    assert texts == ["click back to search", "click product Red Running Shoes $20.00", "click product Blue hat $10.00"]


def test_batched_act_refuses_to_mix_episodes_without_ids():
    policy = hashed_policy()
    info0 = {"admissible_actions": ADMISSIBLE, "step": 0}
    policy.act([OBS0, OBS0], [info0, info0])
    # slot 1 claims step 3 while one step is tracked for it: an error, not a silent mix-up
    with pytest.raises(ValueError, match="batch position 1"):
        policy.act([OBS0, OBS0], [{**info0, "step": 1}, {**info0, "step": 3}])


def test_k3_kl_is_clamped_per_sample_as_verl():
    from proxmo_analysis.policy.ppo import k3_kl

    logp = torch.tensor([0.0, -12.0, -1.0])
    ref = torch.tensor([0.0, 0.0, -1.5])
    # row 1: d = 12, exp(12) - 13 ≈ 162,741 → clamped to 10; row 2: d = -0.5 → exp(-0.5) + 0.5 - 1
    got = k3_kl(logp, ref)
    assert got.tolist() == pytest.approx([0.0, 10.0, math.exp(-0.5) - 0.5], abs=1e-6)
    assert float(k3_kl(logp, ref, clamp=None)[1]) == pytest.approx(math.exp(12) - 13, rel=1e-5)
    # the loss uses the clamped value: one far-off row adds at most kl_coef * 10 / n
    _, stats = ppo_loss(logp, logp, torch.zeros(3), ref_logp=ref, kl_coef=1.0)
    assert stats["kl"] == pytest.approx((10.0 + math.exp(-0.5) - 0.5) / 3, abs=1e-6)


def test_exact_kl_over_candidates_by_hand():
    from proxmo_analysis.policy.ppo import exact_kl

    p = torch.tensor([[0.5, 0.5, float("nan")], [0.9, 0.1, 0.0]])
    q = torch.tensor([[0.25, 0.75, float("nan")], [0.5, 0.25, 0.25]])
    logp = torch.log(torch.nan_to_num(p, nan=0.0)).masked_fill(torch.isnan(p), float("-inf"))
    logq = torch.log(torch.nan_to_num(q, nan=0.0)).masked_fill(torch.isnan(q), float("-inf"))
    want0 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    want1 = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.25)  # the p = 0 candidate adds nothing
    assert exact_kl(logp, logq).tolist() == pytest.approx([want0, want1], abs=1e-6)
    assert exact_kl(logq, logq).tolist() == pytest.approx([0.0, 0.0], abs=1e-7)


def test_ppo_update_with_exact_kl_runs_and_rejects_unknown_estimator():
    from proxmo_analysis.policy.ppo import ppo_update

    policy = hashed_policy()
    ref = policy.clone_frozen()
    lp = math.log(1 / 3)
    rows = one_step_rows(["open drawer 1", "go to desk 1"], [1.0, -1.0], [lp, lp])
    out = ppo_update(policy, rows, PPOConfig(lr=0.05, epochs=2, minibatch_size=1, kl_estimator="exact"), ref_policy=ref)
    # the first step starts at the reference (KL 0); after it the policy moved, so the exact KL is > 0
    assert out["kl"] > 0.0 and out["optimizer_steps"] == 4
    ctx = make_context(OBS0, ADMISSIBLE)
    from proxmo_analysis.policy.ppo import exact_kl
    with torch.no_grad():
        assert float(exact_kl(policy.log_probs_all([ctx]), ref.log_probs_all([ctx]))[0]) > 0.0
    with pytest.raises(ValueError, match="kl_estimator"):
        ppo_update(hashed_policy(), rows, PPOConfig(kl_estimator="k4"), ref_policy=ref)


def test_alfworld_help_is_not_a_policy_candidate():
    obs = "You are in the middle of a room.\n\nYour task is to: put a mug in the drawer."
    ctx = make_context(obs, ["go to desk 1", "help", "inventory", "look"])
    assert ctx.candidates == ("go to desk 1", "inventory", "look")


# ---- loss aggregation: every row, or every episode, weighs the same ------------------------------------
def test_episode_weights_by_hand():
    from proxmo_analysis.policy.ppo import episode_weights

    w = episode_weights(["a", "a", "b", "a", "c", "b"])
    assert w.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 2, 1 / 3, 1.0, 1 / 2])


def test_weighted_ppo_loss_by_hand():
    # ratio 1 everywhere: the surrogate is the advantage; rows of weight 1 and 3
    logp = torch.log(torch.tensor([0.5, 0.5]))
    adv = torch.tensor([1.0, -1.0])
    _, plain = ppo_loss(logp, logp, adv, kl_coef=0.0)
    _, weighted = ppo_loss(logp, logp, adv, kl_coef=0.0, weights=torch.tensor([1.0, 3.0]))
    assert plain["pg_loss"] == pytest.approx(0.0, abs=1e-7)
    assert weighted["pg_loss"] == pytest.approx(-(0.25 * 1.0 + 0.75 * -1.0), abs=1e-6)
    with pytest.raises(ValueError, match="shape mismatch"):
        ppo_loss(logp, logp, adv, weights=torch.ones(3))


def test_episode_aggregation_balances_a_long_loss_against_a_short_win():
    # one won episode of 1 step (advantage +1) and one lost episode of 3 steps (advantage -1); at the first
    # optimiser step ratio = 1, so pg_loss = -(weighted mean advantage): by row -(1 - 3)/4 = +0.5 (the net
    # effect pushes the taken actions down), by episode -(1/2 - 3 * 1/6) = 0 (the two episodes cancel)
    lp = math.log(1 / 3)
    rows = pl.DataFrame(
        {"episode_id": ["w", "l", "l", "l"], "group_id": ["g"] * 4, "step": [0, 0, 1, 2],
         "observation": [OBS0] * 4, "action": ["open drawer 1"] * 4, "admissible_actions": [ADMISSIBLE] * 4,
         "advantage": [1.0, -1.0, -1.0, -1.0]},
        schema_overrides={"advantage": pl.Float32},
    )
    stats = {}
    for agg in ("row", "episode"):
        cfg = PPOConfig(lr=0.05, epochs=1, minibatch_size=4, kl_coef=0.0, loss_agg=agg, missing_behavior="current")
        stats[agg] = ppo_update(hashed_policy(), rows, cfg)
    assert stats["row"]["pg_loss"] == pytest.approx(0.5, abs=1e-6)
    assert stats["episode"]["pg_loss"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(Exception, match="loss_agg"):
        PPOConfig(loss_agg="token")
