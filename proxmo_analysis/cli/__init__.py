"""The ``proxmo`` command line: one subcommand per module of this package.

Each module here defines ``register(subparsers)``, which adds its subcommand and sets ``func`` on its
parser; ``func(args) -> int`` is the exit status. Modules are discovered, so adding a command is adding
a file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proxmo",
        description="Multi-turn agent RL: environments, trajectory logs, credit assignment and training.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, TypeError, KeyError) as err:
        # Bad input gets one clear line, not a traceback from deep inside.
        print(f"proxmo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
