"""Memoisation of three pure functions that dominate TextWorld's PDDL step and reset time.

TextWorld 1.7.0 re-parses grammar strings with TatSu on every text derivation and re-translates the PDDL
problem to SAS on every reset. The three functions below are pure (their output depends only on their
arguments), so caching them changes no observation, admissible command or ``won`` flag; the test
``tests/test_alfworld_speedups.py`` checks that on shipped and real games.

* ``textworld.envs.pddl.textgen._parse_and_convert`` (grammar string -> symbol list). The caller mutates
  the symbols it gets (it sets their ``context``), so the cache hands out deep copies.
* ``textworld.logic.Rule.parse_conjunctive_query`` (condition string -> Rule, read only by its callers).
* ``fast_downward.pddl2sas`` (domain, problem -> translated task and SAS text, read only by its callers);
  it also overwrites ``sys.argv``, which the cached version restores.

A fourth replacement is not a cache: ``textgen.copy_context`` deep-copies the ``variables`` (entity infos)
and ``mapping`` (placeholders -> variables) of a derivation context for every grammar symbol, which is most
of a step's time. The copies are only ever mutated as dicts (``query`` adds the variables of a match), never
their values (the grammar's expressions only read ``o.name``, ``r.indefinite`` ...), so copying the two
dicts one level deep gives the same text (:func:`_copy_context`).

Likewise ``textgen.deepcopy`` (used to copy a grammar rule's symbols before expanding them, and a symbol
before giving it a context) becomes :func:`_copy_symbols`: a structural copy of the symbol tree that shares
the symbols' contexts instead of deep-copying them (the PddlState included). Contexts are only ever
replaced, never mutated in place, so the derived text is the same.

One more saving, opt-in (``enable(plain_sas_for_replan=True)``, used by the env): TextWorld translates every
problem twice, once plainly (played) and once optimised for its re-planner (``policy_commands``). The env
never asks the planner (walkthroughs are stored), so the planner slot gets the plain translation, which is
a valid SAS of the same task: loading a new game costs about half. The generator, which does plan, keeps
the optimised translation (:func:`exact_replan`).

Memory: TextWorld memoises every Proposition and Signature in a process-wide dict that is never emptied
(``mementos``), ~1.3 MB per game loaded; with the speed-ups the dict is emptied when it holds
:data:`MEMENTO_CACHE_SIZE` entries (equal objects are rebuilt on demand), so memory stays bounded in a run
over hundreds of games.

The patch is applied only to the TextWorld version it was verified on (:data:`SUPPORTED_TEXTWORLD`);
with another version :func:`enable` warns and leaves the engine untouched.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
import warnings
from typing import Any, Callable, Iterator

from proxmo_envs.alfworld import diskcache, documents, products

SUPPORTED_TEXTWORLD = ("1.7.0",)
# A translated game holds ~1 MB (task + SAS text). GRPO resets one game group_size times in a row and the
# env keeps its loaded game, so a small cache already hits; a miss costs ~40 ms with shipped products.
PDDL2SAS_CACHE_SIZE = 16
PARSE_CACHE_SIZE = 8192
# TextWorld memoises every Proposition and Signature it builds in one process-wide dict (mementos), never
# emptied: ~1,100 entries (~1.3 MB) per game loaded, so a training run over the 312 train games grows by
# ~400 MB. The memoisation only shares equal objects (they compare and hash by value), so the dict is
# emptied when it reaches this many entries (~60 MB) and refills with equal objects (_BoundedMementos).
MEMENTO_CACHE_SIZE = 50_000

_originals: dict[str, Any] = {}
_settings = {"plain_sas_for_replan": False}


def _targets() -> tuple[Any, Any, Any, Any]:
    import fast_downward
    import textworld
    import textworld.envs.pddl.textgen as textgen
    from textworld.logic import Rule

    return textworld, textgen, Rule, fast_downward


def _pddl_logic() -> Any:
    from textworld.envs.pddl import logic

    return logic


def is_supported() -> bool:
    """True when the installed TextWorld is a version the memoisation was verified on."""
    textworld = _targets()[0]
    return getattr(textworld, "__version__", None) in SUPPORTED_TEXTWORLD


def is_enabled() -> bool:
    return bool(_originals)


def _freeze(kwargs: dict[str, Any]) -> tuple:
    return tuple(sorted(kwargs.items()))


def _memo_parse(original: Callable) -> Callable:
    cache: dict[tuple, Any] = {}

    @functools.wraps(original)
    def parse_and_convert(*args: Any, **kwargs: Any) -> Any:
        key = (args, _freeze(kwargs))
        hit = cache.get(key)
        if hit is None:
            hit = original(*args, **kwargs)
            if len(cache) >= PARSE_CACHE_SIZE:
                cache.clear()
            cache[key] = hit
        return _copy_symbols(hit)

    return parse_and_convert


def _memo_query(original: Callable) -> classmethod:
    @functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
    def cached(expr: str) -> Any:
        return original(expr)

    def parse_conjunctive_query(cls: Any, expr: str) -> Any:
        return cached(expr)

    return classmethod(parse_conjunctive_query)


def _memo_pddl2sas(original: Callable) -> Callable:
    def compute(domain: str, problem: str, verbose: bool, optimize: bool) -> Any:
        saved = list(sys.argv)
        try:
            return original(domain, problem, verbose=verbose, optimize=optimize)
        finally:
            sys.argv[:] = saved

    @functools.lru_cache(maxsize=PDDL2SAS_CACHE_SIZE)
    def cached(domain: str, problem: str, verbose: bool, optimize: bool) -> Any:
        if verbose:  # prints the translator's log: not cached on disk
            return compute(domain, problem, verbose, optimize)
        if not optimize:
            shipped = products.translation(domain, problem)  # shipped with the games (products.py)
            if shipped is not None:
                return shipped
        return diskcache.cached("pddl2sas-opt" if optimize else "pddl2sas", (domain, problem),
                                lambda: compute(domain, problem, verbose, optimize),
                                after_load=diskcache.rehash_translation,
                                storable=diskcache.translation_picklable)

    @functools.wraps(original)
    def pddl2sas(domain: str, problem: str, verbose: bool = False, optimize: bool = False) -> Any:
        if optimize and _settings["plain_sas_for_replan"]:
            optimize = False
        return cached(domain, problem, bool(verbose), bool(optimize))

    return pddl2sas


def _copy_context(context: dict) -> dict:
    """``textgen.copy_context`` with one-level copies of ``variables`` and ``mapping`` (module docstring)."""
    return {
        "state": context["state"],
        "facts": context["facts"],
        "variables": dict(context["variables"]),
        "mapping": dict(context["mapping"]),
        "entity_infos": context["entity_infos"],
    }


def _copy_symbols(obj: Any, memo: Any = None) -> Any:
    """``copy.deepcopy`` for grammar symbols (a symbol or a list of them): new symbol objects, nested symbols
    copied, contexts and text shared. Anything else is deep-copied as before."""
    textgen = _targets()[1]
    if isinstance(obj, list):
        if all(isinstance(x, textgen.Symbol) for x in obj):
            return [_copy_symbol(x, textgen.Symbol) for x in obj]
    elif isinstance(obj, textgen.Symbol):
        return _copy_symbol(obj, textgen.Symbol)
    return copy.deepcopy(obj, memo)


def _copy_symbol(sym: Any, symbol_type: type) -> Any:
    new = object.__new__(type(sym))
    d = dict(sym.__dict__)
    for k, v in d.items():
        if isinstance(v, symbol_type):
            d[k] = _copy_symbol(v, symbol_type)
    new.__dict__.update(d)
    return new


def _memo_document(original: Callable) -> Callable:
    template: list[documents.TemplateParse] = []

    def parse(text: str) -> Any:
        return original(text, rule_name="pddlStart")

    @functools.lru_cache(maxsize=PDDL2SAS_CACHE_SIZE)
    def cached(text: str) -> Any:
        if not template:
            from proxmo_envs.alfworld import engine

            template.append(documents.TemplateParse(engine.grammar_template(), parse))
        derived = template[0].parse(text)  # alfworld's grammar with a goal text: from the template's parse
        if derived is not None:
            return derived
        return diskcache.cached("twl2", (text,), lambda: parse(text))

    @functools.wraps(original)
    def parse_and_convert(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and isinstance(args[0], str) and kwargs == {"rule_name": "pddlStart"}:
            return cached(args[0])
        return original(*args, **kwargs)

    return parse_and_convert


def original_pddl2sas() -> Callable:
    """fast-downward's own ``pddl2sas`` (not the cached one), whether or not the speed-ups are enabled."""
    return _originals.get("pddl2sas") or _targets()[3].pddl2sas


class _BoundedMementos(dict):
    """``mementos.core._memento_cache`` emptied when full (see :data:`MEMENTO_CACHE_SIZE`); hits stay
    plain dict lookups, only insertions (misses) pass through this method."""

    def __setitem__(self, key: Any, value: Any) -> None:
        if len(self) >= MEMENTO_CACHE_SIZE:
            self.clear()
        dict.__setitem__(self, key, value)


def _bound_mementos(bounded: bool) -> None:
    import mementos.core as memo  # TextWorld's dependency: its memoising metaclasses read this global

    if bounded and not isinstance(memo._memento_cache, _BoundedMementos):
        current = memo._memento_cache
        memo._memento_cache = _BoundedMementos(current if len(current) < MEMENTO_CACHE_SIZE else {})
    elif not bounded and isinstance(memo._memento_cache, _BoundedMementos):
        memo._memento_cache = dict(memo._memento_cache)


def enable(plain_sas_for_replan: bool | None = None) -> bool:
    """Install the memoised functions (idempotent). Returns True when they are active.

    ``plain_sas_for_replan``: when given, sets whether TextWorld's re-planner gets the plain translation
    (see the module docstring); ``None`` keeps the current setting (off by default).
    """
    if plain_sas_for_replan is not None:
        _settings["plain_sas_for_replan"] = bool(plain_sas_for_replan)
    if _originals:
        return True
    textworld, textgen, Rule, fast_downward = _targets()
    if not is_supported():
        warnings.warn(
            f"proxmo's TextWorld speed-ups are verified for textworld {SUPPORTED_TEXTWORLD}, found "
            f"{getattr(textworld, '__version__', '?')}; running the engine unpatched (slower, same results)",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    _originals["textgen"] = textgen._parse_and_convert
    _originals["query"] = Rule.__dict__["parse_conjunctive_query"]
    _originals["pddl2sas"] = fast_downward.pddl2sas
    logic = _pddl_logic()
    _originals["document"] = logic._parse_and_convert
    logic._parse_and_convert = _memo_document(_originals["document"])
    _originals["copy_context"] = textgen.copy_context
    textgen.copy_context = _copy_context
    _originals["deepcopy"] = textgen.deepcopy
    textgen.deepcopy = _copy_symbols
    textgen._parse_and_convert = _memo_parse(_originals["textgen"])
    Rule.parse_conjunctive_query = _memo_query(Rule.parse_conjunctive_query)  # bound to Rule
    fast_downward.pddl2sas = _memo_pddl2sas(_originals["pddl2sas"])
    _bound_mementos(True)
    return True


def disable() -> None:
    """Restore the original TextWorld functions (and drop the caches)."""
    if not _originals:
        return
    _, textgen, Rule, fast_downward = _targets()
    textgen._parse_and_convert = _originals.pop("textgen")
    Rule.parse_conjunctive_query = _originals.pop("query")
    fast_downward.pddl2sas = _originals.pop("pddl2sas")
    _pddl_logic()._parse_and_convert = _originals.pop("document")
    textgen.copy_context = _originals.pop("copy_context")
    textgen.deepcopy = _originals.pop("deepcopy")
    _bound_mementos(False)


@contextlib.contextmanager
def exact_replan() -> Iterator[None]:
    """Within this block the re-planner gets TextWorld's optimised translation (for code that plans)."""
    saved = _settings["plain_sas_for_replan"]
    _settings["plain_sas_for_replan"] = False
    try:
        yield
    finally:
        _settings["plain_sas_for_replan"] = saved
