"""Where a command writes (an export, an imported run, a rollout or training folder): a new path, or
(``replace=True``, the CLI's ``--force``) an earlier output of the same kind, swapped out only once the
new one is complete.

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


def holds_marker(folder: Path, markers: Iterable[str]) -> bool:
    """Whether ``folder`` holds a file matching one of the glob patterns ``markers``."""
    return any(next(folder.glob(m), None) is not None for m in markers)


def check_destination(dest: str | os.PathLike[str], replace: bool, markers: Iterable[str], what: str, *,
                      empty_ok: bool = False) -> Path:
    """Refuse ``dest`` before any work when it exists and may not be replaced: the one rule of every command
    that writes a folder or file (``--out``, ``--force``). ``markers``: glob patterns, one of which an earlier
    ``what`` holds (e.g. a run folder's ``manifest.json``); an empty tuple means ``what`` is a single file.
    ``empty_ok``: an existing empty folder is taken as it is, without ``replace``. With ``replace`` only a
    ``what`` (or an empty folder) is accepted: anything else is never deleted."""
    out = Path(dest)
    if not out.exists():
        return out
    markers = tuple(markers)
    if markers and out.is_dir() and not any(out.iterdir()) and (empty_ok or replace):
        return out
    if not replace:
        if empty_ok:
            raise InputError(f"{out}: already exists and is not an empty folder; choose another --out or pass "
                             f"--force to replace a {what}")
        raise InputError(f"{out}: already exists; choose another --out or add --force to replace it")
    if not markers:
        if out.is_dir():
            raise InputError(f"{out} is a folder, not a {what}; --force replaces only a {what}")
        return out
    if not out.is_dir():
        raise InputError(f"{out} is a file, not a {what}; --force replaces only a {what}")
    if not holds_marker(out, markers):
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


__all__ = ["check_destination", "holds_marker", "swap_into"]
