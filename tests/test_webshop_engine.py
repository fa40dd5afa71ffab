"""WebShop pages, clickables, navigation, search and reward on a hand-written three-product catalogue."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import proxmo_envs  # noqa: F401
from proxmo_envs.webshop.goals import Goal, build_goals, n_test_goals, price_limit
from proxmo_envs.webshop.loader import Product, load_catalog, parse_options, parse_pricing
from proxmo_envs.webshop.normalize import normalize_color
from proxmo_envs.webshop.reward import attribute_matches, option_matches, score_purchase, type_reward
from proxmo_envs.webshop.search import Analyzer, product_document

PRODUCTS = [
    {
        "asin": "B000000001", "name": "Acme Trail Running Shoes", "full_description": "Light shoes for trails.",
        "small_description": ["Rubber sole", "Breathable mesh upper"], "pricing": "$49.99",
        "customization_options": {"Color": [{"value": "Navy Blue", "image": None}, {"value": "Dash Kit", "image": None}],
                                  "Size": [{"value": "9", "image": None}, {"value": "10/11", "image": None}]},
        "product_category": "Clothing › Shoes › Running", "query": "Running Shoes ", "category": "fashion",
        "images": [], "average_rating": "",
    },
    {
        "asin": "B000000002", "name": "Acme Road Running Shoes", "full_description": "",
        "small_description": "Cushioned sole", "pricing": "$20.00 - $30.00", "customization_options": "",
        "product_category": "Clothing › Shoes › Running", "query": "running shoes", "category": "fashion",
        "images": [], "average_rating": "4.5",
    },
    {
        "asin": "B000000003", "name": "Zen Green Tea", "full_description": "Organic green tea leaves.",
        "small_description": ["Caffeine 20 mg"], "pricing": "", "customization_options": {"Flavor": None},
        "product_category": "Grocery › Tea", "query": "green tea", "category": "food", "images": [], "average_rating": "",
    },
    {"asin": "nan", "name": "skipped", "full_description": "", "small_description": [], "pricing": "",
     "customization_options": "", "product_category": "", "query": "", "category": ""},
    {"asin": "B000000001", "name": "duplicate, skipped", "full_description": "", "small_description": [], "pricing": "",
     "customization_options": "", "product_category": "", "query": "", "category": ""},
]
ATTRIBUTES = {
    "B000000001": {"attributes": ["rubber sole", "lace up"], "instruction": "i need running shoes with a rubber sole",
                   "instruction_attributes": ["rubber sole"]},
    "B000000002": {"attributes": ["cushioned sole"]},
    "B000000003": {"attributes": ["organic"], "instruction": "i want organic green tea",
                   "instruction_attributes": ["organic"]},
}
HUMAN = {
    "B000000001": [{"instruction": "i want navy blue running shoes in size 9.", "instruction_attributes": ["rubber sole"],
                    "instruction_options": ["navy blue", "9"]},
                   {"instruction": "no attributes, skipped", "instruction_attributes": [], "instruction_options": []}],
}
S = " [SEP] "


REVIEWS = [{"asin": "B000000001", "average_rating": 4.5,
            "reviews": [{"title": "Great shoes", "stars": 5, "review": "Light and fast. "},
                        {"title": "Runs small", "score": 4, "body": "Order a size up."}]}]


def write_tiny(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items_reviews_tiny.json").write_text(json.dumps(REVIEWS))
    (folder / "items_shuffle_tiny.json").write_text(json.dumps(PRODUCTS))
    (folder / "items_ins_v2_tiny.json").write_text(json.dumps(ATTRIBUTES))
    (folder / "items_human_ins.json").write_text(json.dumps(HUMAN))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("tiny_catalog"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("proxmo_cache")


def make(tiny, cache, goals="synthetic", **kwargs):
    return gym.make("proxmo/WebShop-v0", catalog=str(tiny), goals=goals, split="all", noun_extractor="words",
                    cache_dir=str(cache), **kwargs).unwrapped


def goal_index(env, options) -> int:
    return next(i for i, g in enumerate(env.goals) if g.goal_options == options)


# ---- loading ---------------------------------------------------------------------------------------
def test_loader_maps_raw_fields_like_upstream(tiny):
    cat = load_catalog(tiny)
    assert [p.asin for p in cat.products] == ["B000000001", "B000000002", "B000000003"]  # nan + duplicate skipped
    p1, p2, p3 = cat.products
    assert p1.options == {"color": ["navy blue", "dash kit"], "size": ["9", "10 | 11"]}
    assert p1.query == "running shoes" and p1.price_tag == "$49.99" and p1.pricing == [49.99]
    assert p2.bullets == ["Cushioned sole"] and p2.price_tag == "$20.0 to $30.0" and p2.rating == "4.5"
    assert p1.rating == "4.5" and p3.rating == "N.A." and p1.reviews[1] == {"title": "Runs small", "score": 4,
                                                                          "body": "Order a size up."}
    assert p3.options == {} and p3.pricing == [100.0] and p3.price_tag == "$100.0"
    assert p2.attributes == ["cushioned sole"] and p2.instruction_text is None
    assert p1.human_instructions[0]["instruction_options"] == ["navy blue", "9"]


def test_parse_pricing_and_options():
    assert parse_pricing("$1,299.00") == ([1299.0], "$1299.0")
    assert parse_pricing("$10.00 - $20.00 - $30.00") == ([10.0, 20.0], "$10.0 to $20.0")
    assert parse_pricing(None) == ([100.0], "$100.0")
    assert parse_options({"Size": [{"value": " 10/11 "}], "Style": None}, "x") == {"size": ["10 | 11"]}
    with pytest.raises(ValueError, match="x: option 'Size' has an entry without a 'value' key"):
        parse_options({"Size": [{"name": "s"}]}, "x")


def test_goals_synthetic_and_human(tiny):
    cat = load_catalog(tiny)
    gs = build_goals(cat, "synthetic", seed=233)
    assert len(gs.goals) == 5 and gs.n_test == 1 == n_test_goals(5)
    by_opts = {tuple(sorted(g.goal_options.items())): g for g in gs.goals}
    g = by_opts[(("color", "navy blue"), ("size", "10 | 11"))]
    upper = g.price_upper
    assert upper in (60.0, 70.0, 80.0)  # two of [50, 60, 70, 80] drawn, the larger kept
    assert g.instruction_text == (f"i need running shoes with a rubber sole with color: navy blue, and size: 10 | 11, "
                                  f"and price lower than {upper:.2f} dollars")
    assert g.weight == pytest.approx(1 / 4)  # 'rubber sole' appears in 4 goals
    tea = by_opts[()]
    assert tea.weight == 1.0 and tea.instruction_text.startswith("i want organic green tea, and price lower than")
    # all option-combination goals of one product share its price limit
    assert len({g.price_upper for g in gs.goals if g.asin == "B000000001"}) == 1
    hs = build_goals(cat, "human", seed=233)
    assert len(hs.goals) == 1  # the instruction without attributes is skipped
    h = hs.goals[0]
    assert h.goal_options == ("navy blue", "9") and h.weight == 1.0
    assert h.instruction_text.startswith("i want navy blue running shoes in size 9, and price lower than")
    # same seed -> same goals; another seed -> another shuffle or price draw
    assert [x.instruction_text for x in build_goals(cat, "synthetic", 233).goals] == [x.instruction_text for x in gs.goals]


def test_price_limit_rule():
    rng = np.random.default_rng(0)
    for _ in range(50):
        upper, text = price_limit(12.5, rng)
        assert upper in (30.0, 40.0, 50.0) and text == f", and price lower than {upper:.2f} dollars"
    assert price_limit(985.0, rng) == (1_000_000.0, "")  # only 990 is above: no limit
    upper, _ = price_limit(975.0, rng)
    assert upper == 990.0  # [980, 990] -> the larger


def test_n_test_goals_scales_upstream_500():
    assert n_test_goals(12087) == 500 and n_test_goals(100_000) == 500
    assert n_test_goals(4830) == round(4830 * 500 / 12087) == 200
    assert n_test_goals(1) == 1 and n_test_goals(5) == 1


# ---- search ----------------------------------------------------------------------------------------
def lucene_bm25(docs: list[list[str]], query: list[str], k1=0.9, b=0.4) -> np.ndarray:
    n = len(docs)
    avgdl = sum(map(len, docs)) / n
    out = np.zeros(n)
    for term in set(query):
        df = sum(term in d for d in docs)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for j, d in enumerate(docs):
            tf = d.count(term)
            out[j] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return out


def test_document_text_and_analyzer(tiny):
    p1 = load_catalog(tiny).products[0]
    assert product_document(p1) == ("acme trail running shoes light shoes for trails. rubber sole "
                                     "color: navy blue, dash kit, and size: 9, 10 | 11")
    assert Analyzer()("The Runner's shoes and boxes for running") == ["runner", "shoe", "box", "run"]


def test_search_ranks_like_lucene_bm25(tiny, cache):
    env = make(tiny, cache)
    cat = env._tasks.catalog
    an = Analyzer()
    docs = [an(product_document(p)) for p in cat.catalog.products]
    for query in ["running shoes", "trail shoes rubber", "green tea organic", "acme", "navy blue 9"]:
        scores = lucene_bm25(docs, an(query))
        expected = [cat.catalog.products[i].asin for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        assert list(cat.index.search(query)) == expected, query
    assert cat.index.search("zzz qqq") == ()


# ---- pages and navigation ----------------------------------------------------------------------------
def test_page_texts_clickables_and_navigation(tiny, cache):
    env = make(tiny, cache, show_reviews=True)  # the opt-in ratings and reviews (upstream's default: below)
    i = goal_index(env, {"color": "navy blue", "size": "9"})
    obs, info = env.reset(seed=0, options={"goal_index": i})
    ins = env.goals[i].instruction_text
    head = f"Instruction:{S}{ins}{S}Back to Search"
    assert obs == f"WebShop{S}Instruction:{S}{ins}{S}Search"
    assert info["available_actions"] == {"has_search_bar": True, "clickables": ["search"]}
    assert info["admissible_actions"] == ["search[<query>]", "click[search]"]

    obs, r, term, trunc, info = env.step("search[Running SHOES]")
    order = list(env._tasks.catalog.index.search("running shoes"))
    assert sorted(order) == ["B000000001", "B000000002"]
    rows = {"B000000001": f"B000000001{S}Acme Trail Running Shoes{S}$49.99",
            "B000000002": f"B000000002{S}Acme Road Running Shoes{S}$20.0 to $30.0"}
    assert obs == f"{head}{S}Page 1 (Total results: 2){S}Next >{S}" + S.join(rows[a] for a in order)
    assert info["available_actions"]["clickables"] == ["back to search", "next >"] + [a.lower() for a in order]
    assert (r, term, trunc, info["invalid_action"]) == (0.0, False, False, False)

    obs, *_ , info = env.step("click[next >]")
    assert obs == f"{head}{S}Page 2 (Total results: 2){S}< Prev{S}Next >"
    assert info["available_actions"]["clickables"] == ["back to search", "< prev", "next >"]
    obs, *_, info = env.step("click[< prev]")
    assert obs.startswith(f"{head}{S}Page 1 (Total results: 2){S}Next >")

    obs, *_, info = env.step("click[b000000001]")
    item = (f"{head}{S}< Prev{S}color{S}navy blue{S}dash kit{S}size{S}9{S}10 | 11{S}Acme Trail Running Shoes{S}"
            f"Price: $49.99{S}Rating: 4.5{S}Description{S}Features{S}Reviews{S}Buy Now")
    assert obs == item
    assert info["available_actions"]["clickables"] == [
        "back to search", "< prev", "description", "features", "reviews", "buy now", "navy blue", "dash kit", "9", "10 | 11"]
    assert info["admissible_actions"][0] == "click[back to search]" and "search[<query>]" not in info["admissible_actions"]

    obs, *_, info = env.step("click[navy blue]")
    assert obs == item and info["selected_options"] == {"color": "navy blue"}  # the selection is not shown
    assert env.step("click[description]")[0] == f"{head}{S}< Prev{S}Light shoes for trails."
    assert env.step("click[< prev]")[0] == item
    assert env.step("click[features]")[0] == f"{head}{S}< Prev{S}Rubber sole{S}Breathable mesh upper"
    obs, *_, info = env.step("click[< prev]")
    assert info["selected_options"] == {"color": "navy blue"}  # sub-page round trip keeps the selection
    assert env.step("click[reviews]")[0] == f'{head}{S}< Prev{S}"Great shoes"{S}5{S}Light and fast.{S}"Runs small"{S}4{S}Order a size up.'
    assert env.step("click[< prev]")[0] == item
    # upstream's pages (the default): its loader never reads the reviews, so Rating: N.A. and an empty page
    plain = make(tiny, cache)
    plain.reset(seed=0, options={"goal_index": i})
    plain.step("search[running shoes]")
    assert plain.step("click[b000000001]")[0] == item.replace("Rating: 4.5", "Rating: N.A.")
    assert plain.step("click[reviews]")[0] == f"{head}{S}< Prev"
    # < prev on the item page -> the results page it came from, selections cleared
    obs, *_, info = env.step("click[< prev]")
    assert info["page"] == "results" and info["selected_options"] == {} and "Page 1 (Total results: 2)" in obs
    obs, *_, info = env.step("click[back to search]")
    assert obs == f"WebShop{S}Instruction:{S}{ins}{S}Search" and info["page"] == "start"


def test_search_works_from_any_page_and_resets_selection(tiny, cache):
    env = make(tiny, cache)
    env.reset(options={"goal_index": 0})
    env.step("search[running shoes]")
    env.step("click[b000000001]")
    env.step("click[9]")
    obs, _, _, _, info = env.step("search[green tea]")
    assert info["page"] == "results" and info["selected_options"] == {} and "B000000003" in obs
    assert not info["invalid_action"]


@pytest.mark.parametrize("action", ["click[buy now]", "click[search]", "search[]", "search[   ]", "buy now", "click[]",
                                    "click[B000000002]", "jump[b000000001]", "click [next >]", "", "[x]", "search"])
def test_invalid_actions_are_noops(tiny, cache, action):
    env = make(tiny, cache)
    obs0, info0 = env.reset(options={"goal_index": 0})
    obs, r, term, trunc, info = env.step(action)
    assert (obs, r, term, trunc) == (obs0, 0.0, False, False)
    assert info["invalid_action"] is True and info["page"] == "start" and info["step"] == 1


def test_upstream_parse_quirks(tiny, cache):
    env = make(tiny, cache)
    env.reset(options={"goal_index": 0})
    # upstream's regex is greedy and unanchored at the end: trailing text after ']' is ignored
    _, _, _, _, info = env.step("search[running shoes] now")
    assert not info["invalid_action"] and info["page"] == "results"
    _, _, _, _, info = env.step("click[B000000001]")  # arguments are lowercased
    assert not info["invalid_action"] and info["page"] == "item"


# ---- reward --------------------------------------------------------------------------------------------
def buy(env, goal_options, asin, clicks):
    i = goal_index(env, goal_options)
    env.reset(options={"goal_index": i})
    env.step("search[running shoes green tea]")
    env.step(f"click[{asin.lower()}]")
    for c in clicks:
        assert not env.step(f"click[{c}]")[4]["invalid_action"]
    return env.step("click[buy now]")


def test_reward_exact_purchase_is_one(tiny, cache):
    env = make(tiny, cache)
    obs, r, term, trunc, info = buy(env, {"color": "navy blue", "size": "9"}, "B000000001", ["navy blue", "9"])
    assert (r, term, trunc) == (1.0, True, False) and info["won"] and info["task_score"] == 1.0
    assert {k: info[k] for k in ("r_type", "r_att", "r_option", "r_price", "query_match", "category_match")} == {
        "r_type": 1.0, "r_att": 1.0, "r_option": 1.0, "r_price": True, "query_match": True, "category_match": True}
    assert info["title_score"] == 1.0
    assert obs == S.join(["Thank you for shopping with us!", "Your code:", "None", "(Paste it in your MTurk interface.)",
                          "Purchased", "asin", "B000000001", "options", '{"color": "navy blue", "size": "9"}',
                          "Your score (min 0.0, max 1.0)", "1.0"])
    assert info["admissible_actions"] == []
    # after the episode ended every action is a no-op
    assert env.step("search[tea]")[4]["invalid_action"]


def test_reward_colour_substring_quirk(tiny, cache):
    # 'dash kit' normalises to 'ash' on the purchase side; the goal tuple ('color', 'dash kit') is untouched,
    # so the exact purchase misses the colour: (1 attr + 1 option + 1 price) / 4
    env = make(tiny, cache)
    _, r, _, _, info = buy(env, {"color": "dash kit", "size": "9"}, "B000000001", ["dash kit", "9"])
    assert r == pytest.approx(0.75) and info["r_option"] == 0.5 and not info["won"]


def test_reward_missing_options_wrong_product_wrong_type(tiny, cache):
    env = make(tiny, cache)
    _, r, *_ = buy(env, {"color": "navy blue", "size": "9"}, "B000000001", [])
    assert r == pytest.approx(2 / 4)  # attribute + price
    # the road shoe: same query -> r_type 1; no 'rubber sole'; no options; price (<= 30) under the limit
    _, r, _, _, info = buy(env, {"color": "navy blue", "size": "9"}, "B000000002", [])
    assert r == pytest.approx(1 / 4) and info["title_score"] == pytest.approx(3 / 4) and info["r_att"] == 0.0
    # the tea: other query and category, no shared title noun -> r_type 0
    _, r, _, _, info = buy(env, {"color": "navy blue", "size": "9"}, "B000000003", [])
    assert r == 0.0 and info["r_type"] == 0.0 and info["title_score"] == 0.0


def product(**kw) -> Product:
    base = dict(asin="B1", name="Blue Widget", description="", bullets=[], pricing=[5.0], price_tag="$5.0", options={},
                attributes=["DUMMY_ATTR"], category="c", query="q", product_category="A › B")
    base.update(kw)
    return Product(**base)


def goal(**kw) -> Goal:
    base = dict(asin="B1", name="Blue Widget", category="c", query="q", product_category="A › B", instruction_text="",
                attributes=("x",), price_upper=10.0, goal_options={})
    base.update(kw)
    return Goal(**base)


def test_option_matching_quirks():
    assert normalize_color("green2") == "green" and normalize_color("antique graywash") == "ash"
    assert normalize_color(("color", "navy")) == "navy" and normalize_color(("color", "navy blue")) == ("color", "navy blue")
    # tuple goal options are matched as their string "('size', 'large')" -> tokens 'size large'
    assert option_matches(["large"], {"size": "large"}) == 1
    assert option_matches(["green2"], {"color": "green2"}) == 0  # 'green' vs 'color green2'
    # plain (human) options: 'pack of 20' passes for 'pack of 10' (token-set ratio 90)
    assert option_matches(["pack of 20"], ["pack of 10"]) == 1
    assert option_matches(["pack of 20"], {"size": "pack of 10"}) == 0  # 82 with the option name in the string


def test_attribute_fuzzy_then_substring():
    p = product(attributes=["long lasting"], name="Trail Widget", bullets=["Easy Clean"], description="Made of STEEL")
    assert attribute_matches(p, ["long-lasting", "trail", "easy clean", "steel", "waterproof"]) == 4


def test_type_reward_levels_with_a_custom_extractor():
    words = lambda title: title.lower().split()  # noqa: E731  (a pluggable extractor: every word a noun)
    g = goal(name="a b c d e", query="q1", product_category="X › Y")
    assert type_reward(product(name="a z", query="q2", product_category="X › Z"), g, words).r_type == 0.5  # 0.2, no match
    assert type_reward(product(name="a z", query="q1"), g, words).r_type == 1.0  # query match
    assert type_reward(product(name="a z", query="q2", product_category="X › Y"), g, words).r_type == 1.0
    assert type_reward(product(name="a b z", query="q2"), g, words).r_type == 1.0  # 0.4 > 0.2
    g11 = goal(name=" ".join("abcdefghijk"), query="q1")
    t = type_reward(product(name="a", query="q1"), g11, words)
    assert t.title_score == pytest.approx(1 / 11) and t.r_type == 0.1  # < 0.1 even with a query match
    assert type_reward(product(name="zz", query="q1"), g11, words).r_type == 0.0
    assert type_reward(product(name="zz", query="q2"), goal(name="the of"), lambda t: []).title_score == 0.2


def test_score_price_and_weights():
    p = product(attributes=["x"])
    score, parts = score_purchase(p, goal(price_upper=4.0, goal_options={"size": "m"}), 5.0, {"size": "m"}, lambda t: ["w"])
    assert score == pytest.approx(2 / 3) and parts["r_price"] is False
    assert parts["w_att"] == parts["w_option"] == parts["w_price"] == pytest.approx(1 / 3)
    score, parts = score_purchase(p, goal(), 5.0, {}, lambda t: ["w"])
    assert score == 1.0 and parts["r_option"] is None
