"""``proxmo/WebShop-v0``: upstream WebShop's text mode as a Gymnasium environment.

    import gymnasium as gym, proxmo_envs
    env = gym.make("proxmo/WebShop-v0", catalog="embedded", goals="synthetic", split="train")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("search[running shoes]")

Reward = the WebShop score in [0, 1] on ``click[buy now]`` (0 on every other step); ``terminated`` on
buy, ``truncated`` when ``max_steps`` steps were taken without buying.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .data import EMBEDDED, get_tasks
from .engine import Session
from .nouns import NounExtractorSpec, resolve_noun_extractor
from ..spaces import SharedText

REWARD_PART_KEYS = ("r_type", "r_att", "r_option", "r_price", "query_match", "category_match", "title_score")
SEARCH_PLACEHOLDER = "search[<query>]"
ACTION_MAX_LENGTH = 4096


class WebShopEnv(gym.Env):
    """WebShop text environment (docs/envs.md lists its kwargs and info keys).

    Args:
        catalog: ``"embedded"`` (the shipped synthetic catalogue) or a folder holding
            ``items_shuffle*.json``, ``items_ins_v2*.json`` [and ``items_human_ins*.json``].
        goals: ``"synthetic"`` (instruction x option combination) or ``"human"``.
        split: ``"train"``, ``"test"`` (the first ``n_test`` shuffled goals) or ``"all"``.
        max_steps: step cap; reaching it without buying ends the episode with ``truncated=True`` (15).
        seed: the data seed driving charged prices, price limits and the goal shuffle (upstream 233).
        noun_extractor: ``"auto"`` (spaCy en_core_web_sm if installed, else ``"words"``), ``"words"``,
            ``"spacy"`` or a callable ``title -> list[str]`` for the type reward.
        cache_dir: where the BM25 index is cached (default ``$PROXMO_CACHE`` or ``~/.cache/proxmo``).
        show_reviews: ``False`` (upstream): item pages say ``Rating: N.A.`` and the reviews page is empty, as
            upstream's loader never reads the reviews. ``True``: the catalogue's average rating and reviews.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        catalog: str | Path = EMBEDDED,
        goals: str = "synthetic",
        split: str = "train",
        max_steps: int = 15,
        seed: int = 233,
        noun_extractor: NounExtractorSpec = "auto",
        cache_dir: str | Path | None = None,
        render_mode: str | None = None,
        show_reviews: bool = False,
    ) -> None:
        if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed (the data seed) must be an int >= 0, got {seed!r}")
        if not isinstance(show_reviews, bool):
            raise ValueError(f"show_reviews must be True or False, got {show_reviews!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self._tasks = get_tasks(catalog, goals, seed, Path(cache_dir).expanduser() if cache_dir else None)
        self._goal_indices = self._tasks.split_indices(split)
        if not self._goal_indices:
            raise ValueError(f"split {split!r} of the {goals} goals of catalog {catalog!r} is empty")
        self._nouns = resolve_noun_extractor(noun_extractor)
        self.split = split
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.show_reviews = show_reviews
        self.task_ids, self._cum_weights = self._tasks.split_tables(split)
        cat = self._tasks.catalog
        self.observation_space = SharedText(max_length=cat.max_text, min_length=0, charset=cat.charset)
        self.action_space = spaces.Text(max_length=ACTION_MAX_LENGTH, min_length=0, charset=cat.charset)
        self._session: Session | None = None
        self._goals: list | None = None
        self._goal_pos = 0
        self._steps = 0

    # ---- task selection ---------------------------------------------------------------------------
    @property
    def task_count(self) -> int:
        """Number of goals in the chosen split."""
        return len(self._goal_indices)

    @property
    def goals(self) -> list:
        """The :class:`~proxmo_envs.webshop.goals.Goal` objects of the split, index-aligned with task_ids."""
        if self._goals is None:
            all_goals = self._tasks.goalset.goals
            self._goals = [all_goals[i] for i in self._goal_indices]
        return self._goals

    def _pick_goal(self, options: dict | None) -> int:
        if options:
            if not isinstance(options, dict):
                raise TypeError(f"reset options must be a dict, got {type(options).__name__}")
            unknown = sorted(set(options) - {"goal_index", "task_index"})
            if unknown:  # a misspelt key would otherwise silently pick a random goal
                raise ValueError(f"unknown reset option(s) {unknown}; use goal_index or task_index")
            chosen = [options[k] for k in ("goal_index", "task_index") if options.get(k) is not None]
            if chosen:
                if len(chosen) == 2 and chosen[0] != chosen[1]:
                    raise ValueError(f"reset options goal_index={chosen[0]} and task_index={chosen[1]} disagree")
                idx = chosen[0]
                if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)):
                    raise TypeError(f"reset option goal_index/task_index must be an int, got {type(idx).__name__}")
                if not 0 <= idx < self.task_count:
                    raise ValueError(
                        f"reset option goal_index={idx} is out of range for the {self.split!r} split "
                        f"({self.task_count} goals: 0..{self.task_count - 1})"
                    )
                return int(idx)
        # upstream samples a goal in proportion to its weight
        return int(min(np.searchsorted(self._cum_weights, self.np_random.random(), side="right"), self.task_count - 1))

    # ---- Gymnasium API ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._goal_pos = self._pick_goal(options)
        goal = self._tasks.goalset.goals[self._goal_indices[self._goal_pos]]
        self._session = Session(self._tasks.catalog, goal, self._tasks.price_of, self._nouns,
                                show_reviews=self.show_reviews)
        self._steps = 0
        return self._session.observation(), self._info(invalid=False, parts=None)

    def step(self, action: str):
        if not isinstance(action, str):
            raise TypeError(f"WebShop actions are strings such as 'search[red shoes]' or 'click[buy now]', "
                            f"got {type(action).__name__}")
        if self._session is None:
            raise RuntimeError("call reset() before step()")
        out = self._session.act(action)
        self._steps += 1
        terminated = out.done
        truncated = (not terminated) and self._steps >= self.max_steps
        return self._session.observation(), float(out.reward), terminated, truncated, self._info(not out.valid, out.parts)

    def render(self) -> str | None:
        if self.render_mode == "ansi" and self._session is not None:
            return self._session.observation()
        return None

    # ---- info -------------------------------------------------------------------------------------
    def _info(self, invalid: bool, parts: dict | None) -> dict[str, Any]:
        s = self._session
        clickables = list(s.clickables())
        admissible = ([SEARCH_PLACEHOLDER] if s.has_search_bar else []) + [f"click[{c}]" for c in clickables]
        score = s.score if s.page == "done" else 0.0
        goal = s.goal
        info = {
            "available_actions": {"has_search_bar": s.has_search_bar, "clickables": clickables},
            "admissible_actions": admissible,
            "invalid_action": bool(invalid),
            "won": bool(s.page == "done" and score == 1.0),
            "task_score": float(score),
            "task_id": self.task_ids[self._goal_pos],
            "task_index": self._goal_pos,
            "task_type": goal.category,
            "goal": goal.to_info(),
            "page": s.page,
            "selected_options": dict(s.options),
            "asin": s.asin,
            "product_options": (
                {k: list(v) for k, v in self._tasks.catalog.catalog.by_asin[s.asin].options.items()} if s.asin else {}
            ),
            "step": self._steps,
        }
        if parts is not None:
            for k in REWARD_PART_KEYS:
                info[k] = parts[k]
        return info
