"""verl-agent rollout dumps (``trainer.rollout_data_dir``), with the documented three-field patch.

Schema source: verl's ``RayPPOTrainer._dump_generations`` (``verl/trainer/ppo/ray_trainer.py``, used
unchanged by verl-agent, langfengQ/verl-agent): one ``{global_step}.jsonl`` per training step, one line per
*environment step* of the batch, with ``input`` (decoded prompt), ``output`` (decoded response), ``score``
(the step's reward) and ``step`` (global step), plus every per-row entry of ``reward_extra_infos_dict``.

The dump alone cannot rebuild task groups or trajectories, so verl-agent needs this patch (see
docs/import-export.md): before ``_dump_generations`` is called in ``fit``, add the batch's own
non-tensor fields ``uid`` (task group), ``traj_uid`` (trajectory) and ``anchor_obs`` (the bare environment
observation GiGPO groups on) to the dumped dict::

    for key in ("uid", "traj_uid", "anchor_obs"):
        reward_extra_infos_dict[key] = batch.non_tensor_batch[key].tolist()

Rows of one trajectory appear in step order (verl-agent's ``gather_rollout_data`` appends them so), which
gives the step index. The observation is ``anchor_obs`` (``--observation-field input`` keeps the rendered
prompt instead). ``won`` is the trajectory's return > 0 unless the dump has a boolean ``won``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

from .records import Episode, InputError, Line, read_jsonl

PATCH_FIELDS = ("uid", "traj_uid", "anchor_obs")


def dump_files(src: str | os.PathLike[str]) -> list[Path]:
    """The dump's files: ``src`` itself, or a folder's ``*.jsonl`` in global-step order."""
    p = Path(src)
    if p.is_dir():
        files = sorted(p.glob("*.jsonl"), key=lambda f: (int(m.group()) if (m := re.match(r"\d+", f.stem)) else -1, f.name))
        if not files:
            raise FileNotFoundError(f"{p}: no *.jsonl rollout dumps in this folder")
        return files
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    return [p]


def read_verl_agent(src: str | os.PathLike[str], observation_field: str = "anchor_obs") -> Iterator[Episode]:
    for path in dump_files(src):
        trajectories: dict[str, dict] = {}
        for number, obj in read_jsonl(path):
            line = Line(path, number, obj)
            for key in PATCH_FIELDS:
                if key not in obj:
                    raise InputError(path, number, key,
                                     "missing: without uid, traj_uid and anchor_obs the task groups and "
                                     "trajectories cannot be rebuilt; apply the three-line verl-agent dump "
                                     "patch in docs/import-export.md")
            traj = line.text("traj_uid")
            uid = line.text("uid")
            t = trajectories.setdefault(traj, {"uid": uid, "line": number, "obs": [], "act": [], "rew": [],
                                               "won": None, "iteration": line.integer("step", 0)})
            if t["uid"] != uid:
                raise line.error("uid", f"trajectory {traj!r} is under group {t['uid']!r} at line {t['line']}")
            t["obs"].append(line.text(observation_field))
            t["act"].append(line.text("output"))
            t["rew"].append(line.number("score"))
            if "won" in obj:
                t["won"] = line.boolean("won")
        for traj, t in trajectories.items():
            ret = float(sum(t["rew"]))
            group = f"it{t['iteration']}/{t['uid']}"
            yield Episode(
                task_id=t["uid"], group_id=group, episode_id=f"it{t['iteration']}/{traj}",
                observations=t["obs"], actions=t["act"], rewards=t["rew"],
                won=t["won"] if t["won"] is not None else ret > 0, task_score=ret, iteration=t["iteration"],
                line=t["line"], path=str(path),
            )


__all__ = ["read_verl_agent", "PATCH_FIELDS", "dump_files"]
