"""Warm start by behaviour cloning: fit a candidate policy to expert walkthroughs before RL.

A policy that starts uniform over ALFWorld's admissible actions never wins within the step cap, so every
group advantage is zero and no credit method can learn. The paper starts from an instruct LLM with priors;
our equivalent is to clone the expert ``info["walkthrough"]`` of TRAIN-split games: the rollout runner plays
each game with the built-in ``walkthrough`` policy, :func:`proxmo_analysis.read_log` reads the run back, and
the policy is fitted by cross-entropy over each step's candidates (``policy.logprobs(rows)``). Only won
episodes are cloned. Everything is deterministic from ``seed`` (game order, mini-batch order).

**Recovery states** (``recovery_rounds > 0``, DAgger-style): a policy cloned on walkthroughs only has never
seen a state off the expert's path, so one wrong step at evaluation leaves it lost. Each round rolls the
cloned policy out (sampling) on the same games and labels every state it reaches with the expert's
continuation from that state, then refits on walkthroughs plus all labelled states so far. The label comes
from :func:`repair_action`, an exact continuation for the states it labels: while the policy's deviations
only moved it (``go to``) or changed nothing (``look``, ``inventory``, ``examine``), the world is the
walkthrough's world with the agent elsewhere, so the continuation is the walkthrough's next step, preceded
by ``go to`` the receptacle that step needs. At the first deviation that changes the world (opening,
taking, ...) labelling of that episode stops. (TextWorld's re-planner, ``policy_commands``, gives the same
continuation for any state but took ~5 s per state here, 100x the cost of a step.)
"""

from __future__ import annotations

import tempfile
import zlib
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


_GO_TO = "go to "
_NO_CHANGE = ("look", "inventory")


def _is_static(action: str) -> bool:
    """An ALFWorld command that changes nothing in the world (it only prints)."""
    return action in _NO_CHANGE or action.startswith("examine ")


def repair_action(walkthrough: Sequence[str], progress: int, location: str | None) -> str | None:
    """The expert's next command when the first ``progress`` walkthrough steps are done and the agent stands
    at ``location`` (the target of its last ``go to``; None: where the game started) after deviations that
    only moved it or changed nothing. None when the walkthrough is finished.

    The walkthrough's next step if it is a ``go to`` (reachable from anywhere) or the agent is where the
    walkthrough would be; otherwise ``go to`` the walkthrough's location first."""
    if progress >= len(walkthrough):
        return None
    nxt = walkthrough[progress]
    if nxt.startswith(_GO_TO):
        return nxt
    expected = next((a[len(_GO_TO):] for a in reversed(walkthrough[:progress]) if a.startswith(_GO_TO)), None)
    if expected is not None and location != expected:
        return _GO_TO + expected
    return nxt


@torch.no_grad()
def recovery_pairs(policy, env_id: str, env_kwargs: dict[str, Any], tasks: Sequence[int], seed: int = 0,
                   max_steps: int | None = None) -> tuple[list, list[str], dict[str, int]]:
    """Roll ``policy`` out once (sampling) on each train task index of ``tasks`` and label the states it
    reaches with :func:`repair_action`; returns ``(contexts, labels, stats)`` with stats ``episodes``,
    ``states`` (labelled), ``off_path`` (labelled states where the label differs from the walkthrough's next
    step or the policy had deviated before) and ``stopped`` (episodes whose labelling stopped at a
    world-changing deviation)."""
    import gymnasium as gym

    import proxmo_envs  # noqa: F401  (registers the ids)
    from proxmo_analysis.policy.context import make_context

    contexts, labels = [], []
    stats = {"episodes": 0, "states": 0, "off_path": 0, "stopped": 0}
    env = gym.make(env_id, **env_kwargs)
    gen = torch.Generator()
    try:
        for k, task in enumerate(tasks):
            obs, info = env.reset(options={"task_index": int(task)})
            walkthrough = [str(a) for a in info.get("walkthrough") or []]
            if not walkthrough:
                raise ValueError(f"recovery states: task {task} of {env_id} has no walkthrough to repair")
            gen.manual_seed(zlib.crc32(f"{seed}-{k}-{task}".encode()))
            stats["episodes"] += 1
            progress, location, deviated, history = 0, None, False, []
            for _ in range(max_steps or 50):
                label = repair_action(walkthrough, progress, location)
                ctx = make_context(obs, info["admissible_actions"], history)
                if label is None or label not in ctx.candidates:
                    break
                contexts.append(ctx)
                labels.append(label)
                stats["states"] += 1
                stats["off_path"] += int(deviated or label != walkthrough[progress])
                logp = policy.log_probs_all([ctx])[0]
                action = ctx.candidates[int(torch.multinomial(logp.exp(), 1, generator=gen))]
                if action == label and label == walkthrough[progress]:
                    progress += 1
                elif not (action.startswith(_GO_TO) or _is_static(action)):
                    stats["stopped"] += 1
                    break  # the world left the walkthrough's: no exact label without a planner
                else:
                    deviated = deviated or action != label
                if action.startswith(_GO_TO):
                    location = action[len(_GO_TO):]
                history.append((obs, action))
                obs, _r, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
    finally:
        env.close()
    return contexts, labels, stats


def fit_pairs(policy, contexts: Sequence, labels: Sequence[str], epochs: int = 10, lr: float = 3e-3,
              batch_size: int = 64, seed: int = 0) -> list[float]:
    """Cross-entropy fit of ``policy`` to ``labels[i]`` in ``contexts[i]`` with Adam over shuffled
    mini-batches of ``batch_size`` states; returns the mean loss (nats per state) of each epoch."""
    if len(contexts) != len(labels) or not contexts:
        raise ValueError(f"fit_pairs: {len(contexts)} contexts and {len(labels)} labels (need equal, > 0)")
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        total = 0.0
        order = rng.permutation(len(contexts))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            nll = -policy.evaluate([contexts[i] for i in idx], [labels[i] for i in idx])[0]
            loss = nll.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(nll.detach().sum())
        losses.append(total / len(contexts))
    return losses


def behaviour_clone(policy, env_id: str, env_kwargs: dict[str, Any], tasks: Sequence[int], epochs: int = 10,
                    lr: float = 3e-3, batch_episodes: int = 8, seed: int = 0, out: str | Path | None = None,
                    max_steps: int | None = None, workers: int = 1, recovery_rounds: int = 0) -> dict[str, Any]:
    """Warm-start ``policy`` in place by cloning the walkthroughs of the train-split task indices ``tasks``,
    then ``recovery_rounds`` rounds of recovery states (see the module docstring; each refits ``epochs``
    epochs on walkthroughs plus every labelled state so far).

    ``out``: the run folder of the expert rollouts (default: a temporary folder, removed after).
    Returns ``{"games", "expert_episodes", "expert_steps", "losses", "recovery"}`` (losses: nats/step per
    epoch of the walkthrough fit; recovery: per round the :func:`recovery_pairs` stats and final loss)."""
    if out is None:
        with tempfile.TemporaryDirectory(prefix="proxmo-bc-") as tmp:
            return behaviour_clone(policy, env_id, env_kwargs, tasks, epochs, lr, batch_episodes, seed,
                                   Path(tmp) / "expert", max_steps, workers, recovery_rounds)
    rows = collect_expert_rows(env_id, env_kwargs, tasks, out, seed=seed, max_steps=max_steps, workers=workers)
    losses = fit_rows(policy, rows, epochs=epochs, lr=lr, batch_episodes=batch_episodes, seed=seed)
    recovery = []
    if recovery_rounds:
        from proxmo_analysis.policy.context import contexts_from_rows

        rows = rows.sort(["episode_id", "step"])
        contexts, labels = contexts_from_rows(rows), rows["action"].to_list()
        for r in range(recovery_rounds):
            ctx_r, lab_r, stats = recovery_pairs(policy, env_id, env_kwargs, tasks, seed=seed + 1 + r,
                                                 max_steps=max_steps)
            contexts += ctx_r
            labels += lab_r
            fit = fit_pairs(policy, contexts, labels, epochs=epochs, lr=lr, seed=seed + 1 + r)
            recovery.append({**stats, "loss": fit[-1] if fit else None})
    return {
        "games": len(tasks),
        "expert_episodes": int(rows.get_column("episode_id").n_unique()),
        "expert_steps": int(rows.height),
        "losses": losses,
        "recovery": recovery,
    }
