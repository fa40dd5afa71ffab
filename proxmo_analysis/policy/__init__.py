"""Policies that score each step's candidate actions, and their PPO update.

* :class:`CandidatePolicy` — the interface (softmax over candidates; ``act`` for the rollout runner,
  ``logprobs``/``evaluate`` for the update).
* :class:`ActionScorer` — small MLP over frozen MiniLM (or trainable hashed n-gram) embeddings.
* :class:`CausalLMPolicy` — any local Hugging Face causal LM, candidate log-likelihood after a prompt.
* :func:`ppo_update`, :func:`ppo_loss`, :class:`PPOConfig` — the clipped-surrogate update with k3 KL.
* :func:`save_checkpoint`, :func:`load_checkpoint`, :func:`build_policy`.

Heavy pieces (transformers) load only when a backend is built.
"""

from __future__ import annotations

from proxmo_analysis.policy.base import CandidatePolicy, segment_log_softmax
from proxmo_analysis.policy.candidates import expand_candidates, search_queries
from proxmo_analysis.policy.checkpoint import Checkpoint, build_policy, load_checkpoint, save_checkpoint
from proxmo_analysis.policy.context import StepContext, contexts_from_rows, extract_goal, make_context
from proxmo_analysis.policy.ppo import PPOConfig, ppo_loss, ppo_update
from proxmo_analysis.policy.scorer import ActionScorer, ScorerConfig


def __getattr__(name: str):
    # The LM backend imports transformers lazily; keep `import proxmo_analysis.policy` cheap.
    if name in ("CausalLMPolicy", "CausalLMConfig", "build_prompt"):
        from proxmo_analysis.policy import causal_lm

        return getattr(causal_lm, name)
    raise AttributeError(name)


__all__ = [
    "ActionScorer",
    "CandidatePolicy",
    "CausalLMConfig",
    "CausalLMPolicy",
    "Checkpoint",
    "PPOConfig",
    "ScorerConfig",
    "StepContext",
    "build_policy",
    "build_prompt",
    "contexts_from_rows",
    "expand_candidates",
    "extract_goal",
    "load_checkpoint",
    "make_context",
    "ppo_loss",
    "ppo_update",
    "save_checkpoint",
    "search_queries",
    "segment_log_softmax",
]
