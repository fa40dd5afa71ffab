"""One GRPOTrainer step with ``environment_factory`` on proxmo's WebShop, with a tiny model built here.

A random tiny model does not call the ``act`` tool, so this checks the wiring TRL 1.16 uses: it probes the
class, calls ``reset(**row)`` with each row's ``task_index`` (the prompt it returns is appended to the
row's user message), scores every rollout with ``get_reward`` (logged under the env's class name) and
takes one optimiser step. ``act`` itself is driven by scripted replies in test_integrations.py.
"""

from __future__ import annotations

import os

import pytest
import torch

from proxmo_envs.text import strip

pytestmark = pytest.mark.slow


def tiny_chat_model():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from trl.chat_template_utils import qwen2_5_chat_template

    corpus = ["You are shopping for a customer in the WebShop online store", "search[red shoes] click[buy now]",
              '<tool_call> {"name": "act", "arguments": {"action": "look"}} </tool_call>', "system user assistant"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(corpus * 5, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<|im_end|>", padding_side="left")
    fast.chat_template = qwen2_5_chat_template  # a tool-calling template TRL knows how to parse
    config = LlamaConfig(vocab_size=fast.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id, bos_token_id=None)
    torch.manual_seed(0)  # weight init of a test fixture
    return LlamaForCausalLM(config), fast


def test_one_grpo_step_with_environment_factory(tmp_path, monkeypatch):
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from proxmo_envs.integrations.trl import dataset_rows, environment_factory

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    model, tokenizer = tiny_chat_model()
    env_cls = environment_factory("webshop", split="test")
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=8, max_steps=1, use_cpu=True, report_to="none", save_strategy="no",
                      logging_steps=1, bf16=False, max_tool_calling_iterations=2)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=args, environment_factory=env_cls,
                          train_dataset=Dataset.from_list(dataset_rows("webshop", tasks=2, split="test")))
    assert [t.__name__ for t in trainer.tools] == ["act"]
    trainer.train()
    assert trainer.state.global_step == 1
    logged = trainer.state.log_history[0]
    assert "rewards/WebShopEnvironment/mean" in logged and logged["num_tokens"] > 0
    pool = trainer._environment_pool[None]
    started = [env for env in pool if env._started]
    assert started, "reset was never called"
    for env in started:
        assert env._session.info["task_index"] in (0, 1)  # the rows carry task_index 0 and 1
        assert env.metadata["task_id"] is not None and strip(env._session.prompt()) == env._session.observation
    assert os.environ["TRL_EXPERIMENTAL_SILENCE"] == "1"
