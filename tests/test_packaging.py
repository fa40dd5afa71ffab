"""The built wheel carries the embedded data, and the checkout resolves it through the data/ link."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from proxmo_envs._paths import data_root

REPO = Path(__file__).resolve().parents[1]


def test_data_root_is_the_repository_link_in_a_checkout():
    root = data_root()
    assert root == REPO / "data"
    assert root.resolve() == (REPO / "proxmo_envs" / "data").resolve()
    assert (root / "webshop").is_dir() and (root / "alfworld").is_dir()


@pytest.mark.slow
def test_wheel_ships_every_data_file(tmp_path):
    # --no-build-isolation: the build backend is already installed; no registry access is needed.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(REPO), "-w", str(tmp_path)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("proxmo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"proxmo_envs/data/{p.relative_to(REPO / 'proxmo_envs' / 'data').as_posix()}"
        for p in (REPO / "proxmo_envs" / "data").rglob("*")
        if p.is_file() and p.suffix in {".json", ".gz"}
    }
    assert expected, "no data files found in the checkout"
    assert expected <= names, sorted(expected - names)
    assert "proxmo_envs/webshop/env.py" in names and "proxmo_analysis/credit/proxmo.py" in names
