"""The licence the package declares is the one it ships, and the credits name what is reproduced."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_license_file_matches_pyproject():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]["text"]
    text = (REPO / "LICENSE").read_text()
    assert declared == "MIT" and text.startswith("MIT License") and "Permission is hereby granted" in text


def test_credits_name_each_reproduced_piece_and_the_reward_commit():
    credits = (REPO / "CREDITS.md").read_text()
    for piece in ("WebShop", "normalize.py", "(.+)\\[(.+)\\]", "goal.py", "ALFWorld", "TextWorld", "verl-agent",
                  "d149d0d7a5219c1ea4e60c80f2364a15eb324d7b"):
        assert piece in credits, piece
    # the reproduced pieces are where the credits say
    assert '_ACTION = re.compile(r"(.+)\\[(.+)\\]")' in (REPO / "proxmo_envs/webshop/engine.py").read_text()
    assert "COLOR_SET" in (REPO / "proxmo_envs/webshop/normalize.py").read_text()
