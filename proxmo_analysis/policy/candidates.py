"""The candidate actions a policy chooses among, and the text a scorer reads for each.

Most steps offer a closed list (``admissible_actions``). WebShop's search box is free text; a policy that
only scores candidates needs a finite set there, so a search step is offered queries **derived from the
instruction** (the choice documented in docs/training.md):

1. the whole instruction (what upstream's prompted agents mostly type);
2. the product phrase: the instruction without its leading "i need / i want / i'm looking for", without
   the ``with name: value`` option clause and without the price clause;
3. a keyword query: the content words of the product phrase (stop words dropped), at most 6.

Duplicates are removed, order is fixed, so the candidates depend only on the observation. Concrete
``search[...]`` actions the environment itself offers are kept as well.

ALFWorld's ``help`` (prints the command list, never changes the state) is not offered to the policy, as
verl-agent drops it from the prompt's admissible actions; the environment still accepts it.

WebShop's results page shows each product as ``ASIN [SEP] title [SEP] price``; the candidate text of
``click[asin]`` is extended with that title and price so a scorer can match it against the goal.
"""

from __future__ import annotations

import re
from typing import Sequence

_SEARCH = re.compile(r"^search\[(.*)\]$", re.S)
_CLICK = re.compile(r"^click\[(.*)\]$", re.S)
_ASIN = re.compile(r"^(?=.*\d)[a-z0-9]{10}$")
_PREFIX = re.compile(
    r"^(please\s+)?(i\s*(would\s+like|need|want|am\s+looking\s+for|'m\s+looking\s+for|am\s+searching\s+for)"
    r"|find\s+me|looking\s+for|show\s+me|get\s+me|buy\s+me|search\s+for)\s+(an?\s+|some\s+)?",
    re.I,
)
_PRICE = re.compile(r",?\s*and\s+price\s+lower\s+than.*$", re.I)
_OPTIONS = re.compile(r"\s+with\s+[\w\s|&'-]+:\s.*$", re.I)
#: admissible actions a policy is never offered (see the module docstring)
POLICY_HIDDEN = frozenset({"help"})
_STOP = frozenset(
    "a an the and or of for to in on with that is are be i me my need want looking am please it its "
    "this these those some any by at as from less than lower price dollars which who also very i'm im".split()
)
MAX_KEYWORDS = 6


def search_queries(goal: str) -> list[str]:
    """Search queries derived from a WebShop instruction, in a fixed order (see the module docstring)."""
    goal = " ".join(goal.split()).lower()
    if not goal:
        return []
    product = _PRICE.sub("", goal)
    product = _OPTIONS.sub("", product)
    product = _PREFIX.sub("", product).strip(" .,")
    words = re.findall(r"[a-z0-9][a-z0-9'&-]*", product)
    keywords = " ".join([w for w in words if w not in _STOP][:MAX_KEYWORDS])
    out: list[str] = []
    for q in (goal.rstrip(". "), product, keywords):
        if q and q not in out:
            out.append(q)
    return out


def _is_search_slot(action: str) -> bool:
    """An admissible entry that stands for the free-text search box rather than a concrete query."""
    a = action.strip().lower()
    if a in ("search", "search[]"):
        return True
    m = _SEARCH.match(a)
    return bool(m) and (m.group(1).strip() == "" or m.group(1).strip().startswith("<") or m.group(1) == "...")


def expand_candidates(observation: str, admissible: Sequence[str], goal: str) -> tuple[list[str], list[str]]:
    """``(candidate actions, candidate texts)`` for one step.

    ``admissible``: the environment's admissible actions in its order. Search slots are replaced by
    :func:`search_queries` of ``goal``; everything else is kept verbatim. The texts replace ``[...]``
    syntax by plain words and add the title and price next to a WebShop ASIN.
    """
    actions: list[str] = []
    for a in admissible:
        if not isinstance(a, str):
            raise TypeError(f"admissible action {a!r} is not a str")
        if a.strip().lower() in POLICY_HIDDEN:
            continue
        if _is_search_slot(a):
            for q in search_queries(goal):
                s = f"search[{q}]"
                if s not in actions:
                    actions.append(s)
        elif a not in actions:
            actions.append(a)
    parts = [p.strip() for p in observation.split("[SEP]")] if "[SEP]" in observation else []
    lowered = [p.lower() for p in parts]
    texts = [_candidate_text(a, parts, lowered) for a in actions]
    return actions, texts


def _candidate_text(action: str, parts: list[str], lowered: list[str]) -> str:
    m = _SEARCH.match(action)
    if m:
        return f"search {m.group(1)}"
    m = _CLICK.match(action)
    if not m:
        return action
    label = m.group(1)
    if parts and _ASIN.match(label.lower()) and label.lower() in lowered:
        i = lowered.index(label.lower())
        extra = " ".join(parts[i + 1 : i + 3])
        return f"click product {extra}"
    return f"click {label}"
