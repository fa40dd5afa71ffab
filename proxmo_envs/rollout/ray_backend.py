"""The Ray backend of the rollout runner: env workers as Ray actors, the policy served from the driver.

``rollout(..., backend="ray", workers=K, address=None)`` plans the run, writes the manifest and builds one
``RolloutJob`` per worker exactly as the local backend does; this module only decides *where* each job
runs. Every job runs the runner's own unit of work, ``worker.run_episodes``, inside a ``RolloutWorker``
actor, so the rows, ids, seeds, part files (temporary name, then rename) and ``failures.jsonl`` are the
local backend's. What differs:

- Actors are created once per Ray session and reused by every later ``rollout`` call of the process (a
  training loop): the process keeps WebShop's catalogue and ALFWorld's games loaded, so a later
  ``gym.make`` costs ~1 ms (WebShop) / ~40 ms (ALFWorld) instead of ~1 s / ~2 s.
- A *batched* policy (an object with ``act``) stays in the driver: each actor's lock-step batch is sent
  to the driver, which concatenates the pending batches of all workers and calls ``act`` once, so one
  model serves every worker. A *step* policy (a built-in name or a per-episode callable with
  ``reset(seed)``) is per-episode state, so it is shipped to the actors as the local ``workers > 1``
  path does.
- Faults: when an actor dies (process killed, node lost), Ray restarts it and the job is re-run with
  exactly its episodes that are neither in a visible part of that job nor recorded as failed in this
  session; stale temporaries of the dead writer are removed. No episode is duplicated or partial, and
  ``RaySummary.retried`` counts the re-run episodes.

Without ``address`` a local Ray with ``workers`` CPUs is started (unless one is already running in the
process); with it, the runner joins that cluster (``ray.init(address=...)``). Each actor writes its parts
straight into the run folder, which must be reachable from every node: a pyarrow filesystem URI
(``s3://``, ``gs://``, ``hdfs://``, ...; see ``proxmo_envs.trajlog.fs``) or a local path / ``file://`` URI
on a file system shared by the nodes.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import ray

from proxmo_envs.ray_session import connect, on_release
from proxmo_envs.trajlog.fs import RunLocation, resolve_location
from proxmo_envs.trajlog.schema import FAILURES_NAME
from proxmo_envs.trajlog.writer import TMP_PREFIX

from .policies import is_batched, split_batch
from .summary import RolloutSummary
from .worker import JobResult, RolloutJob, run_episodes

#: How long one ``exchange`` waits for the worker's next message before returning "idle" (s).
POLL_SECONDS = 0.25

#: An ``exchange`` returns within ``POLL_SECONDS`` while its actor is alive. One still pending after this long
#: means the actor is frozen or its node vanished without Ray failing the call (seen after a node loss, where
#: an unbounded wait hung the rollout), so the actor is killed, restarted and its unwritten episodes re-run.
STALL_SECONDS = 120.0

#: Re-runs of one job after its actor died, before the rollout gives up.
MAX_ATTEMPTS = 4

#: CPUs each env actor reserves (one env worker per core).
WORKER_CPUS = 1.0


@dataclass(frozen=True)
class RaySummary(RolloutSummary):
    """``RolloutSummary`` plus ``retried``: episodes re-run because their worker actor died."""

    retried: int = 0
    restarts: int = 0

    def rows(self) -> list[tuple[str, str]]:
        return super().rows() + [("retried episodes (worker lost)", f"{self.retried}")]


@dataclass
class RayJobResult(JobResult):
    """``JobResult`` of a job across its attempts; ``retried`` episodes were re-run after actor deaths."""

    retried: int = 0
    restarts: int = 0


class _ServedPolicy:
    """Stands in for the driver's batched policy inside an actor: each ``act`` is a round trip to the driver."""

    name = "served-by-driver"

    def __init__(self, worker: "RolloutWorkerImpl") -> None:
        self._worker = worker

    def act(self, observations: list[str], infos: list[dict]) -> Any:
        self._worker._outbox.put(("act", (list(observations), list(infos))))
        kind, payload = self._worker._inbox.get()
        if kind == "error":
            raise RuntimeError(f"policy (in the driver) failed: {payload}")
        return payload


class RolloutWorkerImpl:
    """The env worker: runs ``run_episodes`` on a thread and talks to the driver through ``exchange``.

    ``exchange(reply)`` hands ``reply`` (the driver's answer to the last ``act`` request) to the job and
    returns the job's next message ``(kind, payload, episodes_finished_since_last_call)`` with ``kind`` in
    ``act`` (payload ``(observations, infos)``), ``done`` (a ``JobResult``), ``error`` (text) or ``idle``.
    """

    def __init__(self) -> None:
        self._inbox: queue.Queue = queue.Queue()
        self._outbox: queue.Queue = queue.Queue()
        self._finished = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def pid(self) -> int:
        return os.getpid()

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def warm(self, env_id: str, env_kwargs: dict, max_steps: int = 30) -> float:
        """Build one env and play one oracle/walkthrough episode (best effort), so the process caches
        what envs build lazily (catalogue, search index, WebShop's noun model at the first purchase,
        game files); returns the seconds it took."""
        import gymnasium as gym
        import pyarrow as pa

        import proxmo_envs  # noqa: F401  (registers the ids)

        from .policies import make_policy, split_action

        start = time.perf_counter()
        pa.array(["warm"], type=pa.large_string())  # pyarrow's first table imports pandas
        env = gym.make(env_id, **env_kwargs)
        try:
            policy = make_policy("oracle", env_id)
            policy.reset(seed=0)
            obs, info = env.reset(seed=0)
            for _ in range(max_steps):
                action, _ = split_action(policy(obs, info))
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
        except Exception:  # noqa: BLE001 - warming is an optimisation; the rollout reports real errors
            pass
        finally:
            env.close()
        return time.perf_counter() - start

    def start(self, job: RolloutJob, served: bool) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("RolloutWorker is already running a job")
        self._inbox, self._outbox = queue.Queue(), queue.Queue()
        if served:
            job = dataclasses.replace(job, policy=_ServedPolicy(self))

        def main() -> None:
            try:
                result = run_episodes(job, progress=self._on_progress)
            except BaseException as err:  # noqa: BLE001 - reported to the driver, which raises it
                self._outbox.put(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
                return
            self._outbox.put(("done", result))

        self._thread = threading.Thread(target=main, name="proxmo-ray-job", daemon=True)
        self._thread.start()

    def _on_progress(self, n: int) -> None:
        with self._lock:
            self._finished += n

    def exchange(self, reply: tuple[str, Any] | None = None, timeout: float = POLL_SECONDS):
        if reply is not None:
            self._inbox.put(reply)
        try:
            kind, payload = self._outbox.get(timeout=timeout)
        except queue.Empty:
            kind, payload = "idle", None
        with self._lock:
            finished, self._finished = self._finished, 0
        return kind, payload, finished


# ---- the actor pool -----------------------------------------------------------------------------

_POOL: dict[str, list] = {}  # Ray job id -> actor handles, reused by every rollout of this process


def worker_pool(n: int) -> list:
    """``n`` ``RolloutWorker`` actors of this Ray session, created on first need and then reused.

    Actors reserve ``WORKER_CPUS`` each, are spread over the nodes, and are restarted by Ray when their
    process dies. Raises ValueError when the cluster has fewer CPUs than ``n`` workers need.
    """
    key = ray.get_runtime_context().get_job_id()
    pool = _POOL.setdefault(key, [])
    total = ray.cluster_resources().get("CPU", 0.0)
    if n * WORKER_CPUS > total:
        raise ValueError(f"workers={n} need {n * WORKER_CPUS:g} CPUs but the Ray cluster has {total:g}")
    remote_cls = ray.remote(RolloutWorkerImpl)
    while len(pool) < n:
        pool.append(
            remote_cls.options(
                num_cpus=WORKER_CPUS, max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD",
                name=None,
            ).remote()
        )
    return pool[:n]


def shutdown_workers() -> int:
    """Kill the pooled env actors of this Ray session (they hold a CPU each); returns how many."""
    if not ray.is_initialized():
        _POOL.clear()
        return 0
    pool = _POOL.pop(ray.get_runtime_context().get_job_id(), [])
    for actor in pool:
        ray.kill(actor, no_restart=True)
    return len(pool)


on_release(shutdown_workers)  # the Ray scorer frees these CPUs before scheduling Ray Data tasks


# ---- what a dead job left behind ----------------------------------------------------------------

def _failures_offset(out: RunLocation) -> int:
    return out.size(FAILURES_NAME)


def _session_failures(out: RunLocation, offset: int, prefix: str) -> set[str]:
    """Episode ids recorded in ``failures.jsonl`` after byte ``offset`` (this session), or, on a non-local
    filesystem, in the dead writer's own ``failures-{prefix}.jsonl``."""
    import json

    data = b""
    if out.exists(FAILURES_NAME):
        data = out.read_bytes(FAILURES_NAME)[offset:]
    own = f"failures-{prefix}.jsonl"
    if not out.is_local and out.exists(own):
        data += b"\n" + out.read_bytes(own)
    lines = data.decode(errors="replace").splitlines()
    ids = set()
    for line in lines:
        try:
            ids.add(json.loads(line)["episode_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line torn by the kill: that episode is re-run
    return ids


def _written(out: RunLocation, prefix: str) -> tuple[set[str], int]:
    """Episode ids and row count in the visible parts ``part-{prefix}-*.parquet``."""
    parts = out.glob(f"part-{prefix}-*.parquet")
    if not parts:
        return set(), 0
    frame = out.scan_parquet(parts).select("episode_id").collect()
    return set(frame["episode_id"].unique().to_list()), frame.height


def _remove_temporaries(out: RunLocation, prefix: str) -> None:
    out.remove_temporaries(f"{TMP_PREFIX}part-{prefix}-*")


# ---- the driver loop ----------------------------------------------------------------------------

@dataclass
class _Slot:
    """One job's state in the driver: its actor, current attempt and what the dead attempts did."""

    job: RolloutJob
    actor: Any
    attempt: RolloutJob
    result: RayJobResult
    ref: Any = None
    request: tuple[list, list] | None = None
    done: bool = False
    tries: int = 1


def _wait_restarted(actor: Any, timeout: float = 300.0) -> None:
    """Block until Ray has restarted ``actor`` (a call made while it restarts fails, so poll ``pid``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ray.get(actor.pid.remote(), timeout=30)
            return
        except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"a rollout worker actor was not restarted within {timeout:g} s") from None
            time.sleep(0.2)


def _kill_for_restart(actor: Any) -> None:
    """Kill an unresponsive actor so that Ray restarts it (``max_restarts=-1``); nothing it does later can
    reach the run folder. An actor Ray already counts as dead cannot be killed again, which is fine."""
    try:
        ray.kill(actor, no_restart=False)
    except (ValueError, ray.exceptions.RayError):
        pass


def _relaunch(slot: _Slot, out: RunLocation, failures_offset: int, served: bool) -> int:
    """Re-run the episodes the dead attempt did not finish on the restarted actor; returns how many."""
    dead = slot.attempt
    _remove_temporaries(out, dead.part_prefix)
    written, rows = _written(out, dead.part_prefix)
    failed = _session_failures(out, failures_offset, dead.part_prefix)
    slot.result.episodes += len(written)
    slot.result.steps += rows
    slot.result.failed += sum(1 for s in dead.episodes if s.episode_id in failed)
    slot.result.parts += out.glob(f"part-{dead.part_prefix}-*.parquet")
    rerun = [s for s in dead.episodes if s.episode_id not in written and s.episode_id not in failed]
    slot.result.restarts += 1
    slot.result.retried += len(rerun)
    slot.request = None
    if not rerun:
        slot.done = True
        return 0
    if slot.tries >= MAX_ATTEMPTS:
        raise RuntimeError(
            f"rollout worker for job {slot.job.part_prefix} died {slot.tries} times; {len(rerun)} episode(s) "
            f"left (resume the run with resume=True)"
        )
    slot.tries += 1
    slot.attempt = dataclasses.replace(dead, episodes=rerun, part_prefix=f"{slot.job.part_prefix}r{slot.tries - 1}")
    _wait_restarted(slot.actor)
    ray.get(slot.actor.start.remote(slot.attempt, served))
    slot.ref = slot.actor.exchange.remote()
    return len(rerun)


def run_jobs(
    jobs: Sequence[RolloutJob],
    on_done: Callable[[int], None],
    address: str | None = None,
    workers: int | None = None,
) -> list[RayJobResult]:
    """Run each job on its own pooled actor; serve a batched policy from here; survive dead actors.

    Args:
        jobs: the runner's jobs (one per worker, whole task groups each).
        on_done: called with the number of episodes finished since the last call.
        address: a Ray cluster address (``ray.init(address=...)``); ``None`` starts a local Ray.
        workers: CPUs of a local Ray (default ``len(jobs)``).
    """
    if not jobs:
        return []
    connect(address, num_cpus=max(workers or 0, len(jobs)))
    policy = jobs[0].policy
    served = not isinstance(policy, str) and is_batched(policy)
    out = resolve_location(jobs[0].out)
    failures_offset = _failures_offset(out)
    actors = worker_pool(len(jobs))
    slots = []
    for job, actor in zip(jobs, actors):
        # the driver keeps the batched policy; the actors get a stand-in, not a pickled copy of the model
        shipped = dataclasses.replace(job, policy=None) if served else job
        slots.append(_Slot(job=shipped, actor=actor, attempt=shipped, result=RayJobResult()))
    ray.get([s.actor.start.remote(s.attempt, served) for s in slots])
    for s in slots:
        s.ref = s.actor.exchange.remote()

    try:
        while not all(s.done for s in slots):
            live = [s for s in slots if not s.done]
            # wait for every live worker: their act requests of this round then go to the policy together
            _, pending = ray.wait([s.ref for s in live], num_returns=len(live), timeout=STALL_SECONDS)
            if pending:
                stalled = set(pending)
                for s in live:
                    if s.ref in stalled:
                        _kill_for_restart(s.actor)
                        _relaunch(s, out, failures_offset, served)
                continue  # the others' ready replies are read next round
            for s in live:
                try:
                    kind, payload, finished = ray.get(s.ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
                    _relaunch(s, out, failures_offset, served)
                    continue
                if finished:
                    on_done(finished)
                if kind == "act":
                    s.request = payload
                elif kind == "done":
                    s.result.episodes += payload.episodes
                    s.result.failed += payload.failed
                    s.result.steps += payload.steps
                    s.result.parts += payload.parts
                    s.done = True
                elif kind == "error":
                    raise RuntimeError(f"rollout worker {s.job.part_prefix} failed: {payload}")
                else:
                    s.ref = s.actor.exchange.remote()
            asking = [s for s in live if s.request is not None and not s.done]
            if asking:
                replies = _serve(policy, [s.request for s in asking])
                for s, reply in zip(asking, replies):
                    s.request = None
                    s.ref = s.actor.exchange.remote(reply)
    except BaseException:
        # a failed or interrupted rollout must not leave actors writing into the run folder
        shutdown_workers()
        raise
    return [s.result for s in slots]


def _serve(policy: Any, requests: list[tuple[list, list]]) -> list[tuple[str, Any]]:
    """One ``policy.act`` over the concatenated batches of all workers; each worker's slice back."""
    observations = [o for obs, _ in requests for o in obs]
    infos = [i for _, inf in requests for i in inf]
    try:
        actions, logprobs = split_batch(policy.act(observations, infos), len(observations))
    except Exception as err:  # noqa: BLE001 - every episode the call acted for fails, as in the local backend
        return [("error", f"{type(err).__name__}: {err}")] * len(requests)
    replies, k = [], 0
    for obs, _ in requests:
        n = len(obs)
        replies.append(("ok", (actions[k:k + n], logprobs[k:k + n])))
        k += n
    return replies


def summarize(summary: RolloutSummary, results: Sequence[JobResult]) -> RaySummary:
    """The runner's summary with the retried-episode count of a Ray rollout."""
    fields = {f.name: getattr(summary, f.name) for f in dataclasses.fields(RolloutSummary)}
    return RaySummary(
        **fields,
        retried=sum(getattr(r, "retried", 0) for r in results),
        restarts=sum(getattr(r, "restarts", 0) for r in results),
    )


__all__ = [
    "RaySummary", "RayJobResult", "RolloutWorkerImpl", "connect", "worker_pool", "shutdown_workers",
    "run_jobs", "summarize",
]
