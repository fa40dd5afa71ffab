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

from proxmo_analysis.policy.config import PPOConfig

# Everything else imports torch (and the LM backend transformers): load it on first use, so that
# `import proxmo_analysis.policy` and the CLI's `--help` stay cheap.
_LAZY = {
    "CandidatePolicy": "base", "segment_log_softmax": "base",
    "expand_candidates": "candidates", "search_queries": "candidates",
    "Checkpoint": "checkpoint", "build_policy": "checkpoint", "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "StepContext": "context", "contexts_from_rows": "context", "extract_goal": "context", "make_context": "context",
    "ppo_loss": "ppo", "ppo_update": "ppo",
    "ActionScorer": "scorer", "ScorerConfig": "scorer",
    "CausalLMPolicy": "causal_lm", "CausalLMConfig": "causal_lm", "build_prompt": "causal_lm",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'proxmo_analysis.policy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"proxmo_analysis.policy.{module}"), name)


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
