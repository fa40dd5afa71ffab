"""docs/speed.md quotes the committed ALFWorld speed result and the caches' real settings."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "speed.md"
RESULT = ROOT / "benchmarks" / "results" / "alfworld_speed.json"


def _benchmark():
    return load_benchmark("alfworld_speed")


def test_speed_doc_quotes_the_committed_result_table():
    result = json.loads(RESULT.read_text())
    text = DOC.read_text()
    for line in _benchmark().summary(result):
        assert line.rstrip() in text, f"docs/speed.md lacks the benchmark line {line!r} (re-copy the table)"


def test_speed_doc_headline_figures_match_the_result():
    result = json.loads(RESULT.read_text())
    g = result["group_rollouts"]
    text = DOC.read_text()
    assert f"{g['step_ratio_cpu']:.1f}x" in text and f"{g['step_ratio_wall']:.1f}x" in text
    assert f"{g['steps_compared']} steps" in text
    loads = result["new_game_loads"]
    for arm in ("untouched", "fast_computed", "fast_shipped"):
        assert f"{loads[arm]['cpu_median']:.3f} s" in text, f"docs/speed.md lacks the {arm} load median"
    t = result["train_iteration"]
    assert not t["arms_concurrent"]
    assert f"{t['iteration_ratio']:.1f}x" in text and f"{t['process_cpu_ratio']:.1f}x" in text
    m = result["memory"]
    assert f"{m['peak_rss_mb']:.0f} MB" in text and f"{m['iterations']} iterations" in text
    growth = [line for line in _benchmark().summary(result) if "RSS growth once the state cache was full" in line]
    assert growth, "the memory part's summary should state the growth rate"
    rate = growth[0].rsplit(": ", 1)[1]  # e.g. "5.7 MB per iteration"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert rate.removesuffix(" iteration") in readme and rate in " ".join(text.split())


def test_speed_doc_states_the_shipped_products_size():
    from proxmo_envs._paths import data_root
    from proxmo_envs.alfworld import products
    from proxmo_envs.alfworld.games import SPLITS

    size = sum(products.products_path(data_root() / "alfworld", s).stat().st_size for s in SPLITS)
    assert f"{size / 1e6:.1f} MB for the 444 shipped games" in " ".join(DOC.read_text().split())


def test_speed_doc_states_the_cache_settings_and_defaults():
    from proxmo_envs.alfworld import diskcache, speedups, transitions

    text = DOC.read_text()
    assert f"`{transitions.ENV_MAX_STATES}`" in text
    assert f"{transitions.DEFAULT_MAX_STATES} states" in text
    assert f"`{diskcache.ENV_DIR}`" in text
    assert "~/.cache/proxmo/alfworld" in text
    assert f"{speedups.PDDL2SAS_CACHE_SIZE} translations" in text
