"""WebShop's instruction as it appears in an observation: ``... Instruction: [SEP] i need ... [SEP] ...``.

The one parser of that text, used by the rollout policies (search queries), the text protocol and the
learned policies' context (``proxmo_analysis.policy``).
"""

from __future__ import annotations

import re

#: every WebShop page repeats the instruction between the first two ``[SEP]`` markers after "Instruction:"
INSTRUCTION_RE = re.compile(r"Instruction:\s*\[SEP\]\s*(.*?)\s*\[SEP\]", re.DOTALL)


def instruction_from_observation(observation: str) -> str | None:
    """The instruction text of a WebShop observation, stripped; None when the text holds none."""
    m = INSTRUCTION_RE.search(observation)
    return m.group(1).strip() if m else None


__all__ = ["INSTRUCTION_RE", "instruction_from_observation"]
