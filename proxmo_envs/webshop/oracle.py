"""A scripted expert for WebShop: search the goal's title, page to its ASIN, pick the goal options, buy.

``WebShopOracle()`` is a policy ``(observation, info) -> action`` using the privileged ``info["goal"]``
and the env's ``info["page"]`` / ``info["selected_options"]``; it keeps no state, so one instance can
serve many envs. It is the issue's scripted agent and the ``oracle`` policy of the rollout runner.
"""

from __future__ import annotations

from collections.abc import Mapping

from thefuzz import fuzz

from .normalize import normalize_color
from .reward import FUZZY_THRESHOLD

MAX_RESULT_PAGES = 5  # 50 results, 10 per page


class WebShopOracle:
    """Expert policy. ``query`` chooses the search text: ``"title"`` (goal product title, default) or
    ``"instruction"``."""

    def __init__(self, query: str = "title") -> None:
        if query not in ("title", "instruction"):
            raise ValueError(f"query must be 'title' or 'instruction', got {query!r}")
        self.query = query

    def __call__(self, observation: str, info: Mapping) -> str:
        goal = info["goal"]
        page = info.get("page")
        clickables = info["available_actions"]["clickables"]
        target = goal["asin"].lower()
        if page == "start" or info["available_actions"]["has_search_bar"]:
            text = goal["name"] if self.query == "title" else goal["instruction_text"]
            return f"search[{text}]"
        if page == "results":
            if target in clickables:
                return f"click[{target}]"
            if "next >" in clickables and len([c for c in clickables if c not in ("back to search", "< prev", "next >")]) == 10:
                return "click[next >]"
            return "click[back to search]"
        if page == "item":
            if (info.get("asin") or "").lower() != target:
                return "click[< prev]"
            selected = info.get("selected_options", {})
            for name, value in self._wanted_options(goal["goal_options"], info.get("product_options"), clickables):
                if selected.get(name) != value and value in clickables:
                    return f"click[{value}]"
            return "click[buy now]"
        if page in ("description", "features", "reviews"):
            return "click[< prev]"
        return "click[back to search]"

    @staticmethod
    def _wanted_options(goal_options, product_options, clickables) -> list[tuple[str | None, str]]:
        """(option name, value) pairs to select. Synthetic goals name them; for a human goal's plain
        strings, each goal option picks the product value it fuzzy-matches best (as the reward does)."""
        if isinstance(goal_options, Mapping):
            return list(goal_options.items())
        if not product_options:
            return []
        picks = []
        for want in goal_options:
            g = normalize_color(want)
            best = None
            for name, values in product_options.items():
                for v in values:
                    s = fuzz.token_set_ratio(normalize_color(v), g)
                    if s > FUZZY_THRESHOLD and (best is None or s > best[0]):
                        best = (s, name, v)
            if best is not None:
                picks.append((best[1], best[2]))
        return picks
