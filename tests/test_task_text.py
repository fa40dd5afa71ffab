"""WebShop's instruction and ALFWorld's task sentence are parsed in one place each and every reader
(rollout policies, the text protocol, the learned policies' context, the ALFWorld env) uses it."""

from __future__ import annotations

import gymnasium as gym

import proxmo_envs  # noqa: F401
from proxmo_analysis.policy.context import extract_goal
from proxmo_envs.alfworld.goal import task_from_observation
from proxmo_envs.rollout.policies import query_from_instruction
from proxmo_envs.text import task_text
from proxmo_envs.webshop.instruction import instruction_from_observation

WEBSHOP_OBS = ("WebShop [SEP] Instruction: [SEP] i need a red cotton t-shirt, and price lower than 30.00 dollars "
               "[SEP] Search")
ALFWORLD_OBS = ("-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.\n\n"
                "Your task is to: put a clean cloth in countertop.")


def test_one_parser_each_by_hand():
    assert instruction_from_observation(WEBSHOP_OBS) == "i need a red cotton t-shirt, and price lower than 30.00 dollars"
    assert instruction_from_observation(ALFWORLD_OBS) is None
    assert task_from_observation(ALFWORLD_OBS) == "put a clean cloth in countertop."
    assert task_from_observation("your task is to:  heat some egg\nnext line") == "heat some egg"
    assert task_from_observation(WEBSHOP_OBS) is None


def test_every_reader_agrees():
    for obs, want in ((WEBSHOP_OBS, instruction_from_observation(WEBSHOP_OBS)),
                      (ALFWORLD_OBS, task_from_observation(ALFWORLD_OBS))):
        assert extract_goal(obs) == want
        assert task_text({}, obs) == want
    assert extract_goal("nothing here", [(ALFWORLD_OBS, "look")]) == "put a clean cloth in countertop."
    assert query_from_instruction(WEBSHOP_OBS) == "a red cotton t-shirt"


def test_the_envs_observations_parse():
    env = gym.make("proxmo/WebShop-v0")
    obs, info = env.reset(seed=0)
    assert instruction_from_observation(obs) == info["goal"]["instruction_text"]
    env.close()
    env = gym.make("proxmo/ALFWorld-v0", split="eval_unseen")
    obs, info = env.reset(seed=0)
    assert task_from_observation(obs).rstrip(".") == env.unwrapped._task_text
    env.close()
