"""The unit of work of a rollout: run a list of episodes in one process and write their parts.

``run_episodes(job)`` is a plain function of a picklable ``RolloutJob`` so that any backend can call it:
the local runner (in-process or in ``spawn`` worker processes) and a later Ray backend alike. It makes
its own environments, writes its own parts (``part-{job.part_prefix}-*.parquet``), appends failed
episodes to the run's ``failures.jsonl``, and returns counts. ``job.out`` is any run location
(``proxmo_envs.trajlog.fs``): a local path or a ``RunLocation`` on a pyarrow filesystem.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

from proxmo_envs.trajlog.recorder import OPTIONS_KEY, TrajectoryRecorder
from proxmo_envs.trajlog.fs import RunLocation, resolve_location
from proxmo_envs.trajlog.writer import DEFAULT_ROWS_PER_PART, PartWriter

from .lock import hold_workers_lock, release
from .plan import EpisodeSpec
from .policies import is_batched, make_policy, split_action, split_batch

Progress = Callable[[int], None]


@dataclass
class RolloutJob:
    """Everything one worker needs (picklable).

    ``policy`` is a built-in name or a picklable policy object; ``batch_size`` is the number of envs a
    batched policy steps in lock-step (ignored for step policies); ``max_steps`` adds a
    ``gymnasium.wrappers.TimeLimit`` (``None``: the env's own cap only).
    """

    env_id: str
    env_kwargs: dict[str, Any]
    policy: Any
    episodes: list[EpisodeSpec]
    out: str | RunLocation
    run_id: str
    iteration: int
    log_env_id: str
    run_metadata: dict[str, Any]
    part_prefix: str
    rows_per_part: int = DEFAULT_ROWS_PER_PART
    batch_size: int = 8
    max_steps: int | None = None


@dataclass
class JobResult:
    """What a job did: episodes logged and failed, steps taken, parts written, wall time (s)."""

    episodes: int = 0
    failed: int = 0
    steps: int = 0
    parts: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _make_env(job: RolloutJob) -> TrajectoryRecorder:
    import proxmo_envs  # noqa: F401  (registers the ids in worker processes)

    env = gym.make(job.env_id, **job.env_kwargs)
    if job.max_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps=job.max_steps)
    return TrajectoryRecorder(env, run_id=job.run_id, env_id=job.log_env_id, iteration=job.iteration)


def _reset(env: TrajectoryRecorder, spec: EpisodeSpec, iteration: int):
    ids = {
        "group_id": spec.group_id,
        "episode_id": spec.episode_id,
        "rollout_index": spec.rollout_index,
        "iteration": iteration,
    }
    return env.reset(seed=spec.env_seed, options={"task_index": spec.task_index, OPTIONS_KEY: ids})


def _record_failure(job: RolloutJob, spec: EpisodeSpec, err: BaseException, step: int) -> None:
    """Append one JSON line to ``failures.jsonl`` (a single ``write`` with O_APPEND, safe across workers;
    on a non-local filesystem the writer's own ``failures-{prefix}.jsonl``, see ``RunLocation.append_failure``)."""
    record = {
        "run_id": job.run_id,
        "task_id": spec.task_id,
        "task_index": spec.task_index,
        "rollout_index": spec.rollout_index,
        "group_id": spec.group_id,
        "episode_id": spec.episode_id,
        "env_seed": spec.env_seed,
        "step": step,
        "error": type(err).__name__,
        "message": str(err),
        "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    resolve_location(job.out).append_failure(line, job.part_prefix)


def _parent_gone(parent_pid: int | None) -> bool:
    return parent_pid is not None and os.getppid() != parent_pid


def run_episodes(job: RolloutJob, progress: Progress | None = None, parent_pid: int | None = None) -> JobResult:
    """Run ``job.episodes`` and write their parts; return counts.

    An episode whose env or policy raises is appended to ``failures.jsonl`` (error class, message,
    traceback) and not logged; its env is rebuilt and the job goes on. ``progress(n)`` is called as
    episodes finish (logged or failed). ``parent_pid``: stop early (after writing complete episodes)
    when this process's parent changes, i.e. the runner that spawned it died.
    """
    policy = make_policy(job.policy, job.env_id) if isinstance(job.policy, str) else job.policy
    start = time.perf_counter()
    result = JobResult()
    location = resolve_location(job.out)
    writer = PartWriter(location, job.run_metadata, job.part_prefix, rows_per_part=job.rows_per_part)
    # a later resume waits until this job has stopped (local folders only: remote ones have no flock)
    workers_lock = hold_workers_lock(Path(location.path)) if location.is_local else None
    try:
        if is_batched(policy):
            _run_batched(job, policy, writer, result, progress, parent_pid)
        else:
            _run_sequential(job, policy, writer, result, progress, parent_pid)
    finally:
        try:
            writer.close()
        finally:
            release(workers_lock)
        result.parts = [str(p) for p in writer.parts]
        result.seconds = time.perf_counter() - start
    return result


def _run_sequential(
    job: RolloutJob, policy: Any, writer: PartWriter, result: JobResult, progress: Progress | None, parent_pid: int | None
) -> None:
    """One env, one episode at a time; the policy's ``reset(seed)`` (if any) before each episode."""
    env = _make_env(job)
    env.sink = writer.add_episode
    reset_policy = getattr(policy, "reset", None)
    try:
        for spec in job.episodes:
            if _parent_gone(parent_pid):
                return
            steps = 0
            try:
                if callable(reset_policy):
                    reset_policy(seed=spec.policy_seed)
                obs, info = _reset(env, spec, job.iteration)
                while True:
                    action, logprob = split_action(policy(obs, info))
                    env.set_behavior_logprob(logprob)
                    obs, _, terminated, truncated, info = env.step(action)
                    steps += 1
                    if terminated or truncated:
                        break
                result.episodes += 1
                result.steps += steps
            except Exception as err:  # noqa: BLE001 - any env/policy error is recorded, not fatal
                env.abandon_episode()
                _record_failure(job, spec, err, steps)
                result.failed += 1
                env.close()
                env = _make_env(job)
                env.sink = writer.add_episode
            if progress is not None:
                progress(1)
    finally:
        env.close()


def _policy_info(state: list) -> dict:
    """The env's info plus the episode's ids and step index: a batched policy sees slots refill as episodes
    end, so these are what lets it keep one history per episode."""
    spec, _, info, steps = state
    return {**info, "episode_id": spec.episode_id, "group_id": spec.group_id, "step": steps}


def _run_batched(
    job: RolloutJob, policy: Any, writer: PartWriter, result: JobResult, progress: Progress | None, parent_pid: int | None
) -> None:
    """Step up to ``job.batch_size`` envs in lock-step; a slot whose episode ends takes the next one."""
    queue = deque(job.episodes)
    n_slots = max(1, min(job.batch_size, len(queue)))
    envs = [_make_env(job) for _ in range(n_slots)]
    for env in envs:
        env.sink = writer.add_episode
    active: dict[int, list] = {}  # slot -> [spec, obs, info, steps]

    def fail(slot: int, err: BaseException) -> None:
        spec, _, _, steps = active.pop(slot)
        envs[slot].abandon_episode()
        _record_failure(job, spec, err, steps)
        result.failed += 1
        envs[slot].close()
        envs[slot] = _make_env(job)
        envs[slot].sink = writer.add_episode
        if progress is not None:
            progress(1)

    def fill(slot: int) -> None:
        while queue and slot not in active:
            spec = queue.popleft()
            active[slot] = [spec, None, None, 0]
            try:
                obs, info = _reset(envs[slot], spec, job.iteration)
                active[slot][1:3] = [obs, info]
            except Exception as err:  # noqa: BLE001
                fail(slot, err)

    try:
        for slot in range(n_slots):
            fill(slot)
        while active:
            if _parent_gone(parent_pid):
                return
            slots = sorted(active)
            try:
                out = policy.act([active[s][1] for s in slots], [_policy_info(active[s]) for s in slots])
                actions, logprobs = split_batch(out, len(slots))
            except Exception as err:  # noqa: BLE001 - a policy error fails every episode it acted for
                for s in slots:
                    fail(s, err)
                    fill(s)
                continue
            for s, action, logprob in zip(slots, actions, logprobs):
                state = active[s]
                try:
                    envs[s].set_behavior_logprob(logprob)
                    obs, _, terminated, truncated, info = envs[s].step(action)
                except Exception as err:  # noqa: BLE001
                    fail(s, err)
                    fill(s)
                    continue
                state[1], state[2], state[3] = obs, info, state[3] + 1
                if terminated or truncated:
                    result.episodes += 1
                    result.steps += state[3]
                    del active[s]
                    if progress is not None:
                        progress(1)
                    fill(s)
    finally:
        for env in envs:
            env.close()


def worker_main(job_bytes: bytes, worker: int, queue: Any, parent_pid: int) -> None:
    """Entry point of a ``spawn`` worker process: run the job (``pickle.dumps`` of a ``RolloutJob``, see the
    runner), report progress and the result on ``queue``."""
    # Ctrl-C reaches the whole process group: the runner alone handles it (it stops the workers and
    # removes their temporaries), so a worker does not die mid-write with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        job = pickle.loads(job_bytes)
        result = run_episodes(job, progress=lambda n: queue.put(("progress", worker, n, None)), parent_pid=parent_pid)
    except BaseException as err:  # noqa: BLE001 - reported to the runner, which raises it
        queue.put(("error", worker, f"{type(err).__name__}: {err}", traceback.format_exc()))
        raise
    queue.put(("done", worker, result, None))


__all__ = ["RolloutJob", "JobResult", "run_episodes", "worker_main"]
