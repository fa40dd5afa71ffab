"""Tests that need ../shared skip for a user without it, but FAIL under CI's ``PROXMO_REQUIRE_SHARED=1``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ONE_SHARED_TEST = f"{TESTS / 'test_credit_reference.py'}::test_reference_vectors"


def _run(tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "PROXMO_REQUIRE_SHARED"}
    environ.update(PROXMO_SHARED=str(tmp_path / "no-shared"), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", ONE_SHARED_TEST],
                          env=environ, capture_output=True, text=True, cwd=TESTS.parent, timeout=300)


def test_without_shared_a_user_run_skips_with_the_reason(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "skipped" in done.stdout and "../shared is absent" in done.stdout and "failed" not in done.stdout


def test_without_shared_ci_fails(tmp_path):
    done = _run(tmp_path, PROXMO_REQUIRE_SHARED="1")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "skipped" not in done.stdout and "PROXMO_REQUIRE_SHARED=1 (CI) but ../shared is absent" in done.stdout


def test_ci_script_requires_shared():
    lines = (TESTS.parent / ".ci" / "run").read_text().splitlines()
    exported = lines.index("export PROXMO_REQUIRE_SHARED=1")
    assert exported < lines.index("make test")


@pytest.mark.parametrize("name", ["webshop_real_dir", "alfworld_real_dir", "reference_vectors_dir"])
def test_every_shared_fixture_goes_through_the_same_rule(name):
    import conftest

    source = Path(conftest.__file__).read_text()
    body = source.split(f"def {name}(", 1)[1].split("\n\n", 1)[0]
    assert "shared_absent(" in body and "pytest.skip(" not in body


def test_a_hang_in_an_isolated_test_is_a_failure_not_an_xfail(tmp_path):
    # the node-loss Ray test runs through run_isolated: this is what it does when the inner test never ends
    from isolated import run_isolated

    hang = tmp_path / "test_hang.py"
    hang.write_text("import time\n\ndef test_hang():\n    time.sleep(600)\n")
    with pytest.raises(pytest.fail.Exception, match="the inner test hung for 5 s"):
        run_isolated(str(hang), 5, "the inner test")
    ok = tmp_path / "test_ok.py"
    ok.write_text("def test_ok():\n    pass\n")
    assert "1 passed" in run_isolated(str(ok), 120, "the inner test")
