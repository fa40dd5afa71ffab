"""The language-model backend: any Hugging Face causal LM folder scores candidates by their log-likelihood.

The prompt follows the GiGPO/ProxMO (verl-agent) templates: the task, how many steps were taken, the most
recent ``history_length`` (default 2) observation/action pairs, the current observation and the
admissible actions; it ends with ``<action>``. A candidate's score is the **sum** of the log-probabilities
of its tokens followed by ``</action>`` (:data:`ACTION_CLOSE`), so the softmax over candidates is the LM's
distribution restricted to the admissible set (no free generation, no parse failures; the paper's
``<think>`` reasoning is not generated).

Everything is loaded with ``local_files_only=True``: nothing is downloaded.

GPU and memory settings (:class:`CausalLMConfig`): ``device`` (``"auto"`` = CUDA when present, else CPU),
``dtype`` (``bf16``/``fp16``/``fp32`` or torch names), ``lora_r`` > 0 wraps the model in a peft LoRA
adapter (only the adapter trains; ``pip install 'proxmo[lora]'``), ``gradient_checkpointing`` trades
compute for activation memory in the update, and scoring runs ``batch_size`` sequences per forward pass,
sorted by length so a batch carries little padding, and left-padded so that only the scored positions'
logits are computed (``logits_to_keep``; with a 150k-token vocabulary the full logits tensor would be
the largest allocation). Returned scores are on the CPU (gradients still reach the model on its device).

Generation mode (``mode="generate"``): :meth:`CausalLMPolicy.act` renders each step with the text
protocol (:func:`proxmo_envs.text.render`), samples a reply (``temperature``, at most ``max_new_tokens``,
stopping after ``</action>`` or EOS), parses its action (:func:`proxmo_envs.text.env_action`: an
unparsable reply is the env's invalid-action step) and returns the reply's log-probability
(:meth:`CausalLMPolicy.reply_logprobs`, the sum over its tokens at the sampling temperature) as the
behaviour log-prob a PPO update needs; the replies are kept in ``last_replies``.
"""

from __future__ import annotations

import copy
import inspect
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from proxmo_analysis.errors import InputError
from proxmo_analysis.policy.base import CandidatePolicy
from proxmo_analysis.policy.context import StepContext

ACTION_CLOSE = "</action>"
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
          "fp32": "float32", "float32": "float32"}
MODES = ("score", "generate")

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
    dtype: str = "float32"  # weights' dtype: bf16 | fp16 | fp32 (or bfloat16 | float16 | float32)
    device: str = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:N"
    lora_r: int = 0  # LoRA rank; 0 = train the full model
    lora_alpha: int = 16  # LoRA scaling numerator
    lora_dropout: float = 0.0
    lora_target_modules: str = "all-linear"  # peft target_modules (comma-separated names or "all-linear")
    gradient_checkpointing: bool = False  # recompute activations in the backward pass (less memory)
    mode: str = "score"  # "score" (candidate log-likelihoods) or "generate" (sample a reply, parse it)
    max_new_tokens: int = 64  # generate: reply length cap
    temperature: float = 1.0  # generate: sampling temperature (the policy is the model at this temperature)
    fallback: str = "invalid"  # generate: how a reply without <action> is read (proxmo_envs.text.parse)

    def __post_init__(self) -> None:
        from proxmo_analysis.checks import check_bool, check_choice, check_int, check_number
        from proxmo_envs.text import FALLBACKS

        if not isinstance(self.model_dir, str):
            raise InputError(f"causal_lm model_dir must be a path string, got {self.model_dir!r}")
        check_int("causal_lm history_length", self.history_length, low=0)
        for name in ("max_prompt_tokens", "max_observation_chars", "batch_size", "max_new_tokens", "lora_alpha"):
            check_int(f"causal_lm {name}", getattr(self, name), low=1)
        check_int("causal_lm lora_r", self.lora_r, low=0)
        check_number("causal_lm lora_dropout", self.lora_dropout, low=0.0, high=0.99)
        check_number("causal_lm temperature", self.temperature, low=0.0, strict=True)
        check_bool("causal_lm gradient_checkpointing", self.gradient_checkpointing)
        check_choice("causal_lm mode", self.mode, MODES)
        check_choice("causal_lm fallback", self.fallback, FALLBACKS)
        if self.dtype not in DTYPES:
            raise InputError(f"causal_lm dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu", "cuda", "mps")
                                                    or self.device.startswith("cuda:")):
            raise InputError(f"causal_lm device {self.device!r} is not auto, cpu, cuda, cuda:N or mps")
        if not isinstance(self.lora_target_modules, str) or not self.lora_target_modules.strip():
            raise InputError(f"causal_lm lora_target_modules must be a non-empty string, got {self.lora_target_modules!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, DTYPES[self.dtype])

    def resolved_device(self) -> torch.device:
        """``device`` with ``"auto"`` resolved: CUDA when torch sees a GPU, else the CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


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

            _tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            _model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=config.torch_dtype)
            _model = self._prepare(_model, config)
        self.tokenizer = _tokenizer
        self.model = _model
        self.device = next(self.model.parameters()).device
        self.model.eval()
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))
        eos = self.tokenizer.eos_token_id
        self.eos_id = None if eos is None else int(eos)
        self._cand_ids: dict[str, list[int]] = {}
        self.last_replies: list[str] = []
        self.last_reply_ids: list[list[int]] = []
        self._keeps_logits: bool | None = None  # whether the model's forward takes logits_to_keep

    @staticmethod
    def _prepare(model, config: CausalLMConfig):
        """Device, dtype, gradient checkpointing and LoRA, in that order, on a freshly loaded model."""
        model = model.to(device=config.resolved_device(), dtype=config.torch_dtype)
        if config.gradient_checkpointing:
            enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
            enable()
            model.config.use_cache = False
        if config.lora_r > 0:
            try:
                from peft import LoraConfig, get_peft_model
            except ImportError as err:
                raise InputError("causal_lm lora_r > 0 needs peft: pip install 'proxmo[lora]'") from err
            targets = config.lora_target_modules.strip()
            if targets != "all-linear":
                targets = [t.strip() for t in targets.split(",") if t.strip()]
            if config.gradient_checkpointing:
                model.enable_input_require_grads()  # checkpointed blocks need a grad-requiring input
            model = get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                                     lora_dropout=config.lora_dropout, target_modules=targets,
                                                     task_type="CAUSAL_LM"))
        return model

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
        flat = self._score_sequences(seqs)
        return list(torch.split(flat, sizes))

    def _score_sequences(self, seqs: list[tuple[list[int], int]], temperature: float = 1.0) -> torch.Tensor:
        """Sum of the log-probs of each sequence's trailing tokens, (n,) on the CPU, in input order.

        Sequences are scored ``batch_size`` at a time, sorted by length (less padding per batch)."""
        if not seqs:
            return torch.zeros(0)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]))
        parts = []
        for start in range(0, len(order), self.config.batch_size):
            chunk = order[start : start + self.config.batch_size]
            parts.append(self._score_batch([seqs[i] for i in chunk], temperature))
        scored = torch.cat(parts)
        out = torch.empty_like(scored)
        out[torch.tensor(order)] = scored
        return out

    def _score_batch(self, batch: list[tuple[list[int], int]], temperature: float = 1.0) -> torch.Tensor:
        # Left padding puts every scored token in the last `keep` columns, so only those positions' logits
        # are computed: (B, keep, vocab) instead of (B, width, vocab), the largest tensor with a big vocab.
        width = max(len(ids) for ids, _ in batch)
        keep = max(n_cand for _, n_cand in batch) + 1
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        target = torch.zeros((len(batch), width), dtype=torch.bool)
        for i, (ids, n_cand) in enumerate(batch):
            input_ids[i, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[i, width - len(ids) :] = 1
            target[i, width - n_cand :] = True
        position = (mask.cumsum(1) - 1).clamp(min=0)
        input_ids, mask, target, position = (t.to(self.device) for t in (input_ids, mask, target, position))
        logits = self._forward_last(input_ids, mask, position, keep).float()
        if temperature != 1.0:
            logits = logits / temperature
        # Token t is predicted by position t-1.
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tok_logp = logp.gather(2, input_ids[:, width - keep + 1 :].unsqueeze(-1)).squeeze(-1)
        return (tok_logp * target[:, width - keep + 1 :].to(tok_logp.dtype)).sum(dim=1).cpu()

    def _forward_last(self, input_ids, mask, position, keep: int) -> torch.Tensor:
        """Logits of the last ``keep`` positions, (B, keep, vocab)."""
        if self._keeps_logits is None:
            base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            self._keeps_logits = "logits_to_keep" in inspect.signature(base.forward).parameters
        if self._keeps_logits:
            return self.model(input_ids=input_ids, attention_mask=mask, position_ids=position,
                              logits_to_keep=keep).logits
        return self.model(input_ids=input_ids, attention_mask=mask, position_ids=position).logits[:, -keep:]

    # ---- generation mode ----------------------------------------------------------------------------
    def reply_logprobs(self, prompts: Sequence[str], replies: Sequence[str]) -> torch.Tensor:
        """``(n,)`` log π(reply | prompt): the sum of the reply's token log-probs at ``temperature`` (with
        gradient). The prompt is cut from the left to ``max_prompt_tokens``."""
        if len(prompts) != len(replies):
            raise ValueError(f"{len(prompts)} prompts but {len(replies)} replies")
        seqs = []
        for i, (prompt, reply) in enumerate(zip(prompts, replies)):
            # an empty reply is the EOS that ended it
            ids = self._encode(reply) or ([self.eos_id] if self.eos_id is not None else [])
            if not ids:
                raise ValueError(f"reply {i} is empty and the tokenizer has no EOS token to score")
            seqs.append((self._encode(prompt)[-self.config.max_prompt_tokens :] + ids, len(ids)))
        return self._score_sequences(seqs, self.config.temperature)

    @torch.no_grad()
    def generate(self, prompts: Sequence[str]) -> list[str]:
        """One sampled reply per prompt (arg-max tokens when ``greedy``), from this policy's generator.

        Stops a reply at EOS, after ``</action>`` or at ``max_new_tokens`` tokens."""
        if not prompts:
            return []
        cfg = self.config
        ids_list = [self._encode(p)[-cfg.max_prompt_tokens :] for p in prompts]
        n, width = len(ids_list), max(len(ids) for ids in ids_list)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, ids in enumerate(ids_list):  # left padding: every prompt ends at the last column
            input_ids[i, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[i, width - len(ids) :] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        position = (mask.cumsum(1) - 1).clamp(min=0)
        replies: list[list[int]] = [[] for _ in range(n)]
        done = [False] * n
        # transformers >= 5.2x names the KV cache `cache` (in and out); older releases `past_key_values`
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        cache_kw = "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
        past, step_ids, step_pos = None, input_ids, position
        for _ in range(cfg.max_new_tokens):
            out = self.model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, use_cache=True,
                             **{cache_kw: past})
            past = out[cache_kw]
            logits = out.logits[:, -1].float().cpu() / cfg.temperature
            if self.greedy:
                nxt = logits.argmax(dim=1)
            else:
                nxt = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=self.generator).squeeze(1)
            for i in range(n):
                if done[i]:
                    continue
                token = int(nxt[i])
                if token == self.eos_id:
                    done[i] = True
                    continue
                replies[i].append(token)
                if self.tokenizer.decode(replies[i][-8:]).rstrip().endswith(ACTION_CLOSE):
                    done[i] = True
            if all(done):
                break
            step_ids = nxt.to(self.device).unsqueeze(1)
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=self.device)], dim=1)
        self.last_reply_ids = replies
        return [self.tokenizer.decode(r, skip_special_tokens=True) for r in replies]

    @torch.no_grad()
    def act(self, observations: Sequence[str], infos: Sequence[dict]) -> tuple[list[str], list[float]]:
        """Candidate choice (``mode="score"``) or, with ``mode="generate"``, a sampled reply per env whose
        parsed action is returned with the reply's log-probability (see the module docstring)."""
        if self.config.mode != "generate":
            return super().act(observations, infos)
        from proxmo_envs.text import RenderConfig, env_action, render

        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        render_cfg = RenderConfig(history_length=self.config.history_length)
        prompts = []
        for i, (o, info) in enumerate(zip(observations, infos)):
            history = self.tracker.context(i, o, info).history
            prompts.append(render(o, info, history, render_cfg))
        replies = self.generate(prompts)
        logps = self.reply_logprobs(prompts, replies) if replies else torch.zeros(0)
        actions = [env_action(r, info.get("admissible_actions"), self.config.fallback)
                   for r, info in zip(replies, infos)]
        for i, (o, info, a) in enumerate(zip(observations, infos, actions)):
            self.tracker.record(i, info, o, a)
        self.last_replies = replies
        return actions, [float(x) for x in logps]
