"""Advisory locks that keep two rollout sessions off one run folder (POSIX ``flock``; no-ops elsewhere).

- ``.rollout.lock``: held exclusively by the session's runner, so a second ``rollout``/``--resume`` on the
  same folder fails at once instead of running the same episodes twice.
- ``.workers.lock``: held shared by every process running ``run_episodes``. A new session first takes it
  exclusively for a moment, which waits until the workers of an earlier, killed runner (who finish their
  current episode and exit) are gone, so a resume never races them.

The kernel drops a ``flock`` when its process dies, SIGKILL included, so a stale lock never blocks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking
    fcntl = None  # type: ignore[assignment]

SESSION_LOCK = ".rollout.lock"
WORKERS_LOCK = ".workers.lock"


def _open(path: Path) -> IO[bytes]:
    return open(path, "a+b")


def acquire_session(out: Path) -> IO[bytes] | None:
    """Take the folder's session lock or raise ``ValueError`` naming the holder; keep the handle open."""
    if fcntl is None:
        return None
    fh = _open(out / SESSION_LOCK)
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().decode(errors="replace").strip() or "another process"
        fh.close()
        raise ValueError(f"{out}: another rollout is running on this folder ({holder})") from None
    except OSError:  # a file system without flock (some network mounts): run unlocked
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}".encode())
    fh.flush()
    return fh


def wait_for_old_workers(out: Path, timeout: float = 120.0) -> None:
    """Block until no process holds ``.workers.lock`` (orphaned workers of a killed session)."""
    if fcntl is None:
        return
    deadline = time.monotonic() + timeout
    with _open(out / WORKERS_LOCK) as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ValueError(
                        f"{out}: worker processes of an earlier rollout are still writing after {timeout:g} s"
                    ) from None
                time.sleep(0.1)
            except OSError:
                return


def hold_workers_lock(out: Path) -> IO[bytes] | None:
    """Take ``.workers.lock`` shared for the life of the returned handle (``None`` without flock)."""
    if fcntl is None:
        return None
    fh = _open(out / WORKERS_LOCK)
    try:
        fcntl.flock(fh, fcntl.LOCK_SH)
    except OSError:
        fh.close()
        return None
    return fh


def release(fh: IO[bytes] | None) -> None:
    if fh is not None:
        fh.close()  # closing drops the flock


__all__ = ["acquire_session", "wait_for_old_workers", "hold_workers_lock", "release", "SESSION_LOCK", "WORKERS_LOCK"]
