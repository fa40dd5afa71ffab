"""The game generator: ids, locations, splits, problem facts, determinism, one solved game, the shipped set."""

from __future__ import annotations

import collections
import json
import re

import pytest

from proxmo_envs._paths import data_root
from proxmo_envs.alfworld import engine
from proxmo_envs.builders import alfworld_games as G
from proxmo_envs.alfworld.games import load_games, read_jsonl_gz


def test_thor_ids_are_mangled_like_real_alfworld():
    assert G.thor_id("Apple", (1.0, -0.5, 0.0)) == "Apple|+01.00|-00.50|00.00"
    assert G.mangle("Apple|+01.00|-00.50|00.00") == "Apple_bar__plus_01_dot_00_bar__minus_00_dot_50_bar_00_dot_00"
    assert G.mangle("Sink|-04.19|+00.92|+03.28|SinkBasin") == (
        "Sink_bar__minus_04_dot_19_bar__plus_00_dot_92_bar__plus_03_dot_28_bar_SinkBasin")
    # agent pose (x, z, rotation in degrees, horizon) -> loc|x/0.25|z/0.25|rotation/90|horizon
    assert G.loc_name((-1.5, 4.25, 90, 30)) == "loc_bar__minus_6_bar_17_bar_1_bar_30"


def test_receptacle_positions_match_a_real_game_of_the_same_room(alfworld_real_dir):
    """Our receptacle ids and (x, z, rotation) of their locations equal the real FloorPlan13 game's."""
    path = next(alfworld_real_dir.glob("json_2.1.1/*/*-13/*/game.tw-pddl"))
    real = dict(re.findall(r"\(receptacleAtLocation (\S+) (\S+)\)", json.loads(path.read_text())["pddl_problem"]))
    room = G.load_room(13)
    shared = [(rid, pose) for rid, pose in room.poses.items() if G.mangle(rid) in real]
    assert len(shared) >= 25
    same_xz_rot = [G.loc_name(pose).rsplit("_bar_", 1)[0] == real[G.mangle(rid)].rsplit("_bar_", 1)[0]
                   for rid, pose in shared]
    assert sum(same_xz_rot) >= len(shared) - 2


def test_room_splits_are_disjoint_and_follow_alfred():
    train, seen, unseen = (set(G.split_rooms(s)) for s in G.SPLITS)
    assert unseen == {10, 219, 308, 424}
    assert train == seen and not (train & unseen)
    assert len(train) == 116
    assert {G.room_type(s) for s in unseen} == {"Kitchen", "LivingRoom", "Bedroom", "Bathroom"}


def test_drafts_are_deterministic_and_vary_with_the_attempt():
    cfg = G.GenConfig(seed=5)
    a, b = G.draft_game("train", 4, 0, cfg), G.draft_game("train", 4, 0, cfg)
    assert a is not None and a.pddl_problem == b.pddl_problem and a.task_text == b.task_text
    c = next(d for att in range(1, 6) if (d := G.draft_game("train", 4, att, cfg)) is not None)
    assert c.pddl_problem != a.pddl_problem


@pytest.mark.parametrize("slot", range(6))
def test_problem_has_the_facts_of_real_games(slot):
    cfg = G.GenConfig(seed=1)
    draft = next(d for att in range(6) if (d := G.draft_game("eval_seen", slot, att, cfg)) is not None)
    task = draft.task
    assert task.task_type == engine.TASK_TYPES[slot]
    p = draft.pddl_problem
    for fact in ("receptacleType", "receptacleAtLocation", "objectType", "inReceptacle", "objectAtLocation",
                 "pickupable", "canContain", "atLocation agent1"):
        assert f"({fact} " in p, fact
    init = p[p.index("(:init"):p.index("(:goal")]
    # the goal object exists, and no instance starts where the goal (or its tool) would put it
    targets = re.findall(rf"\(objectType (\S+) {task.object_target}Type\)", init)
    assert len(targets) >= (2 if task.task_type == "pick_two_obj_and_place" else 1)
    rtype_of = dict(re.findall(r"\(receptacleType (\S+) (\w+)Type\)", init))
    where = dict(re.findall(r"\(inReceptacle (\S+) (\S+)\)", init))
    forbidden = {task.parent_target, G.TOOL.get(task.task_type, "")} - {""}
    assert all(rtype_of[where[o]] not in forbidden for o in targets if o in where)
    # canContain lists exactly the valid pairs of types present
    constants = engine.modules()["constants"]
    cc = set(re.findall(r"\(canContain (\w+)Type (\w+)Type\)", init))
    otypes = set(re.findall(r"\(objectType \S+ (\w+)Type\)", init))
    expected = {(r, o) for r in set(rtype_of.values()) for o in otypes
                if o in constants.VAL_RECEPTACLE_OBJECTS.get(r, ())}
    assert cc == expected
    if task.task_type == "look_at_obj_in_light":
        assert f"(toggleable {G.mangle(task.toggle_target)}" in init
    prop = {"pick_clean_then_place_in_recep": "cleanable", "pick_heat_then_place_in_recep": "heatable",
            "pick_cool_then_place_in_recep": "coolable"}.get(task.task_type)
    if prop:
        assert all(f"({prop} {o})" in init for o in targets)
    templates = engine.modules()["goal_library"].gdict[task.task_type]["templates"]
    assert any(draft.task_text == t.format(obj=task.object_target.lower(), recep=task.parent_target.lower(),
                                           toggle=task.toggle_target.lower(), mrecep="") for t in templates)


def test_one_game_is_solved_and_verified_end_to_end():
    cfg = G.GenConfig(seed=3)
    draft = next(d for att in range(6) if (d := G.draft_game("eval_unseen", 0, att, cfg)) is not None)
    status, record = G.solve_with_timeout(draft, timeout_s=120)
    assert status == "ok", record
    assert record["game_id"] == draft.game_id and record["walkthrough"]
    assert record["walkthrough"][-1].startswith("move ")


def test_a_game_over_its_time_box_is_reported_as_timeout(monkeypatch):
    # The planner's own speed depends on the machine (a fast CI core solved this draft in under 0.2 s), so
    # the forked child gets a solver that is slower than any time box: the test is about the time box.
    import time

    def slow_solver(draft):
        time.sleep(60)

    monkeypatch.setattr(G, "solve_and_verify", slow_solver)
    draft = G.draft_game("eval_unseen", 0, 0, G.GenConfig())
    t0 = time.perf_counter()
    status, payload = G.solve_with_timeout(draft, timeout_s=0.2)
    assert status == "timeout" and "0.2 s" in payload
    assert time.perf_counter() - t0 < 30  # the child was killed, not waited for


def test_generate_writes_resumable_jsonl(tmp_path):
    cfg = G.GenConfig(seed=2, counts={"train": 0, "eval_seen": 0, "eval_unseen": 1}, timeout_s=120)
    stats = G.generate(tmp_path, cfg, log=lambda s: None)
    assert stats["ok"] == 1
    first = read_jsonl_gz(tmp_path / "eval_unseen.jsonl.gz")
    assert len(first) == 1 and first[0]["split"] == "eval_unseen"
    stats = G.generate(tmp_path, cfg, log=lambda s: None)  # nothing left to do
    assert stats["ok"] == 0 and read_jsonl_gz(tmp_path / "eval_unseen.jsonl.gz") == first
    manifest = G.compact(tmp_path)
    assert read_jsonl_gz(tmp_path / "eval_unseen.jsonl.gz") == first
    assert manifest["splits"]["eval_unseen"]["games"] == 1
    assert manifest["splits"]["eval_unseen"]["by_type"]["pick_and_place_simple"] == 1


# ----------------------------------------------------------------------------- the shipped set

MIN_COUNTS = {"train": 300, "eval_seen": 60, "eval_unseen": 60}


@pytest.mark.parametrize("split", G.SPLITS)
def test_shipped_set_sizes_and_task_mix(split):
    games = load_games(split)
    assert len(games) >= MIN_COUNTS[split]
    per_type = collections.Counter(g.task_type for g in games)
    assert set(per_type) == set(engine.TASK_TYPES)
    if split != "train":
        assert min(per_type.values()) >= 8
    assert len({g.game_id for g in games}) == len(games)
    rooms = {int(g.room.removeprefix("FloorPlan")) for g in games}
    assert rooms <= set(G.split_rooms(split))
    assert all(g.walkthrough for g in games)


def test_shipped_splits_share_no_game():
    problems = [{g.pddl_problem.split("(:objects", 1)[1] for g in load_games(s)} for s in G.SPLITS]
    assert not (problems[0] & problems[1]) and not (problems[0] & problems[2])


def test_shipped_set_is_small():
    total = sum(p.stat().st_size for p in (data_root() / "alfworld").glob("*.jsonl.gz"))
    assert total < 5_000_000


def test_shipped_problems_are_reproduced_by_the_generator():
    """Re-drawing the first games of a split with the recorded seed and attempt gives the same problem."""
    cfg = G.GenConfig(seed=0)
    for rec in read_jsonl_gz(data_root() / "alfworld" / "eval_unseen.jsonl.gz")[:6]:
        slot = int(rec["game_id"].rsplit("eval_unseen", 1)[-1])
        draft = G.draft_game("eval_unseen", slot, rec["attempt"], cfg)
        assert draft.game_id == rec["game_id"]
        assert draft.pddl_problem == rec["pddl_problem"] and draft.task_text == rec["task"]


def test_data_dir_takes_a_folder_of_generated_games(tmp_path, capsys):
    import shutil

    import gymnasium as gym

    from proxmo_analysis.cli import main
    from proxmo_envs._paths import data_root

    shutil.copy(data_root() / "alfworld" / "eval_unseen.jsonl.gz", tmp_path / "eval_unseen.jsonl.gz")
    mine = gym.make("proxmo/ALFWorld-v0", split="eval_unseen", data_dir=str(tmp_path))
    shipped = gym.make("proxmo/ALFWorld-v0", split="eval_unseen")
    try:
        assert mine.unwrapped.task_ids == shipped.unwrapped.task_ids
        assert mine.reset(seed=0)[0] == shipped.reset(seed=0)[0]
    finally:
        mine.close()
        shipped.close()
    assert main(["games", "--data-dir", str(tmp_path), "--split", "eval_unseen", "--json"]) == 0
    assert '"games": ' in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="train"):
        gym.make("proxmo/ALFWorld-v0", split="train", data_dir=str(tmp_path))
