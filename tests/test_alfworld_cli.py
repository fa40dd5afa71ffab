"""``proxmo games``: per-task-type counts per split, from the shipped set or a downloaded dataset."""

from __future__ import annotations

import collections
import json

from proxmo_analysis.cli import main
from proxmo_envs.alfworld.engine import TASK_TYPES
from proxmo_envs.alfworld.games import load_games


def test_games_json_matches_the_game_sets(capsys):
    assert main(["games", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["train", "eval_seen", "eval_unseen"]
    for split, summary in out.items():
        games = load_games(split)
        counts = collections.Counter(g.task_type for g in games)
        assert summary["games"] == len(games)
        assert summary["by_type"] == {t: counts[t] for t in TASK_TYPES}
        assert summary["rooms"] == len({g.room for g in games})
    assert out["eval_unseen"]["rooms"] == 4


def test_games_table_for_one_split(capsys):
    assert main(["games", "--split", "eval_seen"]) == 0
    text = capsys.readouterr().out
    n = len(load_games("eval_seen"))
    assert "eval_seen" in text and "train" not in text.splitlines()[0]
    assert text.splitlines()[-3].split()[-1] == str(n)  # the "total" row
    for t in TASK_TYPES:
        assert t in text


def test_games_on_a_downloaded_dataset(capsys, alfworld_real_dir):
    assert main(["games", "--split", "eval_unseen", "--data-dir", str(alfworld_real_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["eval_unseen"]["by_type"] == {t: 1 for t in TASK_TYPES}


def test_games_bad_data_dir_is_one_clear_error(capsys, tmp_path):
    assert main(["games", "--data-dir", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
