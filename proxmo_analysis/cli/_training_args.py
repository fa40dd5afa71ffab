"""PPO settings shared by ``proxmo train`` and ``proxmo update`` (KEY=VALUE settings: ``cli._args``)."""

from __future__ import annotations

import argparse
from proxmo_analysis.policy.config import PPOConfig

#: Adam learning rate per backend when --lr is not given (a pretrained LM needs a far smaller step).
DEFAULT_LR = {"scorer": PPOConfig.lr, "causal_lm": 1e-6}


def add_ppo_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("PPO")
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: "
                   + ", ".join(f"{backend} {lr:g}" for backend, lr in DEFAULT_LR.items()) + ")")
    g.add_argument("--clip-eps", type=float, default=PPOConfig.clip_eps, help="clip epsilon (default: %(default)s)")
    g.add_argument("--kl-coef", type=float, default=PPOConfig.kl_coef, help="k3 KL coefficient (default: %(default)s)")
    g.add_argument("--kl-estimator", choices=("k3", "exact"), default=PPOConfig.kl_estimator,
                   help="KL term: k3 on the sampled action, clamped to +-10 as verl, or the exact KL over the "
                        "step's candidates (default: %(default)s)")
    g.add_argument("--loss-agg", choices=("row", "episode"), default=PPOConfig.loss_agg,
                   help="loss average: every logged step weighs the same (row), or every episode (episode: a row "
                        "weighs 1 / its episode's length) (default: %(default)s)")
    g.add_argument("--entropy-coef", type=float, default=PPOConfig.entropy_coef, help="entropy bonus (default: %(default)s)")
    g.add_argument("--epochs", type=int, default=PPOConfig.epochs, help="passes over each batch (default: %(default)s)")
    g.add_argument("--minibatch-size", type=int, default=PPOConfig.minibatch_size, help="rows per step (default: %(default)s)")
    g.add_argument("--max-grad-norm", type=float, default=PPOConfig.max_grad_norm, help="gradient clip (default: %(default)s)")


def ppo_config_from(args: argparse.Namespace, backend: str) -> PPOConfig:
    return PPOConfig(
        clip_eps=args.clip_eps, kl_coef=args.kl_coef, kl_estimator=args.kl_estimator, entropy_coef=args.entropy_coef,
        loss_agg=args.loss_agg,
        lr=args.lr if args.lr is not None else DEFAULT_LR.get(backend, PPOConfig.lr),
        max_grad_norm=args.max_grad_norm, epochs=args.epochs, minibatch_size=args.minibatch_size,
    )
