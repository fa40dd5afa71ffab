"""``benchmarks/compare_methods.py`` at its smoke size: every method of a seed branches from one shared start."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_methods.py"


@pytest.fixture(scope="module")
def compare_methods():
    spec = importlib.util.spec_from_file_location("compare_methods", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_methods"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("compare_methods", None)


def test_quick_webshop_table_from_a_shared_start(compare_methods, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert compare_methods.main(["--quick", "--envs", "webshop", "--methods", "grpo", "proxmo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "shared start" in printed and "GRPO" in printed and "ProxMO" in printed
    with open(out / "summary.csv") as fh:
        summary = list(csv.DictReader(fh))
    assert [r["method"] for r in summary] == ["grpo", "proxmo"]
    runs = json.loads((out / "summary.json").read_text())["runs"]
    # both methods start from the same evaluation 0, which was computed once, in the start folder
    assert runs[0]["untrained_success"] == runs[1]["untrained_success"]
    start = out / "webshop" / "start" / "seed0"
    assert (start / "checkpoints" / "last.pt").is_file()
    for method in ("grpo", "proxmo"):
        config = json.loads((out / "webshop" / method / "seed0" / "config.json").read_text())
        assert config["init_from"] == str(start) and config["method"] == method
    assert (out / "compare_methods.png").stat().st_size > 5000
    # a second call resumes every finished run instead of training again
    checkpoint = out / "webshop" / "grpo" / "seed0" / "checkpoints" / "last.pt"
    before = checkpoint.stat().st_mtime_ns
    assert compare_methods.main(["--quick", "--envs", "webshop", "--methods", "grpo", "--out", str(out)]) == 0
    assert checkpoint.stat().st_mtime_ns == before


def test_help_lists_the_budgets(compare_methods, capsys):
    with pytest.raises(SystemExit):
        compare_methods.main(["--help"])
    out = capsys.readouterr().out
    webshop = compare_methods.FULL["webshop"]
    assert (f"default webshop: seeds={webshop.seeds}, iterations={webshop.iterations}, tasks={webshop.tasks}, "
            f"group_size={webshop.group_size}") in out
    assert "--quick alfworld: seeds=(0,), iterations=2" in out
