"""The rollout runner: N episodes per task of a ``proxmo/*`` env into one crash-safe run folder.

``rollout(env_id, env_kwargs, policy, tasks, group_size, out, workers=1, seed=0, iteration=0, ...)``
returns a ``RolloutSummary``; ``run_episodes(RolloutJob)`` is the backend-neutral unit of work.
"""

from __future__ import annotations

from .plan import EpisodeSpec, episode_seeds, plan_episodes
from .policies import (
    POLICY_NAMES,
    NoisyWalkthroughPolicy,
    OraclePolicy,
    RandomPolicy,
    WalkthroughPolicy,
    make_policy,
)
from .runner import SEED_RULE, rollout
from .summary import RolloutSummary, summarize_run
from .worker import JobResult, RolloutJob, run_episodes

__all__ = [
    "rollout",
    "RolloutSummary",
    "summarize_run",
    "RolloutJob",
    "JobResult",
    "run_episodes",
    "EpisodeSpec",
    "episode_seeds",
    "plan_episodes",
    "SEED_RULE",
    "POLICY_NAMES",
    "RandomPolicy",
    "WalkthroughPolicy",
    "OraclePolicy",
    "NoisyWalkthroughPolicy",
    "make_policy",
]
