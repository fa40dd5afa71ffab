"""The PPO configuration, importable without torch (the CLI reads its defaults for ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass

from proxmo_analysis.checks import check_choice, check_int, check_number


#: PPOConfig.loss_agg choices
LOSS_AGGS = ("row", "episode")


@dataclass
class PPOConfig:
    """PPO hyper-parameters (defaults: the ProxMO/GiGPO reference setup where it has one)."""

    clip_eps: float = 0.2  # ε of the clipped surrogate
    kl_coef: float = 0.01  # β_KL on the k3 estimate of KL(π_θ ‖ π_ref); 0 disables the reference
    kl_estimator: str = "k3"  # "k3" (verl's low_var_kl on the sampled action) or "exact" (over the candidates)
    kl_clamp: float | None = 10.0  # per-row clamp of k3 to ±kl_clamp, as verl (None: unclamped)
    entropy_coef: float = 0.0  # optional entropy bonus c_H
    lr: float = 1e-2  # Adam learning rate (for the small scorer; use ~1e-6 for a causal LM)
    max_grad_norm: float = 1.0  # global gradient-norm clip
    epochs: int = 2  # passes over the batch
    minibatch_size: int = 64  # rows per optimiser step
    seed: int = 0  # shuffling of rows into mini-batches
    missing_behavior: str = "error"  # null behavior_logprob: "error", or "current" (use π_θ's own, ratio 1)
    # how rows are averaged into the loss: "row" (every logged step weighs the same, verl's token-mean) or
    # "episode" (each row weighs 1 / its episode's length: every episode weighs the same; docs/training.md)
    loss_agg: str = "episode"

    def __post_init__(self) -> None:
        check_number("clip_eps", self.clip_eps, low=0.0, strict=True)
        check_number("kl_coef", self.kl_coef, low=0.0)
        check_number("entropy_coef", self.entropy_coef)
        check_number("lr", self.lr, low=0.0, strict=True)
        check_number("max_grad_norm", self.max_grad_norm, low=0.0, strict=True)
        check_int("epochs", self.epochs, low=1)
        check_int("minibatch_size", self.minibatch_size, low=1)
        check_int("seed", self.seed)
        check_choice("missing_behavior", self.missing_behavior, ("error", "current"))
        check_choice("loss_agg", self.loss_agg, LOSS_AGGS)
