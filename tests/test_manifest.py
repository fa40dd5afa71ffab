"""The typed run manifest: what ``rollout`` writes reads back as a ``Manifest``, its ``proxmo.run`` view is
what every part carries, unknown keys survive a rewrite, and its ``command`` re-creates the run."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.logs import read_log
from proxmo_envs.rollout import rollout
from proxmo_envs.trajlog.manifest import Manifest, read_manifest_data

WEBSHOP = "proxmo/WebShop-v0"


def test_rollout_manifest_is_typed_and_recreates_the_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    rollout(WEBSHOP, {"split": "test"}, "random", tasks=2, group_size=2, out=out, seed=7, max_steps=3)
    m = Manifest.read(out)
    assert (m.env_id, m.group_size, m.seed, m.max_steps, m.status) == (WEBSHOP, 2, 7, 3, "complete")
    assert m.env_kwargs == {"split": "test"} and len(m.tasks) == 2 and m.sessions[-1]["episodes"] == 4
    part = next(out.glob("part-*.parquet"))
    assert json.loads(pq.read_schema(part).metadata[b"proxmo.run"]) == m.run_metadata()
    assert m.to_dict() == read_manifest_data(out)
    # the recorded command, run in the same working directory, writes the same rows
    assert m.command[:2] == ["proxmo", "rollout"] and "split=\"test\"" in m.command
    monkeypatch.chdir(tmp_path)
    argv = [a if a != str(out) else str(tmp_path / "again") for a in m.command[1:]] + ["--no-progress"]
    assert main(argv) == 0
    cols = ["episode_id", "step", "action", "reward"]
    assert read_log(tmp_path / "again").select(cols).equals(read_log(out).select(cols))


def test_unknown_keys_survive_and_identity_mismatch_is_named():
    data = {k: None for k in Manifest.IDENTITY} | {"tasks": [[0, "a"]], "env_kwargs": {}, "note": "mine"}
    m = Manifest.from_dict(data)
    assert m.extra == {"note": "mine"} and m.to_dict()["note"] == "mine"
    assert m.mismatch({**m.identity(), "seed": 3}) == ("seed", None, 3)
    assert m.mismatch(m.identity()) is None
    with pytest.raises(ValueError, match="not a rollout manifest, missing env_id"):
        Manifest.from_dict({"run_id": "x"})
