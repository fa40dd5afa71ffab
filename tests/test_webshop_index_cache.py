"""A damaged BM25 cache is rebuilt once and replaced, not rebuilt on every start."""

from __future__ import annotations

import pytest

from proxmo_envs.webshop.loader import load_catalog
from proxmo_envs.webshop.search import SearchIndex
from test_webshop_engine import write_tiny


def test_a_damaged_index_cache_is_replaced(tmp_path, monkeypatch):
    cat = load_catalog(write_tiny(tmp_path / "catalog"))
    cache = tmp_path / "cache"
    first = SearchIndex.load_or_build(cat.products, cat.data_hash, cache)
    (folder,) = (cache / "webshop").iterdir()
    damaged = sorted(p for p in folder.iterdir() if p.name != "asins.json")[0]
    damaged.write_bytes(b"\x00garbage")
    rebuilt = SearchIndex.load_or_build(cat.products, cat.data_hash, cache)
    assert rebuilt.search("shoes") == first.search("shoes")
    assert [p.name for p in (cache / "webshop").iterdir()] == [folder.name]  # no stale copies left

    def no_build(products):
        raise AssertionError("the index was rebuilt although the cache had been replaced")

    monkeypatch.setattr(SearchIndex, "build", classmethod(lambda cls, products: no_build(products)))
    assert SearchIndex.load_or_build(cat.products, cat.data_hash, cache).search("shoes") == first.search("shoes")
