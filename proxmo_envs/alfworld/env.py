"""``proxmo/ALFWorld-v0``: ALFWorld's real engine (TextWorld PddlEnv + alfworld's wrappers) as a Gymnasium env.

Plays the games generated and shipped in ``data/alfworld/`` (``split`` = ``train`` | ``eval_seen`` |
``eval_unseen``) or, with ``data_dir``, a downloaded ALFWorld dataset (``json_2.1.1/...``) selected with
ALFWorld's own rules. Observations and actions are ALFWorld's text; reward 1.0 on the winning step.
"""

from __future__ import annotations

import string
from os import PathLike
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from proxmo_envs.alfworld import engine, products
from proxmo_envs.alfworld.games import GameRecord, generated_folder, load_games
from proxmo_envs.alfworld.goal import task_from_observation
from proxmo_envs.spaces import SharedText

# ALFWorld's text is ASCII (THOR type names, numbers, punctuation, newlines).
CHARSET = frozenset(string.printable)
MAX_OBSERVATION_CHARS = 65536
MAX_ACTION_CHARS = 512


class ALFWorldEnv(gym.Env[str, str]):
    """ALFWorld household tasks on the real engine.

    Args:
        split: ``"train"``, ``"eval_seen"`` (new games in training rooms) or ``"eval_unseen"`` (held-out rooms).
        data_dir: a folder of generated games (``<split>.jsonl.gz``, as the generator writes them) or a
            downloaded ALFWorld dataset (folder holding ``json_2.1.1/``); ``None`` plays the shipped games.
        max_steps: step cap (GiGPO/ProxMO: 50); the step that reaches it returns ``truncated=True``.
        speedups: play on proxmo's fast engine (same transcripts as the untouched one, step by step):
            TextWorld's pure parsing/translation functions memoised, its text generation without deep
            copies, an exact cache of what each engine state produces shared by the envs of a process
            (``PROXMO_ALFWORLD_STATE_CACHE`` states), per-game translation products read from the games'
            folder (``<split>.sas.zip``) or cached on disk (``PROXMO_ALFWORLD_CACHE_DIR``). ``False`` plays the untouched engine. See docs/speed.md.

    ``reset(options={"game_index": i} | {"task_index": i} | {"game_id": "..."})`` picks a game; without
    options the game is drawn from ``self.np_random``. ``info`` holds ``admissible_actions`` (also under
    ALFWorld's name ``admissible_commands``), ``invalid_action`` (the engine answered "Nothing happens."),
    ``won``, ``task_score`` (1.0 once won), ``task_id`` (game id), ``task_type``, ``task`` (goal text),
    ``room``, ``game_index``, ``step`` and ``walkthrough`` when the game has one.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        split: str = "train",
        data_dir: str | PathLike | None = None,
        max_steps: int = 50,
        speedups: bool = True,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if not isinstance(speedups, bool):  # "false" from a config file must not switch speedups on
            raise ValueError(f"speedups must be True or False, got {speedups!r}")
        engine.modules()  # one clear ImportError when the engine is missing
        if speedups:
            from proxmo_envs.alfworld import speedups as _speedups

            _speedups.enable(plain_sas_for_replan=True)
        self.split = split
        self.data_dir = data_dir
        self.max_steps = max_steps
        self.render_mode = render_mode
        self._games: tuple[GameRecord, ...] = load_games(split, data_dir)
        if speedups:
            folder = generated_folder(data_dir)
            if folder is not None:  # the games' translation products, when shipped with them (products.py)
                products.register(products.products_path(folder, split))
        self._index_of = {g.game_id: i for i, g in enumerate(self._games)}
        self.observation_space = SharedText(max_length=MAX_OBSERVATION_CHARS, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, charset=CHARSET)
        self.speedups = bool(speedups)
        self._tw = engine.make_textworld_env(extras=("gamefile",), cached=self.speedups)
        self._loaded: int | None = None
        self._game: GameRecord | None = None
        self._task_text = ""
        self._steps = 0
        self._won = False
        self._last_obs = ""

    # ------------------------------------------------------------------ task set

    @property
    def task_count(self) -> int:
        """Number of games in the chosen split."""
        return len(self._games)

    @property
    def task_ids(self) -> list[str]:
        """Game ids, index-aligned with ``game_index``/``task_index``."""
        return [g.game_id for g in self._games]

    @property
    def task_types(self) -> list[str]:
        """Task type of every game, index-aligned with :attr:`task_ids`."""
        return [g.task_type for g in self._games]

    def _pick(self, options: dict[str, Any] | None) -> int:
        options = dict(options or {})
        unknown = set(options) - {"game_index", "task_index", "game_id"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; use game_index, task_index or game_id")
        if "game_id" in options:
            gid = options["game_id"]
            if gid not in self._index_of:
                raise ValueError(f"game_id {gid!r} is not in split {self.split!r}")
            return self._index_of[gid]
        for key in ("game_index", "task_index"):
            if key in options:
                i = options[key]
                if isinstance(i, bool) or not hasattr(i, "__index__"):
                    raise TypeError(f"{key} must be an int, got {type(i).__name__}")
                i = int(i)
                if not 0 <= i < len(self._games):
                    raise ValueError(f"{key}={i} out of range: split {self.split!r} has {len(self._games)} games")
                return i
        return int(self.np_random.integers(len(self._games)))

    # ------------------------------------------------------------------ gym API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        index = self._pick(options)
        game = self._games[index]
        with engine.argv_preserved():
            if self._loaded != index:
                if game.path is not None:
                    self._tw.load(str(game.path))
                else:
                    self._tw.load(engine.game_dict(game.pddl_problem, game.task, game.walkthrough))
                self._loaded = index
            state = self._tw.reset()
        self._game = game
        self._steps = 0
        self._won = bool(state["won"])
        obs = state.feedback
        if game.task is not None:
            self._task_text = game.task
        else:
            task = task_from_observation(obs) or ""
            self._task_text = task[:-1].rstrip() if task.endswith(".") else task
        self._last_obs = obs
        return obs, self._info(state, invalid=False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if not isinstance(action, str):
            raise TypeError(f"ALFWorld actions are str, got {type(action).__name__}: {action!r}")
        if self._game is None:
            raise RuntimeError("call reset() before step()")
        with engine.argv_preserved():
            state, _score, _done = self._tw.step(action)
        self._steps += 1
        obs = state.feedback
        invalid = obs.strip() == "Nothing happens."
        won_now = bool(state["won"])
        reward = 1.0 if won_now and not self._won else 0.0
        self._won = self._won or won_now
        terminated = self._won
        truncated = (not terminated) and self._steps >= self.max_steps
        self._last_obs = obs
        return obs, reward, terminated, truncated, self._info(state, invalid=invalid)

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_obs
        return None

    def close(self) -> None:
        """Nothing to release: the engine holds memory only (no processes, files or sockets)."""

    # ------------------------------------------------------------------ info

    def _info(self, state: Any, invalid: bool) -> dict[str, Any]:
        game = self._game
        admissible = list(state["admissible_commands"])
        info: dict[str, Any] = {
            "admissible_actions": admissible,
            "admissible_commands": list(admissible),
            "invalid_action": bool(invalid),
            "won": self._won,
            "task_score": 1.0 if self._won else 0.0,
            "task_id": game.game_id,
            "task_type": game.task_type,
            "task": self._task_text,
            "room": game.room,
            "game_index": self._loaded,
            "step": self._steps,
        }
        if game.walkthrough:
            info["walkthrough"] = list(game.walkthrough)
        return info
