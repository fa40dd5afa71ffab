"""BM25 product search, Lucene flavoured (upstream used pyserini/Lucene), built on ``bm25s``.

Lucene's ``EnglishAnalyzer`` is mimicked: word tokens, possessive ``'s`` dropped, lowercased, Lucene's 33
English stop words removed, Porter stemming (PyStemmer ``porter``). Scoring is bm25s ``method="lucene"``
with pyserini's defaults ``k1=0.9, b=0.4``. The top 50 products with a positive score are returned, ties
broken by catalogue order so results never depend on hashing.

The index is cached on disk under ``$PROXMO_CACHE`` (default ``~/.cache/proxmo``) in
``webshop/bm25-<data hash>-v<version>/``; it is created only when an environment is built.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from .loader import Product

SEARCH_RETURN_N = 50
K1, B = 0.9, 0.4
INDEX_VERSION = 1  # bump when the tokenizer or document text changes
LUCENE_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split()
)
_WORD = re.compile(r"\w+(?:'\w+)*")
_MISSING = object()


def cache_root() -> Path:
    """``$PROXMO_CACHE`` or ``~/.cache/proxmo`` (not created here)."""
    env = os.environ.get("PROXMO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "proxmo"


def product_document(p: Product) -> str:
    """The searchable text of a product (upstream ``convert_product_file_format``): lowercased Title,
    Description, first bullet point and options as ``name: v1, v2, and name2: w1``."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in p.options.items())
    first_bullet = p.bullets[0] if p.bullets else ""
    return " ".join([p.name, p.description, first_bullet, option_text]).lower()


class Analyzer:
    """Text -> list of stemmed terms (see module docstring). Callable; caches each raw token's term."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("porter")
        self._terms: dict[str, str | None] = {}

    def _term(self, word: str) -> str | None:
        if word.endswith("'s"):
            word = word[:-2]
        word = word.replace("'", "")
        if not word or word in LUCENE_STOP_WORDS:
            return None
        return self._stemmer.stemWord(word)

    def __call__(self, text: str) -> list[str]:
        terms = self._terms
        out = []
        for w in _WORD.findall(text.lower()):
            t = terms.get(w, _MISSING)
            if t is _MISSING:
                t = terms[w] = self._term(w)
            if t is not None:
                out.append(t)
        return out


class SearchIndex:
    """BM25 over a fixed product list; :meth:`search` returns ASINs (catalogue order breaks ties)."""

    def __init__(self, retriever: bm25s.BM25, asins: list[str], query_cache_size: int = 4096) -> None:
        self._retriever = retriever
        self._vocab = retriever.vocab_dict
        self.asins = asins
        self._analyzer = Analyzer()
        self._cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._cache_size = query_cache_size
        self._lock = threading.Lock()

    @classmethod
    def build(cls, products: list[Product]) -> "SearchIndex":
        analyzer = Analyzer()
        corpus = [analyzer(product_document(p)) for p in products]
        retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        retriever.index(corpus, show_progress=False)
        return cls(retriever, [p.asin for p in products])

    @classmethod
    def load_or_build(cls, products: list[Product], data_hash: str, cache_dir: Path | None = None) -> "SearchIndex":
        """Load the cached index for ``data_hash`` or build and save it (atomic rename; a cache that cannot
        be written is skipped, never an error)."""
        root = (cache_dir or cache_root()) / "webshop"
        path = root / f"bm25-{data_hash}-v{INDEX_VERSION}"
        asins = [p.asin for p in products]
        if (path / "asins.json").is_file():
            try:
                saved = json.loads((path / "asins.json").read_text())
                if saved == asins:
                    retriever = bm25s.BM25.load(str(path), load_corpus=False, show_progress=False, verbosity=0)
                    return cls(retriever, asins)
            except Exception:  # noqa: BLE001 - a damaged cache (any loader error) is rebuilt and replaced below
                pass
        index = cls.build(products)
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=root))
            index._retriever.save(str(tmp), show_progress=False)
            (tmp / "asins.json").write_text(json.dumps(asins))
            import shutil

            if path.exists():
                # A damaged or stale copy is in the way (os.replace cannot replace a non-empty folder):
                # move it aside first, or it would be rebuilt on every start and never replaced.
                stale = Path(tempfile.mkdtemp(prefix=path.name + ".stale.", dir=root))
                try:
                    os.replace(path, stale / "old")
                except OSError:
                    pass  # another process moved it already
                shutil.rmtree(stale, ignore_errors=True)
            try:
                os.replace(tmp, path)
            except OSError:  # another process won the race; its copy is identical
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass
        return index

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> tuple[str, ...]:
        """Up to ``k`` ASINs with a positive BM25 score for ``query``, best first."""
        key = f"{k}\x00{query}"
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        terms = [t for t in self._analyzer(query) if t in self._vocab]
        if not terms:
            result: tuple[str, ...] = ()
        else:
            scores = self._retriever.get_scores(terms)
            positive = np.flatnonzero(scores > 0)
            # stable sort on -score keeps catalogue order among equal scores
            order = positive[np.argsort(-scores[positive], kind="stable")][:k]
            result = tuple(self.asins[int(i)] for i in order)
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result
