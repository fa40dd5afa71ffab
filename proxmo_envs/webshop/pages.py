"""Text observations and clickables of WebShop's pages (upstream text mode, parts joined by `` [SEP] ``).

Pure functions of the page state; the per-product parts are rendered once and cached by
:class:`ProductView` (shared read-only between env instances).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .loader import Product

SEP = " [SEP] "
PRODUCT_WINDOW = 10  # results per page

BACK_TO_SEARCH = "back to search"
NEXT_PAGE = "next >"
PREV_PAGE = "< prev"
BUY_NOW = "buy now"
SUB_PAGES = ("description", "features", "reviews")
SEARCH_BUTTON = "search"
#: What upstream's item page shows as the rating (its loader never reads the reviews file).
UPSTREAM_RATING = "N.A."

START_CLICKABLES = (SEARCH_BUTTON,)
SUB_PAGE_CLICKABLES = (BACK_TO_SEARCH, PREV_PAGE)


@dataclass(frozen=True)
class ProductView:
    """Everything the pages show of one product, rendered once."""

    asin: str
    result_text: str  # "{ASIN} [SEP] {Title} [SEP] {Price}"
    item_text: str  # item page after "< Prev", options included
    description_text: str  # sub-page bodies (without the common header)
    features_text: str
    reviews_text: str
    clickables: tuple[str, ...]  # item page clickables, upstream order
    option_of_value: dict  # clickable option value -> option name (the last option offering it wins)

    @classmethod
    def of(cls, p: Product, show_reviews: bool = False) -> "ProductView":
        """The pages of ``p``. ``show_reviews=False`` is upstream: its loader has the reviews file commented
        out, so every item page says ``Rating: N.A.`` and every reviews page is empty. ``True`` shows the
        catalogue's average rating and reviews instead (an extension, off by default)."""
        parts = []
        for name, values in p.options.items():
            parts.append(name)
            parts.extend(values)
        rating = p.rating if show_reviews else UPSTREAM_RATING
        parts += [p.name, f"Price: {p.price_tag}", f"Rating: {rating}", "Description", "Features", "Reviews", "Buy Now"]
        reviews = []
        for r in p.reviews if show_reviews else ():  # upstream's review page: "title" in quotes, the score, the body
            reviews += [f'"{r["title"]}"', str(r["score"]), r["body"].strip()]
        clickables: dict[str, None] = dict.fromkeys((BACK_TO_SEARCH, PREV_PAGE, *SUB_PAGES, BUY_NOW))
        option_of_value: dict[str, str] = {}
        for name, values in p.options.items():
            for v in values:
                clickables.setdefault(v, None)
                option_of_value[v] = name
        # a value shadowed by a button (e.g. an option called "reviews") acts as the button, as upstream
        for key in (BACK_TO_SEARCH, PREV_PAGE, *SUB_PAGES, BUY_NOW):
            option_of_value.pop(key, None)
        return cls(
            asin=p.asin,
            result_text=SEP.join([p.asin, p.name, p.price_tag]),
            item_text=SEP.join(parts),
            description_text=p.description.strip(),
            features_text=SEP.join(b.strip() for b in p.bullets if b.strip()),
            reviews_text=SEP.join(x for x in reviews if x),
            clickables=tuple(clickables),
            option_of_value=option_of_value,
        )


def header(instruction: str) -> str:
    return f"Instruction:{SEP}{instruction}{SEP}Back to Search"


def start_page(instruction: str) -> str:
    """``WebShop [SEP] Instruction: [SEP] {instruction} [SEP] Search``"""
    return f"WebShop{SEP}Instruction:{SEP}{instruction}{SEP}Search"


def results_page(instruction: str, page: int, total: int, views: list[ProductView]) -> str:
    """Results page ``page`` (1-based) of ``total`` results showing ``views`` (at most 10)."""
    parts = [header(instruction), f"Page {page} (Total results: {total})"]
    if page > 1:
        parts.append("< Prev")
    parts.append("Next >")
    parts.extend(v.result_text for v in views)
    return SEP.join(parts)


def results_clickables(page: int, views: list[ProductView]) -> tuple[str, ...]:
    head = (BACK_TO_SEARCH, PREV_PAGE, NEXT_PAGE) if page > 1 else (BACK_TO_SEARCH, NEXT_PAGE)
    return head + tuple(v.asin.lower() for v in views)


def item_page(instruction: str, view: ProductView) -> str:
    return f"{header(instruction)}{SEP}< Prev{SEP}{view.item_text}"


def sub_page(instruction: str, view: ProductView, which: str) -> str:
    body = {"description": view.description_text, "features": view.features_text, "reviews": view.reviews_text}[which]
    base = f"{header(instruction)}{SEP}< Prev"
    return f"{base}{SEP}{body}" if body else base


def done_page(asin: str, options: dict, score: float) -> str:
    """The page after ``buy now`` (upstream's visible text, MTurk code ``None`` as in its text env)."""
    return SEP.join([
        "Thank you for shopping with us!", "Your code:", "None", "(Paste it in your MTurk interface.)",
        "Purchased", "asin", asin, "options", json.dumps(options), "Your score (min 0.0, max 1.0)", str(score),
    ])
