"""Shared fixtures: where ../shared is, and skips when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROXMO_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}); tests on real data and reference vectors skip")
    return SHARED


@pytest.fixture(scope="session")
def webshop_real_dir(shared_dir: Path) -> Path:
    d = shared_dir / "webshop_real"
    if not d.is_dir():
        pytest.skip(f"real WebShop sample absent ({d})")
    return d


@pytest.fixture(scope="session")
def alfworld_real_dir(shared_dir: Path) -> Path:
    d = shared_dir / "alfworld_real"
    if not d.is_dir():
        pytest.skip(f"real ALFWorld games absent ({d})")
    return d


@pytest.fixture(scope="session")
def reference_vectors_dir(shared_dir: Path) -> Path:
    d = shared_dir / "vectors" / "reference"
    if not d.is_dir():
        pytest.skip(f"reference vectors absent ({d})")
    return d


def _small_rollout(out: Path, env: str, max_steps: int, policy: str) -> Path:
    """A small real run (2 tasks x 4 episodes, wins and losses) of ``env``, for the import/export/show tests."""
    from proxmo_analysis.cli import main

    assert main(["rollout", "--env", env, "--tasks", "2", "--group-size", "4", "--policy", policy,
                 "--max-steps", str(max_steps), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="session")
def webshop_run(tmp_path_factory) -> Path:
    return _small_rollout(tmp_path_factory.mktemp("runs") / "webshop", "proxmo/WebShop-v0", 8, "io_fixtures:NoisyOracle")


@pytest.fixture(scope="session")
def alfworld_run(tmp_path_factory) -> Path:
    return _small_rollout(tmp_path_factory.mktemp("runs") / "alfworld", "proxmo/ALFWorld-v0", 8,
                         "proxmo_envs.rollout.policies:NoisyWalkthroughPolicy")
