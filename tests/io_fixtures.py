"""Small rollout files in the formats ``proxmo import`` reads, written from each format's documented schema.

Sources (also cited in ``proxmo_analysis/io/*.py``):
- verifiers 0.4.0: ``verifiers/v1/episode.py`` (``Episode``, ``GroupInfo``), ``verifiers/v1/trace.py``
  (``Trace``, ``TraceTask``, ``Reward``), ``verifiers/v1/graph.py`` (``MessageNode``),
  ``verifiers/v1/utils/trace_store.py`` (``traces.jsonl``), PrimeIntellect-ai/verifiers (and, where the
  package is installed, ``test_io_import`` also writes one with verifiers' own models);
- NeMo Gym: ``nemo_gym/rollout_collection.py`` (``_ng_task_index``, ``_ng_rollout_index``, ``response``,
  ``reward``), NVIDIA-NeMo/Gym, with OpenAI Responses output items;
- verl-agent: verl's ``RayPPOTrainer._dump_generations`` (``input``, ``output``, ``score``, ``step``) plus the
  documented patch fields ``uid``, ``traj_uid``, ``anchor_obs``.

Every fixture holds two task groups of two rollouts; group "A" has one win and one loss, group "B" two
losses, and the states repeat across rollouts so GiGPO/PSA have something to group.
"""

from __future__ import annotations

import json
from pathlib import Path

# (group, rollout, [(observation, action)], reward)
EPISODES = [
    ("A", 0, [("You are in the kitchen.", "go to fridge"), ("The fridge is closed.", "open fridge")], 1.0),
    ("A", 1, [("You are in the kitchen.", "go to sink"), ("You see a sink.", "look")], 0.0),
    ("B", 0, [("A hallway.", "go north")], 0.0),
    ("B", 1, [("A hallway.", "go south"), ("A dead end.", "wait"), ("A dead end.", "wait")], 0.0),
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def verifiers_traces(path: Path) -> Path:
    """verifiers 0.4.0: one ``Episode`` a line (``group`` set for group A only: B falls back to task.hash)."""
    rows = []
    for group, rollout, steps, reward in EPISODES:
        nodes = [{"semantic_parents": [], "message": {"role": "system", "content": "Solve the task."},
                  "sampled": False}]
        for obs, act in steps:
            nodes.append({"parent": len(nodes) - 1, "message": {"role": "user", "content": obs}, "sampled": False})
            nodes.append({"parent": len(nodes) - 1, "message": {"role": "assistant", "content": act},
                          "sampled": True, "token_ids": [1, 2], "mask": [True, True], "logprobs": [-0.1, -0.2]})
        task = {"type": "RoomTask", "data": {"room": group}, "key": f"room-{group}", "hash": f"h{group}"}
        trace = {
            "version": 1, "id": f"trace-{group}{rollout}", "verifiers": {"version": "0.4.0"}, "task": task,
            "agent": {"config": {}, "name": "agent", "trainable": True}, "nodes": nodes, "calls": [],
            "rewards": {"solved": {"score": reward, "weight": 1.0}, "format": {"score": 0.0, "weight": 0.5}},
            "metrics": {}, "info": {}, "is_completed": True, "ok": True, "stop_condition": "done",
        }
        judge = {**trace, "id": f"judge-{group}{rollout}", "agent": {"config": {}, "name": "judge", "trainable": False}}
        row = {"id": f"episode-{group}{rollout}", "env": {"id": "rooms"}, "task": task, "ok": True, "errors": [],
               "traces": [trace, judge]}
        if group == "A":
            row["group"] = {"id": "group-A"}
        rows.append(row)
    return _write(path, rows)


def nemo_gym_rollouts(path: Path) -> Path:
    rows = []
    for group, rollout, steps, reward in EPISODES:
        task = "AB".index(group)
        output = []
        for k, (obs, act) in enumerate(steps):
            if k > 0:
                output.append({"type": "function_call_output", "call_id": f"c{k - 1}", "output": obs})
            output.append({"type": "reasoning", "id": f"r{k}", "summary": []})
            output.append({"type": "function_call", "name": "act", "arguments": json.dumps({"command": act}),
                           "call_id": f"c{k}"})
        output.append({"type": "function_call_output", "call_id": f"c{len(steps) - 1}", "output": "done"})
        rows.append({
            "_ng_task_index": task, "_ng_rollout_index": rollout, "agent_ref": {"name": "room_agent"},
            "responses_create_params": {"input": [{"role": "system", "content": "Solve the task."},
                                                  {"role": "user", "content": steps[0][0]}]},
            "response": {"id": f"resp-{group}{rollout}", "object": "response", "output": output},
            "reward": reward,
        })
    return _write(path, rows)


def verl_agent_dump(path: Path, patched: bool = True) -> Path:
    rows = []
    for group, rollout, steps, reward in EPISODES:
        for k, (obs, act) in enumerate(steps):
            row = {"input": f"<|im_start|>user\nYour task. Observation: {obs}<|im_end|>", "output": act,
                   "score": reward if k == len(steps) - 1 else 0.0, "step": 3}
            if patched:
                row.update({"uid": f"uid-{group}", "traj_uid": f"traj-{group}{rollout}", "anchor_obs": obs})
            rows.append(row)
    return _write(path, rows)


def generic_steps(path: Path) -> Path:
    rows = []
    for group, rollout, steps, reward in EPISODES:
        episode = [{"group_id": group, "episode_id": f"{group}/{rollout}", "step": k, "observation": obs,
                    "action": act, "reward": reward if k == len(steps) - 1 else 0.0}
                   for k, (obs, act) in enumerate(steps)]
        rows += episode[::-1]  # steps in any line order
    return _write(path, rows)


WRITERS = {"verifiers": verifiers_traces, "nemo-gym": nemo_gym_rollouts, "verl-agent": verl_agent_dump,
           "jsonl": generic_steps}


class NoisyOracle:
    """WebShop's oracle with a random admissible action 40% of the time: a run with wins and losses
    (importable as ``io_fixtures:NoisyOracle`` for ``proxmo rollout --policy``)."""

    def __init__(self) -> None:
        from proxmo_envs.rollout.policies import OraclePolicy, RandomPolicy

        self.oracle, self.random = OraclePolicy(), RandomPolicy()
        self.reset()

    def reset(self, seed=None) -> None:
        import numpy as np

        self.rng = np.random.default_rng(seed)
        self.oracle.reset(seed)
        self.random.reset(seed)

    def __call__(self, observation, info):
        if self.rng.random() < 0.4:
            return self.random(observation, info)
        return self.oracle(observation, info)
