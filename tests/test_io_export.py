"""``proxmo export``: generic JSONL (and back with ``proxmo import jsonl``: identical rows)."""

from __future__ import annotations

import json

from proxmo_analysis.cli import main
from proxmo_analysis.logs import read_log
from proxmo_envs.trajlog.schema import REQUIRED_COLUMNS


def _rows(run):
    return read_log(run).select(list(REQUIRED_COLUMNS)).sort("episode_id", "step")


def test_jsonl_round_trip_gives_identical_rows(tmp_path, capsys, webshop_run, alfworld_run):
    for run in (webshop_run, alfworld_run):
        dest = tmp_path / f"{run.name}.jsonl"
        assert main(["export", "jsonl", str(run), "--out", str(dest)]) == 0
        rows = _rows(run)
        assert f"exported {rows.height} steps" in capsys.readouterr().out
        first = json.loads(dest.read_text().splitlines()[0])
        assert list(first) == list(REQUIRED_COLUMNS)
        assert main(["import", "jsonl", str(dest), "--out", str(tmp_path / f"{run.name}-back")]) == 0
        back = _rows(tmp_path / f"{run.name}-back")
        assert back.equals(rows), run.name
    # an existing destination is refused, nothing overwritten
    before = dest.read_bytes()
    assert main(["export", "jsonl", str(alfworld_run), "--out", str(dest)]) == 2
    assert "already exists" in capsys.readouterr().err and dest.read_bytes() == before
