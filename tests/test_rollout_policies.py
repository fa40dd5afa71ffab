"""Built-in policies and the policy-output conventions of the runner."""

from __future__ import annotations

import math

import pytest

from proxmo_analysis.logs import read_log
from proxmo_envs.rollout import rollout
from proxmo_envs.rollout.policies import (
    NoisyWalkthroughPolicy,
    RandomPolicy,
    WalkthroughPolicy,
    describe_policy,
    make_policy,
    query_from_instruction,
    split_action,
    split_batch,
)
from proxmo_envs.trajlog import FAILURES_NAME
from test_trajlog_toyenv import TOY_MAKE_ID

START = ("WebShop [SEP] Instruction: [SEP] i'm looking for usb c cable that is data transfer with size: 3 ft, "
         "and price lower than 50.00 dollars [SEP] Search")


def test_query_from_instruction_drops_lead_in_and_price():
    assert query_from_instruction(START) == "usb c cable that is data transfer with size: 3 ft"
    assert query_from_instruction("x", {"instruction": "I need a red lamp, and price lower than 30.00 dollars"}) == "a red lamp"
    assert query_from_instruction("no instruction here") == "no instruction here"


def test_random_policy_fills_search_template_and_reports_logprob():
    policy = RandomPolicy()
    policy.reset(seed=0)
    info = {"admissible_actions": ["search[<query>]"]}
    assert policy(START, info) == ("search[usb c cable that is data transfer with size: 3 ft]", 0.0)
    info = {"admissible_actions": ["a", "b", "c"]}
    picks = [policy("obs", info) for _ in range(300)]
    assert {a for a, _ in picks} == {"a", "b", "c"} and {lp for _, lp in picks} == {-math.log(3)}
    policy.reset(seed=5)
    first = [policy("obs", info)[0] for _ in range(20)]
    policy.reset(seed=5)
    assert [policy("obs", info)[0] for _ in range(20)] == first
    with pytest.raises(ValueError, match="no admissible actions"):
        policy("obs", {"admissible_actions": [], "task_id": "t"})


def test_walkthrough_policy_replays_then_looks():
    policy = WalkthroughPolicy()
    policy.reset(seed=0)
    info = {"walkthrough": ["go to desk 1", "take pen 1 from desk 1"]}
    assert [policy("o", info) for _ in range(3)] == ["go to desk 1", "take pen 1 from desk 1", "look"]
    policy.reset(seed=1)
    with pytest.raises(ValueError, match="has no info\\['walkthrough'\\]"):
        policy("o", {"task_id": "g"})


def test_noisy_walkthrough_follows_the_plan_detours_and_returns():
    plan = ["go to desk 1", "take pen 1 from desk 1", "go to shelf 1", "put pen 1 in/on shelf 1"]
    admissible = ["go to desk 1", "go to shelf 1", "look", "inventory", "take pen 1 from desk 1",
                  "put pen 1 in/on shelf 1"]
    info = {"walkthrough": plan, "admissible_actions": admissible}
    exact = NoisyWalkthroughPolicy(eps=0.0)
    exact.reset(seed=3)
    assert [exact("o", info) for _ in range(4)] == plan
    # eps = 1: every step is a uniform pick among the admissible actions, reproducible from the seed
    noisy = NoisyWalkthroughPolicy(eps=1.0)
    noisy.reset(seed=7)
    picks = [noisy("o", info) for _ in range(200)]
    assert set(picks) == set(admissible)
    noisy.reset(seed=7)
    assert [noisy("o", info) for _ in range(200)] == picks
    # after the plan's first move, a plan action that is not admissible sends it back to the last location
    back = NoisyWalkthroughPolicy(eps=0.0)
    back.reset(seed=0)
    assert back("o", info) == "go to desk 1"
    assert back("o", {"walkthrough": plan, "admissible_actions": ["go to desk 1", "look"]}) == "go to desk 1"
    assert back.describe() == {"eps": 0.0}
    with pytest.raises(ValueError, match="eps must be in"):
        NoisyWalkthroughPolicy(eps=1.5)
    with pytest.raises(ValueError, match="has no info\\['walkthrough'\\]"):
        NoisyWalkthroughPolicy().__call__("o", {"task_id": "g", "admissible_actions": ["look"]})


def test_make_policy_by_name():
    assert isinstance(make_policy("random", "proxmo/WebShop-v0"), RandomPolicy)
    assert make_policy("oracle", "proxmo/WebShop-v0").name == "oracle"
    assert isinstance(make_policy("oracle", "proxmo/ALFWorld-v0"), WalkthroughPolicy)
    assert isinstance(make_policy("noisy_walkthrough", "proxmo/ALFWorld-v0"), NoisyWalkthroughPolicy)
    with pytest.raises(ValueError, match="unknown policy 'gpt'"):
        make_policy("gpt", "proxmo/WebShop-v0")


def test_output_conventions():
    assert split_action("go") == ("go", None)
    assert split_action(("go", -2)) == ("go", -2.0)
    assert split_batch(["a", "b"], 2) == (["a", "b"], [None, None])
    assert split_batch(("a", "b"), 2) == (["a", "b"], [None, None])  # two actions, not (actions, logprobs)
    assert split_batch((["a", "b"], [-1, -2]), 2) == (["a", "b"], [-1.0, -2.0])
    with pytest.raises(ValueError, match="returned 1 actions"):
        split_batch(["a"], 2)
    assert describe_policy("random") == {"name": "random", "batched": False}
    assert describe_policy(RandomPolicy())["class"].endswith("policies.RandomPolicy")


class Broken:
    """A batched policy that raises on its second call."""

    def __init__(self):
        self.calls = 0

    def act(self, observations, infos):
        self.calls += 1
        if self.calls == 2:
            raise KeyError("boom")
        return ["nonsense"] * len(observations)


def test_batched_policy_error_fails_the_episodes_it_acted_for(tmp_path):
    summary = rollout(TOY_MAKE_ID, {}, Broken(), tasks=2, group_size=2, out=tmp_path / "r", batch_size=2)
    records = (tmp_path / "r" / FAILURES_NAME).read_text().splitlines()
    assert len(records) == 2 and all('"error": "KeyError"' in r for r in records)
    assert summary.failed == 2 and summary.episodes == 2
    assert read_log(tmp_path / "r")["task_id"].unique().to_list() == ["toy-1"]
