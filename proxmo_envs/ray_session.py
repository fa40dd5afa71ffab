"""The process's Ray session, shared by the rollout backend and the Ray credit scorer.

``connect(address, num_cpus)`` joins a cluster or starts a local Ray once per process. Code that keeps
idle actors (the rollout backend's pooled env workers, one CPU each) registers a releaser with
``on_release``; ``release_idle_actors()`` runs them, so e.g. Ray Data can schedule its tasks on those
CPUs. Neither side imports the other: both import this module. ``ray`` is imported only when called.
"""

from __future__ import annotations

import logging
from typing import Callable

_RELEASERS: list[Callable[[], int]] = []


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address``, or start a local Ray with ``num_cpus`` CPUs; no-op when connected."""
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)


def on_release(releaser: Callable[[], int]) -> None:
    """Register ``releaser() -> number of actors released`` (once; later calls with it are ignored)."""
    if releaser not in _RELEASERS:
        _RELEASERS.append(releaser)


def release_idle_actors() -> int:
    """Run every registered releaser; returns how many actors were released in total."""
    return sum(int(release() or 0) for release in list(_RELEASERS))


__all__ = ["connect", "on_release", "release_idle_actors"]
