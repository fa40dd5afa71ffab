"""Estimators where verl-style trainers look for them, computed by proxmo's per-group kernels.

Drop-in functions with the signatures and return values of verl-agent (``gigpo/core_gigpo.py``) and of
the ProxMO release (``proxmo/core_proxmo.py``, a verl-agent fork); torch tensors in and out::

    from proxmo_analysis.integrations.verl import compute_proxmo_outcome_advantage
    advantages, returns = compute_proxmo_outcome_advantage(
        token_level_rewards, step_rewards, response_mask, anchor_obs, index, traj_index,
        mode="soft_grouping", enable_psc=True, psc_alpha=4.0, psc_beta=0.2164)

Inputs (bs = step rows of the batch, L = response length):
    token_level_rewards: (bs, L) float tensor; its row sum is the row's episode score (10 * won - 0.1 on an
        invalid action, in the release's scripts).
    step_rewards: (bs,) float tensor, the row's discounted return R_t.
    response_mask: (bs, L) tensor, 1 on response tokens.
    anchor_obs: (bs,) array of the raw environment observations (not prompts).
    index: (bs,) array of task-group uids; traj_index: (bs,) array of trajectory uids.
Returns ``(scores, scores)``, each (bs, L) float32 on the rewards' device: the row's advantage
``A_E + step_advantage_w * A_S`` on every response token (0 where the mask is 0). With
``return_components=True`` (ProxMO only): ``(episode_advantages, step_advantages)``, each (bs, L).

``mode``: ``"mean_norm"`` (no std), ``"mean_std_norm"`` (divide by the sample std + epsilon) or, for
ProxMO, ``"soft_grouping"`` (PSA: TF-IDF soft baselines over the group's rows, temperature 0.1, 1024
features). ``enable_similarity`` groups anchors by ``difflib`` ratio >= ``similarity_thresh`` instead of
exact match (the non-soft modes). ``enable_psc`` weights the episode part by PSC (``psc_alpha``,
``psc_beta``; a row succeeds when its score > 0.5, ``p`` is the group's row-mean score clamped to [0, 1]).

``variant="reference"`` (the default) reproduces the release number for number (its statistics run
over a group's step rows, float32 reductions). ``variant="paper"`` uses the paper's formulas instead:
episode statistics over trajectories (each once), population std, ``p`` = the group's success rate,
PSA candidates at the same step index (a row's step = its rank inside its trajectory, in batch order,
which is step order in verl-agent's batches) and no TF-IDF feature cap.

Unlike the release, nothing here is (bs x bs): work is per task group, so 10^5 rows run in seconds
(``benchmarks/verl_estimators.py``).

``register()`` adds ``proxmo_psc`` to verl's advantage-estimator registry (``register_adv_est``):
single-turn RLVR on outcome rewards grouped by ``uid``, ``A = w(R, p) * (R - mean) / (std + eps)`` with
PSC's ``w`` (``p`` = the uid's success rate, success = R > 0.5). Call ``register(alpha=4.0, beta=0.1)``
in the trainer process before it builds its trainer, then select it with
``algorithm.adv_estimator=proxmo_psc``; verl's ``algorithm.norm_adv_by_std_in_grpo`` switches the std
division (and ``proxmo_psc_alpha`` / ``proxmo_psc_beta`` keys override α/β where the config has them).
"""

from __future__ import annotations

from collections import defaultdict
from difflib import SequenceMatcher
from typing import Any

import numpy as np
import polars as pl

from proxmo_analysis.credit.episode import row_mean_advantage, trajectory_advantage
from proxmo_analysis.credit.frame import code_values, dense_codes
from proxmo_analysis.credit.gigpo import anchor_step_groups, step_group_advantage
from proxmo_analysis.credit.groups import group_mean, pair_codes
from proxmo_analysis.credit.proxmo import dense_rows, psa_group, psc_weights
from proxmo_analysis.credit.similarity import fit_transform_tfidf

MODES = ("mean_norm", "mean_std_norm", "soft_grouping")
VARIANTS = ("reference", "paper")
SUCCESS_THRESHOLD = 0.5
SOFT_TEMPERATURE = 0.1
REFERENCE_MAX_FEATURES = 1024
REFERENCE_NORM_EPS = 1e-8


def _codes(values: Any, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=object).reshape(-1)
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries but token_level_rewards has {n} rows")
    return np.unique(arr.astype(str), return_inverse=True)[1].reshape(-1).astype(np.int64)


def _within_trajectory_rank(traj: np.ndarray) -> np.ndarray:
    """Position of each row inside its trajectory, in batch order."""
    order = np.argsort(traj, kind="stable")
    sorted_traj = traj[order]
    start = np.r_[True, sorted_traj[1:] != sorted_traj[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(len(traj)), 0))
    rank = np.empty(len(traj), dtype=np.int64)
    rank[order] = np.arange(len(traj)) - first
    return rank


def _similarity_groups(texts: list[str], group: np.ndarray, thresh: float) -> np.ndarray:
    """The release's greedy clustering: a row joins the first cluster of its group whose first member's
    ``SequenceMatcher`` ratio with it is >= ``thresh``, else opens a new cluster."""
    if not 0.0 < thresh < 1.0:
        raise ValueError(f"similarity_thresh must be in (0, 1) with enable_similarity, got {thresh!r}")
    out = np.empty(len(texts), dtype=np.int64)
    reps: dict[int, list[tuple[str, int]]] = defaultdict(list)
    next_id = 0
    for i, (text, g) in enumerate(zip(texts, group)):
        for rep, cid in reps[int(g)]:
            if SequenceMatcher(None, text, rep).ratio() >= thresh:
                out[i] = cid
                break
        else:
            reps[int(g)].append((text, next_id))
            out[i] = next_id
            next_id += 1
    return out


def _episode_part(scores: np.ndarray, group: np.ndarray, traj: np.ndarray, *, std_norm: bool, epsilon: float,
                  psc: bool, alpha: float, beta: float, variant: str) -> np.ndarray:
    success = scores > SUCCESS_THRESHOLD
    if variant == "reference":
        adv, mean = row_mean_advantage(scores, group, normalize_std=std_norm, std="sample", epsilon=epsilon,
                                       float32=True)
        if psc:
            adv = adv * psc_weights(success, np.clip(mean, 0.0, 1.0)[group], alpha, beta)
        return adv
    # paper: one outcome per trajectory (its first row's score), statistics over trajectories
    tcode = pair_codes(group, traj)
    first = np.unique(tcode, return_index=True)[1]
    outcome, tgroup = scores[first], group[first]
    adv = trajectory_advantage(outcome, tgroup, normalize_std=std_norm, std="population", epsilon=epsilon)
    if psc:
        ok = outcome > SUCCESS_THRESHOLD
        adv = adv * psc_weights(ok, group_mean(ok.astype(np.float64), tgroup)[tgroup], alpha, beta)
    return adv[tcode]


def _soft_step_part(returns: np.ndarray, texts: list[str], obs_code: np.ndarray, group: np.ndarray,
                    keys: np.ndarray, variant: str) -> np.ndarray:
    reference = variant == "reference"
    codes, mult = np.unique(obs_code, return_counts=True)
    stats, vectors = fit_transform_tfidf([texts[c] for c in codes], mult,
                                         max_features=REFERENCE_MAX_FEATURES if reference else 0,
                                         norm_eps=REFERENCE_NORM_EPS if reference else 0.0)
    adv = np.zeros(len(returns))
    if stats.is_empty:
        return adv  # the release falls back to zero step advantages on an empty vocabulary
    position = np.empty(int(obs_code.max()) + 1, dtype=np.int64)
    position[codes] = np.arange(len(codes))
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for rows in np.split(order, bounds):
        local, inverse = np.unique(position[obs_code[rows]], return_inverse=True)
        adv[rows] = psa_group(dense_rows(vectors, local), returns[rows], keys[rows], SOFT_TEMPERATURE,
                              inverse.reshape(-1))
    return adv


def _outcome_advantage(token_level_rewards, step_rewards, response_mask, anchor_obs, index, traj_index, *,
                       epsilon: float, step_advantage_w: float, mode: str, enable_similarity: bool,
                       similarity_thresh: float, psc: bool, alpha: float, beta: float, variant: str):
    import torch

    if mode not in MODES:
        raise ValueError(f"Unknown mode: {mode!r} (one of {', '.join(MODES)})")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if token_level_rewards.dim() != 2 or response_mask.shape != token_level_rewards.shape:
        raise ValueError(f"token_level_rewards {tuple(token_level_rewards.shape)} and response_mask "
                         f"{tuple(response_mask.shape)} must both be (bs, response_length)")
    n = token_level_rewards.shape[0]
    device = token_level_rewards.device
    scores = token_level_rewards.detach().float().sum(dim=-1).cpu().numpy().astype(np.float64)
    returns = torch.as_tensor(step_rewards).detach().float().reshape(-1).cpu().numpy().astype(np.float64)
    if len(returns) != n:
        raise ValueError(f"step_rewards has {len(returns)} entries but token_level_rewards has {n} rows")
    group = _codes(index, "index", n)
    traj = _codes(traj_index, "traj_index", n)
    obs = pl.Series("anchor_obs", [str(o) for o in np.asarray(anchor_obs, dtype=object).reshape(-1)])
    if len(obs) != n:
        raise ValueError(f"anchor_obs has {len(obs)} entries but token_level_rewards has {n} rows")
    std_norm = mode == "mean_std_norm"
    adv_episode = _episode_part(scores, group, traj, std_norm=std_norm, epsilon=epsilon, psc=psc, alpha=alpha,
                                beta=beta, variant=variant)
    obs_code = dense_codes(obs)
    if mode == "soft_grouping":
        texts = code_values(obs, obs_code)
        keys = np.zeros(n, dtype=np.int64) if variant == "reference" else _within_trajectory_rank(traj)
        adv_step = _soft_step_part(returns, texts, obs_code, group, keys, variant)
    else:
        if enable_similarity:
            step_group = _similarity_groups(obs.to_list(), group, similarity_thresh)
        else:
            step_group = anchor_step_groups(obs_code, group)
        adv_step = step_group_advantage(returns, step_group, normalize_std=std_norm,
                                        std="sample" if variant == "reference" else "population",
                                        epsilon=epsilon)
    mask = response_mask.to(device=device, dtype=torch.float32)

    def spread(values: np.ndarray):
        return torch.as_tensor(values, dtype=torch.float32, device=device).unsqueeze(-1) * mask

    return spread(adv_episode), spread(adv_step), float(step_advantage_w)


def compute_gigpo_outcome_advantage(token_level_rewards, step_rewards, response_mask, anchor_obs, index,
                                    traj_index, epsilon: float = 1e-6, step_advantage_w: float = 1.0,
                                    mode: str = "mean_norm", enable_similarity: bool = False,
                                    similarity_thresh: float = 0.95, *, variant: str = "reference"):
    """GiGPO advantages (verl-agent's signature; see the module docstring). Returns ``(scores, scores)``."""
    if mode == "soft_grouping":
        raise ValueError("Unknown mode: 'soft_grouping' (GiGPO takes mean_norm or mean_std_norm)")
    episode, step, w = _outcome_advantage(
        token_level_rewards, step_rewards, response_mask, anchor_obs, index, traj_index, epsilon=epsilon,
        step_advantage_w=step_advantage_w, mode=mode, enable_similarity=enable_similarity,
        similarity_thresh=similarity_thresh, psc=False, alpha=0.0, beta=0.0, variant=variant)
    scores = episode + w * step
    return scores, scores


def compute_proxmo_outcome_advantage(token_level_rewards, step_rewards, response_mask, anchor_obs, index,
                                     traj_index, epsilon: float = 1e-6, step_advantage_w: float = 1.0,
                                     mode: str = "mean_norm", enable_similarity: bool = False,
                                     similarity_thresh: float = 0.95, return_components: bool = False,
                                     enable_psc: bool = False, psc_alpha: float = 5.0, psc_beta: float = 0.866,
                                     *, variant: str = "reference"):
    """ProxMO advantages (the release's signature; see the module docstring).

    Returns ``(scores, scores)``, or ``(episode_advantages, step_advantages)`` with ``return_components``.
    """
    episode, step, w = _outcome_advantage(
        token_level_rewards, step_rewards, response_mask, anchor_obs, index, traj_index, epsilon=epsilon,
        step_advantage_w=step_advantage_w, mode=mode, enable_similarity=enable_similarity,
        similarity_thresh=similarity_thresh, psc=enable_psc, alpha=psc_alpha, beta=psc_beta, variant=variant)
    if return_components:
        return episode, step
    scores = episode + w * step
    return scores, scores


def _config_value(config: Any, key: str, default: Any) -> Any:
    if config is None:
        return default
    getter = getattr(config, "get", None)
    if callable(getter):
        value = getter(key, None)
        return default if value is None else value
    return getattr(config, key, default)


def compute_psc_outcome_advantage(token_level_rewards, response_mask, index, epsilon: float = 1e-6,
                                  norm_adv_by_std: bool = True, alpha: float = 4.0, beta: float = 0.1):
    """PSC on single-turn outcome rewards (verl's GRPO shape): ``(advantages, returns)``, each (bs, L).

    Per uid group: ``A = w(R, p) * (R - mean) / (std + epsilon)`` (population std; without the division
    when ``norm_adv_by_std`` is False), ``p`` = the group's share of R > 0.5; a group of one gets A = 0.
    """
    import torch

    scores = token_level_rewards.detach().float().sum(dim=-1).cpu().numpy().astype(np.float64)
    group = _codes(index, "index", len(scores))
    adv = trajectory_advantage(scores, group, normalize_std=norm_adv_by_std, std="population", epsilon=epsilon)
    ok = scores > SUCCESS_THRESHOLD
    adv = adv * psc_weights(ok, group_mean(ok.astype(np.float64), group)[group], alpha, beta)
    out = torch.as_tensor(adv, dtype=torch.float32, device=token_level_rewards.device).unsqueeze(-1)
    out = out * response_mask.to(device=token_level_rewards.device, dtype=torch.float32)
    return out, out


_PSC = {"alpha": 4.0, "beta": 0.1}  # set by register(); the paper's α and β


def _verl_proxmo_psc(token_level_rewards, response_mask, index, config=None, **kwargs):
    """verl's estimator entry: the trainer passes token_level_rewards, response_mask, index (uid), config."""
    return compute_psc_outcome_advantage(
        token_level_rewards, response_mask, index,
        norm_adv_by_std=bool(_config_value(config, "norm_adv_by_std_in_grpo", True)),
        alpha=float(_config_value(config, "proxmo_psc_alpha", _PSC["alpha"])),
        beta=float(_config_value(config, "proxmo_psc_beta", _PSC["beta"])))


ESTIMATORS = {"proxmo_psc": _verl_proxmo_psc}


def register(alpha: float = 4.0, beta: float = 0.1) -> list[str]:
    """Add proxmo's estimators to verl's registry (idempotent; a second call only changes α/β).

    alpha, beta: PSC's steepness and scale for ``proxmo_psc``. Returns the names registered.
    """
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    if not (np.isfinite(alpha) and alpha > 0 and np.isfinite(beta) and beta >= 0):
        raise ValueError(f"register: alpha must be > 0 and beta >= 0, got alpha={alpha!r}, beta={beta!r}")
    _PSC.update(alpha=float(alpha), beta=float(beta))
    for name, fn in ESTIMATORS.items():
        if ADV_ESTIMATOR_REGISTRY.get(name) is not fn:
            register_adv_est(name)(fn)
    return list(ESTIMATORS)
