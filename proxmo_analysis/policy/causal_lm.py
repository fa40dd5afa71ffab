"""The language-model backend: any Hugging Face causal LM folder scores candidates by their log-likelihood.

The prompt follows the GiGPO/ProxMO (verl-agent) templates: the task, how many steps were taken, the most
recent ``history_length`` (default 2) observation/action pairs, the current observation and the
admissible actions; it ends with ``<action>``. A candidate's score is the **sum** of the log-probabilities
of its tokens followed by ``</action>`` (:data:`ACTION_CLOSE`), so the softmax over candidates is the LM's
distribution restricted to the admissible set (no free generation, no parse failures; the paper's
``<think>`` reasoning is not generated).

Everything is loaded with ``local_files_only=True``: nothing is downloaded.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from proxmo_analysis.errors import InputError
from proxmo_analysis.policy.base import CandidatePolicy
from proxmo_analysis.policy.context import StepContext

ACTION_CLOSE = "</action>"

WEBSHOP_INTRO = "You are an expert autonomous agent operating in the WebShop e-commerce game."
ALFWORLD_INTRO = "You are an expert agent operating in the ALFRED Embodied Environment."


@dataclass
class CausalLMConfig:
    """Configuration of :class:`CausalLMPolicy`."""

    model_dir: str = ""  # a local Hugging Face model folder (config, weights, tokenizer)
    history_length: int = 2  # observation/action pairs shown in the prompt
    max_prompt_tokens: int = 1024  # longer prompts are cut from the left
    max_observation_chars: int = 2000  # each observation in the prompt is cut to this many characters
    batch_size: int = 16  # (prompt + candidate) sequences per forward pass
    dtype: str = "float32"  # torch dtype the weights are loaded in

    def __post_init__(self) -> None:
        from proxmo_analysis.checks import check_int

        if not isinstance(self.model_dir, str):
            raise InputError(f"causal_lm model_dir must be a path string, got {self.model_dir!r}")
        check_int("causal_lm history_length", self.history_length, low=0)
        for name in ("max_prompt_tokens", "max_observation_chars", "batch_size"):
            check_int(f"causal_lm {name}", getattr(self, name), low=1)
        if not isinstance(self.dtype, str) or not isinstance(getattr(torch, self.dtype, None), torch.dtype):
            raise InputError(f"causal_lm dtype {self.dtype!r} is not a torch dtype (e.g. float32, bfloat16)")


def build_prompt(ctx: StepContext, history_length: int = 2, max_observation_chars: int = 2000) -> str:
    """The verl-agent style prompt for one step (see the module docstring)."""

    def cut(text: str) -> str:
        return text if len(text) <= max_observation_chars else text[:max_observation_chars] + " ..."

    webshop = "[SEP]" in ctx.observation
    intro = WEBSHOP_INTRO if webshop else ALFWORLD_INTRO
    lines = [intro, f"Your task is to: {ctx.goal.rstrip('. ')}." if ctx.goal else ""]
    n = len(ctx.history)
    if n and history_length > 0:
        recent = ctx.history[-history_length:]
        first = n - len(recent) + 1
        shown = " ".join(
            f"[Observation {first + k}: '{cut(o)}', Action {first + k}: '{a}']" for k, (o, a) in enumerate(recent)
        )
        lines.append(
            f"Prior to this step, you have already taken {n} step(s). Below are the most recent {len(recent)} "
            f"observations and the corresponding actions you took: {shown}"
        )
    lines.append(f"You are now at step {n + 1} and your current observation is: {cut(ctx.observation)}.")
    actions = ",\n".join(f"'{a}'" for a in ctx.candidates)
    lines.append(f"Your admissible actions of the current situation are: [\n{actions}\n].")
    lines.append(
        "Now it's your turn to take one action for the current step. Choose an admissible action and "
        "present it within <action> </action> tags."
    )
    return "\n".join(line for line in lines if line) + "\n<action>"


class CausalLMPolicy(CandidatePolicy):
    """Candidate scoring by a causal LM's log-likelihood (see the module docstring)."""

    backend = "causal_lm"

    def __init__(self, config: CausalLMConfig, seed: int = 0, greedy: bool = False, _model=None, _tokenizer=None):
        super().__init__(seed=seed, greedy=greedy)
        self.config = config
        if _model is None:
            model_dir = Path(config.model_dir)
            if not config.model_dir or not model_dir.is_dir():
                raise FileNotFoundError(f"causal LM folder not found: {config.model_dir!r}")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers import AutoModelForCausalLM, AutoTokenizer

            dtype = getattr(torch, config.dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"CausalLMConfig.dtype {config.dtype!r} is not a torch dtype")
            _tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            _model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=dtype)
        self.tokenizer = _tokenizer
        self.model = _model
        self.model.eval()
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))
        self._cand_ids: dict[str, list[int]] = {}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def clone_frozen(self) -> "CausalLMPolicy":
        twin = CausalLMPolicy(
            self.config, greedy=self.greedy, _model=copy.deepcopy(self.model), _tokenizer=self.tokenizer
        )
        for p in twin.parameters():
            p.requires_grad_(False)
        return twin

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def candidate_logits(self, contexts: Sequence[StepContext]) -> list[torch.Tensor]:
        seqs: list[tuple[list[int], int]] = []  # (token ids, number of trailing candidate tokens)
        sizes = []
        for ctx in contexts:
            prompt = self._encode(build_prompt(ctx, self.config.history_length, self.config.max_observation_chars))
            prompt = prompt[-self.config.max_prompt_tokens :]
            sizes.append(len(ctx.candidates))
            for action in ctx.candidates:
                ids = self._cand_ids.get(action)
                if ids is None:
                    ids = self._cand_ids[action] = self._encode(action + ACTION_CLOSE)
                if not ids:
                    raise ValueError(f"candidate {action!r} encodes to no token")
                seqs.append((prompt + ids, len(ids)))
        scores = []
        for start in range(0, len(seqs), self.config.batch_size):
            scores.append(self._score_batch(seqs[start : start + self.config.batch_size]))
        flat = torch.cat(scores) if scores else torch.zeros(0)
        return list(torch.split(flat, sizes))

    def _score_batch(self, batch: list[tuple[list[int], int]]) -> torch.Tensor:
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        target = torch.zeros((len(batch), width), dtype=torch.bool)
        for i, (ids, n_cand) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[i, : len(ids)] = 1
            target[i, len(ids) - n_cand : len(ids)] = True
        logits = self.model(input_ids=input_ids, attention_mask=mask).logits.float()
        # Token t is predicted by position t-1.
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tok_logp = logp.gather(2, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        return (tok_logp * target[:, 1:].to(tok_logp.dtype)).sum(dim=1)
