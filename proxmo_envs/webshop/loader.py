"""Load a WebShop catalogue in the raw upstream schema (ours or real files, same code).

A catalogue folder holds ``items_shuffle*.json`` (products), ``items_ins_v2*.json`` (attributes and
synthetic instructions) and optionally ``items_human_ins*.json`` (human instructions) and
``items_reviews*.json`` (reviews and average ratings, as upstream's reviews file). The field mapping
follows upstream ``engine.load_products``: Title = name, Description = full_description, BulletPoints =
small_description as a list, price tag from ``pricing``, options lowercased with ``/`` -> `` | ``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PRODUCTS_GLOB = "items_shuffle*.json"
ATTRIBUTES_GLOB = "items_ins_v2*.json"
HUMAN_GLOB = "items_human_ins*.json"
REVIEWS_GLOB = "items_reviews*.json"
DEFAULT_PRICE = 100.0
_NOT_PRICE = re.compile(r"[^\d.]")
REQUIRED_PRODUCT_KEYS = ("asin", "name", "full_description", "small_description", "pricing",
                         "customization_options", "product_category", "query", "category")


@dataclass
class Product:
    """One product as the engine sees it (upstream keys in comments)."""

    asin: str
    name: str  # Title
    description: str  # Description
    bullets: list[str]  # BulletPoints
    pricing: list[float]  # one price, or [low, high]
    price_tag: str  # Price, e.g. "$12.99" or "$10.0 to $20.0"
    options: dict[str, list[str]]  # lowercased option name -> normalised values, in file order
    attributes: list[str]  # Attributes (["DUMMY_ATTR"] when the attributes file has none)
    category: str
    query: str  # lowercased, stripped
    product_category: str
    rating: str = "N.A."
    reviews: list[dict] = field(default_factory=list)
    instruction_text: str | None = None
    instruction_attributes: list[str] | None = None
    human_instructions: list[dict] = field(default_factory=list)
    # lowercased copies used by the reward's substring tests (computed once)
    title_lower: str = ""
    bullets_lower: str = ""
    description_lower: str = ""

    def __post_init__(self) -> None:
        self.title_lower = self.name.lower()
        self.bullets_lower = " ".join(self.bullets).lower()
        self.description_lower = self.description.lower()


@dataclass
class Catalog:
    """Products in file order plus an ASIN index; ``data_hash`` identifies the source files' bytes."""

    products: list[Product]
    by_asin: dict[str, Product]
    files: dict[str, Path]
    data_hash: str

    def __len__(self) -> int:
        return len(self.products)


def _find_one(folder: Path, pattern: str, required: bool) -> Path | None:
    hits = sorted(folder.glob(pattern))
    if not hits:
        if required:
            raise FileNotFoundError(f"WebShop catalogue folder {folder} has no file matching {pattern!r}")
        return None
    if len(hits) > 1:
        raise ValueError(
            f"WebShop catalogue folder {folder} has {len(hits)} files matching {pattern!r} "
            f"({', '.join(h.name for h in hits)}); keep exactly one per folder"
        )
    return hits[0]


def catalog_files(folder: str | Path) -> dict[str, Path]:
    """The products, attributes and (optional) human-instruction and reviews files of a catalogue folder."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"WebShop catalogue folder not found: {folder}")
    files = {
        "products": _find_one(folder, PRODUCTS_GLOB, True),
        "attributes": _find_one(folder, ATTRIBUTES_GLOB, True),
    }
    human = _find_one(folder, HUMAN_GLOB, False)
    if human is not None:
        files["human"] = human
    reviews = _find_one(folder, REVIEWS_GLOB, False)
    if reviews is not None:
        files["reviews"] = reviews
    return files


def files_hash(files: Mapping[str, Path]) -> str:
    """sha256 over the role names and bytes of the catalogue files (the disk-cache key)."""
    h = hashlib.sha256()
    for role in sorted(files):
        h.update(role.encode())
        h.update(Path(files[role]).read_bytes())
    return h.hexdigest()[:24]


def _read_json(path: Path, kind: type) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON in WebShop file {path}: {exc}") from None
    if not isinstance(data, kind):
        raise ValueError(f"WebShop file {path} must hold a JSON {kind.__name__}, found {type(data).__name__}")
    return data


def parse_pricing(pricing: Any) -> tuple[list[float], str]:
    """``"$12.99"`` -> ([12.99], "$12.99"); ``"$10.00 - $20.00"`` -> ([10.0, 20.0], "$10.0 to $20.0");
    empty/missing -> ([100.0], "$100.0"). Split on ``$``, keep digits and ``.`` (upstream)."""
    if not pricing:
        return [DEFAULT_PRICE], f"${DEFAULT_PRICE}"
    values: list[float] = []
    for part in str(pricing).split("$")[1:]:
        digits = _NOT_PRICE.sub("", part)
        try:
            values.append(float(digits))  # == float(Decimal(digits)) (upstream): both round correctly
        except ValueError:
            continue
    if not values:
        return [DEFAULT_PRICE], f"${DEFAULT_PRICE}"
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def parse_options(custom: Any, where: str) -> dict[str, list[str]]:
    """``customization_options`` -> {lowercased name: [value stripped, '/' -> ' | ', lowercased]}."""
    if not custom:
        return {}
    if not isinstance(custom, Mapping):
        raise ValueError(f"{where}: customization_options must be an object or '', found {type(custom).__name__}")
    options: dict[str, list[str]] = {}
    for name, contents in custom.items():
        if contents is None:
            continue
        values = []
        for content in contents:
            if not isinstance(content, Mapping) or "value" not in content:
                raise ValueError(f"{where}: option {name!r} has an entry without a 'value' key")
            values.append(str(content["value"]).strip().replace("/", " | ").lower())
        options[str(name).lower()] = values
    return options


def _rating(value: Any) -> str:
    if value in (None, "") or (isinstance(value, float) and math.isnan(value)):
        return "N.A."
    return str(value)


def _read_reviews(path: Path) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Upstream's reviews file: ``[{"asin", "reviews": [{"title", "stars"|"score", "review"|"body"}],
    "average_rating"}]`` -> (asin -> [{"title", "score", "body"}], asin -> average rating)."""
    data = _read_json(path, list)
    reviews: dict[str, list[dict]] = {}
    ratings: dict[str, Any] = {}
    for i, entry in enumerate(data):
        if not isinstance(entry, Mapping) or "asin" not in entry:
            raise ValueError(f"{path.name}[{i}]: a reviews entry must be an object with an 'asin' key")
        items = []
        for r in entry.get("reviews") or []:
            if not isinstance(r, Mapping):
                raise ValueError(f"{path.name}[{i}]: each review must be an object")
            items.append({"title": str(r.get("title", "")), "score": r.get("score", r.get("stars", "")),
                          "body": str(r.get("body", r.get("review", "")))})
        reviews[str(entry["asin"])] = items
        ratings[str(entry["asin"])] = entry.get("average_rating")
    return reviews, ratings


def load_catalog(folder: str | Path) -> Catalog:
    """Read a catalogue folder into a :class:`Catalog` (products in file order).

    Skips ASINs that are ``nan``, longer than 10 characters, or repeated (upstream). Raises
    FileNotFoundError for a missing folder/file and ValueError naming the file, product index and key for
    malformed content.
    """
    files = catalog_files(folder)
    raw_products = _read_json(files["products"], list)
    attributes = _read_json(files["attributes"], dict)
    human = _read_json(files["human"], dict) if "human" in files else {}
    reviews, ratings = _read_reviews(files["reviews"]) if "reviews" in files else ({}, {})

    products: list[Product] = []
    seen: set[str] = set()
    for i, p in enumerate(raw_products):
        where = f"{files['products'].name}[{i}]"
        if not isinstance(p, Mapping):
            raise ValueError(f"{where}: a product must be an object, found {type(p).__name__}")
        missing = [k for k in REQUIRED_PRODUCT_KEYS if k not in p]
        if missing:
            raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
        asin = p["asin"]
        if not isinstance(asin, str) or asin == "nan" or len(asin) > 10:
            continue
        if asin in seen:
            continue
        seen.add(asin)
        small = p["small_description"]
        bullets = [str(b) for b in small] if isinstance(small, list) else [str(small)]
        pricing, price_tag = parse_pricing(p["pricing"])
        attr_entry = attributes.get(asin)
        if attr_entry is not None and not isinstance(attr_entry, Mapping):
            raise ValueError(f"{files['attributes'].name}: entry {asin!r} must be an object")
        attrs = list(attr_entry["attributes"]) if attr_entry and "attributes" in attr_entry else ["DUMMY_ATTR"]
        rating = p.get("average_rating")
        products.append(
            Product(
                asin=asin,
                name=str(p["name"]),
                description=str(p["full_description"] or ""),
                bullets=bullets,
                pricing=pricing,
                price_tag=price_tag,
                options=parse_options(p["customization_options"], where),
                attributes=[str(a) for a in attrs],
                category=str(p["category"]),
                query=str(p["query"]).lower().strip(),
                product_category=str(p["product_category"]),
                rating=_rating(ratings.get(asin, rating)),
                reviews=reviews.get(asin, []),
                instruction_text=(attr_entry or {}).get("instruction"),
                instruction_attributes=(attr_entry or {}).get("instruction_attributes"),
                human_instructions=list(human.get(asin) or []),
            )
        )
    if not products:
        raise ValueError(f"{files['products']}: holds no usable product (an empty list, or only 'nan' / "
                         "over-long / repeated ASINs)")
    return Catalog(products, {p.asin: p for p in products}, files, files_hash(files))


def draw_prices(products: list[Product], rng: np.random.Generator) -> np.ndarray:
    """The price charged for each product (float64, dollars), drawn once: the single price, or uniform in
    ``[low, high]`` for a range (upstream draws the same way but unseeded)."""
    prices = np.empty(len(products), dtype=np.float64)
    for i, p in enumerate(products):
        prices[i] = p.pricing[0] if len(p.pricing) == 1 else rng.uniform(p.pricing[0], p.pricing[1])
    return prices
