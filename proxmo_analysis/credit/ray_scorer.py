"""Re-scoring a run on Ray: ``credit.stream``'s two passes, their calls run as Ray tasks.

``credit.stream.score_run_ray(run, out, method, address=None, **config)`` (also ``score_run(...,
backend="ray")``) is ``credit.stream.score_run`` spread over a Ray cluster through ``RayExecutor``, with the
same numbers bit for bit and the same memory bound (the same functions):

1. **Index**: ``stream.index_unit`` per Parquet row-group unit (the per-file checks, rows per task group,
   one group per episode, TF-IDF term counts per iteration) as Ray tasks; the driver merges them.
2. **Score**: task groups packed into segments (``stream.plan_segments``); runs of consecutive segments go
   to Ray tasks (``stream.score_segments``), each reading the part files it needs, scoring and writing
   ``part-{k:05d}.parquet`` (temporary name, then rename / move) with the run's metadata and
   ``proxmo.credit``. The driver takes segments too (``parallel.share_work``).

Every task holds one segment and the files it reads, never the log: a 10^7-row run costs each worker
what the local scorer costs. (Before, Ray Data's ``groupby("group_id").map_groups`` shuffled the whole log
through the object store, which grows with the log.) The output is committed last (``scoring.json``), and
an interrupted scoring can be resumed (``resume=True``) as with the local scorer.

The run folder and ``out`` must be reachable from every node: a pyarrow filesystem URI (``s3://``,
``gs://``, ...; ``proxmo_envs.trajlog.fs``) or a local path / ``file://`` URI on a shared file system.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future


class RayExecutor(Executor):
    """A ``concurrent.futures.Executor`` whose calls run as Ray tasks (one CPU each)."""

    def __init__(self) -> None:
        import ray

        self._call = ray.remote(num_cpus=1)(_apply)

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        inner = self._call.remote(fn, *args, **kwargs).future()
        outer: Future = Future()

        def relay(f: Future) -> None:
            # a task's exception arrives wrapped in a RayTaskError (its text holds the remote traceback); the
            # caller gets the original, so a bad log is still one line naming file, column and row
            err = f.exception()
            if err is None:
                outer.set_result(f.result())
            else:
                outer.set_exception(getattr(err, "cause", None) or err)

        inner.add_done_callback(relay)
        return outer


def _apply(fn, *args, **kwargs):
    return fn(*args, **kwargs)


__all__ = ["RayExecutor"]
