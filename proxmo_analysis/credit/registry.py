"""The one registry of credit-assignment methods: every method and ablation, registered once.

A :class:`Method` ties a name to its pure function ``function(rows, cfg[, stats]) -> Credit``, its typed
config class, the fixed settings of an ablation (``defaults``), what it needs from the log (capabilities)
and how figures and tables show it (``label``, ``color``). Everything that lists or dispatches methods reads
:data:`METHODS`: ``score``, ``score_run`` (process pool), the Ray scorer, ``train``, the CLI's ``--method``
choices, the plots' colours and the comparison benchmark's labels.

Adding a method is one module with its function and one :func:`register_method` call (``docs/methods.md``).
The process-pool scorers send the :class:`Method` itself to their workers, so a method whose function and
capabilities are module-level functions of an importable module (or of the main script) runs there too;
one defined in a notebook cell or with lambdas is scored in the calling process (:func:`runs_in_workers`).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pickle
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

from proxmo_analysis.errors import InputError

from .config import GiGPOConfig, GRPOConfig, ProxMOConfig, ReturnConfig
from .gigpo import gigpo
from .grpo import grpo, grpo_mean
from .proxmo import proxmo
from .returns import Credit
from .rloo import rloo

#: a capability: a constant, or a function of the method's resolved config
Capability = Union[bool, Callable[[Any], bool]]


@dataclass(frozen=True)
class _Constant:
    """A capability that does not depend on the config (a class, not a lambda, so a Method pickles)."""

    value: bool

    def __call__(self, cfg: Any) -> bool:
        return self.value


@dataclass(frozen=True)
class Method:
    """A registered credit-assignment method.

    name: what users type (``--method NAME``, ``score(df, NAME)``).
    function: ``function(rows: StepRows, cfg) -> Credit`` over one or more whole task groups, or
        ``function(rows, cfg, stats)`` when ``uses_tfidf_batch`` can be true (``stats``: TF-IDF statistics
        per iteration fitted over the whole run, or None).
    config: the frozen dataclass of its parameters (validated in its ``__post_init__``).
    defaults: fixed parameters of an ablation (``proxmo_wo_psc``: ``{"psc": False}``); user settings win.
    label, color: how plots, tables and the benchmark name it (``color``: a matplotlib colour or None).
    needs_observation / needs_won: the rows must carry ``observation`` / ``won`` (bool or ``f(cfg)``).
    uses_tfidf_batch: the method wants TF-IDF statistics fitted per iteration over all task groups.
    parallel: it may run in spawned worker processes (its ``function`` is importable from ``module``).
    """

    name: str
    function: Callable[..., Credit]
    config: type
    label: str = ""
    color: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    needs_observation: Capability = False
    needs_won: Capability = False
    uses_tfidf_batch: Capability = False
    parallel: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a method needs a non-empty str name, got {self.name!r}")
        if not callable(self.function):
            raise TypeError(f"method {self.name!r}: function must be callable, got {self.function!r}")
        if not dataclasses.is_dataclass(self.config) or not callable(getattr(self.config, "to_dict", None)):
            raise TypeError(f"method {self.name!r}: config must be a dataclass subclassing "
                            f"proxmo_analysis.credit.config.MethodConfig, got {self.config!r}")
        known = {f.name for f in dataclasses.fields(self.config)}
        unknown = [k for k in self.defaults if k not in known]
        if unknown:
            raise ValueError(f"method {self.name!r}: defaults {unknown} are not fields of {self.config.__name__}")
        # Whether ``function`` takes the third ``stats`` argument, decided once from the declaration.
        object.__setattr__(self, "takes_stats", self.uses_tfidf_batch is not False)
        for cap in ("needs_observation", "needs_won", "uses_tfidf_batch"):
            value = getattr(self, cap)
            if isinstance(value, bool):
                object.__setattr__(self, cap, _Constant(value))
            elif not callable(value):
                raise TypeError(f"method {self.name!r}: {cap} must be a bool or a function of the config")
        if not self.label:
            object.__setattr__(self, "label", self.name)
        object.__setattr__(self, "defaults", dict(self.defaults))

    def run(self, rows: Any, cfg: Any, stats: Mapping | None = None) -> Credit:
        """Call ``function`` with ``stats`` when it takes them."""
        return self.function(rows, cfg, stats) if self.takes_stats else self.function(rows, cfg)


#: name -> Method, in registration order (the order tables and plots list them)
METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add (or replace) ``method`` under ``method.name``; returns it."""
    if not isinstance(method, Method):
        raise TypeError(f"register_method expects a Method, got {type(method).__name__}")
    METHODS[method.name] = method
    return method


def method_names() -> list[str]:
    """The registered names, in registration order."""
    return list(METHODS)


def get_method(name: str) -> Method:
    """The registered method ``name``; InputError (a ValueError) listing the known names otherwise."""
    if not isinstance(name, str) or name not in METHODS:
        raise InputError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}")
    return METHODS[name]


def config_fields(name: str) -> list[str]:
    """The parameter names of method ``name`` (its config dataclass's fields)."""
    return [f.name for f in dataclasses.fields(get_method(name).config)]


def settings_per_method(methods: list[str], config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Split one set of settings over several methods: each gets the keys its config has (``tau`` goes to
    proxmo only). A key no method has raises one ValueError."""
    fields = {name: set(config_fields(name)) for name in methods}
    unknown = [k for k in config if not any(k in fields[m] for m in methods)]
    if unknown:
        raise InputError(f"parameter(s) {', '.join(unknown)} belong to none of the methods {', '.join(methods)}")
    return {name: {k: v for k, v in config.items() if k in fields[name]} for name in methods}


def make_config(method: str, config: Mapping[str, Any]) -> tuple[Method, Any]:
    """The method and its validated config (ablation defaults, then ``config``); unknown parameters raise
    one ValueError listing the known ones."""
    m = get_method(method)
    known = config_fields(method)
    unknown = [k for k in config if k not in known]
    if unknown:
        raise InputError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                         f"known: {', '.join(known)}")
    return m, m.config(**{**m.defaults, **config})


def runs_in_workers(method: Method) -> bool:
    """Whether ``method`` can be sent to spawned worker processes: ``parallel`` is set and the Method pickles
    by reference (its function and capabilities are module-level functions, not lambdas) from a module a
    fresh process can import (not a notebook's ``__main__``). Otherwise the scorers stay in-process."""
    if not method.parallel:
        return False
    main = sys.modules.get("__main__")
    for fn in (method.function, method.needs_observation, method.needs_won, method.uses_tfidf_batch):
        owner = getattr(fn, "__module__", None)
        if owner == "__main__" and not getattr(main, "__file__", None):
            return False
    try:
        pickle.dumps(method)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


#: environment variable naming modules (comma-separated) that register methods, imported by the CLI
PLUGINS_ENV = "PROXMO_METHODS"


def load_plugins(spec: str | None = None) -> list[str]:
    """Import the modules named in ``spec`` (default: ``$PROXMO_METHODS``, comma-separated), each of which
    registers its methods when imported; the working directory is searched too, so ``my_method.py`` next
    to the data works. Returns the module names. ImportError names the variable and the module."""
    spec = os.environ.get(PLUGINS_ENV, "") if spec is None else spec
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if names and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # spawned workers inherit sys.path, so they import it too
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ImportError(f"{PLUGINS_ENV}: cannot import {name!r} ({err})") from None
    return names


def label(name: str) -> str:
    """Display label of a method name (the name itself when it is not registered)."""
    return METHODS[name].label if name in METHODS else str(name)


def color(name: str, k: int = 0) -> str:
    """Plot colour of a method name: its registered colour, else matplotlib's ``C{k}`` cycle."""
    m = METHODS.get(str(name))
    return m.color if m is not None and m.color else f"C{k % 10}"


def _proxmo_batch_tfidf(cfg: ProxMOConfig) -> bool:
    return cfg.psa and cfg.similarity == "tfidf" and cfg.tfidf_scope == "batch"


def _gigpo_needs_won(cfg: GiGPOConfig) -> bool:
    return cfg.reward_scale is not None


def _proxmo_needs_observation(cfg: ProxMOConfig) -> bool:
    return cfg.psa


register_method(Method("grpo", grpo, GRPOConfig, label="GRPO", color="#7f7f7f"))
register_method(Method("grpo_mean", grpo_mean, ReturnConfig, label="GRPO (mean only)", color="#bcbd22"))
register_method(Method("rloo", rloo, ReturnConfig, label="RLOO", color="#17becf"))
register_method(Method("gigpo", gigpo, GiGPOConfig, label="GiGPO", color="#1f77b4",
                       needs_observation=True, needs_won=_gigpo_needs_won))
register_method(Method("gigpo_wo_std", gigpo, GiGPOConfig, label="GiGPO (w/o std)", color="#2ca02c",
                       defaults={"normalize_std": False}, needs_observation=True, needs_won=_gigpo_needs_won))
_PROXMO = dict(needs_observation=_proxmo_needs_observation, needs_won=True, uses_tfidf_batch=_proxmo_batch_tfidf)
register_method(Method("proxmo", proxmo, ProxMOConfig, label="ProxMO", color="#d62728", **_PROXMO))
register_method(Method("proxmo_wo_psc", proxmo, ProxMOConfig, label="ProxMO w/o PSC", color="#ff7f0e",
                       defaults={"psc": False}, **_PROXMO))
register_method(Method("proxmo_wo_psa", proxmo, ProxMOConfig, label="ProxMO w/o PSA", color="#9467bd",
                       defaults={"psa": False}, **_PROXMO))

__all__ = ["Capability", "METHODS", "Method", "color", "config_fields", "get_method", "label", "make_config",
           "load_plugins", "method_names", "register_method", "runs_in_workers", "settings_per_method", "PLUGINS_ENV"]
