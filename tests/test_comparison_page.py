"""docs/comparison.md is generated from benchmarks/results/compare_methods.json and agrees with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "compare_methods.json"
PAIRS = [("proxmo", "grpo"), ("proxmo", "gigpo_wo_std"), ("gigpo_wo_std", "grpo"), ("proxmo", "proxmo_wo_psc"),
         ("proxmo", "proxmo_wo_psa")]


def _page_module():
    return load_benchmark("comparison_page")


def test_page_is_the_rendering_of_the_committed_results():
    page = _page_module()
    results = json.loads(RESULTS.read_text())
    assert (ROOT / "docs" / "comparison.md").read_text() == page.render(results), (
        "docs/comparison.md differs from the JSON: run python benchmarks/comparison_page.py")
    assert (ROOT / "docs" / "comparison.png").stat().st_size > 10_000


def test_readme_block_is_the_rendering_of_the_committed_results():
    """The README's comparison block (verdicts, every pair per env, group sizes) says what the JSON says."""
    page = _page_module()
    results = json.loads(RESULTS.read_text())
    readme = (ROOT / "README.md").read_text()
    assert readme == page.readme_with_block(readme, results), (
        "README.md's comparison block differs from the JSON: run python benchmarks/comparison_page.py")
    block = page.readme_block(results)
    for env, rep in results.items():
        for p in rep.get("pairs", []):
            assert f"{p['success_diff']:+.3f} " in block and p["verdict"] in block, (env, p)
    if results.get("alfworld", {}).get("group_sizes"):
        assert "(paper)" in block and "rows in singletons" in block


def test_readme_block_needs_its_markers(tmp_path):
    page = _page_module()
    results = json.loads(RESULTS.read_text())
    with pytest.raises(ValueError, match="markers"):
        page.readme_with_block("# a README without the block\n", results)
    # through the script: one line, and neither the page nor the figure is written
    readme = tmp_path / "README.md"
    readme.write_text("# a README without the block\n")
    with pytest.raises(SystemExit, match=r"README.md: must hold the markers"):
        page.main(["--readme", str(readme), "--page", str(tmp_path / "p.md"), "--figure", str(tmp_path / "f.png")])
    assert not (tmp_path / "p.md").exists() and not (tmp_path / "f.png").exists()


def test_results_have_the_issue_schema_and_consistent_verdicts():
    results = json.loads(RESULTS.read_text())
    assert "webshop" in results and results["webshop"].get("status") != "not finished"
    for env, rep in results.items():
        if rep.get("status") == "not finished":
            assert rep["finished_runs"] <= rep["started_runs"]
            continue
        for key in ("seeds", "reward", "episodes_per_run", "eval_tasks", "start", "methods", "pairs"):
            assert key in rep, (env, key)
        assert rep["reward"] in ("won", "env")
        for m, v in rep["methods"].items():
            assert v["success_ci"][0] <= v["success_mean"] <= v["success_ci"][1], (env, m)
            assert abs(sum(v["per_seed_success"]) / len(v["per_seed_success"]) - v["success_mean"]) < 1e-9
        pairs_possible = [(a, b) for a, b in PAIRS if a in rep["methods"] and b in rep["methods"]]
        assert [(p["a"], p["b"]) for p in rep["pairs"]] == pairs_possible
        for p in rep["pairs"]:
            lo, hi = p["success_diff_ci"]
            want = "supported" if lo > 0 else "contradicted" if hi < 0 else "undecided"
            assert p["verdict"] == want, (env, p)
            diff = rep["methods"][p["a"]]["success_mean"] - rep["methods"][p["b"]]["success_mean"]
            assert abs(p["success_diff"] - diff) < 1e-9
        if rep["start"]["start_policy"]["label"] == "untrained":
            assert rep["budget"]["warm_start_games"] == 0
    if "methods" in results.get("alfworld", {}):
        assert results["alfworld"]["group_sizes"]
        for g in results["alfworld"]["group_sizes"].values():
            assert abs(g["1"] + g["2"] + g["3"] + g[">3"] - 100.0) < 1e-6
