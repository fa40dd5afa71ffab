"""``proxmo train``: rollout → log → credit → PPO iterations with held-out evaluation."""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path
from typing import Any

from proxmo_analysis.cli._args import (
    add_credit_options,
    add_env_kwargs,
    add_force,
    add_policy_config,
    credit_from,
    env_kwargs_from,
    policy_config_from,
    progress_bar,
    remove_for_force,
)
from proxmo_analysis.errors import InputError
from proxmo_analysis.cli._training_args import add_ppo_arguments, ppo_config_from
from proxmo_analysis.credit.registry import method_names


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a policy: rollouts -> Parquet -> credit assignment -> PPO, with held-out evaluation",
        description=(
            "Each iteration samples --tasks training tasks, runs --group-size episodes of each with the current "
            "policy, scores the log with --method and takes a PPO update. The greedy policy is evaluated on the "
            "held-out split before training and every --eval-every iterations. Writes metrics.csv, "
            "learning_curve.png, checkpoints/ and the rollout logs under --out; --resume continues a run."
        ),
    )
    p.add_argument("--env", default="proxmo/WebShop-v0", help="environment id (default: %(default)s)")
    p.add_argument("--method", default="proxmo", choices=method_names(), help="credit method (default: %(default)s)")
    p.add_argument("--reward", default="env", choices=["env", "won"],
                   help="training reward: the env's own (WebShop: its score) or 10 x won on the last step "
                        "(the papers' convention) (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=20, help="PPO iterations (default: %(default)s)")
    p.add_argument("--tasks", type=int, default=16, help="training tasks per iteration (default: %(default)s)")
    p.add_argument("--group-size", type=int, default=8, help="episodes per task, N (default: %(default)s)")
    p.add_argument("--policy", default="scorer", choices=["scorer", "causal_lm"], help="policy backend (default: %(default)s)")
    add_policy_config(p, "a backend setting, e.g. --policy-config encoder=hashed (scorer) or model_dir=PATH (causal_lm)")
    p.add_argument("--model-dir", default=None, help="shortcut for --policy causal_lm --policy-config model_dir=PATH")
    p.add_argument("--eval-every", type=int, default=5, help="evaluate every n iterations (default: %(default)s)")
    p.add_argument("--eval-tasks", type=int, default=100, help="held-out tasks per evaluation (default: %(default)s)")
    p.add_argument("--train-split", default=None, help="training split (default: the env's, e.g. train)")
    p.add_argument("--eval-split", default=None, help="held-out split (default: the env's, e.g. test)")
    add_env_kwargs(p)
    p.add_argument("--seed", type=int, default=0, help="run seed (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="rollout worker processes (default: %(default)s)")
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="rollouts on local processes or Ray actors")
    p.add_argument("--address", default=None, help="with --backend ray: cluster to join (default: local Ray)")
    p.add_argument("--max-steps", type=int, default=None, help="extra step cap over the env's own")
    p.add_argument("--warm-start", "--warm-start-games", dest="warm_start_games", type=int, default=0, metavar="GAMES",
                   help="behaviour-clone this many train-split walkthroughs before iteration 0 (default: 0, none)")
    p.add_argument("--warm-start-epochs", type=int, default=20, help="epochs of the warm start (default: %(default)s)")
    p.add_argument("--warm-start-recovery", type=int, default=0, metavar="ROUNDS",
                   help="after cloning walkthroughs: ROUNDS of recovery states (roll the cloned policy out, label "
                        "the states it reaches with the expert's continuation, refit) (default: %(default)s)")
    p.add_argument("--rl-on-warm-start-games", action="store_true",
                   help="let iterations sample the behaviour-cloned games too (default: only the other train games)")
    p.add_argument("--init-from", default=None, metavar="RUN",
                   help="start from RUN, a run trained with --iterations 0 and the same env, policy, seed, warm start "
                        "and evaluation settings: reuses its warm-started policy and evaluation 0")
    p.add_argument("--out", default=None, help="run folder (default: runs/<env>-<method>-s<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_force(p, "training run (config.json, metrics.csv, checkpoints/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: %(default)s; the scorer's tensors are small, more threads only contend)")
    add_ppo_arguments(p)
    add_credit_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from proxmo_analysis.training import CHECKPOINT, TrainConfig

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    policy_config = policy_config_from(args)
    policy = args.policy
    if args.model_dir:
        policy = "causal_lm"
        policy_config["model_dir"] = args.model_dir
    short = args.env.split("/")[-1].split("-")[0].lower()
    out = args.out or f"runs/{short}-{args.method}-s{args.seed}"
    config = TrainConfig(
        env_id=args.env, method=args.method, credit=credit_from(args), reward=args.reward,
        iterations=args.iterations, tasks=args.tasks, group_size=args.group_size, policy=policy,
        policy_config=policy_config, ppo=ppo_config_from(args, policy), eval_every=args.eval_every,
        eval_tasks=args.eval_tasks, seed=args.seed, out=out, env_kwargs=env_kwargs_from(args),
        train_split=args.train_split, eval_split=args.eval_split, workers=args.workers, max_steps=args.max_steps,
        backend=args.backend, address=args.address, warm_start_games=args.warm_start_games,
        warm_start_epochs=args.warm_start_epochs, warm_start_recovery=args.warm_start_recovery,
        init_from=args.init_from,
        rl_on_warm_start_games=args.rl_on_warm_start_games,
    )
    if args.force:
        if args.resume:
            raise InputError("--force starts the run again and --resume continues it: give one of them")
        remove_for_force(out, ("config.json", "metrics.csv", "checkpoints"), "training run")
    created = not Path(out).exists()
    try:
        return _train(args, config)
    except Exception:
        if created and not (Path(out) / "checkpoints" / CHECKPOINT).exists():
            # Failed before its first checkpoint: nothing here can be resumed, so the folder this command
            # made goes and the corrected command starts clean.
            shutil.rmtree(out, ignore_errors=True)
        raise


def _train(args: argparse.Namespace, config) -> int:
    from proxmo_analysis.training import Trainer

    trainer = Trainer(config, resume=args.resume)
    progress = progress_bar("train", disable=args.no_progress, remaining=True)
    bar = progress.add_task(config.env_id, total=config.iterations, completed=trainer.done)
    shown = dict.fromkeys(("train", "held-out"), "")

    def on_row(row: dict[str, Any]) -> None:
        # the latest training and held-out success ride in the bar's description
        if row.get("train_success") is not None:
            shown["train"] = f"{row['train_success']:.2f}"
            progress.advance(bar)
        if row.get("eval_success") is not None:
            shown["held-out"] = f"{row['eval_success']:.2f}"
        progress.update(bar, description=" ".join([config.env_id] + [f"{k} {v}" for k, v in shown.items() if v]))

    with progress:
        rows = trainer.run(on_row=on_row)
    start = "warm start" if config.warm_start_games else "start" if config.init_from else "untrained"
    print_summary(rows, config.out, start)
    return 0


def print_summary(rows: list[dict[str, Any]], out: str, start: str = "untrained") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"proxmo train: {out}")
    for col in ("iteration", "train success", "train score", "held-out success", "held-out score", "s/iteration"):
        table.add_column(col, justify="right")

    def f(v: Any, fmt: str = ".3f") -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    for r in rows:
        if r.get("eval_success") is None and r["iteration"] not in (1,):
            continue
        table.add_row(str(r["iteration"]), f(r.get("train_success")), f(r.get("train_score")),
                      f(r.get("eval_success")), f(r.get("eval_score")), f(r.get("iteration_s"), ".1f"))
    console = Console()
    console.print(table)
    evals = [r for r in rows if r.get("eval_success") is not None]
    if len(evals) >= 2:
        # start: "untrained" only for a policy nothing trained ("warm start", "start" for a branched run)
        console.print(
            f"held-out success {evals[0]['eval_success']:.3f} ({start}) -> {evals[-1]['eval_success']:.3f} "
            f"(iteration {evals[-1]['iteration']}); metrics.csv, learning_curve.png and checkpoints/ in {out}"
        )
