"""Where the embedded data lives, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path


def data_root() -> Path:
    """The folder holding the shipped data (``webshop/``, ``alfworld/``): ``proxmo_envs/data``.

    A source checkout also shows it as the top-level ``data/`` (a link), which is returned first so that
    scripts can take its parent as the repository root.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "data"
    if not packaged.is_dir():
        raise FileNotFoundError(
            f"proxmo's embedded data folder {packaged} is missing; reinstall the package or pass an explicit "
            "data folder"
        )
    # Only the repository's own link counts: in site-packages a stray top-level data/ may be someone else's.
    link = here.parent / "data"
    if link.is_symlink() and link.resolve() == packaged:
        return link
    return packaged
