"""The scorer's hand features (policy/scorer.py: scalar_features) against values worked out by hand."""

import torch

from proxmo_analysis.policy.context import StepContext
from proxmo_analysis.policy.scorer import scalar_features


def test_features_of_a_webshop_step_by_hand():
    goal = "I need a 3 ft red rug, and price lower than 40.00 dollars"
    ctx = StepContext(
        goal=goal,
        observation="item page",
        candidates=("click[3 ft]", "click[red rug]", "click[13 ft]", "search[red rug]", "click[buy now]"),
        candidate_texts=("click[3 ft]", "click[red rug]", "click[13 ft]", "search[red rug]", "click[buy now]"),
        history=(("start", "search[red rug]"), ("results", "click[3 ft]")),
    )
    f = scalar_features(ctx)
    assert f.shape == (5, 6)
    # content words of the goal: {3, ft, red, rug, 40, 00}; "click" is ignored
    assert f[:, 0].tolist() == [1.0, 1.0, 0.5, 1.0, 0.0]  # "13 ft": 1 of {13, ft}; "buy now": 0 of 2
    # phrase: "3 ft" and "red rug" are whole-word phrases of the goal; "13 ft" is not ("3 ft" is inside
    # "13 ft" only as a substring, the reverse does not occur); a search is never a phrase
    assert f[:, 1].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert torch.allclose(f[:, 2], torch.tensor([1 / 3, 0, 0, 1 / 3, 0]))  # taken once before
    assert f[:, 3].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]  # the last action
    assert f[:, 4].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]  # position in the list
    assert f[:, 5].tolist() == [1.0] * 5  # "red rug" is a goal phrase not yet taken


def test_a_phrase_must_match_whole_words_and_pending_clears_once_taken():
    ctx = StepContext(goal="a 13 ft rug", observation="o", candidates=("click[3 ft]", "click[13 ft]"),
                      candidate_texts=("click[3 ft]", "click[13 ft]"), history=(("o", "click[13 ft]"),))
    f = scalar_features(ctx)
    assert f[:, 1].tolist() == [0.0, 1.0]  # "3 ft" is not a whole-word phrase of "a 13 ft rug"
    assert f[:, 5].tolist() == [0.0, 0.0]  # the one goal phrase was taken already


def test_an_empty_label_is_never_a_phrase():
    ctx = StepContext(goal="", observation="o", candidates=("click[]", "look"), candidate_texts=("click[]", "look"))
    f = scalar_features(ctx)
    assert f[:, 1].tolist() == [0.0, 0.0]
    assert f[:, 0].tolist() == [0.0, 0.0]


def test_the_hashed_encoders_text_cache_is_bounded_and_changes_no_number(monkeypatch):
    from proxmo_analysis.policy import encoders

    texts = [f"you are in room {i}, you see a cabinet {i % 7}" for i in range(50)]
    unbounded = encoders.HashedNgramEncoder(dim=8, buckets=1 << 10, seed=3)
    expected = unbounded(texts)
    monkeypatch.setattr(encoders, "CACHED_TEXTS", 16)
    bounded = encoders.HashedNgramEncoder(dim=8, buckets=1 << 10, seed=3)
    first = bounded(texts)
    assert bounded.cache_size <= 16
    again = bounded(texts[::-1])  # every text again, some recomputed after the cache started over
    assert bounded.cache_size <= 16
    assert torch.equal(first, expected)
    assert torch.equal(again, expected.flip(0))
    assert bounded([]).shape == (0, 8)
