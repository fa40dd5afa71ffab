"""Colour normalisation of option values, as upstream WebShop's ``engine/normalize.py`` does it.

The reward compares chosen option values with goal options after passing both through
:func:`normalize_color`. Its ``in`` test is a *substring* test on a string but an *equality* test on a
tuple; upstream feeds it plain strings on the purchase side and ``(name, value)`` tuples on the goal side,
and we keep that asymmetry on purpose (see ``reward.option_reward``).
"""

from __future__ import annotations

from typing import Any

# Upstream's list, in upstream's order: the FIRST colour found wins, so order is behaviour.
COLOR_SET: tuple[str, ...] = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue",
    "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral",
    "cranberry", "cream", "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia",
    "gold", "granite", "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac", "lime", "magenta",
    "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom", "mustard",
    "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum", "purple",
    "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise",
    "violet", "walnut", "wheat", "white", "wine", "yellow",
)


def normalize_color(value: Any) -> Any:
    """Return the first colour of :data:`COLOR_SET` that is ``in`` ``value``, else ``value`` unchanged.

    For a string, ``in`` is a substring test (``"dash kit"`` -> ``"ash"``, ``"green2"`` -> ``"green"``);
    for a tuple such as ``("color", "navy")`` it is an equality test on the elements (-> ``"navy"``), and
    ``("color", "navy blue")`` is returned unchanged. Both behaviours are upstream's and are relied on.
    """
    for color in COLOR_SET:
        if color in value:
            return color
    return value
