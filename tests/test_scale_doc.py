"""docs/scale.md states the streaming benchmark's numbers as benchmarks/results/credit_stream.json has them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "credit_stream.json"
PAGE = ROOT / "docs" / "scale.md"


def stream_scale():
    return load_benchmark("stream_scale")


def test_the_page_shows_the_measured_table():
    result = json.loads(RESULT.read_text())
    assert stream_scale().markdown_table(result) in PAGE.read_text()


def test_the_page_quotes_the_json():
    """Every ``{figure}`` the prose quotes (``<!-- json:path -->figure``) is the JSON's value at that path."""
    result = json.loads(RESULT.read_text())
    quotes = re.findall(r"<!-- json:(.+?) -->([0-9.,]+[0-9])", PAGE.read_text())
    assert quotes, "the page quotes no figure from the JSON"
    for path, shown in quotes:
        value = result
        for key in path.split("/"):
            value = value[int(key)] if isinstance(value, list) else value[key]
        digits = len(shown.split(".")[1]) if "." in shown else 0
        assert shown.replace(",", "") == f"{float(value):.{digits}f}", path


def test_only_refuses_an_arm_that_does_not_exist(tmp_path, capsys):
    # arm names hold commas ("score, 2 workers"): --only is ';'-separated, and a name matching no arm is an
    # error instead of a benchmark that silently measures nothing
    with pytest.raises(SystemExit, match="names no arm"):
        stream_scale().main(["--sizes", "2000", "--workers", "1", "--data-dir", str(tmp_path / "d"),
                             "--out", str(tmp_path / "r.json"), "--only", "score, 1 worker;score 2 workers"])
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "d").exists()  # refused before any build
