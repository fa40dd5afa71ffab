"""``rollout``: N episodes per task of any ``proxmo/*`` env, written as one crash-safe run folder.

The run folder holds ``manifest.json`` (everything needed to re-create the run), ``part-*.parquet``
(complete episodes only, each part carrying the run metadata) and ``failures.jsonl`` when episodes
raised. ``resume=True`` runs exactly the (task_id, rollout_index) pairs the folder lacks, with the seeds
and ids they would have had. The folder is a local path or any pyarrow filesystem URI
(``proxmo_envs.trajlog.fs``); ``flock`` guards keep two sessions off a local folder only.
"""

from __future__ import annotations

import inspect
import json
import multiprocessing as mp
import os
import pickle
import queue as queue_mod
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym

from proxmo_envs.making import make_checked
from proxmo_envs.trajlog.fs import RunLike, RunLocation, resolve_location
from proxmo_envs.trajlog.manifest import Manifest, now_utc
from proxmo_envs.trajlog.schema import MANIFEST_NAME, PART_GLOB
from proxmo_envs.trajlog.writer import DEFAULT_ROWS_PER_PART

from .lock import acquire_session, release, wait_for_old_workers
from .plan import config_digest, plan_episodes, resolve_tasks, split_by_group
from .policies import describe_policy
from .summary import RolloutSummary, logged_pairs, summarize_run
from .worker import JobResult, RolloutJob, run_episodes, worker_main

#: How the per-episode seeds are derived (recorded in the manifest so the run can be re-created).
SEED_RULE = (
    "np.random.SeedSequence(entropy=seed, spawn_key=(iteration, task_index, rollout_index))"
    ".generate_state(4, uint32): env_seed = w0<<32|w1, policy_seed = w2<<32|w3 (63 bits)"
)

ProgressFn = Callable[[int, int], None]


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def resolved_env_config(env: gym.Env, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The env constructor's defaults overlaid with ``env_kwargs`` (catalogue, data set, split, ...)."""
    config: dict[str, Any] = {}
    try:
        params = inspect.signature(type(env.unwrapped).__init__).parameters
    except (TypeError, ValueError):
        params = {}
    for name, p in params.items():
        if name != "self" and p.default is not inspect.Parameter.empty:
            config[name] = _jsonable(p.default)
    config.update({k: _jsonable(v) for k, v in env_kwargs.items()})
    return config


def recreate_command(config: Mapping[str, Any], make_id: str, out: Path | RunLocation) -> list[str]:
    """The ``proxmo rollout`` argv that re-creates a run from its manifest fields (``Manifest.identity()``)."""
    policy = config["policy"]
    policy_arg = policy.get("name") if "class" not in policy else policy["class"].rpartition(".")[0] + ":" + policy[
        "class"].rpartition(".")[2]
    argv = [
        "proxmo", "rollout", "--env", make_id, "--tasks", ",".join(str(i) for i, _ in config["tasks"]),
        "--group-size", str(config["group_size"]), "--policy", str(policy_arg), "--seed", str(config["seed"]),
        "--iteration", str(config["iteration"]),
        *(arg for key, value in sorted(config["env_kwargs"].items())
          for arg in ("--env-kwargs", f"{key}={json.dumps(value)}")),
        "--out", str(out),
    ]
    if config["max_steps"] is not None:
        argv += ["--max-steps", str(config["max_steps"])]
    return argv


def _package_version() -> str:
    import proxmo_envs

    return proxmo_envs.__version__


def _run_workers(jobs: list[RolloutJob], on_done: Callable[[int], None]) -> list[JobResult]:
    """Run each job in its own ``spawn`` process; forward progress; raise if a worker fails."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = []
    try:
        for k, job in enumerate(jobs):
            # Plain pickle, not multiprocessing's ForkingPickler: that one moves torch tensors (a policy's
            # weights) to shared memory behind file descriptors which torch may close before the spawn
            # ("bad value(s) in fds_to_keep"); a byte copy of the weights is small and always valid.
            try:
                payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, AttributeError, TypeError) as err:
                raise TypeError(
                    f"workers>1 needs a picklable policy (a module-level class or a built-in name): {err}"
                ) from None
            p = ctx.Process(target=worker_main, args=(payload, k, q, os.getpid()), daemon=True, name=f"proxmo-rollout-{k}")
            p.start()
            procs.append(p)
        results: dict[int, JobResult] = {}
        while len(results) < len(jobs):
            try:
                kind, k, payload, detail = q.get(timeout=0.5)
            except queue_mod.Empty:
                dead = [k for k, p in enumerate(procs) if k not in results and not p.is_alive()]
                if dead:
                    time.sleep(0.2)  # let a last message arrive before declaring the worker lost
                    if q.empty():
                        k = dead[0]
                        raise RuntimeError(
                            f"rollout worker {k} died with exit code {procs[k].exitcode} before finishing; "
                            "the run folder keeps its complete episodes, re-run with resume=True"
                        ) from None
                continue
            if kind == "progress":
                on_done(payload)
            elif kind == "done":
                results[k] = payload
            else:
                raise RuntimeError(f"rollout worker {k} failed: {payload}\n{detail}")
        for p in procs:
            p.join()
        return [results[k] for k in range(len(jobs))]
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)


def rollout(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None,
    policy: Any,
    tasks: int | Sequence[int] | Sequence[str],
    group_size: int,
    out: RunLike,
    workers: int = 1,
    seed: int = 0,
    iteration: int = 0,
    resume: bool = False,
    rows_per_part: int = DEFAULT_ROWS_PER_PART,
    batch_size: int | None = None,
    max_steps: int | None = None,
    progress: ProgressFn | None = None,
    backend: str = "local",
    address: str | None = None,
) -> RolloutSummary:
    """Run ``group_size`` episodes of each task and write the run folder ``out``.

    Args:
        env_id: a registered id, e.g. ``proxmo/WebShop-v0``.
        env_kwargs: keyword arguments of ``gym.make`` (JSON-serialisable; recorded in the manifest).
        policy: a built-in name (``random``, ``oracle``, ``walkthrough``), a step policy
            ``(observation, info) -> action | (action, logprob)`` or a batched policy with
            ``act(observations, infos)`` (see ``proxmo_envs.rollout.policies``). Must be picklable when
            ``workers > 1``.
        tasks: an int ``n`` (the first ``n`` tasks of the split), task indices, or task ids.
        group_size: N, the episodes per task; they share one ``group_id`` and have ``rollout_index``
            0..N-1 and distinct seeds.
        out: the run folder. It must not hold a run yet, unless ``resume``. A local path, a ``file://``
            URI, any URI ``pyarrow.fs.FileSystem.from_uri`` accepts (``s3://bucket/runs/x``, ...) or a
            ``(pyarrow.fs.FileSystem, path)`` pair; parts are written straight to it by every worker.
            Only local folders are locked against a second concurrent rollout.
        workers: worker processes (``spawn``); each writes its own parts. Groups are dealt round-robin.
        seed: the run seed; per-episode seeds derive from it (``SEED_RULE``).
        iteration: the training iteration written in the log (0 offline).
        resume: complete an interrupted run: run only the missing (task_id, rollout_index) pairs. The
            arguments must match the manifest's.
        rows_per_part: rows per Parquet part (default 4096).
        batch_size: envs a batched policy steps in lock-step per worker (default: ``group_size``).
        max_steps: an extra step cap (``TimeLimit``) over the env's own.
        progress: ``progress(done, total)`` after each finished episode of this session.
        backend: ``"local"`` (processes) or ``"ray"`` (env actors; see ``proxmo_envs.rollout.ray_backend``).
        address: with ``backend="ray"``, the cluster to join (default: a local Ray with ``workers`` CPUs).

    Returns:
        the ``RolloutSummary`` of the run folder (this session's speed included).
    """
    env_kwargs = dict(env_kwargs or {})
    # Every argument is checked before the run folder (manifest, lock) is created, so a typo leaves nothing
    # behind that would block the corrected command.
    _check_arguments(env_kwargs, backend, workers=workers, group_size=group_size, rows_per_part=rows_per_part,
                     seed=seed, iteration=iteration, max_steps=max_steps, batch_size=batch_size)
    out = resolve_location(out)
    probe = _probe_env(env_id, env_kwargs)
    identity = _run_identity(probe, env_kwargs, policy, resolve_tasks(tasks, probe.task_ids), group_size, seed,
                             iteration, max_steps)
    created = _prepare_folder(out, resume)
    # a second rollout on this folder fails here, not later (local folders: remote ones have no flock)
    session_lock = acquire_session(Path(out.path)) if out.is_local else None
    try:
        manifest = _open_manifest(out, resume, identity, probe, env_id)
        specs = _pending_episodes(out, manifest, resume)
        session = _start_session(out, manifest, specs, workers=workers, backend=backend,
                                 rows_per_part=rows_per_part, batch_size=batch_size or group_size)
        jobs = _jobs(out, manifest, specs, session, env_id=env_id, policy=policy, workers=workers,
                     rows_per_part=rows_per_part, batch_size=batch_size or group_size)
        results, seconds = _run_jobs(jobs, len(specs), backend, address, workers, progress)
        return _finish_session(out, manifest, results, seconds, backend)
    except KeyboardInterrupt:
        # Ctrl-C: the workers are stopped by now; their half-written parts go, complete episodes stay for --resume.
        out.remove_temporaries()
        raise
    except Exception:
        if created and out.is_local and not out.glob(PART_GLOB):
            # Nothing was logged: a folder this call made is removed, so the corrected command starts clean.
            release(session_lock)
            session_lock = None
            shutil.rmtree(out.path, ignore_errors=True)
        raise
    finally:
        release(session_lock)


# ---- the steps of rollout(), in order ------------------------------------------------------------------

def _check_arguments(env_kwargs: dict[str, Any], backend: str, **numbers: Any) -> None:
    """Step 1: every argument is valid (one ValueError / TypeError naming it)."""
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    lows = {"workers": 1, "group_size": 1, "rows_per_part": 1, "seed": None, "iteration": 0, "max_steps": 1,
            "batch_size": 1}
    for name, value in numbers.items():
        if value is None and name in ("max_steps", "batch_size"):
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if lows[name] is not None and value < lows[name]:
            raise ValueError(f"{name} must be >= {lows[name]}, got {value}")
    try:
        json.dumps(env_kwargs)
    except TypeError as err:
        raise TypeError(f"env_kwargs must be JSON-serialisable (they go into the manifest): {err}") from None


@dataclass(frozen=True)
class EnvProbe:
    """What one ``gym.make`` tells the runner before any episode: the id rows carry, the resolved env config
    and the task ids of the split."""

    log_env_id: str
    env_config: dict[str, Any]
    task_ids: list[str]


def _probe_env(env_id: str, env_kwargs: dict[str, Any]) -> EnvProbe:
    """Step 2: make the env once (unknown ids and non-proxmo envs fail here, before the folder exists)."""
    probe = make_checked(env_id, env_kwargs)
    try:
        task_ids = getattr(probe.unwrapped, "task_ids", None)
        if task_ids is None:
            raise ValueError(f"{env_id}: env has no task_ids; the rollout runner needs a proxmo/* env (env-api.md)")
        # "module:proxmo/X-v0" makes the same env as "proxmo/X-v0"; rows carry the plain id.
        log_env_id = probe.spec.id if probe.spec is not None else env_id
        return EnvProbe(log_env_id, resolved_env_config(probe, env_kwargs), list(task_ids))
    finally:
        probe.close()


def _run_identity(probe: EnvProbe, env_kwargs: dict[str, Any], policy: Any, task_list: list, group_size: int,
                  seed: int, iteration: int, max_steps: int | None) -> dict[str, Any]:
    """Step 3: the manifest fields that identify the run (``Manifest.IDENTITY``; a resume must match them)."""
    policy_desc = describe_policy(policy)
    digest = config_digest({"env_id": probe.log_env_id, "env_kwargs": env_kwargs, "policy": policy_desc,
                            "seed": seed, "max_steps": max_steps})
    return {
        "env_id": probe.log_env_id, "env_kwargs": env_kwargs, "tasks": [[i, t] for i, t in task_list],
        "group_size": int(group_size), "seed": int(seed), "iteration": int(iteration), "policy": policy_desc,
        "max_steps": max_steps, "config_digest": digest,
    }


def _prepare_folder(out: RunLocation, resume: bool) -> bool:
    """Step 4: create the run folder (``resume`` needs it to exist); returns whether this call created it."""
    if resume and not out.is_dir():
        raise FileNotFoundError(f"{out}: no such run folder, nothing to resume")
    if out.is_local and Path(out.path).exists() and not Path(out.path).is_dir():
        raise ValueError(f"{out}: is a file, not a run folder")
    created = not out.is_dir()
    out.make_dirs()
    return created


def _open_manifest(out: RunLocation, resume: bool, identity: dict[str, Any], probe: EnvProbe,
                   make_id: str) -> Manifest:
    """Step 5: the folder's manifest (``resume``: checked against this call's arguments) or a new one."""
    if resume:
        if not out.exists(MANIFEST_NAME):
            raise FileNotFoundError(f"{out}: no {MANIFEST_NAME}; not a run folder, nothing to resume")
        manifest = Manifest.read(out)
        differs = manifest.mismatch(identity)
        if differs:
            key, theirs, ours = differs
            raise ValueError(f"{out.display(MANIFEST_NAME)}: cannot resume, {key} differs "
                             f"(run folder: {theirs!r}, now: {ours!r})")
        if out.is_local:
            wait_for_old_workers(Path(out.path))  # a killed runner's workers finish their episode first
        out.remove_temporaries()
        return manifest
    if out.exists(MANIFEST_NAME) or out.glob(PART_GLOB):
        raise ValueError(f"{out}: already holds a run; pass resume=True (--resume) or choose another folder")
    return Manifest(
        **identity,
        run_id=f"{out.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}",
        make_id=make_id, command=recreate_command(identity, make_id, out), env_config=probe.env_config,
        seeds={"seed": int(identity["seed"]), "rule": SEED_RULE}, package_version=_package_version(),
        created_at=now_utc(),
    )


def _pending_episodes(out: RunLocation, manifest: Manifest, resume: bool) -> list:
    """Step 6: the episodes this session runs: all of the plan, or (``resume``) those the folder lacks."""
    specs = plan_episodes([tuple(t) for t in manifest.tasks], manifest.group_size, manifest.seed,
                          manifest.iteration, manifest.config_digest)
    if resume:
        done = logged_pairs(out)
        specs = [s for s in specs if (s.task_id, s.rollout_index) not in done]
    return specs


def _start_session(out: RunLocation, manifest: Manifest, specs: list, **settings: Any) -> str:
    """Step 7: record the session in the manifest (status ``running``), written before any episode runs."""
    session = secrets.token_hex(3)
    manifest.status, manifest.updated_at = "running", now_utc()
    manifest.sessions.append({"session": session, "started_at": manifest.updated_at, **settings,
                              "episodes_planned": len(specs)})
    manifest.write(out)
    return session


def _jobs(out: RunLocation, manifest: Manifest, specs: list, session: str, *, env_id: str, policy: Any,
          workers: int, rows_per_part: int, batch_size: int) -> list[RolloutJob]:
    """Step 8: one job per worker, whole task groups dealt round-robin; each writes its own parts."""
    chunks = split_by_group(specs, workers) if specs else []
    return [
        RolloutJob(
            env_id=env_id, env_kwargs=manifest.env_kwargs, policy=policy, episodes=chunk,
            out=str(out.path) if out.is_local else out, run_id=manifest.run_id, iteration=int(manifest.iteration),
            log_env_id=manifest.env_id, run_metadata=manifest.run_metadata(), part_prefix=f"{session}-w{k}",
            rows_per_part=rows_per_part, batch_size=batch_size, max_steps=manifest.max_steps,
        )
        for k, chunk in enumerate(chunks)
    ]


def _run_jobs(jobs: list[RolloutJob], total: int, backend: str, address: str | None, workers: int,
              progress: ProgressFn | None) -> tuple[list[JobResult], float]:
    """Step 9: run the jobs (in process, on spawned workers or on Ray actors); results and seconds."""
    finished = 0

    def on_done(n: int) -> None:
        nonlocal finished
        finished += n
        if progress is not None:
            progress(finished, total)

    start = time.perf_counter()
    if backend == "ray":
        from . import ray_backend  # lazy: the local path never imports ray

        results = ray_backend.run_jobs(jobs, on_done, address=address, workers=workers)
    elif len(jobs) <= 1:
        results = [run_episodes(job, progress=on_done) for job in jobs]
    else:
        results = _run_workers(jobs, on_done)
    return results, time.perf_counter() - start


def _finish_session(out: RunLocation, manifest: Manifest, results: list[JobResult], seconds: float,
                    backend: str) -> RolloutSummary:
    """Step 10: the session's counts into the manifest (status ``complete``) and the run's summary."""
    episodes, steps = sum(r.episodes for r in results), sum(r.steps for r in results)
    manifest.status, manifest.updated_at = "complete", now_utc()
    manifest.sessions[-1].update({
        "finished_at": manifest.updated_at, "episodes": episodes, "failed": sum(r.failed for r in results),
        "steps": steps, "seconds": round(seconds, 3), "retried": sum(getattr(r, "retried", 0) for r in results),
    })
    manifest.write(out)
    summary = summarize_run(out, manifest.run_id, episodes, steps, seconds)
    if backend == "ray":
        from . import ray_backend

        return ray_backend.summarize(summary, results)
    return summary


__all__ = ["rollout", "SEED_RULE", "resolved_env_config"]
