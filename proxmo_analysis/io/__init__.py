"""Rollouts in and out: importers of other frameworks' rollout files and exporters of our run folders.

``IMPORTERS`` is the one registry of importers (format name -> ``Importer``); ``import_rollouts`` reads a
source with one of them and writes a run folder through ``records.write_run`` (all or nothing, validated
by ``read_log``). ``EXPORTERS`` maps export format names to ``export_*(run, dest)`` functions.

    from proxmo_analysis.io import import_rollouts, export_run
    import_rollouts("nemo-gym", "rollouts.jsonl", "runs/nemo")
    export_run("jsonl", "runs/nemo", "steps.jsonl")
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .generic import export_jsonl, read_generic
from .nemo_gym import read_nemo_gym
from .records import Episode, InputError, write_run
from .verifiers import read_verifiers
from .verl_agent import read_verl_agent


@dataclass(frozen=True)
class Importer:
    """A reader ``read(src, observation_field=...) -> Iterator[Episode]`` and what it reads."""

    name: str
    read: Callable[..., Iterator[Episode]]
    description: str
    default_observation_field: str | None
    env_id: str


IMPORTERS: dict[str, Importer] = {}


def register_importer(importer: Importer) -> None:
    """Add (or replace) an importer under ``importer.name``."""
    IMPORTERS[importer.name] = importer


register_importer(Importer("verifiers", read_verifiers, "verifiers 0.4.0 traces.jsonl (one rollout a line)",
                           "content", "verifiers"))
register_importer(Importer("nemo-gym", read_nemo_gym, "NeMo Gym rollouts JSONL (one rollout a line)",
                           None, "nemo-gym"))
register_importer(Importer("verl-agent", read_verl_agent,
                           "verl-agent rollout dumps (a {step}.jsonl file or their folder; needs the uid/"
                           "traj_uid/anchor_obs patch)", "anchor_obs", "verl-agent"))
register_importer(Importer("jsonl", read_generic, "generic JSONL: one step a line, the log's column names",
                           "observation", "jsonl"))


def _read_hf(src, **kwargs):  # imported lazily: `datasets` is the optional io extra
    from .hf import read_hf

    return read_hf(src, **kwargs)


def _read_minari(src, **kwargs):
    from .minari_format import read_minari

    return read_minari(src, **kwargs)


register_importer(Importer("hf", _read_hf, "a Hugging Face DatasetDict saved by `proxmo export hf` (io extra)",
                           "observation", "hf"))
register_importer(Importer("minari", _read_minari, "a Minari root written by `proxmo export minari` (io extra)",
                           "observation", "minari"))


def get_importer(name: str) -> Importer:
    if name not in IMPORTERS:
        raise ValueError(f"unknown import format {name!r}; known formats: {', '.join(sorted(IMPORTERS))}")
    return IMPORTERS[name]


def import_rollouts(fmt: str, src: str | os.PathLike[str], out: str | os.PathLike[str], *,
                    observation_field: str | None = None, env_id: str | None = None,
                    rows_per_part: int = 4096, replace: bool = False) -> dict[str, Any]:
    """Read ``src`` in format ``fmt`` and write the run folder ``out`` (see ``records.write_run``).

    observation_field: the source field holding the bare environment observation (the format's default
    when None). replace: ``out`` may be an existing run folder, swapped out once the new one is complete
    (``--force``). env_id: the run's env, written to rows that do not carry their own (default: the first
    episode's own env_id, else the format name).
    Returns ``{"out", "episodes", "rows", "groups"}``; raises ``InputError`` naming file, line and field.
    """
    importer = get_importer(fmt)
    field = observation_field if observation_field is not None else importer.default_observation_field
    kwargs = {} if field is None else {"observation_field": field}
    if not os.path.exists(src):
        raise FileNotFoundError(f"{src}: no such file or folder")
    episodes = importer.read(src, **kwargs)
    if env_id is None:  # rows that carry their env (generic JSONL, hf, minari) name the run's env too
        first = next(episodes, None)
        env_id = (first.env_id if first is not None else None) or importer.env_id
        episodes = itertools.chain([first] if first is not None else [], episodes)
    return write_run(episodes, out, env_id=env_id, source=str(src), fmt=fmt,
                     rows_per_part=rows_per_part, replace=replace,
                     extra_manifest={"observation_field": field})


def _export_hf(run, dest, replace=False):
    from .hf import export_hf

    return export_hf(run, dest, replace=replace)


def _export_minari(run, dest, replace=False):
    from .minari_format import export_minari

    return export_minari(run, dest, replace=replace)


EXPORTERS: dict[str, Callable[..., dict[str, Any]]] = {"jsonl": export_jsonl, "hf": _export_hf,
                                                       "minari": _export_minari}


def export_run(fmt: str, run: str | os.PathLike[str], dest: str | os.PathLike[str],
               replace: bool = False) -> dict[str, Any]:
    """Export the run folder ``run`` to ``dest`` in format ``fmt`` (one of ``EXPORTERS``). An existing
    ``dest`` is refused unless ``replace`` and it is an earlier export of that format, which is then replaced
    once the new export is complete."""
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; known formats: {', '.join(sorted(EXPORTERS))}")
    return EXPORTERS[fmt](run, dest, replace=replace)


__all__ = ["IMPORTERS", "EXPORTERS", "Importer", "InputError", "Episode", "register_importer", "get_importer",
           "import_rollouts", "export_run"]
