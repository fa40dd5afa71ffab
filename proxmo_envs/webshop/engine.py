"""The WebShop page state machine (upstream ``SimServer``/``SimBrowser`` in text mode), without HTML.

A :class:`Session` holds one episode's browsing state over shared read-only :class:`TaskData`;
:meth:`Session.act` applies one action and reports whether it was valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import pages
from .data import CatalogData
from .goals import Goal
from .nouns import NounExtractor
from .reward import score_purchase

_ACTION = re.compile(r"(.+)\[(.+)\]")  # upstream parse_action: re.match, greedy name, no end anchor


def parse_action(action: str) -> tuple[str, str | None]:
    """``"click[Buy Now]"`` -> ``("click", "Buy Now")``; no brackets -> ``(action, None)`` (upstream)."""
    m = _ACTION.match(action)
    if m is None:
        return action, None
    return m.group(1), m.group(2)


@dataclass
class Outcome:
    valid: bool
    reward: float = 0.0
    done: bool = False
    parts: dict | None = None


@dataclass
class Session:
    """One episode: the goal and the current page (``start | results | item | <sub page> | done``)."""

    data: CatalogData
    goal: Goal
    price_of: dict  # asin -> charged price
    nouns: NounExtractor
    page: str = "start"
    keywords: str | None = None
    page_num: int = 1
    results: tuple[str, ...] = ()
    asin: str | None = None
    options: dict = field(default_factory=dict)
    score: float = 0.0
    show_reviews: bool = False  # item pages with the catalogue's ratings and reviews (upstream: N.A., none)

    @property
    def views(self) -> dict:
        return self.data.views_for(self.show_reviews)

    # ---- observation and clickables -------------------------------------------------------------
    def _page_views(self) -> list:
        lo = (self.page_num - 1) * pages.PRODUCT_WINDOW
        views = self.views
        return [views[a] for a in self.results[lo:lo + pages.PRODUCT_WINDOW]]

    def observation(self) -> str:
        ins = self.goal.instruction_text
        if self.page == "start":
            return pages.start_page(ins)
        if self.page == "results":
            return pages.results_page(ins, self.page_num, len(self.results), self._page_views())
        if self.page == "item":
            return pages.item_page(ins, self.views[self.asin])
        if self.page in pages.SUB_PAGES:
            return pages.sub_page(ins, self.views[self.asin], self.page)
        return pages.done_page(self.asin or "", self.options, self.score)

    def clickables(self) -> tuple[str, ...]:
        if self.page == "start":
            return pages.START_CLICKABLES
        if self.page == "results":
            return pages.results_clickables(self.page_num, self._page_views())
        if self.page == "item":
            return self.views[self.asin].clickables
        if self.page in pages.SUB_PAGES:
            return pages.SUB_PAGE_CLICKABLES
        return ()

    @property
    def has_search_bar(self) -> bool:
        return self.page == "start"

    # ---- transitions -----------------------------------------------------------------------------
    def _to_start(self) -> None:
        self.page, self.keywords, self.page_num, self.results, self.asin = "start", None, 1, (), None
        self.options = {}

    def _to_results(self, page_num: int) -> None:
        # upstream search_results: clears the product and the selected options
        self.page, self.page_num, self.asin, self.options = "results", page_num, None, {}

    def act(self, action: str) -> Outcome:
        """Apply ``action``; an action that is not a valid search/click leaves everything unchanged."""
        if self.page == "done":
            return Outcome(False)
        name, arg = parse_action(action)
        if arg is None:
            return Outcome(False)
        arg = arg.lower()
        if name == "search":
            if not arg.strip():
                return Outcome(False)
            self.keywords = arg
            self.results = self.data.index.search(arg)
            self._to_results(1)
            return Outcome(True)
        if name != "click" or arg == pages.SEARCH_BUTTON or arg not in self.clickables():
            return Outcome(False)
        if arg == pages.BUY_NOW:
            return self._buy()
        if arg == pages.BACK_TO_SEARCH:
            self._to_start()
        elif arg == pages.NEXT_PAGE and self.page == "results":
            self._to_results(self.page_num + 1)
        elif arg == pages.PREV_PAGE and self.page == "results":
            self._to_results(self.page_num - 1)
        elif arg == pages.PREV_PAGE and self.page in pages.SUB_PAGES:
            self.page = "item"
        elif arg == pages.PREV_PAGE and self.page == "item":
            self._to_results(self.page_num)
        elif arg in pages.SUB_PAGES:
            self.page = arg
        elif self.page == "results":
            self.page = "item"
            self.asin = next(v.asin for v in self._page_views() if v.asin.lower() == arg)
        else:  # an option value on the item page
            self.options[self.views[self.asin].option_of_value[arg]] = arg
        return Outcome(True)

    def _buy(self) -> Outcome:
        product = self.data.catalog.by_asin[self.asin]
        score, parts = score_purchase(product, self.goal, self.price_of[self.asin], self.options, self.nouns)
        self.score = score
        self.page = "done"
        return Outcome(True, reward=score, done=True, parts=parts)
