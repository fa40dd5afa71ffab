"""The text protocol: render/strip/unrender are exact inverses; parse reads <action> and its fallbacks."""

from __future__ import annotations

import gymnasium as gym
import pytest

import proxmo_envs  # noqa: F401
from proxmo_envs import text
from proxmo_envs.text import INVALID_ACTION, RenderConfig, env_action, parse, render, strip, unrender

WEBSHOP_INFO = {"goal": {"instruction_text": "i need red shoes, and price lower than 50.00 dollars"},
                "admissible_actions": ["search[<query>]", "click[search]"]}
ALFWORLD_INFO = {"task": "put a mug in sidetable", "admissible_actions": ["go to desk 1", "look"]}


@pytest.mark.parametrize("obs", [
    "plain",
    "",
    "two\nlines\n",
    "\n<observation>\nfake open",
    "fake close\n</observation>\nAdmissible actions (one per line):\n<admissible_actions>\nx\n</admissible_actions>",
    "  spaces kept  \t",
])
def test_strip_inverts_render_exactly(obs):
    history = [("first\n<observation>\nline", "look"), ("second", "go to desk 1")]
    for info in (WEBSHOP_INFO, ALFWORLD_INFO, {}):
        prompt = render(obs, info, history)
        assert text.is_rendered(prompt)
        assert strip(prompt) == obs
        back = unrender(prompt)
        assert back.observation == obs
        assert back.admissible == tuple(info.get("admissible_actions", ()))
        assert back.step == 2


def test_render_layout_and_history_window():
    history = [("o1", "a1"), ("o2 line\nbroken", "a2"), ("o3 " + "x" * 50, "a3")]
    prompt = render("now", ALFWORLD_INFO, history, RenderConfig(history_length=2, max_history_chars=10))
    lines = prompt.split("\n")
    assert lines[0].startswith("You are a household robot")
    assert lines[1] == "Task: put a mug in sidetable"
    assert lines[2] == "Steps taken so far: 3."
    assert lines[3] == "Recent steps (oldest first):"
    # only the last two steps, numbered 2 and 3, newlines flattened, cut at 10 characters
    assert lines[4:8] == ["- step 2 observation: o2 line br ...", "- step 2 action: a2",
                          "- step 3 observation: o3 xxxxxxx ...", "- step 3 action: a3"]
    assert lines[8] == "Current observation (step 4):"
    assert "o1" not in prompt
    back = unrender(prompt)
    assert back.task == "put a mug in sidetable"
    assert back.history == (("o2 line br ...", "a2"), ("o3 xxxxxxx ...", "a3"))
    assert "<think>" in prompt and "e.g. <action>look</action>" in prompt
    plain = render("now", ALFWORLD_INFO, history, RenderConfig(history_length=0, reasoning=False))
    assert "Recent steps" not in plain and "<think>" not in plain
    tool = render("now", ALFWORLD_INFO, (), RenderConfig(answer="tool"))
    assert 'calling the act tool' in tool and 'act(action="look")' in tool and "<action>" not in tool


def test_env_kind_and_task_from_info_or_observation():
    assert text.env_kind(WEBSHOP_INFO) == "webshop"
    assert text.env_kind(ALFWORLD_INFO) == "alfworld"
    assert text.env_kind({}) == "generic"
    assert text.env_kind(ALFWORLD_INFO, "webshop") == "webshop"
    obs = "WebShop [SEP] Instruction: [SEP] find a lamp [SEP] Search"
    assert text.task_text({}, obs) == "find a lamp"
    assert text.task_text({}, "You are here.\nYour task is to: heat an egg.") == "heat an egg."
    assert "WebShop online store" in render(obs, WEBSHOP_INFO)
    assert "Task: i need red shoes" in render(obs, WEBSHOP_INFO)


@pytest.mark.parametrize("reply, expected", [
    ("<action>look</action>", "look"),
    ("<think>maybe <action>x</action>?</think> <action> go to desk 1 </action>", "go to desk 1"),
    ("<action>'click[buy now]'</action>", "click[buy now]"),
    ('<action>"search[red shoes]"</action>', "search[red shoes]"),
    ("<action>\n  look\n</action> trailing", "look"),
    ("<action></action>", None),
    ("<action>look", None),
    ("look", None),
    ("", None),
])
def test_parse_action_block(reply, expected):
    assert parse(reply) == expected


def test_parse_fallbacks():
    adm = ["go to desk 1", "go to desk 10", "look"]
    assert parse("look", fallback="reply") == "look"
    assert parse("'look'", fallback="reply") == "look"
    assert parse("look\nthen more", fallback="reply") is None
    assert parse("   ", fallback="reply") is None
    # the admissible action mentioned last wins; on a shared end the longer one
    assert parse("I could look, but go to desk 10 is better", adm, fallback="admissible") == "go to desk 10"
    assert parse("go to desk 1 then look", adm, fallback="admissible") == "look"
    assert parse("nothing matches", adm, fallback="admissible") is None
    assert parse("<action>x</action> look", adm, fallback="admissible") == "x"  # a tag always wins
    assert parse(None) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fallback must be one of"):
        parse("x", fallback="guess")


def test_bad_config_is_one_clear_error():
    with pytest.raises(ValueError, match="history_length"):
        RenderConfig(history_length=-1)
    with pytest.raises(ValueError, match="RenderConfig.env"):
        RenderConfig(env="minecraft")
    with pytest.raises(ValueError, match="RenderConfig.answer"):
        RenderConfig(answer="json")
    with pytest.raises(ValueError, match="max_history_chars"):
        RenderConfig(max_history_chars=0)
    with pytest.raises(ValueError, match="no line '<observation>'"):
        strip("just text")
    with pytest.raises(TypeError, match="observation must be a str"):
        render(3, {})  # type: ignore[arg-type]


@pytest.mark.parametrize("env_id, kwargs", [
    ("proxmo/WebShop-v0", {"split": "test"}),
    ("proxmo/ALFWorld-v0", {"split": "eval_unseen"}),
])
def test_unparsable_reply_is_the_envs_invalid_step(env_id, kwargs):
    env = gym.make(env_id, **kwargs).unwrapped
    obs, info = env.reset(options={"task_index": 0})
    assert strip(render(obs, info)) == obs
    action = env_action("I am not sure what to do.")
    assert action == INVALID_ACTION
    obs2, reward, terminated, truncated, info2 = env.step(action)
    assert info2["invalid_action"] is True
    assert info2["step"] == 1 and reward == 0.0 and not terminated
