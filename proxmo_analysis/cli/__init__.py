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
    except OSError as err:
        # The machine, not the input: a full disk, a read-only or missing folder. One line naming the file.
        print(f"proxmo {args.command}: error: {describe_os_error(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = "; finished work is kept: resume with --resume" if hasattr(args, "resume") else ""
        print(f"proxmo {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


def describe_os_error(err: OSError) -> str:
    """``cannot write /x/part-0.parquet: No space left on device`` from an OSError (chained ones: the first)."""
    while err.__context__ is not None and isinstance(err.__context__, OSError) and err.filename is None:
        err = err.__context__
    what = err.strerror or str(err) or type(err).__name__
    return f"{what}: {err.filename}" if err.filename else what


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
