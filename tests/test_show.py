"""``proxmo show``: the page data's numbers (PSA weights reproduce ProxMO's step advantage, GiGPO exact-match
groups), the self-contained page for WebShop, ALFWorld and imported runs, and one-line errors."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from io_fixtures import WRITERS
from proxmo_analysis.cli import main
from proxmo_analysis.credit.score import score
from proxmo_analysis.io import import_rollouts
from proxmo_analysis.logs import read_log
from proxmo_analysis.show.data import page_data


def _embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="proxmo-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.mark.parametrize("which, config", [("mixed_webshop_run", {}), ("mixed_alfworld_run", {}),
                                            ("mixed_alfworld_run", {"tau": 0.5, "tfidf_scope": "group", "gamma": 0.9})])
def test_psa_weights_give_proxmos_step_advantage(request, which, config):
    run = request.getfixturevalue(which)
    df = read_log(run)
    data = page_data(df, ["grpo", "gigpo", "proxmo"], run_name="r", config=config)
    assert data["psa"]["tau"] == config.get("tau", 0.1)
    proxmo = score(df, "proxmo", **config)
    adv_step = {(e, s): a for e, s, a in proxmo.select("episode_id", "step", "adv_step").iter_rows()}
    checked = 0
    for gid, g in data["data"].items():
        T = g["trajectories"]
        for ti, t in enumerate(T):
            for si, st in enumerate(t["steps"]):
                psa = g["psa"][f"{ti}:{si}"]
                assert psa["rest"] < 1e-6 and abs(sum(w for _, _, w in psa["n"]) - 1) < 1e-6
                # candidates are the same step index of the group's trajectories
                assert {s for _, s, _ in psa["n"]} == {si}
                assert len(psa["n"]) == sum(len(u["steps"]) > si for u in T)
                baseline = sum(w * T[tj]["steps"][sj][3] for tj, sj, w in psa["n"])
                assert st[3] - baseline == pytest.approx(adv_step[(t["episode_id"], si)], abs=1e-4)
                checked += 1
    assert checked == df.height
    # advantages per method are the scored columns, in method order after [obs, action, reward, R]
    grpo = score(df, "grpo", **{k: v for k, v in config.items() if k == "gamma"})
    first = next(iter(data["data"].values()))["trajectories"][0]
    want = grpo.filter(pl.col("episode_id") == first["episode_id"]).sort("step")["advantage"].to_list()
    assert [s[4] for s in first["steps"]] == pytest.approx(want, abs=1e-5)


def test_gigpo_anchor_groups_and_outcomes(mixed_alfworld_run):
    df = read_log(mixed_alfworld_run)
    data = page_data(df, ["gigpo"])
    for gid, g in data["data"].items():
        T = g["trajectories"]
        rows = df.filter(pl.col("group_id") == gid)
        for code, members in enumerate(g["anchors"]):
            texts = {T[t]["steps"][s][0] for t, s in members}
            assert len(texts) == 1  # exact matches only
            assert all(T[t]["steps"][s][-1] == code for t, s in members)
            assert len(members) == rows.filter(pl.col("observation") == texts.pop()).height
        won = rows.group_by("episode_id").agg(pl.col("won").first())
        assert sum(t["won"] for t in T) == won["won"].sum()
        assert [t["rollout_index"] for t in T] == sorted(t["rollout_index"] for t in T)
    assert data["groups"][0]["n"] == 4 and data["groups"][0]["rows"] == df.filter(
        pl.col("group_id") == data["groups"][0]["id"]).height


@pytest.mark.parametrize("which", ["mixed_webshop_run", "mixed_alfworld_run"])
def test_show_writes_a_self_contained_page(tmp_path, capsys, request, which):
    run = request.getfixturevalue(which)
    out = tmp_path / "page.html"
    assert main(["show", str(run), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    page = out.read_text()
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)  # nothing fetched from anywhere
    assert "<style>" in page and "IntersectionObserver" in page
    data = _embedded(page)
    assert data["methods"] == ["grpo", "gigpo", "proxmo"] and len(data["groups"]) == 2
    assert data["run"]["env_id"] == read_log(run)["env_id"][0]


def test_show_on_imported_runs_and_group_choice(tmp_path, capsys):
    for fmt, write in WRITERS.items():
        import_rollouts(fmt, write(tmp_path / f"{fmt}.jsonl"), tmp_path / fmt)
        out = tmp_path / f"{fmt}.html"
        group = read_log(tmp_path / fmt)["group_id"].sort()[0]
        assert main(["show", str(tmp_path / fmt), "--group", group, "--methods", "grpo,proxmo",
                     "--tau", "0.3", "--out", str(out)]) == 0
        data = _embedded(out.read_text())
        assert list(data["data"]) == [group] and data["initial"] == group and data["methods"] == ["grpo", "proxmo"]
        assert data["psa"]["tau"] == 0.3 and data["config"] == {"tau": 0.3}
    capsys.readouterr()


def test_show_bad_inputs_are_one_line(tmp_path, capsys, mixed_alfworld_run):
    cases = [(["--group", "nope"], "no task group 'nope' in this run"),
             (["--methods", "grpo,magic"], "unknown method(s) magic"),
             (["--max-groups", "0"], "--max-groups must be >= 1"),
             (["--methods", "grpo", "--tau", "0.5"], "belong to none of the methods grpo"),
             (["--set", "tau=-1"], "tau")]
    for extra, message in cases:
        assert main(["show", str(mixed_alfworld_run), *extra, "--out", str(tmp_path / "p.html")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.html").exists()


def big_group_run(tmp_path, rows: int = 10_000):
    """One task group of ~``rows`` step rows (16 trajectories), written as generic JSONL and imported."""
    from proxmo_analysis.credit.synthetic import alfworld_like_log

    df = alfworld_like_log(rows, group_size=16, max_steps=1250, seed=1)
    assert df["group_id"].n_unique() == 1
    src = tmp_path / "big.jsonl"
    with open(src, "w") as fh:
        for r in df.iter_rows(named=True):
            fh.write(json.dumps({"group_id": r["group_id"], "episode_id": r["episode_id"], "step": r["step"],
                                 "observation": r["observation"], "action": f"act {r['step'] % 7}",
                                 "reward": r["reward"], "won": r["won"], "task_id": r["task_id"]}) + "\n")
    import_rollouts("jsonl", src, tmp_path / "big")
    return tmp_path / "big", df.height


def test_big_group_page_data(tmp_path):
    run, n = big_group_run(tmp_path)
    data = page_data(read_log(run), ["grpo", "gigpo", "proxmo"])
    g = next(iter(data["data"].values()))
    assert sum(len(t["steps"]) for t in g["trajectories"]) == n == len(g["psa"])
    first = g["psa"]["0:0"]  # 16 candidates, the largest PSA_TOP listed and the rest summed
    assert len(first["n"]) == 12 and np.isclose(sum(w for _, _, w in first["n"]) + first["rest"], 1.0)
