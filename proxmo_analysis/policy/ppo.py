"""PPO update over logged, scored rows (credit-assignment spec §4.3).

Per row ``i`` with advantage ``A_i``, behaviour log-probability ``b_i`` (logged by the acting policy),
current log-probability ``l_i`` and frozen-reference log-probability ``r_i``::

    ratio_i = exp(l_i − b_i)
    surr_i  = min(ratio_i · A_i, clip(ratio_i, 1 − ε, 1 + ε) · A_i)
    kl_i    = clamp(exp(d_i) − d_i − 1, −10, 10),  d_i = clamp(r_i − l_i, −20, 20)
    loss    = −mean(surr) + β_KL · mean(kl) − c_H · mean(entropy)

with ε = 0.2 and β_KL = 0.01 (the reference setup), c_H = 0 by default. ``kl_i`` is verl's ``low_var_kl``
(k3, an unbiased, ≥ 0 estimate of KL(π_θ ‖ π_ref) from the sampled action), clamped per sample as verl's
``core_algos.kl_penalty`` does: without the clamp one row whose action the reference finds unlikely
dominates the batch (k3 reached ≈ 8,600 in one update of a peaked behaviour-cloned policy).
``PPOConfig.kl_estimator="exact"`` replaces the estimate by the exact KL over the step's candidate softmax,
``Σ_k π_θ(k) (log π_θ(k) − log π_ref(k))`` — cheap here, since a step has tens of candidates, not a vocabulary.
The policy is a softmax over a step's candidate actions, so "tokens" are whole actions: one row, one term.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from proxmo_analysis.errors import InputKeyError
from proxmo_analysis.policy.base import CandidatePolicy
from proxmo_analysis.policy.config import PPOConfig
from proxmo_analysis.policy.context import contexts_from_rows

REQUIRED = ("episode_id", "step", "observation", "action", "admissible_actions", "advantage")
KL_ESTIMATORS = ("k3", "exact")


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor, clamp: float | None = 10.0) -> torch.Tensor:
    """Per-row k3 estimate ``exp(d) − d − 1`` with ``d = ref_logp − logp`` (shape ``(n,)``), as verl's
    ``low_var_kl``: ``d`` clamped to ±20 for stability, the result to ±``clamp`` (None: unclamped)."""
    delta = torch.clamp(ref_logp - logp, min=-20.0, max=20.0)
    kld = torch.exp(delta) - delta - 1.0
    return kld if clamp is None else torch.clamp(kld, min=-clamp, max=clamp)


def exact_kl(logp_all: torch.Tensor, ref_logp_all: torch.Tensor) -> torch.Tensor:
    """Per-row KL(π_θ ‖ π_ref) over each row's candidates: ``(B, K_max)`` log-probabilities padded with
    ``-inf`` (both with the same padding) → ``(B,)``."""
    if logp_all.shape != ref_logp_all.shape:
        raise ValueError(f"shape mismatch: {tuple(logp_all.shape)} vs {tuple(ref_logp_all.shape)}")
    valid = torch.isfinite(logp_all) & torch.isfinite(ref_logp_all)
    diff = torch.where(valid, logp_all - ref_logp_all, torch.zeros_like(logp_all))
    p = torch.where(valid, logp_all.exp(), torch.zeros_like(logp_all))
    return (p * diff).sum(1)


def episode_weights(episode_ids: Sequence[str]) -> torch.Tensor:
    """``(n,)`` row weights ``1 / (rows of the row's episode)`` for ``loss_agg="episode"``: every episode of
    the batch then weighs the same in the loss, however many steps it took. Why: under GRPO the advantages
    of a group sum to zero over its *episodes*, but with every row weighing the same (``"row"``) a group's
    long failed episodes (up to the step cap) outweigh its short wins, so the update's net effect is to push
    down the actions the policy took — on sparse-win ALFWorld this raised the entropy instead of learning
    (docs/training.md, "Loss aggregation")."""
    length: dict[str, int] = {}
    for e in episode_ids:
        length[e] = length.get(e, 0) + 1
    return torch.tensor([1.0 / length[e] for e in episode_ids], dtype=torch.float32)


def ppo_loss(
    logp: torch.Tensor,
    behavior_logp: torch.Tensor,
    advantages: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
    clip_eps: float = 0.2,
    kl_coef: float = 0.01,
    entropy_coef: float = 0.0,
    kl_clamp: float | None = 10.0,
    kl_rows: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The scalar PPO loss (to minimise) of a batch and its diagnostics.

    All tensors have shape ``(n,)``; ``logp`` carries the gradient. The KL term is the mean of
    ``kl_rows`` when given (e.g. :func:`exact_kl`, with gradient), else of :func:`k3_kl` of ``logp`` and
    ``ref_logp`` clamped to ±``kl_clamp``. ``weights`` (``(n,)``, ≥ 0; None: all equal) turn every mean into
    the weighted mean ``Σ w·x / Σ w`` (``loss_agg="episode"``: ``w = 1 / episode length``). Returns ``(loss, stats)`` with stats ``pg_loss``, ``kl``,
    ``entropy``, ``clip_frac`` (share of rows whose ratio left [1−ε, 1+ε]) and ``ratio_mean``.
    """
    if not (logp.shape == behavior_logp.shape == advantages.shape):
        raise ValueError(
            f"shape mismatch: logp {tuple(logp.shape)}, behavior {tuple(behavior_logp.shape)}, "
            f"advantages {tuple(advantages.shape)}"
        )
    ratio = torch.exp(logp - behavior_logp)
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surr = torch.minimum(ratio * advantages, clipped * advantages)
    if weights is None:
        mean = torch.mean
    else:
        if weights.shape != logp.shape:
            raise ValueError(f"shape mismatch: weights {tuple(weights.shape)}, logp {tuple(logp.shape)}")
        w = weights / weights.sum()

        def mean(x: torch.Tensor) -> torch.Tensor:
            return (w * x).sum()
    pg_loss = -mean(surr)
    loss = pg_loss
    kl = torch.zeros(())
    if kl_coef != 0.0 and (kl_rows is not None or ref_logp is not None):
        kl = mean(kl_rows if kl_rows is not None else k3_kl(logp, ref_logp, kl_clamp))
        loss = loss + kl_coef * kl
    ent = mean(entropy) if entropy is not None else torch.zeros(())
    if entropy is not None and entropy_coef != 0.0:
        loss = loss - entropy_coef * ent
    with torch.no_grad():
        clip_frac = ((ratio < 1.0 - clip_eps) | (ratio > 1.0 + clip_eps)).float().mean()
    stats = {
        "pg_loss": float(pg_loss.detach()),
        "kl": float(kl.detach()),
        "entropy": float(ent.detach()),
        "clip_frac": float(clip_frac),
        "ratio_mean": float(ratio.detach().mean()),
    }
    return loss, stats


def make_optimizer(policy: CandidatePolicy, config: PPOConfig) -> torch.optim.Adam:
    params = [p for p in policy.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the policy has no trainable parameter")
    return torch.optim.Adam(params, lr=config.lr)


def ppo_update(
    policy: CandidatePolicy,
    rows: Any,
    config: PPOConfig | None = None,
    ref_policy: CandidatePolicy | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, float]:
    """Run ``config.epochs`` passes of mini-batch PPO over scored trajectory-log rows; returns mean stats.

    ``rows``: a polars DataFrame of whole episodes with the log columns plus ``advantage`` (from
    ``proxmo_analysis.score``) and ``behavior_logprob``. ``ref_policy``: the frozen reference for the KL
    term (None: no KL term). ``optimizer``: reused across calls to keep Adam's moments (a fresh one
    otherwise).
    """
    config = config or PPOConfig()
    if config.kl_estimator not in KL_ESTIMATORS:
        raise ValueError(f"PPOConfig.kl_estimator must be one of {KL_ESTIMATORS}, got {config.kl_estimator!r}")
    if config.missing_behavior not in ("error", "current"):
        raise ValueError(f"PPOConfig.missing_behavior must be 'error' or 'current', got {config.missing_behavior!r}")
    columns = set(getattr(rows, "columns", []))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputKeyError(f"the rows lack column(s) {missing}; score the run first (proxmo_analysis.score)")
    n = len(rows)
    if n == 0:
        raise ValueError("no rows to update on")
    contexts = contexts_from_rows(rows)
    actions = rows["action"].to_list()
    adv = torch.tensor(rows["advantage"].cast(float).fill_null(float("nan")).to_numpy(), dtype=torch.float32)
    if torch.isnan(adv).any():
        first = int(torch.nonzero(torch.isnan(adv))[0])
        raise ValueError(f"row {first} (episode {rows['episode_id'][first]!r}) has a null or NaN advantage")
    if "behavior_logprob" in columns:
        beh = rows["behavior_logprob"].cast(float).fill_null(float("nan")).to_numpy().astype(np.float32)
    else:
        beh = np.full(n, np.nan, dtype=np.float32)
    nan_rows = np.flatnonzero(np.isnan(beh))
    if nan_rows.size:
        if config.missing_behavior == "error":
            i = int(nan_rows[0])
            raise ValueError(
                f"{nan_rows.size} row(s) have no behavior_logprob (first: row {i}, episode "
                f"{rows['episode_id'][i]!r}); log them from the acting policy, or set missing_behavior='current'"
            )
        with torch.no_grad():
            cur = policy.evaluate([contexts[i] for i in nan_rows], [actions[i] for i in nan_rows])[0]
        beh[nan_rows] = cur.numpy()
    beh_t = torch.tensor(beh, dtype=torch.float32)
    weights = None
    if config.loss_agg == "episode":
        weights = episode_weights(rows["episode_id"].cast(str).to_list())
    ref_all = None
    exact = ref_policy is not None and config.kl_coef != 0.0 and config.kl_estimator == "exact"
    if ref_policy is not None and config.kl_coef != 0.0 and not exact:
        with torch.no_grad():
            ref_all = _batched_eval(ref_policy, contexts, actions, config.minibatch_size)

    optimizer = optimizer or make_optimizer(policy, config)
    rng = np.random.default_rng(config.seed)
    policy.train()
    totals: dict[str, float] = {}
    steps = 0
    for _ in range(config.epochs):
        order = rng.permutation(n)
        for start in range(0, n, config.minibatch_size):
            idx = order[start : start + config.minibatch_size]
            batch_ctx = [contexts[i] for i in idx]
            kl_rows = None
            if exact:
                logp, entropy, logp_all = policy.evaluate(batch_ctx, [actions[i] for i in idx], return_all=True)
                with torch.no_grad():
                    ref_logp_all = ref_policy.log_probs_all(batch_ctx)
                kl_rows = exact_kl(logp_all, ref_logp_all)
            else:
                logp, entropy = policy.evaluate(batch_ctx, [actions[i] for i in idx])
            it = torch.as_tensor(idx, dtype=torch.long)
            loss, stats = ppo_loss(
                logp,
                beh_t[it],
                adv[it],
                ref_logp=None if ref_all is None else ref_all[it],
                entropy=entropy,
                clip_eps=config.clip_eps,
                kl_coef=config.kl_coef,
                entropy_coef=config.entropy_coef,
                kl_clamp=config.kl_clamp,
                kl_rows=kl_rows,
                weights=None if weights is None else weights[it],
            )
            optimizer.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for p in policy.parameters() if p.requires_grad], config.max_grad_norm
            )
            optimizer.step()
            stats["loss"] = float(loss.detach())
            stats["grad_norm"] = float(grad_norm)
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v
            steps += 1
    policy.eval()
    out = {k: v / steps for k, v in totals.items()}
    out["rows"] = float(n)
    out["optimizer_steps"] = float(steps)
    if not all(math.isfinite(v) for v in out.values()):
        raise FloatingPointError(f"non-finite PPO statistics {out}")
    return out


def _batched_eval(policy: CandidatePolicy, contexts, actions, size: int) -> torch.Tensor:
    parts = [policy.evaluate(contexts[i : i + size], actions[i : i + size])[0] for i in range(0, len(contexts), size)]
    return torch.cat(parts) if parts else torch.zeros(0)
