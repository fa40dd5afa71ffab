"""A damaged ALFWorld download or shipped game file is one error naming the file; a download without some
splits lists the splits it has."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from proxmo_analysis.cli import main
from proxmo_envs.alfworld.games import read_jsonl_gz, shipped_games


def _one_game_copy(alfworld_real_dir, tmp_path):
    """A data_dir holding one real valid_seen game (copied into the test's own temporary folder)."""
    game = next(p.parent for p in sorted((alfworld_real_dir / "json_2.1.1" / "valid_seen").rglob("game.tw-pddl")))
    dest = tmp_path / "data" / "json_2.1.1" / "valid_seen" / game.parent.name / game.name
    shutil.copytree(game, dest)
    return tmp_path / "data", dest


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "traj_data.json").write_text('{"task_type": '), "traj_data.json: not valid JSON"),
    (lambda d: (d / "game.tw-pddl").write_text((d / "game.tw-pddl").read_text()[:-500]), "game.tw-pddl: not valid JSON"),
    (lambda d: (d / "game.tw-pddl").write_text(
        json.dumps({**json.loads((d / "game.tw-pddl").read_text()),
                                  "pddl_problem": "(define (problem x) (:objects"})),
     "game.tw-pddl: its pddl_problem is missing or truncated"),
])
def test_a_damaged_game_is_named(alfworld_real_dir, tmp_path, capsys, damage, message):
    data_dir, game = _one_game_copy(alfworld_real_dir, tmp_path)
    damage(game)
    assert main(["games", "--data-dir", str(data_dir), "--split", "eval_seen"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and game.parent.name in err


def test_a_download_without_train_lists_its_splits(alfworld_real_dir, capsys):
    assert main(["games", "--data-dir", str(alfworld_real_dir), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"eval_seen", "eval_unseen"}
    assert main(["games", "--data-dir", str(alfworld_real_dir), "--split", "train"]) == 2
    assert "has no 'train' split (it has: eval_seen, eval_unseen)" in capsys.readouterr().err


def test_a_damaged_shipped_game_file_fails_naming_the_line(tmp_path):
    from proxmo_envs._paths import data_root

    lines = gzip.open(data_root() / "alfworld" / "eval_unseen.jsonl.gz", "rt").read().splitlines()
    folder = tmp_path / "games"
    folder.mkdir()
    with gzip.open(folder / "eval_unseen.jsonl.gz", "wt") as fh:
        fh.write("\n".join([lines[0], lines[1][: len(lines[1]) // 2], *lines[2:5]]) + "\n")
    with pytest.raises(ValueError, match="eval_unseen.jsonl.gz: line 2 is not valid JSON"):
        shipped_games(str(folder), "eval_unseen")
    # the generator's resume reader still stops quietly at the damage (it rewrites what follows)
    assert len(read_jsonl_gz(folder / "eval_unseen.jsonl.gz")) == 1
