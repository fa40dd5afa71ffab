"""Hugging Face ``datasets``: a run as a ``DatasetDict`` saved to disk, with a dataset card; and back.

``export_hf(run, dest)`` writes ``DatasetDict({"train": <one row per step, the log's columns and types>})``
with ``save_to_disk(dest)`` and a ``README.md`` dataset card (YAML header + what the run is: env, policy,
seeds, group size, how reward / won / task_score are defined) from the run's ``manifest.json``.
``datasets.load_from_disk(dest)`` reads it; ``read_hf(dest)`` (``proxmo import hf``) turns it back into a
run with identical rows. Needs the ``io`` extra (``pip install 'proxmo[io]'``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from .records import Episode

SPLIT = "train"


def _cell(value: Any) -> str:
    """A table cell: JSON for non-strings, ``|`` escaped so the Markdown table keeps its columns."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("|", "\\|")


def _card(run: Path, manifest: dict[str, Any], env_ids: list[str], rows: int, episodes: int, groups: int) -> str:
    env = _cell(", ".join(env_ids) or "unknown")  # the rows' own: an imported run's manifest names the format
    policy = _cell(manifest.get("policy", "unknown"))
    seeds = _cell(manifest.get("seeds", manifest.get("seed", "not recorded")))
    source = manifest.get("imported_from")
    return f"""---
pretty_name: proxmo run {run.name}
tags:
- reinforcement-learning
- llm-agents
- proxmo
configs:
- config_name: default
  data_files: []
---
# proxmo run `{run.name}`

Step rows of a multi-turn agent run, one row per environment step, in the columns of proxmo's trajectory log
(schema version {manifest.get("schema_version", 1)}). Load with `datasets.load_from_disk(path)["{SPLIT}"]`.

| | |
|---|---|
| environment | `{env}` |
| environment kwargs | `{_cell(manifest.get("env_kwargs", {}))}` |
| policy | `{policy}` |
| seeds | `{seeds}` |
| group size | {manifest.get("group_size", "n/a")} trajectories per task group |
| size | {rows} steps, {episodes} episodes, {groups} task groups |
| imported from | {f"{source['format']} (`{source['source']}`)" if source else "written by proxmo's rollout runner"} |

**Reward.** `reward` is the environment's reward for the step's action (WebShop: the purchase score on the
last step, ALFWorld: 1 when the task is done); `episode_return` is the sum of the episode's rewards;
`won` says whether the task was solved and `task_score` is the episode's final score in [0, 1], both
repeated on every row of the episode. Episodes of one task group (`group_id`) share a task and are the
groups GRPO/GiGPO/ProxMO normalise over.
"""


def export_hf(run: str | os.PathLike[str], dest: str | os.PathLike[str], replace: bool = False) -> dict[str, Any]:
    """Save ``run`` as a DatasetDict (split ``train``) plus ``README.md`` card in the new folder ``dest`` (an
    earlier DatasetDict folder there is replaced only with ``replace``, once the new one is complete)."""
    import datasets

    from proxmo_analysis.io.destination import check_destination, swap_into
    from proxmo_analysis.logs import read_log, read_run_metadata

    datasets.disable_progress_bars()
    from proxmo_envs.trajlog.schema import LOG_SCHEMA, REQUIRED_COLUMNS

    out = check_destination(dest, replace, ("dataset_dict.json",), "Hugging Face DatasetDict folder")
    df = read_log(run).select(list(REQUIRED_COLUMNS))
    try:
        manifest = read_run_metadata(run)
    except (FileNotFoundError, ValueError):
        manifest = {}
    table = df.to_arrow().cast(LOG_SCHEMA)
    dd = datasets.DatasetDict({SPLIT: datasets.Dataset(table)})
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted export
    try:
        dd.save_to_disk(str(tmp))
        (tmp / "README.md").write_text(_card(Path(run), manifest, sorted(df["env_id"].unique().to_list()),
                                             df.height, df["episode_id"].n_unique(),
                                             df["group_id"].n_unique()))
        swap_into(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "rows": df.height, "episodes": df["episode_id"].n_unique()}


def read_hf(src: str | os.PathLike[str], observation_field: str = "observation") -> Iterator[Episode]:
    """Episodes of a DatasetDict (its ``train`` split) or Dataset saved with ``save_to_disk``."""
    import datasets
    import polars as pl

    from .frames import episodes_from_frame

    loaded = datasets.load_from_disk(str(src))
    split = loaded[SPLIT] if isinstance(loaded, datasets.DatasetDict) else loaded
    df = pl.from_arrow(split.data.table)
    if observation_field != "observation":
        df = df.with_columns(pl.col(observation_field).alias("observation"))
    yield from episodes_from_frame(df, str(src))


__all__ = ["export_hf", "read_hf"]
