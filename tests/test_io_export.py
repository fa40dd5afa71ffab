"""``proxmo export``: generic JSONL (and back with ``proxmo import jsonl``: identical rows)."""

from __future__ import annotations

import json

from proxmo_analysis.cli import main
from proxmo_analysis.logs import read_log
from proxmo_envs.trajlog.schema import REQUIRED_COLUMNS


def _rows(run):
    return read_log(run).select(list(REQUIRED_COLUMNS)).sort("episode_id", "step")


def test_jsonl_round_trip_gives_identical_rows(tmp_path, capsys, mixed_webshop_run, mixed_alfworld_run):
    for run in (mixed_webshop_run, mixed_alfworld_run):
        dest = tmp_path / f"{run.name}.jsonl"
        assert main(["export", "jsonl", str(run), "--out", str(dest)]) == 0
        rows = _rows(run)
        assert f"exported {rows.height} steps" in capsys.readouterr().out
        first = json.loads(dest.read_text().splitlines()[0])
        assert list(first) == list(REQUIRED_COLUMNS)
        assert main(["import", "jsonl", str(dest), "--out", str(tmp_path / f"{run.name}-back")]) == 0
        back = _rows(tmp_path / f"{run.name}-back")
        assert back.equals(rows), run.name
        manifest = json.loads((tmp_path / f"{run.name}-back" / "manifest.json").read_text())
        assert manifest["env_id"] == rows["env_id"][0] and manifest["imported_from"]["format"] == "jsonl"
    # an existing destination is refused, nothing overwritten
    before = dest.read_bytes()
    assert main(["export", "jsonl", str(mixed_alfworld_run), "--out", str(dest)]) == 2
    assert "already exists" in capsys.readouterr().err and dest.read_bytes() == before


def test_hf_datasets_export_reads_back_and_round_trips(tmp_path, capsys, mixed_webshop_run):
    datasets = __import__("pytest").importorskip("datasets")
    dest = tmp_path / "hf"
    assert main(["export", "hf", str(mixed_webshop_run), "--out", str(dest)]) == 0
    rows = _rows(mixed_webshop_run)
    dd = datasets.load_from_disk(str(dest))
    assert list(dd) == ["train"] and dd["train"].num_rows == rows.height
    assert dd["train"].column_names == list(REQUIRED_COLUMNS)
    card = (dest / "README.md").read_text()
    manifest = json.loads((mixed_webshop_run / "manifest.json").read_text())
    assert "| environment | `proxmo/WebShop-v0` |" in card and '"class": "io_fixtures.NoisyOracle"' in card
    assert json.dumps(manifest["seeds"], sort_keys=True).replace("|", "\\|") in card and "**Reward.**" in card
    assert f"| size | {rows.height} steps, 8 episodes, 2 task groups |" in card
    assert main(["import", "hf", str(dest), "--out", str(tmp_path / "back")]) == 0
    assert _rows(tmp_path / "back").equals(rows)
    capsys.readouterr()


def test_minari_export_reads_back_and_round_trips(tmp_path, capsys, mixed_alfworld_run, monkeypatch):
    minari = __import__("pytest").importorskip("minari")
    dest = tmp_path / "minari"
    assert main(["export", "minari", str(mixed_alfworld_run), "--out", str(dest)]) == 0
    rows = _rows(mixed_alfworld_run)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dest))
    ds = minari.load_dataset("proxmo/alfworld-v0")
    assert ds.total_episodes == rows["episode_id"].n_unique() and ds.total_steps == rows.height
    meta = list(ds.storage.get_episode_metadata(range(ds.total_episodes)))
    ep = next(iter(ds.iterate_episodes()))
    first = rows.filter(rows["episode_id"] == meta[0]["options"]["episode_id"]).sort("step")
    assert meta[0]["options"]["group_id"] == first["group_id"][0]
    assert meta[0]["options"]["rollout_index"] == first["rollout_index"][0]
    assert list(ep.observations) == first["observation"].to_list() + [""]
    assert list(ep.actions) == first["action"].to_list()
    assert sorted(ep.infos) == ["admissible_actions", "behavior_logprob", "invalid_action"]
    assert json.loads(ep.infos["admissible_actions"][0]) == first["admissible_actions"][0].to_list()
    monkeypatch.delenv("MINARI_DATASETS_PATH")
    assert main(["import", "minari", str(dest), "--out", str(tmp_path / "back")]) == 0
    assert _rows(tmp_path / "back").equals(rows)
    capsys.readouterr()


def test_force_replaces_an_earlier_export_only(tmp_path, capsys, mixed_webshop_run, mixed_alfworld_run):
    """``--force`` swaps in the new export once it is complete; it never deletes what is not an export."""
    pytest = __import__("pytest")
    pytest.importorskip("datasets")
    dest = tmp_path / "steps.jsonl"
    assert main(["export", "jsonl", str(mixed_webshop_run), "--out", str(dest)]) == 0
    assert main(["export", "jsonl", str(mixed_alfworld_run), "--out", str(dest), "--force"]) == 0
    assert len(dest.read_text().splitlines()) == _rows(mixed_alfworld_run).height
    hf = tmp_path / "hf"
    assert main(["export", "hf", str(mixed_webshop_run), "--out", str(hf)]) == 0
    assert main(["export", "hf", str(mixed_alfworld_run), "--out", str(hf), "--force"]) == 0
    assert main(["import", "hf", str(hf), "--out", str(tmp_path / "back")]) == 0
    assert _rows(tmp_path / "back").equals(_rows(mixed_alfworld_run))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back", "hf", "steps.jsonl"]  # no .tmp-/.old- left
    capsys.readouterr()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    for fmt, out, message in [("hf", other, "holds files but is not a Hugging Face DatasetDict folder"),
                              ("hf", dest, "is a file, not a Hugging Face DatasetDict folder"),
                              ("jsonl", other, "is a folder, not a JSONL file")]:
        assert main(["export", fmt, str(mixed_webshop_run), "--out", str(out), "--force"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert (other / "mine.txt").read_text() == "keep"


def test_force_replaces_an_earlier_minari_root(tmp_path, capsys, mixed_webshop_run, mixed_alfworld_run):
    __import__("pytest").importorskip("minari")
    dest = tmp_path / "minari"
    assert main(["export", "minari", str(mixed_webshop_run), "--out", str(dest)]) == 0
    assert main(["export", "minari", str(mixed_alfworld_run), "--out", str(dest)]) == 2
    assert "already exists; choose another --out or add --force" in capsys.readouterr().err
    assert main(["export", "minari", str(mixed_alfworld_run), "--out", str(dest), "--force"]) == 0
    assert main(["import", "minari", str(dest), "--out", str(tmp_path / "back")]) == 0
    assert _rows(tmp_path / "back").equals(_rows(mixed_alfworld_run))
