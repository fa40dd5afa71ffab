"""A part of another run (other seed, other env) in a run folder is refused by read_log and by the commands
that read through it, naming the file; ``union=True`` reads the mix on purpose."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run
from proxmo_analysis.logs import read_log
from proxmo_envs.rollout import rollout
from test_trajlog_toyenv import TOY_MAKE_ID


def test_a_part_of_another_seed_is_refused_naming_it(tmp_path, capsys):
    args = dict(env_kwargs={"n_tasks": 3}, policy="random", tasks=3, group_size=2)
    rollout(TOY_MAKE_ID, out=tmp_path / "s0", seed=0, **args)
    rollout(TOY_MAKE_ID, out=tmp_path / "s1", seed=1, **args)
    stray = sorted((tmp_path / "s1").glob("part-*.parquet"))[0]
    shutil.copyfile(stray, tmp_path / "s0" / "part-zz-from-seed1.parquet")
    with pytest.raises(ValueError, match=r"part-zz-from-seed1.parquet: belongs to another run \(run_id"):
        read_log(tmp_path / "s0")
    assert main(["score", str(tmp_path / "s0"), "--method", "grpo", "--out", str(tmp_path / "scored")]) == 2
    assert "part-zz-from-seed1.parquet: belongs to another run" in capsys.readouterr().err
    both = read_log(tmp_path / "s0", union=True)
    assert both["run_id"].n_unique() == 2
    assert both.height == sum(read_log(p).height for p in (tmp_path / "s0").glob("part-*.parquet"))


def test_a_part_of_another_env_is_refused(tmp_path):
    alf = write_run(alfworld_like_log(60, group_size=2, max_steps=4, seed=1), tmp_path / "alf",
                    run_metadata={"env_id": "proxmo/ALFWorld-v0"})
    other = alfworld_like_log(60, group_size=2, max_steps=4, seed=2)
    other = other.with_columns(group_id="w-" + pl.col("group_id"), episode_id="w-" + pl.col("episode_id"))
    web = write_run(other, tmp_path / "web", run_metadata={"env_id": "proxmo/WebShop-v0"})
    shutil.copyfile(web / "part-00000.parquet", alf / "part-00001.parquet")
    with pytest.raises(ValueError, match="part-00001.parquet: belongs to another run \\(env_id 'proxmo/WebShop-v0'"):
        read_log(alf)
    assert read_log(alf, union=True).height == read_log(web).height + read_log(alf / "part-00000.parquet").height


def test_a_corrupt_manifest_is_refused_not_copied(tmp_path, capsys):
    run = write_run(alfworld_like_log(60, group_size=2, max_steps=4, seed=1), tmp_path / "run")
    (run / "manifest.json").write_text('{"env_id": "proxmo/ALF')
    assert main(["score", str(run), "--out", str(tmp_path / "scored")]) == 2
    assert "manifest.json: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "scored").exists()
