"""Warm start by behaviour cloning: fit a candidate policy to expert walkthroughs before RL.

A policy that starts uniform over ALFWorld's admissible actions never wins within the step cap, so every
group advantage is zero and no credit method can learn. The paper starts from an instruct LLM with priors;
our equivalent is to clone the expert ``info["walkthrough"]`` of TRAIN-split games: the rollout runner plays
each game with the built-in ``walkthrough`` policy, :func:`proxmo_analysis.read_log` reads the run back, and
the policy is fitted by cross-entropy over each step's candidates (``policy.logprobs(rows)``). Only won
episodes are cloned. Everything is deterministic from ``seed`` (game order, mini-batch order).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch


def collect_expert_rows(env_id: str, env_kwargs: dict[str, Any], tasks: Sequence[int], out: str | Path,
                        seed: int = 0, max_steps: int | None = None, workers: int = 1):
    """Play each task index of ``tasks`` once with the ``walkthrough`` policy into run folder ``out``; return
    the trajectory-log rows (polars DataFrame) of the WON episodes only (the expert demonstrations)."""
    import polars as pl

    from proxmo_analysis.logs import read_log
    from proxmo_envs.rollout import rollout

    rollout(env_id, env_kwargs, "walkthrough", list(tasks), 1, out, workers=workers, seed=seed, max_steps=max_steps)
    df = read_log(out)
    won = df.filter(pl.col("won")).get_column("episode_id").unique()
    return df.filter(pl.col("episode_id").is_in(won.implode()))


def fit_rows(policy, rows, epochs: int = 10, lr: float = 3e-3, batch_episodes: int = 8, seed: int = 0) -> list[float]:
    """Behaviour cloning on logged ``rows`` (whole episodes): minimise the mean of ``-log π(action | context)``
    with Adam over mini-batches of ``batch_episodes`` episodes, shuffled per epoch by ``seed``.
    Returns the mean loss (nats per step) of each epoch."""
    import polars as pl

    if epochs < 0 or batch_episodes < 1:
        raise ValueError(f"behaviour cloning: epochs must be >= 0 and batch_episodes >= 1, got {epochs}, {batch_episodes}")
    episodes = sorted(rows.get_column("episode_id").unique().to_list())
    if not episodes:
        raise ValueError("behaviour cloning: no won expert episode to clone")
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = [episodes[i] for i in rng.permutation(len(episodes))]
        total, n = 0.0, 0
        for start in range(0, len(order), batch_episodes):
            batch = rows.filter(pl.col("episode_id").is_in(order[start:start + batch_episodes]))
            batch = batch.sort(["episode_id", "step"])
            nll = -policy.logprobs(batch)
            loss = nll.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(nll.detach().sum())
            n += int(nll.numel())
        losses.append(total / max(n, 1))
    return losses


def behaviour_clone(policy, env_id: str, env_kwargs: dict[str, Any], tasks: Sequence[int], epochs: int = 10,
                    lr: float = 3e-3, batch_episodes: int = 8, seed: int = 0, out: str | Path | None = None,
                    max_steps: int | None = None, workers: int = 1) -> dict[str, Any]:
    """Warm-start ``policy`` in place by cloning the walkthroughs of the train-split task indices ``tasks``.

    ``out``: the run folder of the expert rollouts (default: a temporary folder, removed after).
    Returns ``{"games", "expert_episodes", "expert_steps", "losses"}`` (losses: nats/step per epoch)."""
    if out is None:
        with tempfile.TemporaryDirectory(prefix="proxmo-bc-") as tmp:
            return behaviour_clone(policy, env_id, env_kwargs, tasks, epochs, lr, batch_episodes, seed,
                                   Path(tmp) / "expert", max_steps, workers)
    rows = collect_expert_rows(env_id, env_kwargs, tasks, out, seed=seed, max_steps=max_steps, workers=workers)
    losses = fit_rows(policy, rows, epochs=epochs, lr=lr, batch_episodes=batch_episodes, seed=seed)
    return {
        "games": len(tasks),
        "expert_episodes": int(rows.get_column("episode_id").n_unique()),
        "expert_steps": int(rows.height),
        "losses": losses,
    }
