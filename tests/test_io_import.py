"""``proxmo import``: each format's fixture becomes a valid run folder with the right rows; bad input writes
nothing and gives one line naming file, line and field; import -> compare works on every fixture."""

from __future__ import annotations

import json

import polars as pl
import pytest

from io_fixtures import EPISODES, WRITERS, generic_steps, verl_agent_dump
from proxmo_analysis.cli import main
from proxmo_analysis.io import import_rollouts
from proxmo_analysis.logs import read_log, read_run_metadata
from proxmo_envs.trajlog import ImportManifest, Manifest

FORMATS = sorted(WRITERS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fixture_imports_to_a_valid_run(tmp_path, fmt):
    src = WRITERS[fmt](tmp_path / "src.jsonl")
    summary = import_rollouts(fmt, src, tmp_path / "run")
    assert summary == {"out": str(tmp_path / "run"), "episodes": 4, "rows": 8, "groups": 2}
    df = read_log(tmp_path / "run").sort("group_id", "rollout_index", "step")
    assert df["group_id"].n_unique() == 2 and df["episode_id"].n_unique() == 4
    expected_obs = [o for _, _, steps, _ in EPISODES for o, _ in steps]
    assert df["observation"].to_list() == expected_obs
    actions = df["action"].to_list()
    if fmt == "nemo-gym":  # function calls keep their arguments
        assert actions[0] == 'act({"command": "go to fridge"})'
    else:
        assert actions == [a for _, _, steps, _ in EPISODES for _, a in steps]
    # reward on the last step; won = reward > 0; only the first rollout of group A won
    assert df["reward"].to_list() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert df["rollout_index"].to_list() == [0, 0, 1, 1, 0, 1, 1, 1]
    per_episode = df.group_by("episode_id", maintain_order=True).agg(
        pl.col("won").first(), pl.col("terminated"), pl.col("episode_return").first())
    assert per_episode["won"].to_list() == [True, False, False, False]
    assert per_episode["episode_return"].to_list() == [1.0, 0.0, 0.0, 0.0]
    assert per_episode["terminated"].to_list() == [[False, True], [False, True], [True], [False, False, True]]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["imported_from"] == {"format": fmt, "source": str(src)} and manifest["episodes"] == 4
    typed = ImportManifest.read(tmp_path / "run")
    assert (typed.source_format, typed.episodes, typed.rows, typed.groups, typed.status) == (fmt, 4, 8, 2, "complete")
    assert typed.to_dict() == manifest  # the typed record is the whole file, nothing lost or added
    # every part says where it came from, as the manifest does
    assert read_run_metadata(next((tmp_path / "run").glob("part-*.parquet"))) == typed.run_metadata()
    with pytest.raises(ValueError, match="not a rollout manifest"):
        Manifest.read(tmp_path / "run")
    partial = {k: v for k, v in manifest.items() if k != "episodes"}
    with pytest.raises(ValueError, match="not an import manifest, missing episodes"):
        ImportManifest.from_dict(partial)


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_then_compare_works(tmp_path, capsys, fmt):
    src = WRITERS[fmt](tmp_path / "src.jsonl")
    assert main(["import", fmt, str(src), "--out", str(tmp_path / "run")]) == 0
    assert "imported 4 episodes (8 steps, 2 task groups)" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "run")]) == 0
    assert "8 step rows, 2 task groups, 4 trajectories" in capsys.readouterr().out


def _corrupt(path, line_no, update):
    lines = path.read_text().splitlines()
    obj = json.loads(lines[line_no - 1])
    update(obj)
    lines[line_no - 1] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt, line_no, update, field", [
    ("verifiers", 3, lambda o: o["traces"][0]["rewards"]["solved"].update(score="high"),
     "traces.0.rewards.solved.score"),
    ("verifiers", 4, lambda o: o["task"].pop("hash") and o["task"].pop("key"), "task.hash"),  # group B: no group.id
    ("verifiers", 1, lambda o: o["traces"][0]["nodes"][2].update(parent=7), "traces.0.nodes.2.parent"),
    ("nemo-gym", 4, lambda o: o.pop("_ng_task_index"), "_ng_task_index"),
    ("nemo-gym", 2, lambda o: o["response"].update(output="oops"), "response.output"),
    ("verl-agent", 5, lambda o: o.update(score=None), "score"),
    ("jsonl", 6, lambda o: o.update(step=-1), "step"),
    ("jsonl", 1, lambda o: o.pop("action"), "action"),
])
def test_malformed_line_names_file_line_field_and_writes_nothing(tmp_path, capsys, fmt, line_no, update, field):
    src = WRITERS[fmt](tmp_path / "src.jsonl")
    _corrupt(src, line_no, update)
    assert main(["import", fmt, str(src), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{src}:{line_no}: field {field!r}:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.jsonl"]  # no run folder, no staging folder


def test_not_json_and_duplicate_steps(tmp_path, capsys):
    src = generic_steps(tmp_path / "src.jsonl")
    src.write_text(src.read_text() + "{not json\n")
    assert main(["import", "jsonl", str(src), "--out", str(tmp_path / "run")]) == 2
    assert f"{src}:9: not valid JSON" in capsys.readouterr().err
    lines = src.read_text().splitlines()[:8]
    src.write_text("\n".join(lines + [lines[0]]) + "\n")  # a step twice
    assert main(["import", "jsonl", str(src), "--out", str(tmp_path / "run")]) == 2
    assert "field 'step': episode 'A/0': step 1 appears twice" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_verl_agent_without_patch_says_groups_cannot_be_rebuilt(tmp_path, capsys):
    src = verl_agent_dump(tmp_path / "3.jsonl", patched=False)
    assert main(["import", "verl-agent", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{src}:1: field 'uid': missing" in err and "cannot be rebuilt" in err and "patch" in err
    assert not (tmp_path / "run").exists()


def test_observation_field_and_existing_out(tmp_path, capsys):
    src = verl_agent_dump(tmp_path / "dump.jsonl")
    import_rollouts("verl-agent", src, tmp_path / "run", observation_field="input")
    obs = read_log(tmp_path / "run").sort("group_id", "rollout_index", "step")["observation"][0]
    assert obs == "<|im_start|>user\nYour task. Observation: You are in the kitchen.<|im_end|>"
    assert main(["import", "verl-agent", str(src), "--out", str(tmp_path / "run")]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    # --force swaps the run folder, but only once the new one is complete: a bad source leaves it as it was
    bad = generic_steps(tmp_path / "bad.jsonl")
    _corrupt(bad, 2, lambda o: o.pop("reward"))
    assert main(["import", "jsonl", str(bad), "--out", str(tmp_path / "run"), "--force"]) == 2
    assert read_log(tmp_path / "run")["observation"][0].startswith("<|im_start|>")
    assert main(["import", "verl-agent", str(src), "--out", str(tmp_path / "run"), "--force"]) == 0
    assert read_log(tmp_path / "run").sort("group_id", "rollout_index", "step")["observation"][0] == "You are in the kitchen."
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["import", "verl-agent", str(src), "--out", str(tmp_path / "other"), "--force"]) == 2
    assert "not a run folder" in capsys.readouterr().err and (tmp_path / "other" / "notes.txt").exists()
    assert not list(tmp_path.glob(".tmp-*"))
    assert main(["import", "jsonl", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r2")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_rendered_prompts_are_stripped_to_the_bare_observation(tmp_path):
    from proxmo_envs import text

    src = verl_agent_dump(tmp_path / "dump.jsonl")
    rows = [json.loads(t) for t in src.read_text().splitlines()]
    for r in rows:  # the prompt an adapter showed: the text protocol around the observation
        r["input"] = text.render(r["anchor_obs"], {"task": "find the room", "admissible_actions": ["look", "wait"]})
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_rollouts("verl-agent", src, tmp_path / "run", observation_field="input")
    df = read_log(tmp_path / "run").sort("group_id", "rollout_index", "step")
    assert df["observation"].to_list() == [o for _, _, steps, _ in EPISODES for o, _ in steps]
    assert df["admissible_actions"].to_list() == [["look", "wait"]] * 8


def test_verifiers_file_written_by_verifiers_itself(tmp_path):
    """A traces.jsonl written by the installed verifiers package's own models and writer."""
    episode_mod = pytest.importorskip("verifiers.v1.episode")
    from verifiers.v1.configs.agent import AgentConfig
    from verifiers.v1.graph import MessageNode
    from verifiers.v1.trace import AgentInfo, Reward, Trace, TraceTask
    from verifiers.v1.types import AssistantMessage, SystemMessage, UserMessage
    from verifiers.v1.utils.trace_store import TRACES_FILE, write_episode

    (tmp_path / TRACES_FILE).write_text("")
    for group, rollout, steps, reward in EPISODES:
        task = TraceTask(type="RoomTask", data={"room": group}, key=f"room-{group}", hash=f"h{group}")
        nodes = [MessageNode(parent=None, message=SystemMessage(content="Solve the task."))]
        for obs, act in steps:
            nodes.append(MessageNode(parent=len(nodes) - 1, message=UserMessage(content=obs)))
            nodes.append(MessageNode(parent=len(nodes) - 1, message=AssistantMessage(content=act), sampled=True))
        trace = Trace(task=task, agent=AgentInfo(config=AgentConfig()), nodes=nodes,
                      rewards={"solved": Reward(score=reward, weight=2.0)}, is_completed=True, ok=True,
                      stop_condition="max_turns" if group == "B" else "done")
        write_episode(tmp_path, episode_mod.Episode(task=task, group=episode_mod.GroupInfo(id=f"g-{group}"),
                                                    env=episode_mod.EnvInfo(id="rooms"), ok=True, traces=[trace]))
    import_rollouts("verifiers", tmp_path / TRACES_FILE, tmp_path / "run")
    df = read_log(tmp_path / "run").sort("group_id", "rollout_index", "step")
    assert df["group_id"].unique().sort().to_list() == ["g-A", "g-B"]
    assert df["observation"].to_list() == [o for _, _, steps, _ in EPISODES for o, _ in steps]
    assert df["action"].to_list() == [a for _, _, steps, _ in EPISODES for _, a in steps]
    assert df["reward"].to_list() == [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # score x weight, last step
    assert df["env_id"].unique().to_list() == ["rooms"]
    assert df.filter(pl.col("group_id") == "g-B")["truncated"].sum() == 2  # stop_condition max_turns
