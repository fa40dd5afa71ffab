"""Where an export lands: a new path, or (``replace=True``, the CLI's ``--force``) an earlier export of the
same format, swapped out only once the new one is complete.

An exporter builds its output under a temporary name next to ``dest`` and calls :func:`swap_into`; a failed
export therefore never damages the earlier one, and a folder that is not an earlier export (no ``markers``)
is never deleted.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable

from proxmo_analysis.errors import InputError


def check_destination(dest: str | os.PathLike[str], replace: bool, markers: Iterable[str], what: str) -> Path:
    """Refuse ``dest`` before any work when it exists and may not be replaced. ``markers``: glob patterns,
    one of which an earlier export folder holds; an empty tuple means the export is a single file."""
    out = Path(dest)
    if not out.exists():
        return out
    if not replace:
        raise InputError(f"{out}: already exists; choose another --out or add --force to replace it")
    markers = tuple(markers)
    if not markers:
        if out.is_dir():
            raise InputError(f"{out} is a folder, not a {what}; --force replaces only a {what}")
        return out
    if not out.is_dir():
        raise InputError(f"{out} is a file, not a {what}; --force replaces only a {what}")
    if any(out.iterdir()) and not any(next(out.glob(m), None) is not None for m in markers):
        raise InputError(f"{out} holds files but is not a {what} (no {', '.join(markers)}); --force does not "
                         "delete it: choose another --out")
    return out


def swap_into(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` (an export, or an imported run folder) to ``out``, replacing what is there
    only now that ``tmp`` is whole: a folder at ``out`` is set aside under a unique name, the new one moved
    in, the old one deleted."""
    if out.is_dir():
        old = out.with_name(f".old-{out.name}-{secrets.token_hex(4)}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


__all__ = ["check_destination", "swap_into"]
