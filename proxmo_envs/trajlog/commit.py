"""The commit marker of a scored run folder: ``scoring.json``, written first as "in progress" and rewritten
as "complete" only after every part, the manifest and the failures files are in place.

A ``proxmo score`` that is killed (SIGKILL, power loss, a full disk) leaves parts but never a complete
marker, so readers can tell a finished scored copy from a partial one:

- a folder whose ``scoring.json`` is not complete is refused (it names how many parts exist of how many
  planned, and says to re-run the scoring with ``--resume`` or ``--force``);
- a folder whose parts carry ``proxmo.credit`` metadata but that has no ``scoring.json`` at all is refused
  the same way (a scored copy whose marker was never written);
- rollout folders (no ``proxmo.credit``, no marker) are not concerned.
"""

from __future__ import annotations

import json
from typing import Any

from .fs import RunLocation
from .schema import CREDIT_METADATA_KEY, PART_GLOB

#: the commit marker's file name inside a scored run folder
SCORING_NAME = "scoring.json"

IN_PROGRESS, COMPLETE = "in progress", "complete"


class UncommittedRunError(ValueError):
    """A scored run folder whose scoring did not finish (no complete ``scoring.json``)."""


def read_marker(folder: RunLocation) -> dict[str, Any] | None:
    """The folder's ``scoring.json`` as a dict, or None when there is none (a corrupt one is an error)."""
    if not folder.exists(SCORING_NAME):
        return None
    try:
        marker = json.loads(folder.read_text(SCORING_NAME))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UncommittedRunError(f"{folder.display(SCORING_NAME)}: not a readable commit marker ({err}); "
                                  "re-run the scoring with --force") from None
    if not isinstance(marker, dict) or "state" not in marker:
        raise UncommittedRunError(f"{folder.display(SCORING_NAME)}: not a proxmo commit marker; "
                                  "re-run the scoring with --force")
    return marker


def write_marker(folder: RunLocation, state: str, info: dict[str, Any]) -> None:
    """Write ``scoring.json`` atomically (temporary name, fsync, rename) with ``state`` and ``info``."""
    folder.write_json(SCORING_NAME, {**info, "state": state})


def _refusal(folder: RunLocation, why: str) -> UncommittedRunError:
    return UncommittedRunError(
        f"{folder}: {why}: this scored copy is incomplete (the scoring was interrupted); re-run "
        f"`proxmo score` with --resume to finish it, or with --force to start it over")


def check_committed(folder: RunLocation, first_part_metadata: dict[bytes, bytes] | None) -> None:
    """Refuse a scored folder whose scoring did not finish (module doc). ``first_part_metadata``: the
    key-value metadata of one of its parts (None when it has none)."""
    marker = read_marker(folder)
    if marker is not None:
        if marker.get("state") != COMPLETE:
            done = len(folder.glob(PART_GLOB))
            planned = marker.get("parts")
            raise _refusal(folder, f"{SCORING_NAME} says {marker.get('state')!r} "
                                   f"({done} of {planned if planned is not None else '?'} parts written)")
        return
    if first_part_metadata and CREDIT_METADATA_KEY.encode() in first_part_metadata:
        raise _refusal(folder, f"its parts carry {CREDIT_METADATA_KEY} metadata but it has no {SCORING_NAME} "
                               "commit marker")


__all__ = ["COMPLETE", "IN_PROGRESS", "SCORING_NAME", "UncommittedRunError", "check_committed", "read_marker",
           "write_marker"]
