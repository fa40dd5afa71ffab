"""``proxmo score RUN --method proxmo [--variant reference] [--out OUT]``: write a scored copy of a run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from proxmo_analysis.credit.registry import method_names

# flag -> config field; only flags the user gives are passed on (the rest keep the variant's defaults)
_FLAGS: dict[str, tuple[str, type, str]] = {
    "--variant": ("variant", str, "paper (default) or reference: the released ProxMO code (gigpo, proxmo)"),
    "--gamma": ("gamma", float, "discount of the step returns (0.95)"),
    "--tau": ("tau", float, "PSA temperature (proxmo, 0.1)"),
    "--alpha": ("alpha", float, "PSC steepness (proxmo, 4.0)"),
    "--beta": ("beta", float, "PSC strength (proxmo, paper 0.1)"),
    "--omega": ("omega", float, "step-part weight (gigpo, proxmo, 1.0)"),
    "--candidates": ("candidates", str, "PSA candidates: same_step or all_steps (proxmo)"),
    "--tfidf-scope": ("tfidf_scope", str, "batch (per iteration) or group (proxmo)"),
    "--similarity": ("similarity", str, "tfidf or minilm (proxmo)"),
    "--std": ("std", str, "population or sample (grpo, gigpo, proxmo)"),
    "--invalid-penalty": ("invalid_penalty", float, "subtracted on invalid actions"),
}


def parse_value(text: str) -> Any:
    """``--set`` values: JSON when it parses (numbers, true/false, null), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The method parameters the user gave, from named flags, switches and ``--set KEY=VALUE``."""
    config: dict[str, Any] = {}
    for flag, (field, _, _) in _FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            config[field] = value
    for switch in ("psc", "psa", "normalize_std"):
        value = getattr(args, switch)
        if value is not None:
            config[switch] = value
    for item in args.set or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        config[key.strip()] = parse_value(value)
    return config


def add_method_options(parser: argparse.ArgumentParser) -> None:
    """The config flags shared by ``score`` and ``compare``."""
    for flag, (_, kind, help_text) in _FLAGS.items():
        parser.add_argument(flag, type=kind, default=None, help=help_text)
    for switch, help_text in (("psc", "PSC episode modulation (proxmo)"), ("psa", "PSA step baseline (proxmo)"),
                              ("normalize-std", "divide by the group std (gigpo, proxmo)")):
        parser.add_argument(f"--{switch}", dest=switch.replace("-", "_"), default=None,
                            action=argparse.BooleanOptionalAction, help=help_text)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="any other config field, e.g. --set max_features=1024 (repeatable)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="credit-assign a run's step rows and write a scored copy",
        description="Add return_to_go, adv_episode, adv_step and advantage to every step row of a run "
                    "folder (or Parquet file), streaming whole task groups; the method and its parameters "
                    "go into each part's 'proxmo.credit' metadata.")
    parser.add_argument("run", help="run folder (part-*.parquet + manifest.json) or one Parquet file")
    parser.add_argument("--method", default="proxmo", choices=method_names(),
                        help="credit method, a registered name (default: %(default)s)")
    parser.add_argument("--out", default=None, help="output folder (default: RUN-scored-METHOD beside RUN)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes over batches of task groups (default 1; 2 uses both cores, which pays "
                             "off only when the per-row work is heavy, e.g. --similarity minilm)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="local processes, or Ray Data over a Ray cluster (needs the ray extra)")
    parser.add_argument("--address", default=None, help="with --backend ray: cluster to join (default: local Ray)")
    parser.add_argument("--rows-per-batch", type=int, default=100_000,
                        help="rows of whole task groups per batch; bounds memory (100000)")
    add_method_options(parser)
    parser.set_defaults(func=run)


def _locations(run: str, out: str | None, method: str) -> tuple[str | Path, str | Path]:
    """The run to read and the folder to write: local paths as ``Path``; URIs (``s3://…``, ``file://…``)
    passed through as given, since the readers and writers resolve them on their pyarrow filesystem."""
    if "://" in run:
        return run, out if out else f"{run.rstrip('/')}-scored-{method}"
    src = Path(run)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such run folder or Parquet file")
    base = src if src.is_dir() else src.with_suffix("")
    return src, Path(out) if out else base.with_name(f"{base.name}-scored-{method}")


def run(args: argparse.Namespace) -> int:
    from proxmo_analysis.credit.stream import score_run

    src, out = _locations(args.run, args.out, args.method)
    if args.backend == "ray":
        from proxmo_analysis.credit.ray_scorer import score_run_ray  # lazy: the local path never imports ray

        summary = score_run_ray(src, out, args.method, address=args.address, num_cpus=args.workers,
                                **config_from_args(args))
    else:
        summary = score_run(src, out, args.method, workers=args.workers, rows_per_batch=args.rows_per_batch,
                            **config_from_args(args))
    print(f"scored {summary['rows']} rows in {summary['groups']} task groups with {args.method} "
          f"-> {summary['out']} ({summary['parts']} parts)")
    return 0
