"""Per-process shared, read-only WebShop data: catalogue, search index, goals and rendered product views.

The first env of a catalogue loads it (JSON, BM25 index from the disk cache); every further env of the
same catalogue and goal set reuses the same objects, so constructing it costs well under a millisecond.
"""

from __future__ import annotations

import string
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._paths import data_root
from .goals import GoalSet, build_goals
from .loader import Catalog, catalog_files, load_catalog
from .pages import ProductView
from .search import SearchIndex

EMBEDDED = "embedded"
_BASE_CHARSET = string.printable + "›’“”–—…®™°é"


@dataclass
class CatalogData:
    """A loaded catalogue with its search index, product views and the text-space charset."""

    catalog: Catalog
    index: SearchIndex
    views: dict[str, ProductView]  # upstream's pages (Rating: N.A., empty reviews)
    charset: str  # every character the pages of this catalogue can show (sorted, deterministic)
    max_text: int  # an upper bound on an observation's length
    _review_views: dict[str, ProductView] | None = None

    def views_for(self, show_reviews: bool) -> dict[str, ProductView]:
        """The product views without (upstream) or with ratings and reviews, the latter built on first use."""
        if not show_reviews:
            return self.views
        with _LOCK:
            if self._review_views is None:
                self._review_views = {p.asin: ProductView.of(p, show_reviews=True) for p in self.catalog.products}
            return self._review_views


@dataclass
class TaskData:
    """One goal set of a catalogue (``goals`` kind + seed)."""

    catalog: CatalogData
    goalset: GoalSet
    kind: str
    seed: int
    price_of: dict  # asin -> the price charged (drawn once from the seed)
    _splits: dict = field(default_factory=dict)

    def split_indices(self, split: str) -> list[int]:
        """Goal indices of a split (cached; shared by every env of this goal set, read-only)."""
        if split not in self._splits:
            idx = self.goalset.split(split)
            goals = self.goalset.goals
            ids = [f"{self.kind}:{i}:{goals[i].asin}" for i in idx]
            w = np.array([goals[i].weight for i in idx], dtype=np.float64)
            cum = np.cumsum(w) / w.sum() if len(w) else w
            self._splits[split] = (idx, ids, cum)
        return self._splits[split][0]

    def split_tables(self, split: str) -> tuple[list[str], np.ndarray]:
        """``(task_ids, cumulative normalised weights)`` of a split."""
        self.split_indices(split)
        _, ids, cum = self._splits[split]
        return list(ids), cum


_LOCK = threading.RLock()
_CATALOGS: dict[tuple, CatalogData] = {}
_TASKS: dict[tuple, TaskData] = {}


def resolve_catalog(catalog: str | Path) -> Path:
    """``"embedded"`` -> the shipped ``data/webshop``; anything else is a folder path."""
    if isinstance(catalog, str) and catalog == EMBEDDED:
        return data_root() / "webshop"
    if not isinstance(catalog, (str, Path)):
        # A ValueError (like every other bad setting): the CLI prints it as one line, and Gymnasium does not
        # re-wrap it as it does a TypeError raised inside an env constructor.
        raise ValueError(f"catalog must be 'embedded' or a folder path, got {type(catalog).__name__}")
    return Path(catalog).expanduser().resolve()


def _file_key(folder: Path) -> tuple:
    files = catalog_files(folder)
    return (str(folder),) + tuple((role, str(p), p.stat().st_mtime_ns, p.stat().st_size) for role, p in sorted(files.items()))


def _charset(catalog: Catalog, goal_texts: list[str] | None = None) -> str:
    chars = set(_BASE_CHARSET)
    for p in catalog.products:
        chars.update(p.name, p.description, p.price_tag, p.rating)
        for b in p.bullets:
            chars.update(b)
        for name, values in p.options.items():
            chars.update(name)
            for v in values:
                chars.update(v)
        for r in p.reviews:
            chars.update(r["title"], str(r["score"]), r["body"])
        for ins in p.human_instructions:
            chars.update(str(ins.get("instruction", "")) if isinstance(ins, dict) else "")
        if p.instruction_text:
            chars.update(p.instruction_text)
    return "".join(sorted(chars))


def get_catalog(catalog: str | Path = EMBEDDED, cache_dir: Path | None = None) -> CatalogData:
    """Load (once per process) the catalogue folder and its BM25 index."""
    folder = resolve_catalog(catalog)
    key = _file_key(folder)
    with _LOCK:
        hit = _CATALOGS.get(key)
        if hit is not None:
            return hit
        cat = load_catalog(folder)
        index = SearchIndex.load_or_build(cat.products, cat.data_hash, cache_dir)
        views = {p.asin: ProductView.of(p) for p in cat.products}
        # an observation is a header (instruction) plus one page body: bound both generously (reviews counted,
        # so the bound holds with show_reviews=True too)
        reviews = {p.asin: sum(len(r["title"]) + len(str(r["score"])) + len(r["body"]) + 24 for r in p.reviews)
                   + len(p.rating) for p in cat.products}
        body = max((max(len(v.item_text) + reviews[a], len(v.description_text), len(v.features_text),
                        10 * len(v.result_text)) for a, v in views.items()), default=0)
        ins = max((len(p.instruction_text or "") for p in cat.products), default=0)
        ins = max([ins] + [len(str(h.get("instruction", ""))) for p in cat.products for h in p.human_instructions
                           if isinstance(h, dict)])
        data = CatalogData(cat, index, views, _charset(cat), max_text=max(1 << 16, 2 * (body + ins) + 4096))
        _CATALOGS[key] = data
        return data


def get_tasks(catalog: str | Path = EMBEDDED, goals: str = "synthetic", seed: int = 233,
              cache_dir: Path | None = None) -> TaskData:
    """The catalogue plus its goal set of kind ``goals`` shuffled with ``seed`` (once per process)."""
    if goals not in ("synthetic", "human"):
        raise ValueError(f"goals must be 'synthetic' or 'human', got {goals!r}")
    cat = get_catalog(catalog, cache_dir)
    key = (cat.catalog.data_hash, goals, int(seed))
    with _LOCK:
        hit = _TASKS.get(key)
        if hit is None:
            goalset = build_goals(cat.catalog, goals, int(seed))
            price_of = {p.asin: float(x) for p, x in zip(cat.catalog.products, goalset.prices)}
            hit = TaskData(cat, goalset, goals, int(seed), price_of)
            _TASKS[key] = hit
        return hit


def clear_cache() -> None:
    """Forget the loaded catalogues (tests use it to measure cold loads)."""
    with _LOCK:
        _CATALOGS.clear()
        _TASKS.clear()
