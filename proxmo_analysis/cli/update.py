"""``proxmo update RUN --checkpoint CKPT``: one offline PPO update of a saved policy on a logged run."""

from __future__ import annotations

import argparse
from pathlib import Path

from proxmo_analysis.cli._args import add_credit_options, add_policy_config, credit_from, policy_config_from
from proxmo_analysis.cli._training_args import add_ppo_arguments, ppo_config_from
from proxmo_analysis.credit.registry import method_names


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "update",
        help="offline PPO update of a policy checkpoint on a (scored) run",
        description=(
            "Reads RUN (a run folder or Parquet file). When it has no 'advantage' column it is scored first "
            "with --method. Loads --checkpoint (or, when it does not exist and --policy is given, starts a fresh "
            "policy), takes one PPO update against the checkpoint's frozen reference, and saves the result "
            "to --out (default: the checkpoint itself)."
        ),
    )
    p.add_argument("run", help="run folder or Parquet file with behavior_logprob (and advantage, once scored)")
    p.add_argument("--checkpoint", required=True, help="policy checkpoint (.pt) to update")
    p.add_argument("--out", default=None, help="where to write the updated checkpoint (default: --checkpoint)")
    p.add_argument("--policy", default=None, choices=["scorer", "causal_lm"],
                   help="start a fresh policy of this backend when --checkpoint does not exist")
    add_policy_config(p, "a setting of a fresh policy, e.g. --policy-config hidden=64")
    p.add_argument("--method", default="proxmo", choices=method_names(),
                   help="credit method used when RUN is not scored yet (default: %(default)s)")
    p.add_argument("--rescore", action="store_true", help="score RUN with --method even when it has advantages")
    p.add_argument("--missing-behavior", default="error", choices=["error", "current"],
                   help="rows without behavior_logprob: fail, or use the policy's own (ratio 1)")
    p.add_argument("--seed", type=int, default=0, help="mini-batch shuffling seed (default: %(default)s)")
    add_ppo_arguments(p)
    add_credit_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from rich.console import Console
    from rich.table import Table

    from proxmo_analysis.logs import read_log
    from proxmo_analysis.policy import build_policy, load_checkpoint, ppo_update, save_checkpoint
    from proxmo_analysis.policy.ppo import make_optimizer
    from proxmo_analysis.training import assign_credit

    ck_path = Path(args.checkpoint)
    if ck_path.is_file():
        ck = load_checkpoint(ck_path)
        policy, ref, extra, opt_state = ck.policy, ck.ref_policy, ck.extra, ck.optimizer_state
    elif args.policy:
        policy = build_policy(args.policy, policy_config_from(args))
        ref, extra, opt_state = None, {}, None
    else:
        raise FileNotFoundError(f"checkpoint not found: {ck_path} (pass --policy to start a fresh one)")
    ref = ref or policy.clone_frozen()
    df = read_log(args.run)
    if args.rescore or "advantage" not in df.columns:
        df = assign_credit(df, args.method, credit_from(args))
    config = dataclasses.replace(ppo_config_from(args, policy.backend), seed=args.seed, missing_behavior=args.missing_behavior)
    optimizer = make_optimizer(policy, config)
    if opt_state is not None:
        try:
            optimizer.load_state_dict(opt_state)
            for group in optimizer.param_groups:
                group["lr"] = config.lr
        except ValueError:
            pass  # a checkpoint from another optimiser layout: start Adam afresh
    stats = ppo_update(policy, df, config, ref_policy=ref, optimizer=optimizer)
    extra = dict(extra)
    extra["offline_updates"] = int(extra.get("offline_updates", 0)) + 1
    out = save_checkpoint(args.out or ck_path, policy, ref_policy=ref, optimizer=optimizer, extra=extra)
    table = Table(title=f"proxmo update: {args.run} -> {out}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        table.add_row(key, f"{value:.6g}")
    Console().print(table)
    return 0
