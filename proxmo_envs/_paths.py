"""Where the embedded data lives, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path


def data_root() -> Path:
    """The folder holding the shipped data (``webshop/``, ``alfworld/``).

    In a checkout (and an editable install) that is the repository's top-level ``data/``; in a wheel the
    same files are installed as ``proxmo_envs/data`` (see ``pyproject.toml``).
    """
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "data", here / "data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"proxmo's embedded data folder was not found (looked in {here.parent / 'data'} and {here / 'data'}); "
        "reinstall the package or pass an explicit data folder"
    )
