"""The one grammar of proxmo's command-line settings, shared by every command.

* ``--env-kwargs KEY=VALUE`` (rollout, train): keyword arguments of ``gym.make``.
* ``--set KEY=VALUE`` (score, compare, train, update; ``--credit`` is the same flag): fields of the credit
  method's config. The common fields are also named flags with the same meaning in all four commands:
  ``--variant``, ``--gamma``, ``--tau``, ``--alpha``, ``--beta``, ``--omega``, ``--candidates``,
  ``--tfidf-scope``, ``--similarity``, ``--std``, ``--invalid-penalty``, ``--[no-]psc``, ``--[no-]psa``,
  ``--[no-]normalize-std``.
* ``--policy-config KEY=VALUE`` (train, update): settings of the policy backend.

Each of these flags takes exactly one ``KEY=VALUE`` and is repeated for more
(``--set tau=0.2 --set psc=false``), so a positional argument after it is never taken for a setting.
VALUE is read as JSON when it parses (``4``, ``0.5``, ``true``, ``null``, ``[1, 2]``, ``"x"``), else kept as
the plain string; one argument may instead be a whole JSON object (``--env-kwargs '{"split": "test"}'``),
whose keys are merged in. A key given twice keeps its last value.

``--force`` (where a command refuses an existing output): remove that output first, but only when it is
recognisably proxmo's (a run folder, a training run); anything else is refused.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

from proxmo_analysis.errors import InputError

PAIR_METAVAR = "KEY=VALUE"


def parse_value(text: str) -> Any:
    """A setting's value: JSON when it parses (numbers, true/false, null, lists, objects), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pairs(items: Iterable[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=x", "c=true"]`` -> ``{"a": 1, "b": "x", "c": True}``; an item that is a JSON object is
    merged in. Raises InputError naming ``flag`` and the bad item."""
    out: dict[str, Any] = {}
    for item in items or []:
        text = item.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                raise InputError(f"{flag} is not valid JSON ({err}): {item!r}") from None
            if not isinstance(obj, dict):
                raise InputError(f"{flag} {item!r}: expected KEY=VALUE or a JSON object")
            out.update(obj)
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag}: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def add_pairs(parser: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str, help: str,
              *aliases: str) -> None:
    """A repeatable ``flag KEY=VALUE`` option (one pair per flag), collected as a list on ``dest``."""
    parser.add_argument(flag, *aliases, action="append", default=[], metavar=PAIR_METAVAR,
                        help=f"{help}; repeat the flag for more")


# ---- env kwargs ----------------------------------------------------------------------------------------

def add_env_kwargs(parser: argparse.ArgumentParser) -> None:
    add_pairs(parser, "--env-kwargs", "a gym.make keyword argument, e.g. --env-kwargs max_steps=20 "
                                      "(VALUE as JSON; or one JSON object)")


def env_kwargs_from(args: argparse.Namespace) -> dict[str, Any]:
    return parse_pairs(args.env_kwargs, "--env-kwargs")


# ---- credit settings -----------------------------------------------------------------------------------

# flag -> config field; only flags the user gives are passed on (the rest keep the method's defaults)
CREDIT_FLAGS: dict[str, tuple[str, type, str]] = {
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
CREDIT_SWITCHES = (("psc", "PSC episode modulation (proxmo)"), ("psa", "PSA step baseline (proxmo)"),
                   ("normalize-std", "divide by the group std (gigpo, proxmo)"))


def add_credit_options(parser: argparse.ArgumentParser) -> None:
    """The credit-method settings: ``--set KEY=VALUE`` (alias ``--credit``) and the named shortcuts."""
    g = parser.add_argument_group("credit-method settings (fields of the method's config)")
    add_pairs(g, "--set", "any config field of the credit method, e.g. --set max_features=1024", "--credit")
    for flag, (field, kind, help_text) in CREDIT_FLAGS.items():
        g.add_argument(flag, dest=f"credit_{field}", type=kind, default=None, help=f"= --set {field}=...: {help_text}")
    for switch, help_text in CREDIT_SWITCHES:
        g.add_argument(f"--{switch}", dest=f"credit_{switch.replace('-', '_')}", default=None,
                       action=argparse.BooleanOptionalAction, help=f"{help_text} (default: the method's)")


def credit_from(args: argparse.Namespace) -> dict[str, Any]:
    """The credit settings the user gave: named flags and switches, then ``--set`` pairs (which win)."""
    config: dict[str, Any] = {}
    for field, _, _ in CREDIT_FLAGS.values():
        value = getattr(args, f"credit_{field}")
        if value is not None:
            config[field] = value
    for switch, _ in CREDIT_SWITCHES:
        field = switch.replace("-", "_")
        value = getattr(args, f"credit_{field}")
        if value is not None:
            config[field] = value
    config.update(parse_pairs(args.set, "--set"))
    return config


# ---- policy settings -----------------------------------------------------------------------------------

def add_policy_config(parser: argparse.ArgumentParser, help: str) -> None:
    add_pairs(parser, "--policy-config", help)


def policy_config_from(args: argparse.Namespace) -> dict[str, Any]:
    return parse_pairs(args.policy_config, "--policy-config")


# ---- --force -------------------------------------------------------------------------------------------

def add_force(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--force", action="store_true",
                        help=f"replace an existing {what} at the output instead of refusing it")


def progress_bar(command: str, *, disable: bool = False, remaining: bool = False):
    """The commands' one progress bar, on stderr: ``<command> <description>``, the bar, done/total and the
    time elapsed (and left, with ``remaining``); a ``rich.progress.Progress``, not started."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn(f"[bold]{command}[/bold] {{task.description}}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()] + ([TimeRemainingColumn()] if remaining else [])
    return Progress(*columns, console=Console(stderr=True), disable=disable)


def remove_for_force(path: str | Path, markers: Iterable[str], what: str) -> bool:
    """With ``--force``: delete the folder ``path`` when it holds one of ``markers`` (glob patterns that mark
    it as a proxmo ``what``); returns whether it was removed. An empty folder stays; a folder with other
    content, or a file, raises InputError instead of being deleted (``io.destination.check_destination``)."""
    if "://" in str(path):
        raise InputError(f"--force replaces local folders only; remove {path} yourself or choose another output")
    from proxmo_analysis.io.destination import check_destination  # deferred: io imports polars and pyarrow

    p = check_destination(path, True, markers, what)
    if not p.is_dir() or not any(p.iterdir()):
        return False
    shutil.rmtree(p)
    return True


__all__ = ["CREDIT_FLAGS", "PAIR_METAVAR", "add_credit_options", "add_env_kwargs", "add_force", "add_pairs",
           "add_policy_config", "credit_from", "env_kwargs_from", "parse_pairs", "parse_value",
           "policy_config_from", "progress_bar", "remove_for_force"]
