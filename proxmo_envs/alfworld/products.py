"""Translation products shipped with generated games, so that a game never loaded on a machine loads in
milliseconds.

Loading a game makes TextWorld translate its PDDL problem to fast-downward's SAS format
(``fast_downward.pddl2sas(domain, problem)`` -> ``(task, sas)``), ~0.3-0.8 s per game, most of a new game's
load time. Of that pair only the SAS text is expensive: ``task`` is the parsed and normalised PDDL task,
which the translator computes first (~10 ms) and does not modify afterwards. So a product is the SAS text
alone, and :func:`translation` rebuilds ``task`` the way ``pddl2sas`` does.

Products of a folder of generated games are one zip per split next to the games, ``<split>.sas.zip``
(one coded LZMA member per game, ~12 kB), written by the generator (``proxmo_envs.builders.alfworld_games``)
or by ``python -m proxmo_envs.alfworld.products --data FOLDER``. A member is named by
:func:`~proxmo_envs.alfworld.diskcache.key_of` of its inputs: a digest of the domain and problem texts and
of the installed TextWorld and fast-downward versions, so a product is only ever found for the exact
inputs it was computed from; a game without a member (regenerated, or other engine versions) is
translated as without products. A member whose bytes are damaged (its CRC-32 or LZMA stream does not
check), a file that is not a readable zip, or one of another products format or engine version is
reported in one warning line and not used. ``tests/test_alfworld_products.py`` checks that a product gives
fast-downward's own ``(task, sas)``, object by object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterable

from proxmo_envs.alfworld import diskcache

SUFFIX = ".sas.zip"
KIND = "pddl2sas"  # the disk cache's kind for the plain translation: same key, same product
META = "meta.json"
FORMAT = 2  # 1: plain SAS members, 2: encode_sas members


# A member is the SAS text with its long words (object and location names, repeated on every operator)
# replaced by 3-character codes, the word list first: LZMA then stores half the bytes (~11 kB a game
# instead of ~22 kB) and decoding is one split and join (~5 ms). ``raw`` members hold the text unchanged.
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{7,}")
_MARK = "\x01"
_DIGITS = [chr(c) for c in range(0x21, 0x7F)]  # 94 printable characters: 94 * 94 codes
_MAX_WORDS = len(_DIGITS) ** 2
_HEAD_WORDS, _HEAD_RAW = b"words\n", b"raw\n"


def encode_sas(sas: str) -> bytes:
    """A member's bytes for ``sas`` (see above); :func:`decode_sas` inverts it exactly (checked here)."""
    words: dict[str, str] = {}

    def code(m: re.Match) -> str:
        w = m.group(0)
        c = words.get(w)
        if c is None:
            i = len(words)
            c = words[w] = _MARK + _DIGITS[i // 94] + _DIGITS[i % 94] if i < _MAX_WORDS else w
        return c

    if _MARK not in sas:
        body = _WORD.sub(code, sas)
        if len(words) <= _MAX_WORDS:
            data = _HEAD_WORDS + ("\n".join(words) + "\n\n" + body).encode("utf-8")
            if decode_sas(data) == sas:
                return data
    return _HEAD_RAW + sas.encode("utf-8")


def decode_sas(data: bytes) -> str:
    """The SAS text of a member (raises ValueError when the member is not one :func:`encode_sas` wrote)."""
    if data.startswith(_HEAD_RAW):
        return data[len(_HEAD_RAW):].decode("utf-8")
    if not data.startswith(_HEAD_WORDS):
        raise ValueError("unknown member format")
    head, sep, body = data[len(_HEAD_WORDS):].decode("utf-8").partition("\n\n")
    if not sep:
        raise ValueError("member has no word list")
    table = {_DIGITS[i // 94] + _DIGITS[i % 94]: w for i, w in enumerate(head.split("\n"))}
    parts = body.split(_MARK)
    try:
        return parts[0] + "".join([table[p[:2]] + p[2:] for p in parts[1:]])
    except KeyError:
        raise ValueError("member refers to a word it does not list") from None


def products_path(folder: str | os.PathLike, split: str) -> Path:
    """The products file of ``split`` in a folder of generated games."""
    return Path(folder) / f"{split}{SUFFIX}"


def product_key(domain: str, problem: str) -> str:
    """The member name of a game's product (a digest of the inputs and the engine versions)."""
    return diskcache.key_of(KIND, domain, problem)


class ProductFile:
    """One ``<split>.sas.zip``, opened on first use and read by any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None
        self._names: frozenset[str] = frozenset()
        self._broken = False
        self._pid = os.getpid()

    def _open(self) -> zipfile.ZipFile | None:
        if self._zip is not None and self._pid != os.getpid():
            # a forked child: the file offset is shared with the parent, so reads could interleave
            self._zip = None
        if self._zip is None and not self._broken:
            self._pid = os.getpid()
            try:
                self._zip = zipfile.ZipFile(self.path)
                self._names = frozenset(self._zip.namelist())
                meta = json.loads(self._zip.read(META)) if META in self._names else {}
            except Exception as err:  # noqa: BLE001 - truncated, not a zip, damaged meta: never used
                self._broken = True
                self._zip = None
                _warn(f"{self.path} is not a readable products file ({type(err).__name__}: {err}); its games are "
                      "translated on load")
                return None
            if meta.get("format") != FORMAT:
                self._broken = True
                self._zip.close()
                self._zip = None
                _warn(f"{self.path} has products format {meta.get('format')!r}, this proxmo reads {FORMAT}; its "
                      "games are translated on load (rewrite it with python -m proxmo_envs.alfworld.products)")
                return None
            made_with = meta.get("engine")
            if made_with != diskcache.engine_versions():
                # the members' keys hold the versions too, so none would be found: say why once
                _warn(f"{self.path} was made with engine versions {made_with}, installed: "
                      f"{diskcache.engine_versions()}; its games are translated on load (same results, slower)")
        return self._zip

    def sas(self, key: str) -> str | None:
        """The SAS text stored under ``key``, or None (absent, or damaged: warned once)."""
        with self._lock:
            zf = self._open()
            if zf is None or key not in self._names:
                return None
            try:
                return decode_sas(zf.read(key))  # zipfile checks the member's CRC-32
            except Exception as err:  # noqa: BLE001 - bad CRC, LZMA or zip structure errors: never used
                self._names = self._names - {key}
                _warn(f"{self.path}: the product of one game ({key[:12]}...) is damaged ({err}); that game is "
                      "translated on load")
                return None

    def close(self) -> None:
        with self._lock:
            if self._zip is not None:
                self._zip.close()
            self._zip = None
            self._names = frozenset()


def _warn(line: str) -> None:
    warnings.warn(f"proxmo ALFWorld products: {line}", RuntimeWarning, stacklevel=3)


_files: dict[str, ProductFile] = {}
_files_lock = threading.Lock()


def register(path: str | os.PathLike) -> bool:
    """Look up translations in the products file ``path`` from now on (idempotent). False when absent."""
    path = Path(path)
    if not path.is_file():
        return False
    key = str(path.resolve())
    with _files_lock:
        if key not in _files:
            _files[key] = ProductFile(path)
    return True


def unregister_all() -> None:
    """Forget every registered products file (tests, benchmarks)."""
    with _files_lock:
        for f in _files.values():
            f.close()
        _files.clear()


def lookup(domain: str, problem: str) -> str | None:
    """The shipped SAS text of (domain, problem) in any registered products file, or None."""
    if not _files:
        return None
    key = product_key(domain, problem)
    for f in list(_files.values()):
        sas = f.sas(key)
        if sas is not None:
            return sas
    return None


def parsed_task(domain: str, problem: str) -> Any:
    """fast-downward's parsed and normalised task, exactly as ``fast_downward.pddl2sas`` builds it before
    translating (same calls, same ``sys.argv`` handling, the translator's log captured)."""
    saved = list(sys.argv)
    sys.argv = ["translate.py", "domain", "task"]  # fast_downward.translate.options parses argv on import
    try:
        from fast_downward.interface import CapturingStdout
        from fast_downward.translate import normalize
        from fast_downward.translate.pddl_parser import lisp_parser, parsing_functions

        with CapturingStdout():
            domain_pddl = lisp_parser.parse_nested_list(domain.split("\n"))
            problem_pddl = lisp_parser.parse_nested_list(problem.split("\n"))
            task = parsing_functions.parse_task(domain_pddl, problem_pddl)
            normalize.normalize(task)
    finally:
        sys.argv[:] = saved
    return task


def translation(domain: str, problem: str) -> tuple[Any, str] | None:
    """``pddl2sas(domain, problem)`` (plain) from a shipped product, or None when there is none."""
    sas = lookup(domain, problem)
    if sas is None:
        return None
    return parsed_task(domain, problem), sas


# ------------------------------------------------------------------------------------------- writing


def _plain_sas(domain: str, problem: str) -> str:
    """The SAS text of the untouched translation (fast-downward itself, not a cache)."""
    import fast_downward

    # fast-downward's own function, also when speedups.py has wrapped it (functools.wraps keeps __wrapped__)
    pddl2sas = getattr(fast_downward.pddl2sas, "__wrapped__", fast_downward.pddl2sas)
    saved = list(sys.argv)
    try:
        return pddl2sas(domain, problem, verbose=False, optimize=False)[1]
    finally:
        sys.argv[:] = saved


def write_products(path: str | os.PathLike, problems: Iterable[str], domain: str | None = None,
                   log=None) -> dict[str, int]:
    """Write the products file ``path`` for the PDDL ``problems`` (alfworld's domain unless given).

    Products already in ``path`` under the right key are kept, not recomputed; the file is rewritten
    atomically holding exactly the given problems' products. Returns counts (kept, computed).
    """
    from proxmo_envs.alfworld import engine

    engine.modules()
    domain = engine.pddl_domain() if domain is None else domain
    path = Path(path)
    keys = [(product_key(domain, p), p) for p in problems]
    old: dict[str, str] = {}  # SAS texts of the products already in the file, by key
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                fmt = json.loads(zf.read(META)).get("format")
                wanted = {k for k, _ in keys}
                for name in zf.namelist():
                    if name in wanted:
                        try:
                            data = zf.read(name)
                            old[name] = data.decode("utf-8") if fmt == 1 else decode_sas(data)
                        except Exception:  # noqa: BLE001 - damaged: recomputed below
                            pass
        except Exception:  # noqa: BLE001 - unreadable: everything recomputed
            old = {}
    counts = {"kept": 0, "computed": 0}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as zf:
            zf.writestr(META, json.dumps({"format": FORMAT, "engine": diskcache.engine_versions(),
                                          "games": len(keys)}, sort_keys=True))
            done: set[str] = set()
            for i, (key, problem) in enumerate(keys):
                if key in done:
                    continue
                done.add(key)
                if key in old:
                    sas = old[key]
                    counts["kept"] += 1
                else:
                    sas = _plain_sas(domain, problem)
                    counts["computed"] += 1
                data = encode_sas(sas)
                # a fixed timestamp: the same products give the same bytes
                info = zipfile.ZipInfo(key, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_LZMA
                zf.writestr(info, data)
                if log is not None and (i + 1) % 50 == 0:
                    log(f"{path.name}: {i + 1}/{len(keys)} products")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600: the file is data, readable as the games are
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return counts


def write_folder(folder: str | os.PathLike, log=print) -> dict[str, dict[str, int]]:
    """Write ``<split>.sas.zip`` for every ``<split>.jsonl.gz`` of a folder of generated games."""
    from proxmo_envs.alfworld.games import SPLITS, read_jsonl_gz

    folder = Path(folder)
    out = {}
    for split in SPLITS:
        games = folder / f"{split}.jsonl.gz"
        if not games.is_file():
            continue
        problems = [r["pddl_problem"] for r in read_jsonl_gz(games, strict=True)]
        out[split] = write_products(products_path(folder, split), problems, log=log)
        if log is not None:
            log(f"{products_path(folder, split)}: {out[split]} ({products_path(folder, split).stat().st_size} bytes)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the translation products of a folder of generated ALFWorld "
                                            "games (<split>.sas.zip next to <split>.jsonl.gz).")
    p.add_argument("--data", type=Path, required=True, help="folder of generated games (e.g. data/alfworld)")
    args = p.parse_args(argv)
    if not any((args.data / f"{s}.jsonl.gz").is_file() for s in ("train", "eval_seen", "eval_unseen")):
        print(f"error: {args.data} holds no generated games (<split>.jsonl.gz)", file=sys.stderr)
        return 2
    write_folder(args.data, log=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
