"""The real ALFWorld engine (TextWorld ``PddlEnv`` + alfworld's wrappers), imported lazily and safely.

Two pitfalls of the upstream packages are handled here once, for the env, the generator and the tests:

* ``import alfworld`` runs ``alfworld.info``, which creates ``$ALFWORLD_DATA`` (default
  ``~/.cache/alfworld``). We point ``ALFWORLD_DATA`` at our own (existing) data folder when the user has
  not set it, so nothing is created in the home directory.
* ``fast_downward.pddl2sas`` overwrites ``sys.argv``; :func:`argv_preserved` restores it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

INSTALL_HINT = (
    "the real ALFWorld engine is not installed (alfworld==0.4.2, textworld, fast-downward-textworld); "
    "install it with `pip install alfworld==0.4.2` (it builds fast-downward from source, needs g++ and "
    "cmake) or reinstall proxmo with `make run` / `pip install -e .`"
)

# The six task types of ALFWorld (alfworld.agents.environment.alfred_tw_env.TASK_TYPES), in its order.
TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)


def _set_alfworld_data() -> None:
    # alfworld.info creates $ALFWORLD_DATA: point it at a folder that already exists.
    if "ALFWORLD_DATA" not in os.environ:
        from proxmo_envs._paths import data_root

        try:
            folder = data_root() / "alfworld"
        except FileNotFoundError:
            folder = Path(tempfile.gettempdir())
        os.environ["ALFWORLD_DATA"] = str(folder if folder.is_dir() else Path(tempfile.gettempdir()))


@lru_cache(maxsize=1)
def modules() -> dict[str, Any]:
    """Import the engine once per process; raise one clear ImportError naming the install command."""
    _set_alfworld_data()
    try:
        with argv_preserved():
            import fast_downward  # noqa: F401
            import textworld
            from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
            from textworld.envs import PddlEnv
            import alfworld
            import alfworld.gen.constants as constants
            import alfworld.gen.goal_library as goal_library
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(f"{INSTALL_HINT} (import failed: {exc})") from exc
    return {
        "textworld": textworld,
        "PddlEnv": PddlEnv,
        "AlfredDemangler": AlfredDemangler,
        "AlfredInfos": AlfredInfos,
        "constants": constants,
        "goal_library": goal_library,
        "package_dir": Path(alfworld.__file__).resolve().parent,
    }


@contextlib.contextmanager
def argv_preserved() -> Iterator[None]:
    """Restore ``sys.argv`` after code that overwrites it (fast_downward.pddl2sas does)."""
    saved = list(sys.argv)
    try:
        yield
    finally:
        sys.argv[:] = saved


@lru_cache(maxsize=1)
def pddl_domain() -> str:
    """The PDDL domain shipped with the installed alfworld (``alfworld/data/alfred.pddl``)."""
    return (modules()["package_dir"] / "data" / "alfred.pddl").read_text()


@lru_cache(maxsize=1)
def grammar_template() -> str:
    """The text grammar shipped with alfworld; its task line is the literal ``UNKNOWN GOAL``."""
    return (modules()["package_dir"] / "data" / "alfred.twl2").read_text()


def grammar_for(task_text: str) -> str:
    """The grammar of one game: alfworld's grammar with the goal text in the task line."""
    return grammar_template().replace("UNKNOWN GOAL", task_text)


def layouts_dir() -> Path:
    """The 120 AI2-THOR room layouts shipped with alfworld (``FloorPlan*-objects.json`` etc.)."""
    return modules()["package_dir"] / "gen" / "layouts"


def make_textworld_env(extras: tuple[str, ...] = ("gamefile",), policy_commands: bool = False,
                       cached: bool = False):
    """A fresh ``PddlEnv`` wrapped by ``AlfredDemangler`` and ``AlfredInfos``, as ALFWorld plays games.

    ``extras=("walkthrough", ...)`` makes the first reset of a game without a stored walkthrough ask the
    planner for a whole plan once (the generator uses that). ``cached=True`` uses
    :class:`~proxmo_envs.alfworld.transitions.CachedPddlEnv` (same transcripts, states' text cached).
    """
    m = modules()
    infos = m["textworld"].EnvInfos(
        won=True, admissible_commands=True, extras=list(extras), policy_commands=policy_commands
    )
    if cached:
        from proxmo_envs.alfworld.transitions import cached_pddl_env_class

        cls = cached_pddl_env_class(m)
    else:
        cls = m["PddlEnv"]
    with argv_preserved():
        env = cls(infos)
    return m["AlfredInfos"](m["AlfredDemangler"](env))


def game_dict(pddl_problem: str, task_text: str, walkthrough: list[str] | None = None) -> dict[str, Any]:
    """The dict ``{pddl_domain, grammar, pddl_problem[, walkthrough]}`` that ``PddlEnv.load`` accepts."""
    game: dict[str, Any] = {
        "pddl_domain": pddl_domain(),
        "grammar": grammar_for(task_text),
        "pddl_problem": pddl_problem,
    }
    if walkthrough is not None:
        game["walkthrough"] = list(walkthrough)
        game["solvable"] = True
    return game
