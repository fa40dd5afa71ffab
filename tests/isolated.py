"""Run one test in its own pytest process with a time limit: a hang there FAILS the caller (naming what hung
and the last output), it is never an expected failure; the caller's suite goes on either way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest


def run_isolated(test_id: str, timeout: float, what: str, env: dict | None = None) -> str:
    """``pytest test_id`` in a new session; its output. ``pytest.fail`` if it runs past ``timeout`` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_id],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, cwd=os.path.dirname(os.path.abspath(__file__)),
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{what} hung for {timeout:g} s; last output: {(output or '')[-2000:]}", pytrace=False)
    return output
