"""The WebShop score of a purchase, part by part, as upstream's ``engine/goal.py`` computes it.

``score = (attribute matches + option matches + price ok) / (n_attributes + n_options + 1) * r_type``.
Pure functions over a product record (:class:`~proxmo_envs.webshop.loader.Product`) and a goal
(:class:`~proxmo_envs.webshop.goals.Goal`); no state besides the noun extractor's per-title cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from thefuzz import fuzz

from .normalize import normalize_color
from .nouns import NounExtractor

FUZZY_THRESHOLD = 85  # strictly greater than this token-set ratio counts as a match


@dataclass(frozen=True)
class TypeReward:
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


def category_parts(product_category: str) -> list[str]:
    return [x.strip() for x in product_category.split("›")]


def type_reward(bought, goal, nouns: NounExtractor) -> TypeReward:
    """r_type: 1.0, lowered to 0.5 / 0.1 / 0.0 when query, category and title nouns disagree.

    ``title_score = |nouns(bought.name) ∩ nouns(goal.name)| / |nouns(goal.name)|`` (0.2 if the goal title
    has no noun). r_type = 0.5 unless (query equal or >= 2 shared category parts or title_score > 0.2);
    then 0.1 if title_score < 0.1; then 0.0 if title_score == 0.
    """
    query_match = bought.query == goal.query
    category_match = len(set(category_parts(bought.product_category)) & set(category_parts(goal.product_category))) >= 2
    bought_nouns = nouns(bought.name)
    goal_nouns = list(nouns(goal.name))
    if not goal_nouns:
        title_score = 0.2
    else:
        title_score = len(set(bought_nouns) & set(goal_nouns)) / len(goal_nouns)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeReward(r_type, query_match, category_match, title_score)


def attribute_matches(bought, goal_attributes: Sequence[str]) -> int:
    """Number of goal attributes found in the product: fuzzy (> 85) in its attributes, else as a substring
    of its lowercased title, joined bullet points or description."""
    n = 0
    for g_attr in goal_attributes:
        if any(fuzz.token_set_ratio(p_attr, g_attr) > FUZZY_THRESHOLD for p_attr in bought.attributes):
            n += 1
        elif g_attr in bought.title_lower or g_attr in bought.bullets_lower or g_attr in bought.description_lower:
            n += 1
    return n


def goal_option_items(goal_options: Mapping[str, str] | Sequence[str]) -> list[Any]:
    """The goal side of the option comparison: ``(name, value)`` tuples for a synthetic goal's dict
    (upstream passes ``dict.items()``), the plain strings of a human goal's list."""
    if isinstance(goal_options, Mapping):
        return list(goal_options.items())
    return list(goal_options)


def option_matches(chosen_values: Sequence[str], goal_options: Mapping[str, str] | Sequence[str]) -> int:
    """Number of goal options matched (token-set ratio > 85) by some chosen value, after colour
    normalisation of both sides. Keeps both upstream quirks: chosen strings are normalised by substring,
    goal ``(name, value)`` tuples only by element equality, and a tuple is fuzzy-matched as its ``str``
    (``"('size', 'large')"`` -> tokens ``size large``)."""
    chosen = [normalize_color(v) for v in chosen_values]
    wanted = [normalize_color(o) for o in goal_option_items(goal_options)]
    n = 0
    for g in wanted:
        for p in chosen:
            if fuzz.token_set_ratio(p, g) > FUZZY_THRESHOLD:
                n += 1
                break
    return n


def score_purchase(bought, goal, price: float, options: Mapping[str, str], nouns: NounExtractor) -> tuple[float, dict]:
    """The WebShop score of buying ``bought`` at ``price`` with ``options`` (option name -> chosen value).

    Returns ``(score, parts)``; parts holds ``r_type, r_att, r_option, r_price, query_match,
    category_match, title_score`` (``r_option`` is None when the goal has no options) and the weights
    ``w_att, w_option, w_price`` as upstream's verbose info.
    """
    t = type_reward(bought, goal, nouns)
    n_att = len(goal.attributes)
    n_opt = len(goal.goal_options)
    denom = n_att + n_opt + 1
    r_price = bool(price <= goal.price_upper)
    att_hits = attribute_matches(bought, goal.attributes)
    opt_hits = option_matches(list(options.values()), goal.goal_options)
    score = (att_hits + opt_hits + int(r_price)) / denom * t.r_type
    parts = {
        "r_type": t.r_type,
        "r_att": att_hits / n_att if n_att else 0.0,
        "r_option": opt_hits / n_opt if n_opt else None,
        "r_price": r_price,
        "query_match": t.query_match,
        "category_match": t.category_match,
        "title_score": t.title_score,
        "w_att": n_att / denom,
        "w_option": n_opt / denom,
        "w_price": 1 / denom,
    }
    return float(score), parts
