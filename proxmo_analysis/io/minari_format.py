"""Minari (Farama): a run as a Minari dataset, written with ``minari.create_dataset_from_buffers`` (no jax).

``export_minari(run, dest)`` writes the dataset ``proxmo/<run name>-v0`` under the Minari root ``dest``
(``MINARI_DATASETS_PATH=dest python -c "import minari; minari.load_dataset('proxmo/<name>-v0')"`` reads it),
arrow format, observation and action spaces ``gymnasium.spaces.Text``. One Minari episode per trajectory:

- ``observations``: the n observations the agent saw, plus ``""`` for the final one (the log does not keep
  the observation after the last action; Minari wants n + 1);
- ``actions``, ``rewards``, ``terminations``, ``truncations``: the n steps;
- ``options`` (episode metadata): ``group_id``, ``rollout_index``, ``episode_id``, ``task_id``,
  ``iteration``, ``run_id``, ``env_id``, ``task_type``, ``won``, ``task_score``, ``episode_return``;
- ``infos``, a fixed subset of keys, n + 1 entries each in Minari's order (entry 0 = reset info, entry t+1
  = info of step t): ``admissible_actions`` (JSON list of the actions offered with observation t),
  ``invalid_action`` (step t-1's action was invalid), ``behavior_logprob`` (step t-1's, NaN when not logged).

``read_minari(dest)`` (``proxmo import minari``) turns the dataset back into a run with identical rows.
Needs the ``io`` extra (``minari==0.5.4``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any, Iterator

from .records import Episode, InputError

NAMESPACE = "proxmo"
INFO_KEYS = ("admissible_actions", "invalid_action", "behavior_logprob")
OPTION_KEYS = ("group_id", "rollout_index", "episode_id", "task_id", "iteration", "run_id", "env_id",
               "task_type", "won", "task_score", "episode_return")


@contextlib.contextmanager
def minari_root(path: str | os.PathLike[str]):
    """Point Minari at the datasets root ``path`` for the duration (its loaders read the variable per call)."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(path).resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def dataset_id_for(run: str | os.PathLike[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", Path(run).resolve().name).strip("_") or "run"
    return f"{NAMESPACE}/{name}-v0"


def export_minari(run: str | os.PathLike[str], dest: str | os.PathLike[str], replace: bool = False) -> dict[str, Any]:
    import gymnasium as gym
    import minari
    import polars as pl
    from minari.data_collector.episode_buffer import EpisodeBuffer

    from proxmo_analysis.io.destination import check_destination, swap_into
    from proxmo_analysis.logs import read_log, read_run_metadata

    out = check_destination(dest, replace, ("*/*/data/metadata.json", "*/*/*/data/metadata.json"),
                            "Minari dataset root")
    df = read_log(run).sort("group_id", "rollout_index", "episode_id", "step")
    buffers = []
    for k, (_, ep) in enumerate(df.group_by("episode_id", maintain_order=True)):
        first = ep.row(0, named=True)
        options = {key: first[key] for key in OPTION_KEYS}
        lp = [float("nan") if v is None else float(v) for v in ep["behavior_logprob"].to_list()]
        buffers.append(EpisodeBuffer(
            id=k, options=options,
            observations=ep["observation"].to_list() + [""], actions=ep["action"].to_list(),
            rewards=[float(r) for r in ep["reward"].to_list()], terminations=ep["terminated"].to_list(),
            truncations=ep["truncated"].to_list(),
            infos={"admissible_actions": [json.dumps(a) for a in ep["admissible_actions"].to_list()] + ["[]"],
                   "invalid_action": [False] + ep["invalid_action"].to_list(),
                   "behavior_logprob": [float("nan")] + lp},
        ))
    try:
        manifest = read_run_metadata(run)
    except (FileNotFoundError, ValueError):
        manifest = {}
    policy = manifest.get("policy")
    text = gym.spaces.Text(max_length=10**7)
    dataset_id = dataset_id_for(run)
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted export
    try:
        with minari_root(tmp), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no env to recover: Minari warns about each missing env field
            minari.create_dataset_from_buffers(
                dataset_id, buffers, observation_space=text, action_space=text,
                algorithm_name=json.dumps(policy, sort_keys=True) if policy is not None else "unknown",
                description=f"proxmo run {Path(run).name}: env {df['env_id'][0]}, {df.height} steps",
                data_format="arrow")
        swap_into(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "rows": df.height, "episodes": len(buffers), "dataset_id": dataset_id}


def read_minari(src: str | os.PathLike[str], observation_field: str = "observation") -> Iterator[Episode]:
    """Episodes of the one ``proxmo/*`` dataset under the Minari root ``src``."""
    import minari

    if observation_field != "observation":
        raise ValueError("--observation-field does not apply to minari datasets (observations are one array)")
    with minari_root(src), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = sorted(minari.list_local_datasets())
        if len(ids) != 1:
            raise InputError(src, None, None, f"expected one Minari dataset under this root, found {ids or 'none'}")
        ds = minari.load_dataset(ids[0])
        metas = list(ds.storage.get_episode_metadata(range(ds.total_episodes)))
        for meta, ep in zip(metas, ds.iterate_episodes()):
            o = meta.get("options") or {}
            missing = [k for k in OPTION_KEYS if k not in o]
            if missing:
                raise InputError(src, None, f"options.{missing[0]}", f"episode {meta.get('id')}: missing")
            n = len(ep.actions)
            info = ep.infos
            yield Episode(
                task_id=o["task_id"], group_id=o["group_id"], episode_id=o["episode_id"],
                observations=[str(x) for x in ep.observations[:n]], actions=[str(a) for a in ep.actions],
                rewards=[float(r) for r in ep.rewards], won=bool(o["won"]), task_score=float(o["task_score"]),
                rollout_index=int(o["rollout_index"]), iteration=int(o["iteration"]),
                admissible_actions=[json.loads(a) for a in info["admissible_actions"][:n]],
                invalid_action=[bool(v) for v in info["invalid_action"][1:]],
                behavior_logprob=[None if math.isnan(v) else float(v) for v in info["behavior_logprob"][1:]],
                task_type=o["task_type"], episode_return=float(o["episode_return"]), run_id=o["run_id"],
                env_id=o["env_id"], terminated_steps=[bool(v) for v in ep.terminations],
                truncated_steps=[bool(v) for v in ep.truncations], line=int(meta.get("id", 0)) + 1,
            )


__all__ = ["export_minari", "read_minari", "dataset_id_for", "minari_root"]
