"""Seeded group rollouts on ALFWorld and their step-by-step transcripts.

The speed benchmark (``benchmarks/alfworld_speed.py``) and the identity tests
(``tests/test_alfworld_identity.py``) play the same episodes on the untouched engine and on the fast one and
compare them with these helpers. The policy follows the game's walkthrough but takes a uniformly random
admissible command with probability ``p_random`` (seeded per game and episode), so the episodes of a group
share prefixes, diverge, and revisit states, as a policy being trained does.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The info keys compared step by step (everything the env puts in info).
INFO_KEYS = ("admissible_actions", "admissible_commands", "invalid_action", "won", "task_score", "task_id",
             "task_type", "task", "room", "game_index", "step", "walkthrough")


@dataclass
class Transcript:
    """One episode: the reset and every step as canonical JSON-able records, and the wall and CPU
    (``time.process_time``) time of the reset and of each step [s]."""

    game_index: int
    episode: int
    records: list[list[Any]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    step_cpu_seconds: list[float] = field(default_factory=list)
    reset_seconds: float = 0.0
    reset_cpu_seconds: float = 0.0

    def digests(self) -> list[str]:
        """sha256 (first 16 hex digits) of every record, in order: what the golden files store."""
        return [record_digest(r) for r in self.records]


def record_digest(record: list[Any]) -> str:
    blob = json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("ascii")).hexdigest()[:16]


def _info_record(info: dict[str, Any]) -> dict[str, Any]:
    return {k: info[k] for k in INFO_KEYS if k in info}


def play_episode(env: Any, game_index: int, episode: int, *, seed: int = 0, p_random: float = 0.3,
                 max_steps: int = 30) -> Transcript:
    """Play one episode of ``game_index`` with the seeded walkthrough/random policy (see the module docstring).

    The random stream depends on ``(seed, game_index, episode)`` only, and the policy reads only the
    walkthrough and the admissible commands, so both engines take the same actions as long as they agree.
    """
    rng = np.random.default_rng([seed, game_index, episode])
    tr = Transcript(game_index, episode)
    t0, c0 = time.perf_counter(), time.process_time()
    obs, info = env.reset(options={"game_index": game_index})
    tr.reset_seconds, tr.reset_cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    tr.records.append(["reset", obs, _info_record(info)])
    walkthrough = list(info.get("walkthrough") or [])
    k = 0
    for _ in range(max_steps):
        admissible = info["admissible_actions"]
        if rng.random() < p_random or k >= len(walkthrough):
            action = admissible[int(rng.integers(len(admissible)))]
        else:
            action = walkthrough[k]
            k += 1
        t0, c0 = time.perf_counter(), time.process_time()
        obs, reward, terminated, truncated, info = env.step(action)
        tr.step_seconds.append(time.perf_counter() - t0)
        tr.step_cpu_seconds.append(time.process_time() - c0)
        tr.records.append([action, obs, float(reward), bool(terminated), bool(truncated), _info_record(info)])
        if terminated or truncated:
            break
    return tr


def play_groups(env: Any, game_indices: list[int], group_size: int, **kw: Any) -> list[Transcript]:
    """``group_size`` episodes of every game in turn (a GRPO group per game), on one env."""
    return [play_episode(env, g, e, **kw) for g in game_indices for e in range(group_size)]


def first_difference(a: Transcript, b: Transcript) -> str | None:
    """None when the transcripts are equal, else a one-line description of the first differing step."""
    for i, (ra, rb) in enumerate(zip(a.records, b.records)):
        if ra != rb:
            return f"game {a.game_index} episode {a.episode} step {i}: {ra!r:.300} != {rb!r:.300}"
    if len(a.records) != len(b.records):
        return f"game {a.game_index} episode {a.episode}: {len(a.records)} != {len(b.records)} records"
    return None


def one_game_per_type(task_types: list[str]) -> list[int]:
    """The first game of every task type, in ALFWorld's task-type order of first appearance."""
    return [task_types.index(t) for t in dict.fromkeys(task_types)]


# The protocol of the golden digests the identity tests compare against (one episode per game; the tests
# play it twice on the fast engine, the second time from the state cache).
GOLDEN_PROTOCOL = {"group_size": 1, "p_random": 0.3, "max_steps": 10, "seed": 0}


def golden_game(env: Any, game_index: int, protocol: dict[str, Any] = GOLDEN_PROTOCOL) -> list[list[str]]:
    """Digests of every record of the ``group_size`` episodes of one game under ``protocol``."""
    kw = {k: protocol[k] for k in ("p_random", "max_steps", "seed")}
    return [play_episode(env, game_index, e, **kw).digests() for e in range(protocol["group_size"])]
