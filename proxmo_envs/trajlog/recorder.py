"""``TrajectoryRecorder``: a Gymnasium wrapper that turns every step of a ``proxmo/*`` env into log rows.

One concern only: it watches ``reset``/``step`` and, when an episode ends (``terminated`` or
``truncated``), hands the episode's rows (dict column -> list, the columns of ``schema.LOG_SCHEMA``) to a
sink, typically ``PartWriter.add_episode``. It never changes what the agent sees.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, SupportsFloat

import gymnasium as gym

#: The ``reset(options=...)`` key whose dict sets the ids of the episode being started (and is removed
#: before the options reach the environment): ``group_id``, ``episode_id``, ``rollout_index``, ``iteration``.
OPTIONS_KEY = "trajlog"

EpisodeSink = Callable[[dict[str, list]], None]


def _check_text(what: str, text: Any, env_id: str) -> None:
    """Text the log cannot store (a lone surrogate such as ``"\\ud800"`` has no UTF-8 encoding) fails this
    step, so the runner records the episode in failures.jsonl and goes on, instead of the part write
    aborting the whole rollout later."""
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(f"{env_id}: the {what} {text[:80]!r} cannot be logged: {err.reason} at "
                             f"position {err.start} (not valid UTF-8 text)") from None


class TrajectoryRecorder(gym.Wrapper):
    """Record each step of ``env`` as one row of the trajectory log.

    Args:
        env: a ``proxmo/*`` environment (text observations and actions; ``info`` with ``task_id``,
            ``admissible_actions``, ``invalid_action``, ``won``, ``task_score``, ``task_type``).
        sink: receives each finished episode as ``dict column -> list`` (one entry per step). ``None``
            keeps finished episodes in ``self.episodes`` instead.
        run_id: written to every row.
        env_id: written to every row; defaults to ``env.spec.id``.
        iteration: default training iteration of the episodes (0 offline).

    Episode ids come from ``reset(options={"trajlog": {"group_id": ..., "episode_id": ...,
    "rollout_index": ..., "iteration": ...}})``; any of them left out gets a default: group
    ``"{run_id}/{task_id}/it{iteration}"``, rollout index = episodes of that group recorded so far,
    episode ``"{group_id}/{rollout_index}"``. Call ``set_behavior_logprob(lp)`` before ``step`` to log
    the acting policy's log-probability for that step (null otherwise).

    Row ``t`` holds the observation and admissible actions the agent saw *before* action ``t``, the
    action, and what ``step`` returned. ``episode_return``, ``won`` and ``task_score`` are the episode's
    final values, repeated on each row. An episode abandoned by a ``reset`` before it ended is not
    logged (a warning says so): a log holds complete episodes only.
    """

    def __init__(
        self,
        env: gym.Env,
        sink: EpisodeSink | None = None,
        run_id: str = "",
        env_id: str | None = None,
        iteration: int = 0,
    ) -> None:
        super().__init__(env)
        self.sink = sink
        self.run_id = str(run_id)
        spec_id = env.spec.id if env.spec is not None else None
        self.env_id = str(env_id if env_id is not None else (spec_id or type(env.unwrapped).__name__))
        self.iteration = int(iteration)
        self.episodes: list[dict[str, list]] = []
        self.episodes_recorded = 0
        self._group_counts: dict[str, int] = {}
        self._ids: dict[str, Any] | None = None
        self._pending_logprob: float | None = None
        self._reset_buffers()
        self._in_episode = False

    def _reset_buffers(self) -> None:
        self._obs: list[str] = []
        self._act: list[str] = []
        self._adm: list[list[str]] = []
        self._rew: list[float] = []
        self._term: list[bool] = []
        self._trunc: list[bool] = []
        self._inv: list[bool] = []
        self._lp: list[float | None] = []

    # --- Gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        ids: Mapping[str, Any] = {}
        if options is not None and OPTIONS_KEY in options:
            options = dict(options)
            ids = options.pop(OPTIONS_KEY) or {}
            options = options or None
        if self._in_episode and self._act:
            warnings.warn(
                f"TrajectoryRecorder: episode {self._ids['episode_id']!r} was reset after "
                f"{len(self._act)} step(s) without terminating or truncating; it is not logged",
                RuntimeWarning,
                stacklevel=2,
            )
        obs, info = self.env.reset(seed=seed, options=options)
        if not isinstance(obs, str):
            raise TypeError(f"{self.env_id}: reset returned a {type(obs).__name__} observation; the log holds text")
        self._start_episode(obs, info, ids)
        return obs, info

    def step(self, action: Any):
        if not self._in_episode:
            # Gymnasium lets an env be stepped after it ended only through autoreset wrappers, which
            # call reset (recorded); anything else is a misuse of this wrapper.
            raise ValueError("TrajectoryRecorder.step called before reset or after the episode ended")
        _check_text("action", action, self.env_id)
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not isinstance(obs, str):
            raise TypeError(f"{self.env_id}: step returned a {type(obs).__name__} observation; the log holds text")
        _check_text("observation", obs, self.env_id)
        self._obs.append(self._last_obs)
        self._adm.append(self._last_admissible)
        self._act.append(action)
        self._rew.append(float(reward))
        self._term.append(bool(terminated))
        self._trunc.append(bool(truncated))
        self._inv.append(bool(info.get("invalid_action", False)))
        self._lp.append(self._pending_logprob)
        self._pending_logprob = None
        if self._task_type is None and info.get("task_type") is not None:
            self._task_type = str(info["task_type"])
        self._last_obs = obs
        self._last_admissible = list(info.get("admissible_actions", ()))
        if terminated or truncated:
            self._finish_episode(info)
        return obs, reward, terminated, truncated, info

    # --- extras --------------------------------------------------------------------------------
    def set_behavior_logprob(self, logprob: SupportsFloat | None) -> None:
        """Log ``logprob`` (the acting policy's log-probability of the next action) on the next step."""
        self._pending_logprob = None if logprob is None else float(logprob)

    @property
    def episode_ids(self) -> dict[str, Any] | None:
        """Ids of the current (or last) episode: task_id, group_id, episode_id, rollout_index, iteration."""
        return None if self._ids is None else dict(self._ids)

    def abandon_episode(self) -> None:
        """Drop the episode in progress without logging it (the runner calls this when a step raised)."""
        self._in_episode = False
        self._pending_logprob = None
        self._reset_buffers()

    # --- internals -----------------------------------------------------------------------------
    def _start_episode(self, obs: Any, info: Mapping[str, Any], ids: Mapping[str, Any]) -> None:
        unknown = set(ids) - {"group_id", "episode_id", "rollout_index", "iteration"}
        if unknown:
            raise ValueError(f"reset options[{OPTIONS_KEY!r}] has unknown key(s) {sorted(unknown)}")
        if "task_id" not in info:
            raise ValueError(
                f"{self.env_id}: reset info has no 'task_id'; TrajectoryRecorder needs a proxmo/* env "
                "whose info follows env-api.md"
            )
        task_id = str(info["task_id"])
        iteration = int(ids.get("iteration", self.iteration))
        group_id = str(ids.get("group_id", f"{self.run_id}/{task_id}/it{iteration}"))
        if "rollout_index" in ids:
            rollout_index = int(ids["rollout_index"])
        else:
            rollout_index = self._group_counts.get(group_id, 0)
        self._group_counts[group_id] = max(self._group_counts.get(group_id, 0), rollout_index + 1)
        episode_id = str(ids.get("episode_id", f"{group_id}/{rollout_index}"))
        self._ids = {
            "task_id": task_id,
            "group_id": group_id,
            "episode_id": episode_id,
            "rollout_index": rollout_index,
            "iteration": iteration,
        }
        task_type = info.get("task_type")
        self._task_type = None if task_type is None else str(task_type)
        self._last_obs = obs
        self._last_admissible = list(info.get("admissible_actions", ()))
        self._pending_logprob = None
        self._reset_buffers()
        self._in_episode = True

    def _finish_episode(self, info: Mapping[str, Any]) -> None:
        n = len(self._act)
        ids = self._ids or {}
        columns: dict[str, list] = {
            "run_id": [self.run_id] * n,
            "env_id": [self.env_id] * n,
            "task_id": [ids["task_id"]] * n,
            "group_id": [ids["group_id"]] * n,
            "episode_id": [ids["episode_id"]] * n,
            "rollout_index": [ids["rollout_index"]] * n,
            "iteration": [ids["iteration"]] * n,
            "step": list(range(n)),
            "observation": self._obs,
            "action": self._act,
            "admissible_actions": self._adm,
            "reward": self._rew,
            "terminated": self._term,
            "truncated": self._trunc,
            "invalid_action": self._inv,
            "episode_return": [float(sum(self._rew))] * n,
            "won": [bool(info.get("won", False))] * n,
            "task_score": [float(info.get("task_score", 0.0))] * n,
            "behavior_logprob": self._lp,
            "task_type": [self._task_type] * n,
        }
        self._in_episode = False
        self._reset_buffers()
        self.episodes_recorded += 1
        if self.sink is None:
            self.episodes.append(columns)
        else:
            self.sink(columns)


__all__ = ["TrajectoryRecorder", "OPTIONS_KEY", "EpisodeSink"]
