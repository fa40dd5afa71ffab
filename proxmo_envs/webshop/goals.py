"""Goals (tasks) of a catalogue: synthetic and human, price text, weights, seeded shuffle and split.

Follows upstream ``engine/goal.py``: one synthetic goal per (product with an instruction) x (combination
of its option values); human goals from ``items_human_ins.json``. One explicit seed drives the price
draw, the price-limit draw and the shuffle (upstream: global ``random`` with the shuffle seed 233).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .loader import Catalog, draw_prices

PRICE_RANGE = tuple(10.0 * i for i in range(1, 100))
NO_PRICE_LIMIT = 1_000_000
UPSTREAM_TEST_SIZE = 500
UPSTREAM_HUMAN_GOALS = 12087  # upstream's human goal count, the reference for scaling the test split

GoalKind = Literal["synthetic", "human"]
Split = Literal["train", "test", "all"]


@dataclass(slots=True)
class Goal:
    """One task: buy ``asin`` with ``goal_options`` under ``price_upper`` (upstream goal dict keys).

    Goals are shared by every env of a process: treat them as read-only (``info["goal"]`` is a copy).
    """

    asin: str
    name: str
    category: str
    query: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    price_upper: float
    goal_options: dict[str, str] | tuple[str, ...]  # synthetic: {name: value}; human: plain strings
    weight: float = 1.0
    kind: str = "synthetic"

    def to_info(self) -> dict:
        """A fresh plain dict for ``info["goal"]`` (lists/dicts copied so callers cannot mutate the task)."""
        opts = dict(self.goal_options) if isinstance(self.goal_options, dict) else list(self.goal_options)
        return {
            "asin": self.asin,
            "name": self.name,
            "instruction_text": self.instruction_text,
            "attributes": list(self.attributes),
            "goal_options": opts,
            "price_upper": self.price_upper,
            "query": self.query,
            "category": self.category,
            "product_category": self.product_category,
            "weight": self.weight,
        }


def price_limit(price: float, rng: np.random.Generator) -> tuple[float, str]:
    """``(price_upper, text)``: two of the first four multiples of 10 above ``price`` are drawn, the larger
    is the limit; with fewer than two such multiples there is no limit (1e6, empty text)."""
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return float(NO_PRICE_LIMIT), ""
    pick = rng.choice(len(above), size=2, replace=False)
    upper = max(above[int(pick[0])], above[int(pick[1])])
    return upper, f", and price lower than {upper:.2f} dollars"


def synthetic_goals(catalog: Catalog, prices: np.ndarray, rng: np.random.Generator) -> list[Goal]:
    """One goal per product with an instruction and per combination of its option values (options in
    sorted name order); weight = mean of 1/count(attribute) over the goal's attributes."""
    raw = []
    for i, product in enumerate(catalog.products):
        if product.instruction_text is None:
            continue
        attrs = tuple(product.instruction_attributes or ())
        if not attrs:
            raise ValueError(
                f"{catalog.files['attributes'].name}: product {product.asin} has an instruction but no "
                "instruction_attributes"
            )
        upper, price_text = price_limit(float(prices[i]), rng)
        names = sorted(product.options)
        for combo in itertools.product(*(product.options[n] for n in names)):
            opts = dict(zip(names, combo))
            opt_text = ", and ".join(f"{k}: {v}" for k, v in opts.items())
            opt_text = " with " + opt_text if opt_text else ""
            raw.append((product, f"{product.instruction_text}{opt_text}{price_text}", attrs, upper, opts))
    counts = Counter(a for *_, attrs, _, _ in raw for a in attrs)
    return [
        Goal(
            asin=p.asin, name=p.name, category=p.category, query=p.query, product_category=p.product_category,
            instruction_text=text, attributes=attrs, price_upper=upper, goal_options=opts,
            weight=sum(1.0 / counts[a] for a in attrs) / len(attrs), kind="synthetic",
        )
        for p, text, attrs, upper, opts in raw
    ]


def human_goals(catalog: Catalog, prices: np.ndarray, rng: np.random.Generator) -> list[Goal]:
    """Goals from human instructions: text stripped of trailing ``.`` + price text, options are plain
    strings, weight 1; instructions without attributes are skipped (upstream)."""
    goals = []
    for i, product in enumerate(catalog.products):
        for j, ins in enumerate(product.human_instructions):
            where = f"{catalog.files.get('human', 'items_human_ins.json')}: {product.asin}[{j}]"
            if not isinstance(ins, dict) or "instruction" not in ins:
                raise ValueError(f"{where}: each human instruction needs an 'instruction' key")
            attrs = tuple(ins.get("instruction_attributes") or ())
            if not attrs:
                continue
            upper, price_text = price_limit(float(prices[i]), rng)
            goals.append(
                Goal(
                    asin=product.asin, name=product.name, category=product.category, query=product.query,
                    product_category=product.product_category,
                    instruction_text=str(ins["instruction"]).strip(".") + price_text, attributes=attrs,
                    price_upper=upper, goal_options=tuple(str(o) for o in ins.get("instruction_options") or ()),
                    weight=1.0, kind="human",
                )
            )
    return goals


def n_test_goals(n_goals: int) -> int:
    """Size of the test split: upstream's first 500, scaled for catalogues with fewer goals than upstream's
    12,087 human goals: ``min(500, max(1, round(n * 500 / 12087)))`` (about 4.1%)."""
    if n_goals <= 1:
        return n_goals
    return min(UPSTREAM_TEST_SIZE, max(1, round(n_goals * UPSTREAM_TEST_SIZE / UPSTREAM_HUMAN_GOALS)))


@dataclass
class GoalSet:
    """All goals of one kind, shuffled once with the seed; ``prices`` are the charged prices by product."""

    goals: list[Goal]
    prices: np.ndarray
    n_test: int

    def split(self, split: Split) -> list[int]:
        """Indices into ``goals`` of a split: test = the first ``n_test`` shuffled goals, train = the rest."""
        if split == "test":
            return list(range(self.n_test))
        if split == "train":
            return list(range(self.n_test, len(self.goals)))
        if split == "all":
            return list(range(len(self.goals)))
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


def build_goals(catalog: Catalog, kind: GoalKind = "synthetic", seed: int = 233) -> GoalSet:
    """Draw prices, build the goals of ``kind`` and shuffle them, all from ``seed``.

    Separate generator streams per stage (prices, price limits, shuffle) keep each stage stable when
    another changes.
    """
    if kind not in ("synthetic", "human"):
        raise ValueError(f"goals must be 'synthetic' or 'human', got {kind!r}")
    if kind == "human" and "human" not in catalog.files:
        folder = catalog.files["products"].parent
        raise FileNotFoundError(f"goals='human' needs a file matching 'items_human_ins*.json' in {folder}")
    prices = draw_prices(catalog.products, np.random.default_rng([seed, 0]))
    limit_rng = np.random.default_rng([seed, 1])
    goals = synthetic_goals(catalog, prices, limit_rng) if kind == "synthetic" else human_goals(catalog, prices, limit_rng)
    if not goals:
        where = catalog.files.get("human" if kind == "human" else "attributes")
        raise ValueError(f"no {kind} goals in the WebShop catalogue (from {where})")
    order = np.random.default_rng([seed, 2]).permutation(len(goals))
    goals = [goals[int(k)] for k in order]
    return GoalSet(goals=goals, prices=prices, n_test=n_test_goals(len(goals)))
