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
from pathlib import Path
from typing import Sequence

from proxmo_analysis.credit.registry import load_plugins
from proxmo_analysis.errors import InputError

#: proxmo's own source folders: a ValueError raised by a ``raise`` in them is a deliberate input message
_OWN_CODE = tuple(str(Path(__file__).resolve().parents[2] / pkg) for pkg in ("proxmo_analysis", "proxmo_envs"))


def is_input_error(err: BaseException) -> bool:
    """Whether ``err`` is proxmo's own report of bad input (printed as one line): an :class:`InputError`,
    a FileNotFoundError, or a ValueError raised by proxmo's own code. A TypeError or KeyError, or a
    ValueError from inside a library, is a bug: it keeps its traceback."""
    if isinstance(err, (InputError, FileNotFoundError)):
        return True
    if not isinstance(err, ValueError) or err.__traceback__ is None:
        return False
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(_OWN_CODE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proxmo",
        description="Multi-turn agent RL: environments, trajectory logs, credit assignment and training.",
    )
    try:  # methods registered by the user's modules ($PROXMO_METHODS) join every --method choice
        load_plugins()
    except ImportError as err:
        print(f"proxmo: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
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
    except (ValueError, FileNotFoundError) as err:
        if not is_input_error(err):
            raise
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
