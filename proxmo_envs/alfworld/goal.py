"""ALFWorld's task sentence as the first observation states it: ``... Your task is to: put a clean cloth
in countertop.``

The one parser of that text, used by the env (its ``task`` info when a game has no task record), the
text protocol and the learned policies' context (``proxmo_analysis.policy``).
"""

from __future__ import annotations

import re

TASK_RE = re.compile(r"Your task is to:\s*(.+)", re.IGNORECASE)


def task_from_observation(observation: str) -> str | None:
    """The task sentence (its first line, stripped, final period kept); None when the text states none."""
    m = TASK_RE.search(observation)
    return m.group(1).strip() if m else None


__all__ = ["TASK_RE", "task_from_observation"]
