"""What a policy sees at one step: goal, current observation, recent history and its candidate actions.

The same :class:`StepContext` is built in two places, and both must agree exactly so that the PPO ratio
is 1 for an unchanged policy:

* while acting, :class:`EpisodeTracker` accumulates each running episode's history;
* while updating, :func:`contexts_from_rows` rebuilds it from the logged rows of each episode.

A context depends only on logged columns (``observation``, ``action``, ``admissible_actions``, ``step``,
``episode_id``), never on env-specific ``info`` keys, so a run folder alone is enough to re-evaluate it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from proxmo_analysis.policy.candidates import expand_candidates
from proxmo_envs.alfworld.goal import task_from_observation
from proxmo_envs.webshop.instruction import instruction_from_observation



@dataclass(frozen=True)
class StepContext:
    """One decision: the policy picks one of ``candidates`` (exact action strings).

    ``candidate_texts`` are what a scorer reads for each candidate (e.g. a WebShop ASIN click extended
    with the product title shown next to it); ``history`` holds every earlier ``(observation, action)``
    of the episode, oldest first.
    """

    goal: str
    observation: str
    candidates: tuple[str, ...]
    candidate_texts: tuple[str, ...]
    history: tuple[tuple[str, str], ...] = ()

    @property
    def step(self) -> int:
        return len(self.history)

    def index_of(self, action: str) -> int:
        """Position of ``action`` among the candidates; ValueError when it is not one of them."""
        try:
            return self.candidates.index(action)
        except ValueError:
            shown = ", ".join(repr(c) for c in self.candidates[:8])
            raise ValueError(
                f"action {action!r} is not among the policy's {len(self.candidates)} candidates "
                f"at step {self.step} ({shown}{', ...' if len(self.candidates) > 8 else ''})"
            ) from None


def extract_goal(observation: str, history: Sequence[tuple[str, str]] = ()) -> str:
    """The task text: WebShop's instruction or ALFWorld's "Your task is to: ...".

    Looked up in the current observation, then in the episode's earlier observations (ALFWorld states
    its task only in the first one). Empty string when no known pattern is present.
    """
    for text in [observation, *(obs for obs, _ in history)]:
        goal = instruction_from_observation(text) or task_from_observation(text)
        if goal:
            return goal
    return ""


def make_context(
    observation: str, admissible_actions: Sequence[str], history: Sequence[tuple[str, str]] = ()
) -> StepContext:
    """Build the context of one step from what the environment showed and the episode so far."""
    if not isinstance(observation, str):
        raise TypeError(f"observation must be a str, got {type(observation).__name__}")
    goal = extract_goal(observation, history)
    candidates, texts = expand_candidates(observation, list(admissible_actions), goal)
    return StepContext(
        goal=goal,
        observation=observation,
        candidates=tuple(candidates),
        candidate_texts=tuple(texts),
        history=tuple((str(o), str(a)) for o, a in history),
    )


def contexts_from_rows(rows: Any) -> list[StepContext]:
    """One context per logged row, in row order, history rebuilt from earlier rows of the same episode.

    ``rows``: a polars DataFrame (or anything with ``to_dicts``/a list of dicts) with the trajectory-log
    columns ``episode_id``, ``step``, ``observation``, ``action``, ``admissible_actions``. Every episode must
    be present from step 0 up to its last logged step (the reader guarantees no gaps).
    """
    records = _as_records(rows)
    by_episode: dict[str, dict[int, dict]] = {}
    for i, r in enumerate(records):
        for key in ("episode_id", "step", "observation", "action", "admissible_actions"):
            if key not in r:
                raise KeyError(f"row {i} has no column {key!r} (needed to rebuild the policy's context)")
        steps = by_episode.setdefault(str(r["episode_id"]), {})
        steps[int(r["step"])] = r
    out = []
    for i, r in enumerate(records):
        steps = by_episode[str(r["episode_id"])]
        t = int(r["step"])
        history = []
        for k in range(t):
            if k not in steps:
                raise ValueError(
                    f"row {i}: episode {r['episode_id']!r} is missing step {k}, so the history of step {t} "
                    "cannot be rebuilt; pass whole episodes"
                )
            history.append((steps[k]["observation"], steps[k]["action"]))
        out.append(make_context(r["observation"], r["admissible_actions"] or [], history))
    return out


def _as_records(rows: Any) -> list[dict]:
    if hasattr(rows, "to_dicts"):
        return rows.to_dicts()
    if isinstance(rows, list):
        return rows
    raise TypeError(f"rows must be a polars DataFrame or a list of dicts, got {type(rows).__name__}")


@dataclass
class EpisodeTracker:
    """Per-slot episode history for batched acting.

    A slot is ``info['episode_id']`` when the caller provides it, else the position in the batch. A slot
    starts a new episode when ``info['step'] == 0`` (both proxmo envs report ``step``), when it was never
    seen, or after :meth:`end`; a reported ``step`` that disagrees with the tracked history is an error
    (positions that shift between calls without episode ids cannot be tracked; use
    ``CandidatePolicy.episodic()`` with the rollout runner).
    """

    histories: dict[Any, list[tuple[str, str]]] = field(default_factory=dict)

    @staticmethod
    def key(position: int, info: dict) -> Any:
        eid = info.get("episode_id") if isinstance(info, dict) else None
        return ("episode", eid) if eid is not None else ("slot", position)

    def context(self, position: int, observation: str, info: dict) -> StepContext:
        k = self.key(position, info)
        step = info.get("step", info.get("step_index")) if isinstance(info, dict) else None
        if step is not None and int(step) == 0:
            self.histories[k] = []
        history = self.histories.setdefault(k, [])
        if step is not None and int(step) != len(history):
            # Never silently mix two episodes' histories.
            raise ValueError(
                f"batch position {position}: info['step'] is {step} but {len(history)} step(s) are tracked for "
                "this slot; pass info['episode_id'] with each info, or drive the policy one episode at a time "
                "with policy.episodic()"
            )
        admissible = info.get("admissible_actions") if isinstance(info, dict) else None
        if admissible is None:
            raise KeyError(f"info of batch position {position} has no 'admissible_actions'")
        return make_context(observation, admissible, history)

    def record(self, position: int, info: dict, observation: str, action: str) -> None:
        self.histories.setdefault(self.key(position, info), []).append((observation, action))

    def end(self, position: int, info: dict | None = None) -> None:
        self.histories.pop(self.key(position, info or {}), None)

    def clear(self) -> None:
        self.histories.clear()
