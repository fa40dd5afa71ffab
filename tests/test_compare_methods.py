"""``benchmarks/compare_methods.py`` at its smoke size: every method of a seed branches from one shared start."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def compare_methods():
    yield load_benchmark("compare_methods")
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
    assert runs[0]["start_success"] == runs[1]["start_success"]
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
    # one reward and the scorer's memory for every method, recorded in each run's config
    for method in ("grpo", "proxmo"):
        config = json.loads((out / "webshop" / method / "seed0" / "config.json").read_text())
        assert config["reward"] == "won" and config["policy_config"] == {"history": 2}

    # the results JSON: schema of issue 14, a CI and a verdict for the pair, the start labelled honestly
    report = load_benchmark("compare_report")
    results = report.build([out], {})
    ws = results["webshop"]
    assert ws["seeds"] == [0] and ws["reward"] == "won" and ws["eval_tasks"] == 10
    assert ws["episodes_per_run"] == 2 * 4 * 4
    assert ws["start"]["start_policy"]["label"] == "untrained"  # no warm start: truly untrained
    for m in ("grpo", "proxmo"):
        v = ws["methods"][m]
        assert v["success_ci"][0] <= v["success_mean"] <= v["success_ci"][1]
        assert v["score_ci"][0] <= v["score_mean"] <= v["score_ci"][1]
    (pair,) = ws["pairs"]
    assert (pair["a"], pair["b"]) == ("proxmo", "grpo")
    assert pair["verdict"] in ("supported", "contradicted", "undecided")
    lo, hi = pair["success_diff_ci"]
    assert lo <= pair["success_diff"] <= hi
    want = ws["methods"]["proxmo"]["success_mean"] - ws["methods"]["grpo"]["success_mean"]
    assert abs(pair["success_diff"] - want) < 1e-12

    # learning curves: evaluation 0 is the shared start, then every evaluation, and training success per iteration
    curve = ws["curves"]["grpo"]
    assert list(curve["eval"]) == ["0", "2"] and len(curve["train"]) == 2
    assert curve["eval"]["0"] == ws["start"]["start_policy"]["success_mean"]
    assert curve["eval"]["2"] == ws["methods"]["grpo"]["success_mean"]

    # the memory arm: the same method and budget with the memoryless scorer, paired against the table's runs
    mem = tmp_path / "memoryless"
    assert compare_methods.main(["--quick", "--envs", "webshop", "--methods", "proxmo", "--history", "0",
                                 "--out", str(mem)]) == 0
    (rec,) = report.build([out], {}, [mem])["webshop"]["memory"]
    assert rec["method"] == "proxmo" and rec["seeds"] == [0] and rec["history"] == {"with": 2, "without": 0}
    assert rec["with"]["success_mean"] == ws["methods"]["proxmo"]["success_mean"]
    assert abs(rec["success_diff"] - (rec["with"]["success_mean"] - rec["without"]["success_mean"])) < 1e-12
    assert rec["verdict"] in ("supported", "contradicted", "undecided")
    # RL's gain over each arm's own start, paired task by task
    assert rec["start_with"]["success_mean"] == ws["start"]["start_policy"]["success_mean"]
    assert abs(rec["gain_with"] - (rec["with"]["success_mean"] - rec["start_with"]["success_mean"])) < 1e-12
    assert abs(rec["gain_diff"] - (rec["gain_with"] - rec["gain_without"])) < 1e-12
    with pytest.raises(ValueError, match="policy_config"):  # the table's own runs are no memory arm
        report.build([out], {}, [out])

    # a comparison refuses to mix rewards: another reward for one method of the env is one clear error
    cfg_path = out / "webshop" / "grpo" / "seed0" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "reward": "env"}))
    with pytest.raises(ValueError, match="differ in reward"):
        report.build([out], {})
    assert report.main([str(out), "--out", str(tmp_path / "x.json")]) == 1
    assert not (tmp_path / "x.json").exists()


def test_help_lists_the_budgets(compare_methods, capsys):
    with pytest.raises(SystemExit):
        compare_methods.main(["--help"])
    out = capsys.readouterr().out
    webshop = compare_methods.FULL["webshop"]
    assert (f"default webshop: seeds={webshop.seeds}, iterations={webshop.iterations}, tasks={webshop.tasks}, "
            f"group_size={webshop.group_size}") in out
    assert "--quick alfworld: seeds=(0,), iterations=2" in out
