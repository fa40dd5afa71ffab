"""The text protocol every trainer adapter shares: environment step -> prompt text, model reply -> action.

A language-model agent sees one prompt per step and answers with free text. This module fixes both
directions once, so TRL, SkyRL-Gym, verifiers, GEM and proxmo's own generating policy all show the same
prompt and read replies the same way.

API
---
``render(observation, info, history=(), config=None) -> str``
    The prompt of one step: a one-line role, the task, how many steps were taken, the last
    ``config.history_length`` (observation, action) pairs, the current observation in a fixed
    ``<observation>`` block and the admissible actions in a fixed ``<admissible_actions>`` block (one per
    line), then the answer instructions. ``info`` is the env's info dict of that step (its
    ``admissible_actions`` and task: WebShop ``info["goal"]["instruction_text"]``, ALFWorld
    ``info["task"]``). ``history`` holds the episode's earlier ``(observation, action)`` pairs, oldest first.
``strip(prompt) -> str``
    The bare environment observation inside a rendered prompt, character for character (the inverse of
    ``render`` for the observation). Raises ``ValueError`` naming the missing marker on other text.
``unrender(prompt) -> Rendered``
    Everything ``render`` put in: ``task``, ``step``, ``observation``, ``admissible`` and ``history``.
    ``observation`` and ``admissible`` are exact; history observations come back as shown (newlines
    flattened to spaces, cut to ``max_history_chars``), because that is all the prompt holds.
``is_rendered(text) -> bool``
    Whether ``text`` carries the protocol's observation block (a cheap test before ``strip``).
``parse(reply, admissible=None, fallback="invalid") -> str | None``
    The action of a reply: the text of its last complete ``<action>...</action>`` block, whitespace and
    one pair of surrounding quotes removed. Without such a block, ``fallback`` decides: ``"invalid"``
    (None), ``"reply"`` (the whole reply when it is one non-empty line) or ``"admissible"`` (the
    admissible action mentioned last in the reply, the longest one on ties). Never raises on a str.
``env_action(reply, admissible=None, fallback="invalid") -> str``
    ``parse`` for ``env.step``: a reply that does not parse becomes :data:`INVALID_ACTION`, a string both
    envs answer as an invalid-action step (WebShop: nothing changes, ALFWorld: "Nothing happens."), so
    the step still counts and ``info["invalid_action"]`` is True; no exception reaches the trainer.

The layout, fixed so that ``strip`` is exact::

    <role line>
    Task: <task, one line>
    Steps taken so far: <n>.
    Recent steps (oldest first):          (only when n > 0 and history_length > 0)
    - step <k> observation: <one line>
    - step <k> action: <action>
    Current observation (step <n + 1>):
    <observation>
    <the env's observation, verbatim>
    </observation>
    Admissible actions (one per line):
    <admissible_actions>
    <action>
    ...
    </admissible_actions>
    <answer instructions>

Everything before ``<observation>`` is one line per item (task and history are flattened), so the first
line that is exactly ``<observation>`` opens the block; the block closes at the last
``</observation>`` line followed by the admissible-actions header and ``<admissible_actions>``.

The templates follow the spirit of the ALFWorld and WebShop prompts of GiGPO (arXiv 2505.10978, the
verl-agent code) and ProxMO (arXiv 2602.19225): role, task, a short window of recent steps, the current
observation, the admissible actions, a ``<think>`` then ``<action>`` answer. The wording here is our own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

INVALID_ACTION = "<unparsable reply>"
FALLBACKS = ("invalid", "reply", "admissible")
ENV_KINDS = ("auto", "webshop", "alfworld", "generic")
ANSWER_MODES = ("tag", "tool")

OBS_OPEN, OBS_CLOSE = "<observation>", "</observation>"
ADM_OPEN, ADM_CLOSE = "<admissible_actions>", "</admissible_actions>"
ADM_HEADER = "Admissible actions (one per line):"
_OBS_TAIL = f"\n{OBS_CLOSE}\n{ADM_HEADER}\n{ADM_OPEN}\n"  # closes the observation block
_OBS_HEADER = re.compile(r"^Current observation \(step (\d+)\):$")
_HISTORY_LINE = re.compile(r"^- step (\d+) (observation|action): (.*)$")
_ACTION_BLOCK = re.compile(r"<action>(.*?)</action>", re.S)

_ROLE = {
    "webshop": "You are shopping for a customer in the WebShop online store, one action at a time.",
    "alfworld": "You are a household robot in a text-based home (ALFWorld), acting one step at a time.",
    "generic": "You are an agent acting in a text environment, one step at a time.",
}
_GOAL_HINT = {
    "webshop": "Choose the action that brings you closest to buying the item the task describes; in "
               "search[<query>] replace <query> with your own search words.",
    "alfworld": "Choose the action that brings you closest to completing the task.",
    "generic": "Choose the action that brings you closest to completing the task.",
}
_EXAMPLE = {"webshop": "click[buy now]", "alfworld": "look", "generic": "look"}


@dataclass(frozen=True)
class RenderConfig:
    """How :func:`render` writes a step's prompt.

    env: ``"auto"`` (WebShop when ``info`` carries a ``goal`` dict, ALFWorld when it carries ``task``),
        ``"webshop"``, ``"alfworld"`` or ``"generic"``: picks the role line, hint and answer example.
    history_length: (observation, action) pairs shown before the current step (2, as in GiGPO/ProxMO).
    max_history_chars: each history observation is cut to this many characters (+ " ..."); None = no cut.
    reasoning: ask for ``<think>...</think>`` before the ``<action>`` block (the papers' format).
    answer: ``"tag"`` (reply with ``<action>...</action>``) or ``"tool"`` (call the ``act`` tool with the
        action, for trainers whose environments are tool methods, such as TRL's ``environment_factory``).
    """

    env: str = "auto"
    history_length: int = 2
    max_history_chars: int | None = 400
    reasoning: bool = True
    answer: str = "tag"

    def __post_init__(self) -> None:
        if self.answer not in ANSWER_MODES:
            raise ValueError(f"RenderConfig.answer must be one of {', '.join(ANSWER_MODES)}, got {self.answer!r}")
        if self.env not in ENV_KINDS:
            raise ValueError(f"RenderConfig.env must be one of {', '.join(ENV_KINDS)}, got {self.env!r}")
        if isinstance(self.history_length, bool) or not isinstance(self.history_length, int) or self.history_length < 0:
            raise ValueError(f"RenderConfig.history_length must be an int >= 0, got {self.history_length!r}")
        if self.max_history_chars is not None and (
            isinstance(self.max_history_chars, bool) or not isinstance(self.max_history_chars, int)
            or self.max_history_chars < 1
        ):
            raise ValueError(f"RenderConfig.max_history_chars must be None or an int >= 1, got {self.max_history_chars!r}")


@dataclass(frozen=True)
class Rendered:
    """What :func:`unrender` recovers from a prompt (see the module docstring for what is exact)."""

    task: str
    step: int  # steps taken before this one (0 on the first prompt of an episode)
    observation: str
    admissible: tuple[str, ...]
    history: tuple[tuple[str, str], ...]


def env_kind(info: Mapping[str, Any] | None, env: str = "auto") -> str:
    """``"webshop"``, ``"alfworld"`` or ``"generic"`` for ``env`` (resolving ``"auto"`` from ``info``)."""
    if env != "auto":
        if env not in ENV_KINDS:
            raise ValueError(f"env must be one of {', '.join(ENV_KINDS)}, got {env!r}")
        return env
    info = info or {}
    if isinstance(info.get("goal"), Mapping):
        return "webshop"
    if isinstance(info.get("task"), str):
        return "alfworld"
    return "generic"


def task_text(info: Mapping[str, Any] | None, observation: str = "") -> str:
    """The task of a step: WebShop's instruction or ALFWorld's task sentence ("" when neither is known)."""
    info = info or {}
    goal = info.get("goal")
    if isinstance(goal, Mapping) and isinstance(goal.get("instruction_text"), str):
        return goal["instruction_text"]
    if isinstance(info.get("task"), str) and info["task"]:
        return info["task"]
    if isinstance(info.get("instruction"), str):
        return info["instruction"]
    from proxmo_envs.alfworld.goal import task_from_observation
    from proxmo_envs.webshop.instruction import instruction_from_observation

    return instruction_from_observation(observation) or task_from_observation(observation) or ""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _cut(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[:limit] + " ..."


def render(observation: str, info: Mapping[str, Any] | None, history: Sequence[tuple[str, str]] = (),
           config: RenderConfig | None = None) -> str:
    """The prompt text of one step (layout in the module docstring)."""
    if not isinstance(observation, str):
        raise TypeError(f"render: observation must be a str, got {type(observation).__name__}")
    cfg = config or RenderConfig()
    info = info or {}
    kind = env_kind(info, cfg.env)
    admissible = [_one_line(a) for a in (info.get("admissible_actions") or [])]
    n = len(history)
    lines = [_ROLE[kind], f"Task: {_one_line(task_text(info, observation)) or '(see the observation)'}",
             f"Steps taken so far: {n}."]
    if n and cfg.history_length:
        recent = list(history)[-cfg.history_length:]
        lines.append("Recent steps (oldest first):")
        for k, (obs, act) in enumerate(recent, start=n - len(recent) + 1):
            lines.append(f"- step {k} observation: {_cut(_one_line(obs), cfg.max_history_chars)}")
            lines.append(f"- step {k} action: {_one_line(act)}")
    lines += [f"Current observation (step {n + 1}):", OBS_OPEN, observation, OBS_CLOSE,
              ADM_HEADER, ADM_OPEN, *admissible, ADM_CLOSE]
    example = _EXAMPLE[kind]
    if cfg.answer == "tool":
        answer = f'Answer by calling the act tool with exactly one admissible action, e.g. act(action="{example}").'
    else:
        answer = f"Answer with exactly one admissible action inside <action> </action>, e.g. <action>{example}</action>."
    if cfg.reasoning:
        answer = "First think about the situation inside <think> </think>. Then a" + answer[1:]
    lines += [_GOAL_HINT[kind], answer]
    return "\n".join(lines)


def is_rendered(text: str) -> bool:
    """Whether ``text`` holds the protocol's observation block."""
    return isinstance(text, str) and f"\n{OBS_OPEN}\n" in text and _OBS_TAIL in text


def _blocks(prompt: str) -> tuple[int, int, int, int]:
    """Character offsets (obs start, obs end, admissible start, admissible end) of a rendered prompt."""
    if not isinstance(prompt, str):
        raise TypeError(f"strip: expected a rendered prompt (str), got {type(prompt).__name__}")
    head = prompt.find(f"\n{OBS_OPEN}\n")
    if head < 0:
        raise ValueError(f"not a rendered proxmo prompt: no line {OBS_OPEN!r}")
    obs_start = head + len(OBS_OPEN) + 2
    tail = prompt.rfind(_OBS_TAIL)
    if tail < obs_start - 1:
        raise ValueError(f"not a rendered proxmo prompt: no {OBS_CLOSE!r} line followed by {ADM_OPEN!r}")
    adm_start = tail + len(_OBS_TAIL)
    adm_end = prompt.find(f"{ADM_CLOSE}", adm_start)
    if adm_end < 0:
        raise ValueError(f"not a rendered proxmo prompt: no {ADM_CLOSE!r} line")
    return obs_start, max(tail, obs_start), adm_start, adm_end


def strip(prompt: str) -> str:
    """The bare environment observation of a rendered prompt (exact inverse of :func:`render`'s block)."""
    obs_start, obs_end, _, _ = _blocks(prompt)
    return prompt[obs_start:obs_end]


def unrender(prompt: str) -> Rendered:
    """Task, step count, history, observation and admissible actions of a rendered prompt."""
    obs_start, obs_end, adm_start, adm_end = _blocks(prompt)
    head = prompt[: obs_start - len(OBS_OPEN) - 2].split("\n")
    task = next((line[len("Task: "):] for line in head if line.startswith("Task: ")), "")
    m = _OBS_HEADER.match(head[-1]) if head else None
    step = int(m.group(1)) - 1 if m else 0
    history: dict[int, list[str]] = {}
    for line in head:
        hm = _HISTORY_LINE.match(line)
        if hm:
            history.setdefault(int(hm.group(1)), ["", ""])[0 if hm.group(2) == "observation" else 1] = hm.group(3)
    block = prompt[adm_start:adm_end]
    admissible = tuple(a for a in block.split("\n") if a)
    return Rendered(task=task, step=step, observation=prompt[obs_start:obs_end], admissible=admissible,
                    history=tuple((o, a) for _, (o, a) in sorted(history.items())))


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        text = text[1:-1].strip()
    return text


def parse(reply: str, admissible: Sequence[str] | None = None, fallback: str = "invalid") -> str | None:
    """The action of a model reply, or None when it has none (rules in the module docstring)."""
    if fallback not in FALLBACKS:
        raise ValueError(f"parse: fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    if not isinstance(reply, str):
        return None
    blocks = _ACTION_BLOCK.findall(reply)
    if blocks:
        action = _strip_quotes(blocks[-1])
        return action or None
    if fallback == "reply":
        text = _strip_quotes(reply)
        return text if text and "\n" not in text else None
    if fallback == "admissible" and admissible:
        best, best_key = None, (-1, -1)
        for action in admissible:
            at = reply.rfind(action)
            if at >= 0 and (at + len(action), len(action)) > best_key:
                best, best_key = action, (at + len(action), len(action))
        return best
    return None


def env_action(reply: str, admissible: Sequence[str] | None = None, fallback: str = "invalid") -> str:
    """The string to pass to ``env.step`` for a reply: its parsed action, else :data:`INVALID_ACTION`."""
    action = parse(reply, admissible, fallback)
    return INVALID_ACTION if action is None else action


def with_overrides(config: RenderConfig | None, **changes: Any) -> RenderConfig:
    """``config`` (default :class:`RenderConfig`) with some fields replaced, validated again."""
    return replace(config or RenderConfig(), **changes)
