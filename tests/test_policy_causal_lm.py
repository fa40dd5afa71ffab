"""The causal-LM backend on a tiny model built from a config, with a tokenizer trained here (no download)."""

from __future__ import annotations

import math

import polars as pl
import pytest
import torch

from proxmo_analysis.policy import PPOConfig, build_prompt, load_checkpoint, make_context, ppo_update, save_checkpoint
from proxmo_analysis.policy.causal_lm import ACTION_CLOSE, CausalLMConfig, CausalLMPolicy

CORPUS = [
    "You are an expert agent operating in the ALFRED Embodied Environment.",
    "Your task is to: put a mug in the drawer. go to desk 1 open drawer 1 take mug 1 from desk 1",
    "You are now at step 1 and your current observation is: You are in the middle of a room.",
    "Your admissible actions of the current situation are: <action> </action> ' [ ] , .",
    "WebShop [SEP] Instruction: [SEP] i need red shoes [SEP] Search search[red shoes] click[buy now]",
    "Prior to this step, you have already taken 1 step(s). Below are the most recent observations",
]


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<pad>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    config = LlamaConfig(
        vocab_size=fast.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id, bos_token_id=None,
    )
    torch.manual_seed(0)  # weight init of a test fixture; the library never touches global state
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny_lm")
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


ADMISSIBLE = ["go to desk 1", "open drawer 1", "take mug 1 from desk 1"]
OBS0 = "You are in the middle of a room.\n\nYour task is to: put a mug in the drawer."


def test_prompt_has_task_history_and_actions():
    hist = [("obs one", "go to desk 1"), ("obs two", "open drawer 1"), ("obs three", "go to desk 1")]
    ctx = make_context("You see a mug.", ADMISSIBLE, [(OBS0, "look"), *hist])
    prompt = build_prompt(ctx)
    assert "Your task is to: put a mug in the drawer.\n" in prompt
    assert "already taken 4 step(s)" in prompt
    assert "[Observation 3: 'obs two', Action 3: 'open drawer 1']" in prompt
    assert "[Observation 4: 'obs three', Action 4: 'go to desk 1']" in prompt
    assert "obs one" not in prompt  # only the last two pairs
    assert "step 5 and your current observation is: You see a mug." in prompt
    assert all(f"'{a}'" in prompt for a in ADMISSIBLE)
    assert prompt.endswith("<action>")


def test_candidate_score_is_the_sum_of_its_token_logprobs(tiny_lm_dir):
    policy = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir), batch_size=2))
    ctx = make_context(OBS0, ADMISSIBLE)
    with torch.no_grad():
        scores = policy.candidate_logits([ctx])[0]
        tok = policy.tokenizer
        prompt = tok(build_prompt(ctx), add_special_tokens=False)["input_ids"]
        for k, action in enumerate(ADMISSIBLE):
            cand = tok(action + ACTION_CLOSE, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt + cand])
            logp = torch.log_softmax(policy.model(input_ids=ids).logits[0], dim=-1)
            expected = sum(float(logp[len(prompt) + j - 1, t]) for j, t in enumerate(cand))
            assert float(scores[k]) == pytest.approx(expected, abs=1e-4)
    # padding in a batch of unequal lengths does not change a score
    with torch.no_grad():
        alone = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir), batch_size=1)).candidate_logits([ctx])[0]
    assert torch.allclose(alone, scores, atol=1e-4)


def test_lm_update_raises_the_rewarded_action_and_checkpoint_round_trips(tiny_lm_dir, tmp_path):
    policy = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir)))
    ref = policy.clone_frozen()
    ctx = make_context(OBS0, ADMISSIBLE)
    with torch.no_grad():
        before = float(policy.evaluate([ctx], ["open drawer 1"])[0].exp())
    rows = pl.DataFrame(
        {"episode_id": ["e0"], "step": [0], "observation": [OBS0], "action": ["open drawer 1"],
         "admissible_actions": [ADMISSIBLE], "advantage": [1.0], "behavior_logprob": [math.log(before)]}
    )
    ppo_update(policy, rows, PPOConfig(lr=1e-2), ref_policy=ref)
    with torch.no_grad():
        after = float(policy.evaluate([ctx], ["open drawer 1"])[0].exp())
    assert after > before
    path = save_checkpoint(tmp_path / "lm.pt", policy, ref_policy=ref)
    loaded = load_checkpoint(path)
    with torch.no_grad():
        assert torch.allclose(loaded.policy.log_probs_all([ctx]), policy.log_probs_all([ctx]))
        assert torch.allclose(loaded.ref_policy.log_probs_all([ctx]), ref.log_probs_all([ctx]))


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="causal LM folder"):
        CausalLMPolicy(CausalLMConfig(model_dir=str(tmp_path / "nope")))


# ---- GPU-ready settings and generation mode (all on the CPU here) ---------------------------------------

INFO = {"task": "put a mug in the drawer", "admissible_actions": ADMISSIBLE}


def test_device_auto_dtype_and_batched_scoring(tiny_lm_dir):
    cfg = CausalLMConfig(model_dir=str(tiny_lm_dir))
    assert cfg.device == "auto"
    assert cfg.resolved_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    ctxs = [make_context(OBS0, ADMISSIBLE), make_context("You see a mug.", ADMISSIBLE[:2], [(OBS0, "look")])]
    one = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir), device="cpu", batch_size=1))
    many = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir), device="cpu", batch_size=4))
    with torch.no_grad():
        a, b = one.candidate_logits(ctxs), many.candidate_logits(ctxs)
    # length-sorted batches of any size give the same scores, back in candidate order
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=0)
    half = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir), device="cpu", dtype="bf16"))
    assert next(half.model.parameters()).dtype == torch.bfloat16 and half.device.type == "cpu"
    with torch.no_grad():
        c = half.candidate_logits(ctxs)
    for x, y in zip(a, c):
        assert y.dtype == torch.float32 and torch.all(torch.isfinite(y))
        torch.testing.assert_close(x, y, atol=0.5, rtol=0.05)  # bf16 rounding only


def test_lora_trains_only_the_adapter(tiny_lm_dir, tmp_path):
    pytest.importorskip("peft")
    policy = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir), device="cpu", lora_r=4, lora_alpha=8))
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    ctx = make_context(OBS0, ADMISSIBLE)
    opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    policy.train()
    loss = -policy.evaluate([ctx], ["open drawer 1"])[0].sum()
    loss.backward()
    opt.step()
    changed = {n for n, p in policy.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and changed <= trainable
    back = load_checkpoint(save_checkpoint(tmp_path / "lora.pt", policy)).policy
    with torch.no_grad():
        torch.testing.assert_close(back.candidate_logits([ctx])[0], policy.candidate_logits([ctx])[0])


def test_gradient_checkpointing_gives_the_same_gradients(tiny_lm_dir):
    ctx = make_context(OBS0, ADMISSIBLE)
    grads = []
    for gc in (False, True):
        policy = CausalLMPolicy(CausalLMConfig(model_dir=str(tiny_lm_dir), device="cpu", gradient_checkpointing=gc))
        m = policy.model
        assert (m.is_activation_checkpointing if hasattr(m, "is_activation_checkpointing")
                else m.is_gradient_checkpointing) is gc
        policy.train()
        (-policy.evaluate([ctx], ["take mug 1 from desk 1"])[0].sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_generation_mode_parses_replies_and_logs_their_logprob(tiny_lm_dir, monkeypatch):
    from proxmo_envs.text import INVALID_ACTION, strip

    cfg = CausalLMConfig(model_dir=str(tiny_lm_dir), device="cpu", mode="generate", max_new_tokens=12)
    policy = CausalLMPolicy(cfg, seed=3)
    actions, logps = policy.act([OBS0], [INFO])
    (reply,) = policy.last_replies
    assert 1 <= len(policy.last_reply_ids[0]) <= 12
    assert actions[0] in ADMISSIBLE or actions[0] == INVALID_ACTION
    assert math.isfinite(logps[0]) and logps[0] < 0
    twin = CausalLMPolicy(cfg, seed=3)
    assert twin.act([OBS0], [INFO])[0] == actions and twin.last_replies == [reply]  # the seed fixes the sample
    # scripted replies: the parsed action goes to the env, the reply's log-prob is the behaviour log-prob
    seen = []

    def scripted(prompts):
        seen.extend(prompts)
        return ["<think>the desk</think><action>go to desk 1</action>", "no idea"][: len(prompts)]

    policy = CausalLMPolicy(cfg, seed=0)
    monkeypatch.setattr(policy, "generate", scripted)
    actions, logps = policy.act([OBS0, OBS0], [INFO, INFO])
    assert actions == ["go to desk 1", INVALID_ACTION]
    prompts = list(seen)
    with torch.no_grad():
        expected = policy.reply_logprobs(prompts, scripted(prompts))
    assert logps == pytest.approx(expected.tolist(), abs=1e-6)
    assert len(prompts) == 2 and all(strip(p) == OBS0 for p in prompts)
    policy.act(["You arrive at desk 1."], [{**INFO, "step": 1}])
    assert "Steps taken so far: 1." in seen[-1] and "- step 1 action: go to desk 1" in seen[-1]
    # the log-prob is differentiable (a PPO update recomputes it) and sums the reply's token log-probs
    lp = policy.reply_logprobs([seen[0]], ["<action>look</action>"])
    assert lp.requires_grad


def test_bad_causal_lm_settings_are_one_clear_error():
    from proxmo_analysis.errors import InputError

    for kwargs, message in [({"dtype": "int8"}, "dtype 'int8'"), ({"device": "tpu"}, "device 'tpu'"),
                            ({"lora_r": -1}, "lora_r"), ({"mode": "beam"}, "mode='beam'"),
                            ({"temperature": 0.0}, "temperature"), ({"fallback": "guess"}, "fallback='guess'"),
                            ({"gradient_checkpointing": "yes"}, "gradient_checkpointing")]:
        with pytest.raises(InputError, match=message):
            CausalLMConfig(model_dir="x", **kwargs)


def test_generation_mode_in_the_rollout_runner_logs_reply_logprobs(tiny_lm_dir, tmp_path, monkeypatch):
    from proxmo_analysis.logs import read_log
    from proxmo_envs.rollout import rollout

    cfg = CausalLMConfig(model_dir=str(tiny_lm_dir), device="cpu", mode="generate", max_new_tokens=6)
    policy = CausalLMPolicy(cfg, seed=0)
    rollout("proxmo/WebShop-v0", {"split": "test", "max_steps": 2}, policy, tasks=1, group_size=2,
            out=tmp_path / "sampled", seed=0)
    sampled = read_log(tmp_path / "sampled")
    assert sampled.height == 4 and sampled["behavior_logprob"].is_finite().all()
    assert (sampled["behavior_logprob"] < 0).all()
    # scripted replies: every step searches; the log holds the parsed action and the reply's log-prob
    prompts, reply = [], "<think>shoes</think><action>search[running shoes]</action>"

    def scripted(batch):
        prompts.extend(batch)
        return [reply] * len(batch)

    monkeypatch.setattr(policy, "generate", scripted)
    rollout("proxmo/WebShop-v0", {"split": "test", "max_steps": 2}, policy, tasks=1, group_size=2,
            out=tmp_path / "scripted", seed=0)
    log = read_log(tmp_path / "scripted").sort("step", maintain_order=True)
    assert set(log["action"]) == {"search[running shoes]"} and not log["invalid_action"].any()
    with torch.no_grad():
        expected = sorted(policy.reply_logprobs(prompts, [reply] * len(prompts)).tolist())
    assert sorted(log["behavior_logprob"].to_list()) == pytest.approx(expected, abs=1e-4)
