"""An on-disk cache of the per-game products TextWorld computes when it loads a game, so that a game this
process has not loaded yet (but some process on this machine has) loads in milliseconds.

Two products are cached, both pure functions of their text inputs:

* ``fast_downward.pddl2sas(domain, problem)``: the translated task and its SAS text (~0.4 s to compute,
  ~25 kB on disk);
* the parse of a game's grammar document (``textworld.envs.pddl.logic._parse_and_convert``, the actions
  and the text grammar; ~0.15 s to compute).

Files are ``<dir>/<kind>-<key>.pkl.gz`` where ``key`` digests the inputs together with the TextWorld and
fast-downward versions and :data:`FORMAT`, so an upgrade never reads a stale product. Writes are atomic
(temporary file + rename); a file that cannot be read is recomputed and rewritten; a folder that cannot be
written leaves the cache in memory only.

Setting: ``PROXMO_ALFWORLD_CACHE_DIR`` = a folder (created on first write), or ``off`` to disable.
Default: ``$XDG_CACHE_HOME/proxmo/alfworld`` (``~/.cache/proxmo/alfworld``). The files are pickles: point
the setting only at a folder that you (not other users) can write.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

ENV_DIR = "PROXMO_ALFWORLD_CACHE_DIR"
FORMAT = "1"
_DISABLED = {"off", "none", "0", "false", "no"}
_unwritable: set[str] = set()


def cache_dir() -> Path | None:
    """The folder of the disk cache, or None when disabled (``PROXMO_ALFWORLD_CACHE_DIR=off``)."""
    raw = os.environ.get(ENV_DIR)
    if raw is not None:
        raw = raw.strip()
        if raw.lower() in _DISABLED or raw == "":
            return None
        return Path(raw).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "proxmo" / "alfworld"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [FORMAT]
    for dist in ("textworld", "fast-downward-textworld"):
        try:
            parts.append(version(dist))
        except PackageNotFoundError:
            parts.append("?")
    return "/".join(parts)


_VERSIONS: list[str] = []


def engine_versions() -> str:
    """``FORMAT/textworld version/fast-downward-textworld version``, as the keys digest them."""
    if not _VERSIONS:
        _VERSIONS.append(_versions())
    return _VERSIONS[0]


def key_of(kind: str, *texts: str) -> str:
    """A digest of ``kind``, the installed engine versions and the input texts."""
    h = hashlib.blake2b(digest_size=20)
    for part in (kind, engine_versions(), *texts):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def cached(kind: str, texts: tuple[str, ...], compute: Callable[[], Any],
           after_load: Callable[[Any], Any] | None = None, storable: Callable[[Any], bool] | None = None) -> Any:
    """``compute()``, read from / written to the disk cache under ``key_of(kind, *texts)``.

    ``after_load`` fixes up a value read from disk; ``storable(value)`` False keeps a value off the disk.
    """
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{kind}-{key_of(kind, *texts)}.pkl.gz"
    try:
        with gzip.open(path, "rb") as fh:
            value = pickle.load(fh)
        return after_load(value) if after_load is not None else value
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - a truncated or foreign file: recompute and overwrite it
        pass
    value = compute()
    if storable is None or storable(value):
        _write(folder, path, value)
    return value


def _write(folder: Path, path: Path, value: Any) -> None:
    if str(folder) in _unwritable:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pkl.gz")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        _unwritable.add(str(folder))  # read-only or full: keep running from memory


# ---------------------------------------------------------------------------- fast-downward translations
#
# fast-downward's conditions cache their hash (``self.hash``) when built, from string hashes that Python
# salts per process: a pickled translation carries another process's hashes. ``rehash_translation``
# recomputes them with the constructors' formulas; ``translation_picklable`` refuses a product in which
# such objects sit inside a set or as dict keys (those would be filed under stale hashes), and checks that
# the recomputed hashes of a round-tripped copy equal the originals.


def _fd_modules() -> tuple[Any, Any]:
    from fast_downward.translate.pddl import conditions, f_expression

    return conditions, f_expression


_ATOMIC = (str, int, float, bool, bytes, type(None))


def _objects(root: Any) -> list[Any]:
    """Every container/instance reachable from ``root``, children before parents."""
    out: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        obj, expanded = stack.pop()
        if expanded:
            out.append(obj)
            continue
        if isinstance(obj, _ATOMIC) or isinstance(obj, type) or id(obj) in seen:
            continue
        seen.add(id(obj))
        stack.append((obj, True))
        if isinstance(obj, (list, tuple, set, frozenset)):
            children = list(obj)
        elif isinstance(obj, dict):
            children = [x for kv in obj.items() for x in kv]
        elif hasattr(obj, "__dict__"):
            children = list(vars(obj).values())
        else:
            children = []
        stack.extend((c, False) for c in children)
    return out


def rehash_translation(root: Any) -> Any:
    """Recompute the cached hashes of fast-downward's conditions and expressions in ``root`` (in place)."""
    C, F = _fd_modules()
    for o in _objects(root):
        if isinstance(o, C.ConstantCondition):
            o.hash = hash(o.__class__)
        elif isinstance(o, C.QuantifiedCondition):
            o.hash = hash((o.__class__, o.parameters, o.parts))
        elif isinstance(o, C.Literal):
            o.hash = hash((o.__class__, o.predicate, o.args))
        elif isinstance(o, C.Condition):
            o.hash = hash((o.__class__, o.parts))
        elif isinstance(o, F.PrimitiveNumericExpression):
            o.hash = hash((o.__class__, o.symbol, o.args))
    return root


def translation_picklable(value: Any) -> bool:
    """True when ``value`` survives pickling in another process once rehashed (see above)."""
    C, F = _fd_modules()
    hashed = (C.Condition, F.PrimitiveNumericExpression)
    originals = []
    for o in _objects(value):
        if isinstance(o, (set, frozenset)) and any(isinstance(x, hashed) for x in o):
            return False
        if isinstance(o, dict) and any(isinstance(k, hashed) for k in o):
            return False
        if isinstance(o, hashed):
            originals.append(o.hash)
    copy = rehash_translation(pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)))
    again = [o.hash for o in _objects(copy) if isinstance(o, hashed)]
    return again == originals
