"""Generate ALFWorld games from the room layouts and tables that the installed ``alfworld`` ships.

A game is a PDDL problem over alfworld's own domain (``alfred.pddl``), written the way the real ALFWorld
game files are: mangled AI2-THOR ids (``Apple|+01.00|...`` -> ``Apple_bar__plus_01_dot_00_bar_...``),
receptacles with the agent pose from which they are reached (``FloorPlan*-openable.json``), object
instances of the types present in the room (``FloorPlan*-objects.json``) placed in receptacles that can
hold them (``constants.VAL_RECEPTACLE_OBJECTS``), the property facts (``constants.VAL_ACTION_OBJECTS``),
``canContain`` for every valid type pair present, and a goal from ``alfworld.gen.goal_library`` with one of
its text templates. Receptacle types a layout lists without a pose (stove burners, coffee machines, ...)
get one sampled from the room's reachable positions (``FloorPlan*-layout.npy``).

Solvability and the walkthrough come from fast-downward, called once per game: the planner solves a copy
of the problem restricted to the goal's object types (same names, far fewer operators), and the plan is
then replayed on the full game in the real engine, which must accept every command and report ``won``.
Each game runs in a child process killed after ``timeout_s``. Everything is deterministic from the seed.

Rooms are split as ALFRED/ALFWorld split them: the four ``valid_unseen`` rooms (FloorPlan10, 219, 308,
424: one kitchen, living room, bedroom, bathroom) are held out for ``eval_unseen``; ``train`` and
``eval_seen`` games use the other 116 rooms.

Run ``python -m proxmo_envs.builders.alfworld_games --out data/alfworld`` (resumable: games are appended to
``<split>.jsonl.gz`` as they are verified, and a re-run skips the slots already present). It ends by writing
each split's translation products, ``<split>.sas.zip`` (:mod:`proxmo_envs.alfworld.products`), so that the
env loads a game in milliseconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from proxmo_envs.alfworld import engine
from proxmo_envs.alfworld.engine import TASK_TYPES
from proxmo_envs.alfworld.games import read_jsonl_gz

SPLITS: tuple[str, ...] = ("train", "eval_seen", "eval_unseen")
# ALFRED's valid_unseen rooms; ALFWorld's eval_out_of_distribution games are played there.
UNSEEN_ROOMS: tuple[int, ...] = (10, 219, 308, 424)
ROOM_TYPES = {"Kitchen": range(1, 31), "LivingRoom": range(201, 231), "Bedroom": range(301, 331),
              "Bathroom": range(401, 431)}
# constants.GOALS_VALID for the six ALFWorld task types (which room types can host which task).
TASK_ROOMS = {
    "pick_and_place_simple": {"Kitchen", "LivingRoom", "Bathroom", "Bedroom"},
    "pick_two_obj_and_place": {"Kitchen", "LivingRoom", "Bathroom", "Bedroom"},
    "look_at_obj_in_light": {"LivingRoom", "Bedroom"},
    "pick_clean_then_place_in_recep": {"Kitchen", "Bathroom"},
    "pick_heat_then_place_in_recep": {"Kitchen"},
    "pick_cool_then_place_in_recep": {"Kitchen"},
}
# The receptacle that performs the state change of a task (the goal receptacle may not be it, as in ALFRED).
TOOL = {"pick_clean_then_place_in_recep": "SinkBasin", "pick_heat_then_place_in_recep": "Microwave",
        "pick_cool_then_place_in_recep": "Fridge"}
PROPERTY = {"pick_clean_then_place_in_recep": "Cleanable", "pick_heat_then_place_in_recep": "Heatable",
            "pick_cool_then_place_in_recep": "Coolable"}
LAMPS = ("DeskLamp", "FloorLamp")
# Furniture a lamp stands on (no receptacle "contains" a lamp in alfworld's tables, but the goal of
# look_at_obj_in_light needs the lamp in a receptacle, as THOR's parentReceptacles give in real games).
LAMP_STANDS = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable", "TVStand", "ArmChair",
               "Sofa", "Bed", "Ottoman", "Cart")


@dataclass(frozen=True)
class GenConfig:
    """How many games to generate and how.

    Defaults: the shipped set (issue 3: >=300 train, >=60 eval_seen and >=60 eval_unseen games).
    """

    seed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"train": 312, "eval_seen": 66, "eval_unseen": 66})
    timeout_s: float = 60.0  # per game (scene, planning, replay); a game that times out is redrawn
    max_attempts: int = 6  # redraws of one slot before giving up on it
    max_instances: int = 3  # constants.MAX_NUM_OF_OBJ_INSTANCES


# --------------------------------------------------------------------------------------------- rooms


def room_type(scene: int) -> str:
    for name, rng in ROOM_TYPES.items():
        if scene in rng:
            return name
    raise ValueError(f"FloorPlan{scene} is not an AI2-THOR room number")


def split_rooms(split: str) -> list[int]:
    """The scene numbers a split draws its games from (sorted)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    scenes = sorted(int(re.search(r"FloorPlan(\d+)-objects", p.name).group(1))
                    for p in engine.layouts_dir().glob("FloorPlan*-objects.json"))
    if split == "eval_unseen":
        return [s for s in scenes if s in UNSEEN_ROOMS]
    return [s for s in scenes if s not in UNSEEN_ROOMS]


@dataclass(frozen=True)
class Room:
    scene: int
    types: tuple[str, ...]  # object types present (objects.json)
    poses: dict[str, tuple[float, float, int, int]]  # receptacle id -> agent pose (x, z, rotation, horizon)
    reachable: np.ndarray  # (n, 2) reachable (x, z) floor positions


def load_room(scene: int) -> Room:
    d = engine.layouts_dir()
    types = tuple(json.loads((d / f"FloorPlan{scene}-objects.json").read_text()))
    poses = {k: tuple(v) for k, v in json.loads((d / f"FloorPlan{scene}-openable.json").read_text()).items()}
    reachable = np.load(d / f"FloorPlan{scene}-layout.npy")
    return Room(scene, types, dict(sorted(poses.items())), reachable)


# --------------------------------------------------------------------------------------------- ids


def _coord(v: float) -> str:
    s = f"{abs(v):05.2f}"
    return s if round(v, 2) == 0 else ("+" if v > 0 else "-") + s


def thor_id(type_: str, xyz: tuple[float, float, float], suffix: str = "") -> str:
    """An AI2-THOR object id, e.g. ``Apple|+01.00|+00.90|-02.25``."""
    return f"{type_}|{_coord(xyz[0])}|{_coord(xyz[1])}|{_coord(xyz[2])}" + (f"|{suffix}" if suffix else "")


_MANGLE = {"-": "_minus_", "#": "-", "|": "_bar_", "+": "_plus_", ".": "_dot_", ",": "_comma_"}


def mangle(text: str) -> str:
    """``PlannedGameState.fix_pddl_str_chars``: THOR id -> PDDL name (simultaneous replacement)."""
    return "".join(_MANGLE.get(ch, ch) for ch in text)


def loc_name(pose: tuple[float, float, int, int]) -> str:
    x, z, rot, hor = pose
    return mangle(f"loc|{round(x / 0.25)}|{round(z / 0.25)}|{round(rot / 90) % 4}|{int(hor)}")


# --------------------------------------------------------------------------------------------- scene


@dataclass
class Scene:
    """A room filled with instances. Ids are THOR ids (unmangled); poses are agent poses."""

    scene: int
    receptacles: dict[str, tuple[str, tuple]]  # id -> (type, pose)
    objects: dict[str, tuple[str, tuple, str | None]]  # id -> (type, pose, receptacle id or None)
    agent: tuple

    def receptacle_types(self) -> set[str]:
        return {t for t, _ in self.receptacles.values()}

    def instances(self, type_: str) -> list[str]:
        return sorted(o for o, (t, _, _) in self.objects.items() if t == type_)


def _random_pose(room: Room, rng: np.random.Generator, horizon: int = 30) -> tuple:
    x, z = room.reachable[rng.integers(len(room.reachable))]
    return (float(x), float(z), int(rng.integers(4)) * 90, horizon)


def _ahead(pose: tuple, dist: float, height: float) -> tuple[float, float, float]:
    x, z, rot, _ = pose
    dx, dz = {0: (0.0, 1.0), 90: (1.0, 0.0), 180: (0.0, -1.0), 270: (-1.0, 0.0)}[int(rot) % 360]
    return (x + dx * dist, height, z + dz * dist)


def _unique_id(taken: set[str], type_: str, xyz: tuple, rng: np.random.Generator, suffix: str = "") -> str:
    for _ in range(100):
        oid = thor_id(type_, xyz, suffix)
        if oid not in taken:
            taken.add(oid)
            return oid
        xyz = (xyz[0] + float(rng.uniform(-0.05, 0.05)), xyz[1], xyz[2] + float(rng.uniform(-0.05, 0.05)))
    raise RuntimeError(f"could not draw a unique id for {type_}")


def _id_xyz(thor: str) -> tuple[float, float, float]:
    parts = thor.split("|")
    return (float(parts[1]), float(parts[2]), float(parts[3]))


def build_scene(room: Room, rng: np.random.Generator, cfg: GenConfig, constants: Any) -> Scene:
    """Fill a room: receptacle instances (from the layout, plus sampled ones), object instances in them."""
    static = constants.RECEPTACLES - constants.MOVABLE_RECEPTACLES_SET
    # Layouts also list THOR types that ALFRED's tables do not know (Faucet, ShowerHead, ...): skipped.
    known = set(room.types) & (constants.OBJECTS_SET | constants.RECEPTACLES)
    taken: set[str] = set()
    receptacles: dict[str, tuple[str, tuple]] = {}
    for rid, pose in room.poses.items():
        rtype = rid.split("|")[-1] if rid.count("|") == 4 else rid.split("|")[0]  # Sink|...|SinkBasin
        if rtype in static:
            receptacles[rid] = (rtype, pose)
            taken.add(rid)
    present = {t for t, _ in receptacles.values()}
    for rtype in sorted(known & (static - present)):
        n = 4 if rtype == "StoveBurner" else 1
        pose = _random_pose(room, rng)
        for i in range(n):
            if rtype == "StoveBurner" and i == 2:
                pose = (pose[0] + 0.25, pose[1], pose[2], pose[3])
            xyz = _ahead(pose, 0.75, float(rng.uniform(0.0, 1.0)))
            xyz = (xyz[0] + 0.25 * (i % 2), xyz[1], xyz[2])
            receptacles[_unique_id(taken, rtype, xyz, rng)] = (rtype, pose)

    containers: dict[str, list[str]] = {}
    for rid in sorted(receptacles):
        containers.setdefault(receptacles[rid][0], []).append(rid)
    objects: dict[str, tuple[str, tuple, str | None]] = {}
    for otype in sorted(known - static):
        if otype in ("Sink", "Bathtub"):
            # The sink/bathtub object shares its position with its basin receptacle, as in THOR.
            basins = [r for r in sorted(receptacles) if r.endswith(f"|{otype}Basin")]
            for r in basins:
                oid = "|".join(r.split("|")[:4])
                taken.add(oid)
                objects[oid] = (otype, receptacles[r][1], None)
            if basins:
                continue
        if otype in LAMPS:
            stands = [r for r in sorted(receptacles) if receptacles[r][0] in LAMP_STANDS
                      and r.split("|")[0] not in constants.OPENABLE_CLASS_SET]
            if stands:
                r = stands[rng.integers(len(stands))]
                xyz = _id_xyz(r)
                oid = _unique_id(taken, otype, (xyz[0], xyz[1] + 0.85, xyz[2]), rng)
                objects[oid] = (otype, receptacles[r][1], r)
                continue
        holders = [r for r in sorted(receptacles)
                   if otype in constants.VAL_RECEPTACLE_OBJECTS.get(receptacles[r][0], ())]
        if holders:
            for _ in range(int(rng.integers(1, cfg.max_instances + 1))):
                r = holders[rng.integers(len(holders))]
                xyz = _id_xyz(r)
                xyz = (xyz[0] + float(rng.uniform(-0.3, 0.3)), xyz[1] + float(rng.uniform(0.02, 0.2)),
                       xyz[2] + float(rng.uniform(-0.3, 0.3)))
                objects[_unique_id(taken, otype, xyz, rng)] = (otype, receptacles[r][1], r)
        else:
            pose = _random_pose(room, rng, horizon=int(rng.choice([0, 30, 60])))
            objects[_unique_id(taken, otype, _ahead(pose, 0.5, float(rng.uniform(0.2, 2.0))), rng)] = \
                (otype, pose, None)
    return Scene(room.scene, receptacles, objects, _random_pose(room, rng))


# --------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    task_type: str
    object_target: str
    parent_target: str = ""
    toggle_target: str = ""

    def pddl_params(self) -> dict[str, Any]:
        """The ``pddl_params`` of an ALFRED ``traj_data.json``."""
        return {"object_target": self.object_target, "parent_target": self.parent_target,
                "toggle_target": self.toggle_target, "mrecep_target": "", "object_sliced": False}


def _pickupable_types(scene: Scene, constants: Any) -> list[str]:
    can = set().union(*constants.VAL_RECEPTACLE_OBJECTS.values())
    return sorted({t for t, _, r in scene.objects.values() if r is not None and t in can})


def sample_task(scene: Scene, task_type: str, rng: np.random.Generator, constants: Any) -> Task | None:
    """Draw (object, receptacle[, lamp]) types valid for the task in this scene (ALFRED's filters)."""
    rtypes = sorted(scene.receptacle_types())
    objs = _pickupable_types(scene, constants)
    if task_type == "look_at_obj_in_light":
        lamps = sorted({t for t, _, r in scene.objects.values() if t in LAMPS and r is not None})
        objs = [o for o in objs if o not in LAMPS]
        if not lamps or not objs:
            return None
        return Task(task_type, objs[rng.integers(len(objs))], toggle_target=lamps[rng.integers(len(lamps))])
    if task_type in TOOL:
        if TOOL[task_type] not in rtypes:
            return None
        objs = [o for o in objs if o in constants.VAL_ACTION_OBJECTS[PROPERTY[task_type]]]
    pairs = [(o, r) for o in objs for r in rtypes
             if o in constants.VAL_RECEPTACLE_OBJECTS.get(r, ()) and r != TOOL.get(task_type)]
    if not pairs:
        return None
    o, r = pairs[rng.integers(len(pairs))]
    return Task(task_type, o, parent_target=r)


def fit_scene_to_task(scene: Scene, task: Task, rng: np.random.Generator, constants: Any) -> bool:
    """Make the task well posed: enough instances, none already where the goal (or its tool) would put it.

    Returns False when that is impossible in this scene.
    """
    forbidden = {task.parent_target} | ({TOOL[task.task_type]} if task.task_type in TOOL else set())
    forbidden.discard("")
    holders = [r for r in sorted(scene.receptacles)
               if task.object_target in constants.VAL_RECEPTACLE_OBJECTS.get(scene.receptacles[r][0], ())
               and scene.receptacles[r][0] not in forbidden]
    if not holders:
        return False
    instances = scene.instances(task.object_target)
    for oid in instances:
        otype, _, r = scene.objects[oid]
        if r is None or scene.receptacles[r][0] in forbidden:
            new = holders[rng.integers(len(holders))]
            scene.objects[oid] = (otype, scene.receptacles[new][1], new)
    if task.task_type == "pick_two_obj_and_place" and len(instances) < 2:
        taken = set(scene.objects) | set(scene.receptacles)
        for _ in range(2 - len(instances)):
            new = holders[rng.integers(len(holders))]
            xyz = _id_xyz(new)
            xyz = (xyz[0] + float(rng.uniform(-0.3, 0.3)), xyz[1] + 0.1, xyz[2] + float(rng.uniform(-0.3, 0.3)))
            scene.objects[_unique_id(taken, task.object_target, xyz, rng)] = \
                (task.object_target, scene.receptacles[new][1], new)
    return True


def task_text(task: Task, rng: np.random.Generator, goal_library: Any) -> str:
    """The goal sentence from one of the task type's templates (``get_templated_task_desc``)."""
    templates = goal_library.gdict[task.task_type]["templates"]
    template = templates[rng.integers(len(templates))]
    return template.format(obj=task.object_target.lower(), recep=task.parent_target.lower(),
                           toggle=task.toggle_target.lower(), mrecep="")


# --------------------------------------------------------------------------------------------- PDDL


def problem_pddl(scene: Scene, task: Task, name: str, constants: Any, goal_library: Any,
                 keep_types: set[str] | None = None) -> str:
    """The PDDL problem of a game, laid out like the real ALFWorld ``pddl_problem``.

    ``keep_types`` restricts the object instances to those types (the planning copy); receptacles, the
    agent and every name are the same as in the full problem.
    """
    static = constants.RECEPTACLES - constants.MOVABLE_RECEPTACLES_SET
    obj_consts = sorted(constants.OBJECTS_SET - static)
    rtypes = sorted(static)
    objects = {o: v for o, v in scene.objects.items() if keep_types is None or v[0] in keep_types}
    recs = scene.receptacles
    m = mangle
    locs = sorted({loc_name(p) for _, p in recs.values()} | {loc_name(p) for _, p, _ in objects.values()}
                  | {loc_name(scene.agent)})
    head = ["", f"(define (problem plan_{name})", "(:domain alfred)", "(:objects", "agent1 - agent"]
    head += [f"        {t} - object" for t in obj_consts]
    head += [f"        {t}Type - otype" for t in obj_consts]
    head += [f"        {t}Type - rtype" for t in rtypes]
    head += [f"        {m(o)} - object" for o in sorted(objects)]
    head += [f"        {m(r)} - receptacle" for r in sorted(recs)]
    head += [f"        {loc} - location" for loc in locs]
    head += ["        )", ""]

    present_o = {t for t, _, _ in objects.values()}
    present_r = {t for t, _ in recs.values()}
    can = set().union(*constants.VAL_RECEPTACLE_OBJECTS.values())
    props = constants.VAL_ACTION_OBJECTS
    init = ["(:init", ""]
    init += [f"        (receptacleType {m(r)} {t}Type)" for r, (t, _) in sorted(recs.items())]
    init += [f"        (objectType {m(o)} {t}Type)" for o, (t, _, _) in sorted(objects.items())]
    init += [f"        (canContain {r}Type {o}Type)" for r in sorted(present_r) for o in sorted(present_o)
             if o in constants.VAL_RECEPTACLE_OBJECTS.get(r, ())]
    init += [f"        (pickupable {m(o)})" for o, (t, _, _) in sorted(objects.items()) if t in can]
    init += [f"        (isReceptacleObject {m(o)})" for o, (t, _, _) in sorted(objects.items())
             if t in constants.MOVABLE_RECEPTACLES_SET]
    init += [f"        (openable {m(r)})" for r, (t, _) in sorted(recs.items())
             if r.split("|")[0] in constants.OPENABLE_CLASS_SET]
    init += ["", f"        (atLocation agent1 {loc_name(scene.agent)})", ""]
    for pred, prop in (("cleanable", "Cleanable"), ("heatable", "Heatable"), ("coolable", "Coolable"),
                       ("toggleable", "Toggleable"), ("sliceable", "Sliceable")):
        init += [f"        ({pred} {m(o)})" for o, (t, _, _) in sorted(objects.items()) if t in props[prop]]
    init += [""]
    init += [f"        (inReceptacle {m(o)} {m(r)})" for o, (_, _, r) in sorted(objects.items()) if r is not None]
    init += [""]
    init += [f"        (receptacleAtLocation {m(r)} {loc_name(p)})" for r, (_, p) in sorted(recs.items())]
    init += [f"        (objectAtLocation {m(o)} {loc_name(p)})" for o, (_, p, _) in sorted(objects.items())]
    init += ["        )", ""]

    goal = goal_library.gdict[task.task_type]["pddl"].format(
        obj=task.object_target, recep=task.parent_target, toggle=task.toggle_target, mrecep="")
    goal = goal.replace("#", "-")
    return "\n".join(head + init) + "\n" + goal


# --------------------------------------------------------------------------------------------- solving


@dataclass
class Draft:
    """A game before solving: everything but the walkthrough."""

    game_id: str
    split: str
    scene: int
    task: Task
    task_text: str
    pddl_problem: str
    planning_problem: str


def draft_game(split: str, slot: int, attempt: int, cfg: GenConfig) -> Draft | None:
    """Draw one game for ``(split, slot)``; deterministic in ``(cfg.seed, split, slot, attempt)``."""
    m = engine.modules()
    constants, glib = m["constants"], m["goal_library"]
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), slot, attempt])
    task_type = TASK_TYPES[slot % len(TASK_TYPES)]
    rooms = [s for s in split_rooms(split) if room_type(s) in TASK_ROOMS[task_type]]
    scene_num = rooms[rng.integers(len(rooms))]
    scene = build_scene(load_room(scene_num), rng, cfg, constants)
    task = sample_task(scene, task_type, rng, constants)
    if task is None or not fit_scene_to_task(scene, task, rng, constants):
        return None
    text = task_text(task, rng, glib)
    recep = task.parent_target or "None"
    obj = task.object_target + (f"-{task.toggle_target}" if task.toggle_target else "")
    game_id = f"{task_type}-{obj}-None-{recep}-{scene_num}-{split}{slot:04d}"
    keep = {task.object_target, task.toggle_target} - {""}
    return Draft(game_id, split, scene_num, task, text,
                 problem_pddl(scene, task, game_id, constants, glib),
                 problem_pddl(scene, task, game_id, constants, glib, keep_types=keep))


def solve_and_verify(draft: Draft) -> dict[str, Any]:
    """Plan once on the planning copy, then replay the plan on the full game; returns the stored record.

    Raises RuntimeError when the planner finds no plan or the replay does not win.
    """
    from proxmo_envs.alfworld import speedups

    t0 = time.perf_counter()
    env = engine.make_textworld_env(extras=("walkthrough",))
    with engine.argv_preserved(), speedups.exact_replan():
        env.load(engine.game_dict(draft.planning_problem, draft.task_text))
        plan = list(env.reset()["extra.walkthrough"])
    if not plan:
        raise RuntimeError("the planner found no plan")
    t_plan = time.perf_counter() - t0
    env = engine.make_textworld_env(extras=())
    with engine.argv_preserved():
        env.load(engine.game_dict(draft.pddl_problem, draft.task_text, walkthrough=plan))
        state = env.reset()
        if state["won"]:
            raise RuntimeError("the goal holds before any action")
        for i, cmd in enumerate(plan):
            if cmd not in state["admissible_commands"]:
                raise RuntimeError(f"walkthrough step {i} {cmd!r} is not admissible in the full game")
            state, _, _ = env.step(cmd)
    if not state["won"]:
        raise RuntimeError("replaying the walkthrough does not win")
    return {
        "game_id": draft.game_id,
        "split": draft.split,
        "room": f"FloorPlan{draft.scene}",
        "task_type": draft.task.task_type,
        "task": draft.task_text,
        "pddl_params": draft.task.pddl_params(),
        "walkthrough": plan,
        "pddl_problem": draft.pddl_problem,
        "gen_seconds": round(time.perf_counter() - t0, 2),
        "plan_seconds": round(t_plan, 2),
    }


def _child(draft: Draft, queue: Any) -> None:
    try:
        queue.put(("ok", solve_and_verify(draft)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a failed attempt
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def solve_with_timeout(draft: Draft, timeout_s: float) -> tuple[str, Any]:
    """Run :func:`solve_and_verify` in a forked child killed after ``timeout_s`` seconds."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(draft, queue), daemon=True)
    proc.start()
    try:
        status, payload = queue.get(timeout=timeout_s)
    except Exception:  # noqa: BLE001 - queue.Empty: the time box expired
        status, payload = "timeout", f"no plan within {timeout_s:g} s"
    if proc.is_alive():
        proc.kill()
    proc.join()
    # A child killed mid-write may leave the queue's pipe half-used: never wait on it at exit.
    queue.close()
    queue.cancel_join_thread()
    return status, payload


# --------------------------------------------------------------------------------------------- storage


def split_path(out: Path, split: str) -> Path:
    return Path(out) / f"{split}.jsonl.gz"


def generate(out: Path, cfg: GenConfig, log=print) -> dict[str, Any]:
    """Generate the missing games of every split into ``out`` (appending; resumable). Returns stats."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {"ok": 0, "timeout": 0, "error": 0, "skipped_draw": 0, "failed_slots": []}
    # Interleave the splits so that a partial run has games in all of them.
    order = []
    longest = max(cfg.counts.values())
    for slot in range(longest):
        for split in ("eval_unseen", "eval_seen", "train"):
            if slot < cfg.counts.get(split, 0):
                order.append((split, slot))
    done = {split: {g["game_id"].rsplit(split, 1)[-1] for g in read_jsonl_gz(split_path(out, split))}
            for split in SPLITS if split_path(out, split).exists()}
    for split, slot in order:
        if f"{slot:04d}" in done.get(split, set()):
            continue
        record = None
        for attempt in range(cfg.max_attempts):
            draft = draft_game(split, slot, attempt, cfg)
            if draft is None:
                stats["skipped_draw"] += 1
                continue
            status, payload = solve_with_timeout(draft, cfg.timeout_s)
            stats[status] += 1
            if status == "ok":
                record = payload
                break
            log(f"[{time.strftime('%H:%M:%S')}] {split} {slot} attempt {attempt} {draft.game_id}: {status} {payload}")
        if record is None:
            stats["failed_slots"].append(f"{split}:{slot}")
            log(f"[{time.strftime('%H:%M:%S')}] {split} {slot}: FAILED after {cfg.max_attempts} attempts")
            continue
        record["attempt"] = attempt
        with gzip.open(split_path(out, split), "at", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
        log(f"[{time.strftime('%H:%M:%S')}] {split} {slot} ok {record['game_id']} "
            f"{len(record['walkthrough'])} steps, {record['gen_seconds']} s")
    return stats


def compact(out: Path) -> dict[str, Any]:
    """Rewrite each split file as one gzip stream in slot order and write ``manifest.json``; returns it.

    Appending writes one gzip member per game (~4 KB each); one stream compresses the shared PDDL text far
    better. The manifest holds per-split counts by task type and generation statistics taken from the
    records themselves (so they survive interrupted and resumed runs).
    """
    out = Path(out)
    manifest: dict[str, Any] = {"generator": "proxmo_envs.builders.alfworld_games", "splits": {}}
    for split in SPLITS:
        path = split_path(out, split)
        if not path.exists():
            continue
        records = sorted(read_jsonl_gz(path), key=lambda r: r["game_id"].rsplit(split, 1)[-1])
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=9) as fh:
            for rec in records:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")
        tmp.replace(path)
        secs = sorted(r["gen_seconds"] for r in records)
        by_type = {t: sum(r["task_type"] == t for r in records) for t in TASK_TYPES}
        manifest["splits"][split] = {
            "games": len(records),
            "by_type": by_type,
            "rooms": len({r["room"] for r in records}),
            "failed_attempts_before_success": sum(r.get("attempt", 0) for r in records),
            "gen_seconds_median": secs[len(secs) // 2] if secs else None,
            "gen_seconds_max": secs[-1] if secs else None,
            "walkthrough_steps_mean": round(sum(len(r["walkthrough"]) for r in records) / max(len(records), 1), 2),
            "bytes": path.stat().st_size,
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate ALFWorld games (PDDL problems + walkthroughs).")
    p.add_argument("--out", type=Path, required=True, help="output folder (data/alfworld)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=int, default=GenConfig().counts["train"])
    p.add_argument("--eval-seen", type=int, default=GenConfig().counts["eval_seen"])
    p.add_argument("--eval-unseen", type=int, default=GenConfig().counts["eval_unseen"])
    p.add_argument("--timeout", type=float, default=GenConfig().timeout_s, help="seconds per game")
    args = p.parse_args(argv)
    cfg = GenConfig(seed=args.seed, timeout_s=args.timeout,
                    counts={"train": args.train, "eval_seen": args.eval_seen, "eval_unseen": args.eval_unseen})
    engine.modules()  # import once before forking children
    from proxmo_envs.alfworld import speedups

    speedups.enable()  # each game is loaded then reset: the second translation comes from the cache
    t0 = time.time()
    stats = generate(args.out, cfg, log=lambda s: print(s, flush=True))
    stats["wall_seconds"] = round(time.time() - t0, 1)
    print(json.dumps(stats), flush=True)
    print(json.dumps(compact(args.out)), flush=True)
    # the games' translation products, so that a game loads in milliseconds (proxmo_envs/alfworld/products.py)
    from proxmo_envs.alfworld import products

    print(json.dumps(products.write_folder(args.out, log=lambda s: print(s, flush=True))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
