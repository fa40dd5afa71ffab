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
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym

from proxmo_envs.trajlog.schema import MANIFEST_NAME, PART_GLOB, SCHEMA_VERSION
from proxmo_envs.trajlog.fs import RunLike, RunLocation, resolve_location
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

#: Manifest fields that must agree when resuming (they decide which episodes exist and their seeds).
_RESUME_KEYS = ("env_id", "env_kwargs", "tasks", "group_size", "seed", "iteration", "policy", "max_steps", "config_digest")

ProgressFn = Callable[[int, int], None]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
    """The ``proxmo rollout`` argv that re-creates a run from its manifest fields."""
    policy = config["policy"]
    policy_arg = policy.get("name") if "class" not in policy else policy["class"].rpartition(".")[0] + ":" + policy[
        "class"].rpartition(".")[2]
    argv = [
        "proxmo", "rollout", "--env", make_id, "--tasks", ",".join(str(i) for i, _ in config["tasks"]),
        "--group-size", str(config["group_size"]), "--policy", str(policy_arg), "--seed", str(config["seed"]),
        "--iteration", str(config["iteration"]), "--env-kwargs", json.dumps(config["env_kwargs"], sort_keys=True),
        "--out", str(out),
    ]
    if config["max_steps"] is not None:
        argv += ["--max-steps", str(config["max_steps"])]
    return argv


def _package_version() -> str:
    import proxmo_envs

    return proxmo_envs.__version__


def _read_manifest(out: RunLocation) -> dict[str, Any]:
    if not out.exists(MANIFEST_NAME):
        raise FileNotFoundError(f"{out}: no {MANIFEST_NAME}; not a run folder, nothing to resume")
    try:
        return json.loads(out.read_text(MANIFEST_NAME))
    except json.JSONDecodeError as err:
        raise ValueError(f"{out.display(MANIFEST_NAME)}: not valid JSON ({err})") from None


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
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    # Every argument is checked before the run folder (manifest, lock) is created, so a typo leaves nothing
    # behind that would block the corrected command.
    for name, value, low in (("workers", workers, 1), ("group_size", group_size, 1), ("rows_per_part", rows_per_part, 1),
                             ("seed", seed, None), ("iteration", iteration, 0), ("max_steps", max_steps, 1),
                             ("batch_size", batch_size, 1)):
        if value is None and name in ("max_steps", "batch_size"):
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if low is not None and value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    try:
        json.dumps(env_kwargs)
    except TypeError as err:
        raise TypeError(f"env_kwargs must be JSON-serialisable (they go into the manifest): {err}") from None
    out = resolve_location(out)
    policy_desc = describe_policy(policy)

    import proxmo_envs  # noqa: F401  (registers the ids)

    try:
        probe = gym.make(env_id, **env_kwargs)
    except gym.error.Error as err:  # unknown id, namespace or version: one clear line, not a traceback
        raise ValueError(f"env {env_id!r}: {err}") from None
    try:
        unwrapped = probe.unwrapped
        task_ids = getattr(unwrapped, "task_ids", None)
        if task_ids is None:
            raise ValueError(f"{env_id}: env has no task_ids; the rollout runner needs a proxmo/* env (env-api.md)")
        env_config = resolved_env_config(probe, env_kwargs)
        # "module:proxmo/X-v0" makes the same env as "proxmo/X-v0"; rows carry the plain id.
        log_env_id = probe.spec.id if probe.spec is not None else env_id
    finally:
        probe.close()
    task_list = resolve_tasks(tasks, list(task_ids))

    digest = config_digest(
        {"env_id": log_env_id, "env_kwargs": env_kwargs, "policy": policy_desc, "seed": seed, "max_steps": max_steps}
    )
    config = {
        "env_id": log_env_id,
        "env_kwargs": env_kwargs,
        "tasks": [[i, t] for i, t in task_list],
        "group_size": int(group_size),
        "seed": int(seed),
        "iteration": int(iteration),
        "policy": policy_desc,
        "max_steps": max_steps,
        "config_digest": digest,
    }
    if resume and not out.is_dir():
        raise FileNotFoundError(f"{out}: no such run folder, nothing to resume")
    if out.is_local and Path(out.path).exists() and not Path(out.path).is_dir():
        raise ValueError(f"{out}: is a file, not a run folder")
    created = not out.is_dir()
    out.make_dirs()
    # a second rollout on this folder fails here, not later (local folders: remote ones have no flock)
    session_lock = acquire_session(Path(out.path)) if out.is_local else None
    try:
        return _run_session(out, resume, config, env_id, env_config, log_env_id, seed, iteration, group_size,
                            task_list, digest, workers, backend, rows_per_part, batch_size, env_kwargs, policy,
                            max_steps, progress, address)
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


def _run_session(out, resume, config, env_id, env_config, log_env_id, seed, iteration, group_size, task_list,
                 digest, workers, backend, rows_per_part, batch_size, env_kwargs, policy, max_steps, progress,
                 address) -> RolloutSummary:
    """The body of :func:`rollout` once the run folder exists and is locked."""
    if resume:
        manifest = _read_manifest(out)
        for key in _RESUME_KEYS:
            if manifest.get(key) != config[key]:
                raise ValueError(
                    f"{out.display(MANIFEST_NAME)}: cannot resume, {key} differs "
                    f"(run folder: {manifest.get(key)!r}, now: {config[key]!r})"
                )
        if out.is_local:
            wait_for_old_workers(Path(out.path))  # a killed runner's workers finish their episode first
        out.remove_temporaries()
    else:
        if out.exists(MANIFEST_NAME) or out.glob(PART_GLOB):
            raise ValueError(f"{out}: already holds a run; pass resume=True (--resume) or choose another folder")
        now = _now()
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "run_id": f"{out.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}",
            **config,
            "make_id": env_id,
            "command": recreate_command(config, env_id, out),
            "env_config": env_config,
            "seeds": {"seed": int(seed), "rule": SEED_RULE},
            "package_version": _package_version(),
            "created_at": now,
            "sessions": [],
        }
    run_id = manifest["run_id"]
    run_metadata = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "env_id": log_env_id,
        "env_kwargs": env_kwargs,
        "env_config": manifest.get("env_config", env_config),
        "package_version": manifest.get("package_version", _package_version()),
        "seeds": manifest["seeds"],
        "group_size": int(group_size),
        "iteration": int(iteration),
        "policy": config["policy"],
        "created_at": manifest["created_at"],
    }

    specs = plan_episodes(task_list, group_size, seed, iteration, digest)
    if resume:
        done = logged_pairs(out)
        specs = [s for s in specs if (s.task_id, s.rollout_index) not in done]

    session = secrets.token_hex(3)
    manifest["status"] = "running"
    manifest["updated_at"] = _now()
    manifest["sessions"].append(
        {
            "session": session,
            "started_at": manifest["updated_at"],
            "workers": workers,
            "backend": backend,
            "rows_per_part": rows_per_part,
            "batch_size": batch_size or group_size,
            "episodes_planned": len(specs),
        }
    )
    out.write_json(MANIFEST_NAME, manifest)

    chunks = split_by_group(specs, workers) if specs else []
    jobs = [
        RolloutJob(
            env_id=env_id,
            env_kwargs=env_kwargs,
            policy=policy,
            episodes=chunk,
            out=str(out.path) if out.is_local else out,
            run_id=run_id,
            iteration=int(iteration),
            log_env_id=log_env_id,
            run_metadata=run_metadata,
            part_prefix=f"{session}-w{k}",
            rows_per_part=rows_per_part,
            batch_size=batch_size or group_size,
            max_steps=max_steps,
        )
        for k, chunk in enumerate(chunks)
    ]
    total = len(specs)
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
    seconds = time.perf_counter() - start

    session_episodes = sum(r.episodes for r in results)
    session_steps = sum(r.steps for r in results)
    manifest["status"] = "complete"
    manifest["updated_at"] = _now()
    manifest["sessions"][-1].update(
        {
            "finished_at": manifest["updated_at"],
            "episodes": session_episodes,
            "failed": sum(r.failed for r in results),
            "steps": session_steps,
            "seconds": round(seconds, 3),
            "retried": sum(getattr(r, "retried", 0) for r in results),
        }
    )
    out.write_json(MANIFEST_NAME, manifest)
    summary = summarize_run(out, run_id, session_episodes, session_steps, seconds)
    return ray_backend.summarize(summary, results) if backend == "ray" else summary


__all__ = ["rollout", "SEED_RULE", "resolved_env_config"]
