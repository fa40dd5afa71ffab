"""Policies for the rollout runner, and the two shapes the runner accepts.

A *step policy* is any callable ``(observation, info) -> action`` or ``-> (action, logprob)``; a
*batched policy* is an object with ``act(observations, infos) -> actions`` or ``-> (actions, logprobs)``
(lists, one entry per env of the batch). A policy may define ``reset(seed)``: the runner calls it before
each episode (step policies) with a seed derived from the run seed, so random policies are reproducible.

Built-ins, by name (``make_policy``):
- ``random``: uniform over ``info["admissible_actions"]``; a search template (``search[...]``, WebShop's
  start page) is filled with a query taken from the instruction. Returns ``log(1/len(admissible))`` as
  the behaviour log-probability.
- ``walkthrough``: replays ``info["walkthrough"]`` (ALFWorld's shipped walkthroughs).
- ``oracle``: WebShop's ``proxmo_envs.webshop.oracle.WebShopOracle``; on other envs, the walkthrough.
- ``noisy_walkthrough``: the walkthrough with random detours (``eps`` = 0.3): mixed successes and failures
  inside one group, the logs on which credit methods differ.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from proxmo_envs.webshop.instruction import instruction_from_observation

POLICY_NAMES = ("random", "walkthrough", "oracle", "noisy_walkthrough")

_PRICE_RE = re.compile(r",?\s*and price lower than [\d.]+ dollars\.?\s*$", re.IGNORECASE)
_LEAD_RE = re.compile(
    r"^(i('m| am) (looking|searching) for|i (need|want|would like)( to (buy|find|get))?|find me|"
    r"please find|get me|show me|looking for)\s+",
    re.IGNORECASE,
)


def query_from_instruction(observation: str, info: Mapping[str, Any] | None = None) -> str:
    """A search query from a WebShop instruction: the instruction without its lead-in and price clause.

    The instruction is ``info["instruction"]`` when the env gives it, else the text after
    ``Instruction: [SEP]`` in the observation. Lower-cased, at most 12 words.
    """
    text = None
    if info is not None and isinstance(info.get("instruction"), str):
        text = info["instruction"]
    if text is None:
        text = instruction_from_observation(observation) or observation
    text = _PRICE_RE.sub("", text.strip())
    text = _LEAD_RE.sub("", text.strip())
    words = re.sub(r"[\[\]]", " ", text).lower().split()
    return " ".join(words[:12]) or "item"


def _is_search_template(action: str) -> bool:
    return action.startswith("search[")


class RandomPolicy:
    """Uniform over the admissible actions, from a ``np.random.Generator`` reseeded by ``reset(seed)``.

    Returns ``(action, log(1/n))`` with ``n`` the number of admissible actions. Raises ``ValueError`` at a
    step that offers no admissible action.
    """

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def __call__(self, observation: str, info: Mapping[str, Any]) -> tuple[str, float]:
        admissible = info.get("admissible_actions") or []
        if not admissible:
            raise ValueError(f"random policy: no admissible actions at this step (task {info.get('task_id')!r})")
        action = admissible[int(self._rng.integers(len(admissible)))]
        if _is_search_template(action):
            action = f"search[{query_from_instruction(observation, info)}]"
        return action, -math.log(len(admissible))


def _walkthrough_of(info: Mapping[str, Any], policy: str) -> list[str]:
    """The episode's ``info["walkthrough"]`` as a list of commands; a ``ValueError`` when there is none."""
    walkthrough = info.get("walkthrough")
    if not walkthrough:
        raise ValueError(f"{policy} policy: task {info.get('task_id')!r} has no info['walkthrough']")
    return [str(a) for a in walkthrough]


class WalkthroughPolicy:
    """Replays ``info["walkthrough"]`` of the episode (read at its first step), then ``look``.

    Raises ``ValueError`` when the env gives no walkthrough for the task.
    """

    name = "walkthrough"

    def __init__(self) -> None:
        self._plan: list[str] | None = None
        self._t = 0

    def reset(self, seed: int | None = None) -> None:
        self._plan, self._t = None, 0

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        if self._plan is None:
            self._plan = _walkthrough_of(info, self.name)
        action = self._plan[self._t] if self._t < len(self._plan) else "look"
        self._t += 1
        return action


class NoisyWalkthroughPolicy:
    """Follows ``info["walkthrough"]``, but with probability ``eps`` per step takes a uniformly random
    admissible action instead; after a detour it first returns to the plan's last ``go to`` location.

    Randomness comes from a ``np.random.Generator`` reseeded by ``reset(seed)``. eps: in [0, 1], default 0.3.
    """

    name = "noisy_walkthrough"

    def __init__(self, eps: float = 0.3) -> None:
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"noisy_walkthrough: eps must be in [0, 1], got {eps!r}")
        self.eps = float(eps)
        self.reset()

    def describe(self) -> dict[str, float]:
        return {"eps": self.eps}

    def reset(self, seed: int | None = None) -> None:
        self._rng, self._t, self._plan = np.random.default_rng(seed), 0, None

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        if self._plan is None:
            self._plan = _walkthrough_of(info, self.name)
        admissible = info.get("admissible_actions") or []
        if not admissible:
            raise ValueError(f"noisy_walkthrough policy: no admissible actions (task {info.get('task_id')!r})")
        if self._t < len(self._plan) and self._rng.random() >= self.eps:
            action = self._plan[self._t]
            if action in admissible:
                self._t += 1
                return action
            back = [a for a in self._plan[: self._t] if a.startswith("go to ")]
            if back and back[-1] in admissible:
                return back[-1]
        return admissible[int(self._rng.integers(len(admissible)))]


class OraclePolicy:
    """WebShop's oracle (``proxmo_envs.webshop.oracle.WebShopOracle``), fresh for each episode."""

    name = "oracle"

    def __init__(self) -> None:
        self._oracle: Callable[[str, Mapping[str, Any]], str] | None = None

    def reset(self, seed: int | None = None) -> None:
        from proxmo_envs.webshop.oracle import WebShopOracle  # heavy; only when used

        self._oracle = WebShopOracle()

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        if self._oracle is None:
            self.reset()
        return self._oracle(observation, info)  # type: ignore[misc]


def make_policy(name: str, env_id: str) -> Any:
    """The built-in policy ``name`` (one of ``POLICY_NAMES``) for ``env_id``."""
    if name == "random":
        return RandomPolicy()
    if name == "walkthrough":
        return WalkthroughPolicy()
    if name == "oracle":
        return OraclePolicy() if "webshop" in env_id.lower() else WalkthroughPolicy()
    if name == "noisy_walkthrough":
        return NoisyWalkthroughPolicy()
    raise ValueError(f"unknown policy {name!r}; built-ins are {', '.join(POLICY_NAMES)}")


def is_batched(policy: Any) -> bool:
    """Whether ``policy`` is batched (has ``act``) rather than a per-step callable."""
    return callable(getattr(policy, "act", None))


def describe_policy(policy: Any) -> dict[str, Any]:
    """A JSON-able description of a policy for the manifest: built-in name or class path."""
    if isinstance(policy, str):
        return {"name": policy, "batched": False}
    cls = type(policy)
    desc: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}", "batched": is_batched(policy)}
    name = getattr(policy, "name", None)
    if isinstance(name, str):
        desc["name"] = name
    describe = getattr(policy, "describe", None)
    if callable(describe):
        desc["config"] = describe()
    return desc


def split_action(output: Any) -> tuple[Any, float | None]:
    """``action`` or ``(action, logprob)`` -> ``(action, logprob or None)``."""
    if isinstance(output, tuple) and len(output) == 2:
        action, logprob = output
        return action, None if logprob is None else float(logprob)
    return output, None


def split_batch(output: Any, n: int) -> tuple[Sequence[Any], Sequence[float | None]]:
    """``actions`` or ``(actions, logprobs)`` of a batched policy -> two lists of length ``n``."""
    # A tuple of two *strings* is two actions, not (actions, logprobs).
    if isinstance(output, tuple) and len(output) == 2 and not isinstance(output[0], str):
        actions, logprobs = output
    else:
        actions, logprobs = output, [None] * n
    actions, logprobs = list(actions), list(logprobs)
    if len(actions) != n or len(logprobs) != n:
        raise ValueError(f"batched policy returned {len(actions)} actions / {len(logprobs)} logprobs for {n} envs")
    return actions, [None if lp is None else float(lp) for lp in logprobs]


__all__ = [
    "POLICY_NAMES",
    "RandomPolicy",
    "WalkthroughPolicy",
    "OraclePolicy",
    "NoisyWalkthroughPolicy",
    "make_policy",
    "is_batched",
    "describe_policy",
    "split_action",
    "split_batch",
    "query_from_instruction",
]
