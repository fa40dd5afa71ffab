"""The one policy interface: score each candidate action of a step, softmax over the candidates.

A backend only implements :meth:`CandidatePolicy.candidate_logits` (one 1-d tensor of scores per
context); everything else — sampling, greedy evaluation, log-probabilities of logged rows, entropy — is
shared here. ``act`` is what the rollout runner calls (batched, ``(observations, infos) -> (actions,
logprobs)``); ``logprobs``/``evaluate`` are what the PPO update calls.
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import torch
from torch import nn

from proxmo_analysis.policy.context import EpisodeTracker, StepContext, contexts_from_rows


def segment_log_softmax(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Log-softmax of each 1-d tensor in ``logits`` separately; returns a padded ``(B, K_max)`` tensor with
    ``-inf`` beyond each row's length."""
    if not logits:
        return torch.zeros(0, 0)
    sizes = [int(x.numel()) for x in logits]
    if min(sizes) == 0:
        raise ValueError(f"context {sizes.index(0)} has no candidate action to choose from")
    padded = nn.utils.rnn.pad_sequence(list(logits), batch_first=True, padding_value=float("-inf"))
    return torch.log_softmax(padded, dim=-1)


class CandidatePolicy(nn.Module, abc.ABC):
    """Softmax policy over each step's candidate actions.

    ``greedy=True`` makes :meth:`act` take the arg-max (evaluation); otherwise it samples with its own
    ``torch.Generator`` seeded by ``seed`` (no global random state), so a rollout is reproducible.
    """

    backend: str = "abstract"

    def __init__(self, seed: int = 0, greedy: bool = False):
        super().__init__()
        self.greedy = greedy
        self.generator = torch.Generator().manual_seed(int(seed))
        self.tracker = EpisodeTracker()

    # ---- to implement -------------------------------------------------------------------------------
    @abc.abstractmethod
    def candidate_logits(self, contexts: Sequence[StepContext]) -> list[torch.Tensor]:
        """One 1-d tensor of unnormalised scores per context, aligned with ``context.candidates``."""

    @abc.abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """Everything needed (besides the state dict) to rebuild this policy; JSON-serialisable."""

    @abc.abstractmethod
    def clone_frozen(self) -> "CandidatePolicy":
        """An independent copy with the same weights and ``requires_grad=False`` (the PPO reference)."""

    # ---- shared -------------------------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        """Reseed the sampling generator and forget every running episode."""
        self.generator.manual_seed(int(seed))
        self.tracker.clear()

    def episodic(self, greedy: bool | None = None) -> "EpisodicPolicy":
        """This policy as a per-episode step policy for the rollout runner (see :class:`EpisodicPolicy`)."""
        return EpisodicPolicy(self, greedy=greedy)

    def log_probs_all(self, contexts: Sequence[StepContext]) -> torch.Tensor:
        """``(B, K_max)`` log-probabilities of every candidate, ``-inf`` padding."""
        return segment_log_softmax(self.candidate_logits(contexts))

    def evaluate(self, contexts: Sequence[StepContext], actions: Sequence[str], return_all: bool = False):
        """``(logp, entropy)``, each of shape ``(B,)``: log π(action | context) and the entropy of π(· | context);
        with ``return_all`` also the ``(B, K_max)`` log-probabilities of every candidate (``-inf`` padding).

        Raises ValueError naming the row when an action is not among its context's candidates.
        """
        if len(contexts) != len(actions):
            raise ValueError(f"{len(contexts)} contexts but {len(actions)} actions")
        idx = []
        for i, (c, a) in enumerate(zip(contexts, actions)):
            try:
                idx.append(c.index_of(a))
            except ValueError as err:
                raise ValueError(f"row {i}: {err}") from None
        logp_all = self.log_probs_all(contexts)
        if logp_all.numel() == 0:
            return (torch.zeros(0), torch.zeros(0), logp_all) if return_all else (torch.zeros(0), torch.zeros(0))
        logp = logp_all.gather(1, torch.tensor(idx, dtype=torch.long).unsqueeze(1)).squeeze(1)
        p = logp_all.exp()
        entropy = -(p * torch.where(torch.isfinite(logp_all), logp_all, torch.zeros_like(logp_all))).sum(1)
        return (logp, entropy, logp_all) if return_all else (logp, entropy)

    def logprobs(self, rows: Any) -> torch.Tensor:
        """``(n_rows,)`` log-probabilities of the logged ``action`` of each row (with gradient).

        ``rows``: a trajectory-log DataFrame holding whole episodes (the history of a step is rebuilt
        from the earlier rows of its episode).
        """
        contexts = contexts_from_rows(rows)
        actions = [r["action"] for r in (rows.to_dicts() if hasattr(rows, "to_dicts") else rows)]
        return self.evaluate(contexts, actions)[0]

    @torch.no_grad()
    def act(self, observations: Sequence[str], infos: Sequence[dict]) -> tuple[list[str], list[float]]:
        """Pick one action per environment: ``(actions, logprobs)`` (log π of the picked action, float).

        ``infos[i]['admissible_actions']`` gives the choices; the history of each batch slot (or of
        ``info['episode_id']``) is tracked here, see :class:`~proxmo_analysis.policy.context.EpisodeTracker`.
        """
        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        contexts = [self.tracker.context(i, o, info) for i, (o, info) in enumerate(zip(observations, infos))]
        choices, logps = self.choose(contexts)
        actions = [c.candidates[k] for c, k in zip(contexts, choices)]
        for i, (o, info, a) in enumerate(zip(observations, infos, actions)):
            self.tracker.record(i, info, o, a)
        return actions, logps

    @torch.no_grad()
    def choose(self, contexts: Sequence[StepContext]) -> tuple[list[int], list[float]]:
        """Indices of the chosen candidates and their log-probabilities (sampled, or arg-max when greedy)."""
        if not contexts:
            return [], []
        logp_all = self.log_probs_all(contexts)
        if self.greedy:
            idx = logp_all.argmax(dim=1)
        else:
            idx = torch.multinomial(logp_all.exp(), 1, generator=self.generator).squeeze(1)
        logps = logp_all.gather(1, idx.unsqueeze(1)).squeeze(1)
        return [int(i) for i in idx], [float(x) for x in logps]

    def forward(self, contexts: Sequence[StepContext]) -> torch.Tensor:
        return self.log_probs_all(contexts)


class EpisodicPolicy:
    """A :class:`CandidatePolicy` seen as a per-step policy ``(observation, info) -> (action, logprob)``.

    This is the form the rollout runner drives one episode at a time: it calls ``reset(seed=...)`` at the
    start of every episode, which clears the history and reseeds sampling from the episode's own seed,
    so an episode's actions do not depend on which worker ran it or in which order. Weights are shared
    with the wrapped policy (nothing is copied).
    """

    def __init__(self, policy: CandidatePolicy, greedy: bool | None = None):
        self.policy = policy
        self.greedy = policy.greedy if greedy is None else greedy
        self.generator = torch.Generator().manual_seed(0)
        self.history: list[tuple[str, str]] = []
        self.name = f"{policy.backend}{'-greedy' if self.greedy else ''}"

    def describe(self) -> dict[str, Any]:
        return {"backend": self.policy.backend, "greedy": self.greedy, "config": self.policy.config_dict()}

    def reset(self, seed: int | None = None) -> None:
        self.history = []
        if seed is not None:
            self.generator.manual_seed(int(seed) & ((1 << 64) - 1))

    @torch.no_grad()
    def __call__(self, observation: str, info: dict) -> tuple[str, float]:
        if not isinstance(info, dict) or "admissible_actions" not in info:
            raise KeyError("info has no 'admissible_actions'; the candidate policy needs them")
        from proxmo_analysis.policy.context import make_context

        ctx = make_context(observation, info["admissible_actions"], self.history)
        logp_all = self.policy.log_probs_all([ctx])[0]
        if self.greedy:
            k = int(logp_all.argmax())
        else:
            k = int(torch.multinomial(logp_all.exp(), 1, generator=self.generator))
        action = ctx.candidates[k]
        self.history.append((observation, action))
        return action, float(logp_all[k])
