"""Shared fixtures: where ../shared is, and what happens when it is absent.

A user's ``make test`` without ../shared skips the tests on real data and reference vectors, saying why.
CI sets ``PROXMO_REQUIRE_SHARED=1`` (``.ci/run``): there a missing ../shared FAILS those tests, because
checking against that data is what CI exists for, and a silent skip would pass a broken check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Ray's metrics agent is of no use to a test, and on a loaded machine the raylet can time out waiting for its
# port and fail to start ("Timed out waiting for file .../metrics_agent_port_*"): the Ray tests (and the Ray
# CLI runs they start as subprocesses, which inherit this) run without it.
os.environ.setdefault("RAY_enable_metrics_collection", "0")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROXMO_SHARED", REPO.parent / "shared"))


def shared_absent(reason: str) -> None:
    """Skip with ``reason`` - or fail, when ``PROXMO_REQUIRE_SHARED=1`` (CI)."""
    if os.environ.get("PROXMO_REQUIRE_SHARED") == "1":
        pytest.fail(f"PROXMO_REQUIRE_SHARED=1 (CI) but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        shared_absent(f"../shared is absent ({SHARED}); tests on real data and reference vectors skip")
    return SHARED


@pytest.fixture(scope="session")
def webshop_real_dir(shared_dir: Path) -> Path:
    d = shared_dir / "webshop_real"
    if not d.is_dir():
        shared_absent(f"real WebShop sample absent ({d})")
    return d


@pytest.fixture(scope="session")
def alfworld_real_dir(shared_dir: Path) -> Path:
    d = shared_dir / "alfworld_real"
    if not d.is_dir():
        shared_absent(f"real ALFWorld games absent ({d})")
    return d


@pytest.fixture(scope="session")
def reference_vectors_dir(shared_dir: Path) -> Path:
    d = shared_dir / "vectors" / "reference"
    if not d.is_dir():
        shared_absent(f"reference vectors absent ({d})")
    return d


def _small_rollout(out: Path, env: str, max_steps: int, policy: str) -> Path:
    """A small real run (2 tasks x 4 episodes, wins and losses) of ``env``, for the import/export/show tests."""
    from proxmo_analysis.cli import main

    assert main(["rollout", "--env", env, "--tasks", "2", "--group-size", "4", "--policy", policy,
                 "--max-steps", str(max_steps), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="session")
def mixed_webshop_run(tmp_path_factory) -> Path:
    return _small_rollout(tmp_path_factory.mktemp("runs") / "webshop", "proxmo/WebShop-v0", 8, "io_fixtures:NoisyOracle")


@pytest.fixture(scope="session")
def mixed_alfworld_run(tmp_path_factory) -> Path:
    return _small_rollout(tmp_path_factory.mktemp("runs") / "alfworld", "proxmo/ALFWorld-v0", 8,
                         "proxmo_envs.rollout.policies:NoisyWalkthroughPolicy")
