"""Streaming a run folder group by group (and on a process pool) gives the in-memory numbers; CLI."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from proxmo_analysis.cli import main
from proxmo_analysis.credit import score
from proxmo_analysis.credit.parallel import score_parallel
from proxmo_analysis.credit.score import make_config
from proxmo_analysis.credit.stream import score_run
from proxmo_analysis.credit.synthetic import alfworld_like_log, write_run
from proxmo_analysis.logs import read_log

from credit_checks import KEY, same_numbers


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    df = alfworld_like_log(6000, iterations=2, seed=11)
    # interleave trajectories so every task group is split over several part files
    df = df.sample(fraction=1.0, shuffle=True, seed=2).sort("episode_id", "step").sort("rollout_index", maintain_order=True)
    return write_run(df, tmp_path_factory.mktemp("credit") / "run", rows_per_part=700)


@pytest.mark.parametrize("method, kw", [("proxmo", {}), ("proxmo", {"variant": "reference"}),
                                        ("proxmo", {"tfidf_scope": "group"}), ("gigpo", {}), ("grpo", {})])
def test_streaming_equals_in_memory(run_dir, tmp_path, method, kw):
    full = read_log(run_dir)
    summary = score_run(run_dir, tmp_path / "out", method, rows_per_batch=900, **kw)
    assert summary["parts"] > 3 and summary["rows"] == full.height
    scored = read_log(tmp_path / "out")
    same_numbers(scored, score(full, method, **kw))
    # required columns are carried over unchanged
    assert scored.select(full.columns).sort(KEY).equals(full.sort(KEY))


@pytest.mark.slow
def test_process_pool_equals_one_process(run_dir, tmp_path):
    full = read_log(run_dir)
    expected = score(full, "proxmo")
    score_run(run_dir, tmp_path / "out", "proxmo", workers=2, rows_per_batch=1500)
    same_numbers(read_log(tmp_path / "out"), expected)
    m, cfg = make_config("proxmo", {})
    same_numbers(score_parallel(full, m, cfg, 2, rows_per_batch=1500), expected)  # in memory, 4 batches


def test_cli_score_writes_metadata_and_manifest(run_dir, tmp_path, capsys):
    out = tmp_path / "scored"
    assert main(["score", str(run_dir), "--method", "proxmo", "--variant", "reference", "--no-psc",
                 "--out", str(out), "--workers", "1"]) == 0
    assert "scored" in capsys.readouterr().out
    assert (out / "manifest.json").read_text() == (run_dir / "manifest.json").read_text()
    part = sorted(out.glob("part-*.parquet"))[0]
    meta = pq.read_schema(part).metadata
    credit = json.loads(meta[b"proxmo.credit"])
    assert credit["method"] == "proxmo" and credit["params"]["variant"] == "reference"
    assert credit["params"]["psc"] is False and credit["params"]["candidates"] == "all_steps"
    assert json.loads(meta[b"proxmo.run"]) == json.loads(pq.read_schema(sorted(run_dir.glob("part-*"))[0]).metadata[b"proxmo.run"])
    assert pq.read_schema(part).field("advantage").type == "float"
    same_numbers(read_log(out), score(read_log(run_dir), "proxmo", variant="reference", psc=False))


def test_cli_score_takes_uris(run_dir, tmp_path, capsys):
    # a URI stays a URI (Path() would fold "file:///x" into "file:/x"); the default output sits beside it
    uri = run_dir.as_uri()
    assert main(["score", uri, "--method", "grpo", "--workers", "1"]) == 0
    default_out = run_dir.with_name(f"{run_dir.name}-scored-grpo")
    assert str(default_out) in capsys.readouterr().out
    out = tmp_path / "by-uri"
    assert main(["score", uri, "--method", "grpo", "--out", out.as_uri(), "--workers", "1"]) == 0
    same_numbers(read_log(out), read_log(default_out))
    same_numbers(read_log(out), score(read_log(run_dir), "grpo"))


def test_cli_errors_are_one_line(run_dir, tmp_path, capsys):
    assert main(["score", str(run_dir), "--out", str(tmp_path / "o"), "--set", "temperature=0.1"]) == 2
    assert "unknown parameter(s) 'temperature'" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["score", str(run_dir), "--out", str(run_dir)]) == 2
    assert "input run folder" in capsys.readouterr().err


def test_cli_compare_prints_stats_singletons_and_correlations(run_dir, capsys):
    assert main(["compare", str(run_dir), "--methods", "grpo,gigpo,proxmo"]) == 0
    text = capsys.readouterr().out
    assert "Singleton step groups under exact matching" in text
    assert "Pearson correlation" in text and "proxmo" in text


def test_batches_hold_whole_groups_and_stay_small(run_dir, tmp_path):
    # memory is bounded by the batch: no part exceeds rows_per_batch unless one group alone does
    full = read_log(run_dir)
    largest = full.group_by("group_id").len()["len"].max()
    score_run(run_dir, tmp_path / "out", "grpo", rows_per_batch=500)
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    seen = set()
    for part in parts:
        frame = pl.read_parquet(part)
        assert frame.height <= max(1.5 * 500, largest)  # stream.SEGMENT_SLACK
        groups = set(frame["group_id"].unique())
        assert not groups & seen  # every group in exactly one part
        seen |= groups
    assert seen == set(full["group_id"].unique())


def test_single_parquet_file_input(run_dir, tmp_path):
    part = sorted(run_dir.glob("part-*.parquet"))[0]
    summary = score_run(part, tmp_path / "one", "proxmo")
    same_numbers(read_log(tmp_path / "one"), score(read_log(part), "proxmo"))
    assert summary["rows"] == pl.read_parquet(part).height


def _broken_run(tmp_path, edit):
    df = alfworld_like_log(3000, seed=9)
    return write_run(edit(df), tmp_path / "bad", rows_per_part=400)


def test_streaming_refuses_read_log_errors_naming_file_and_row(tmp_path, capsys):
    # a gap in one episode's steps: found while scoring, named by part file and row; nothing left behind
    def gap(df):
        ep = df["episode_id"][10]
        return df.filter(~((pl.col("episode_id") == ep) & (pl.col("step") == 3)))

    run = _broken_run(tmp_path, gap)
    with pytest.raises(ValueError, match="gap in step: 2 is followed by 4"):
        read_log(run)
    out = tmp_path / "out"
    assert main(["score", str(run), "--out", str(out), "--rows-per-batch", "500"]) == 2
    err = capsys.readouterr().err
    assert "column 'step', row 3 of" in err and "part-00000.parquet" in err and "gap in step: 2 is followed by 4" in err
    assert not out.exists()
    # the same on two processes (the error may come from the spawned worker)
    assert main(["score", str(run), "--out", str(out), "--rows-per-batch", "500", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "gap in step: 2 is followed by 4" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()

    # one episode under two groups, in different part files (found by the index pass)
    def two_groups(df):
        last = df["group_id"][-1]
        ep = df["episode_id"][0]
        return df.with_columns(pl.when((pl.col("episode_id") == ep) & (pl.col("step") > 0)).then(pl.lit(last))
                               .otherwise(pl.col("group_id")).alias("group_id")).sort(
            pl.col("episode_id") == ep, maintain_order=True)

    run2 = write_run(two_groups(alfworld_like_log(3000, seed=9)), tmp_path / "bad2", rows_per_part=400)
    with pytest.raises(ValueError, match="appears under two groups"):
        score_run(run2, tmp_path / "out2", "grpo")
    assert not (tmp_path / "out2").exists()



def test_streamed_compare_equals_the_in_memory_comparison(run_dir):
    from proxmo_analysis.cli.compare import compare_methods, singleton_shares
    from proxmo_analysis.credit.compare_stream import compare_run

    methods = ["grpo", "gigpo", "proxmo"]
    full = read_log(run_dir)
    expected = compare_methods(full, methods, {"gamma": 0.9})
    got = compare_run(run_dir, methods, {"gamma": 0.9}, rows_per_batch=700)  # 9 segments, merged moments
    assert got["rows"] == full.height and got["groups"] == full["group_id"].n_unique()
    assert got["episodes"] == full["episode_id"].n_unique()
    assert got["shares"] == pytest.approx(singleton_shares(full), abs=0)
    for m in methods:
        a, r = expected["advantage"][m], expected["scored"][m]
        s = got["stats"][m]
        assert (s["min"], s["max"]) == (a.min(), a.max())
        assert s["nonzero"] == (np.abs(a) > 0).mean()
        np.testing.assert_allclose([s["mean"], s["std"]], [a.mean(), a.std()], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose([s["episode_std"], s["step_std"]],
                                   [r["adv_episode"].cast(pl.Float64).std(), r["adv_step"].cast(pl.Float64).std()],
                                   rtol=1e-12)
        for b in methods:
            np.testing.assert_allclose(got["correlation"][(m, b)], expected["correlation"][(m, b)], rtol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"variant": "reference"}])
def test_streaming_equals_in_memory_on_unicode_and_token_free_text(tmp_path, kw):
    """Iterations whose texts are not all ASCII (scikit-learn's tokenizer) or have no token at all (an
    empty vocabulary: the reference skips PSA) score as in memory; the streamed route takes the
    observation codes from the Parquet dictionaries, the in-memory one from the decoded column."""
    df = alfworld_like_log(2400, iterations=3, seed=5)
    obs = pl.col("observation")
    df = df.with_columns(pl.when(pl.col("iteration") == 1).then(obs.str.replace("You", "Vous êtes"))
                         .when(pl.col("iteration") == 2).then(obs.str.slice(0, 1) + pl.lit(" ."))
                         .otherwise(obs).alias("observation"))
    run = write_run(df, tmp_path / "run", rows_per_part=500)
    summary = score_run(run, tmp_path / "out", "proxmo", rows_per_batch=600, **kw)
    assert summary["parts"] > 3
    same_numbers(read_log(tmp_path / "out"), score(read_log(run), "proxmo", **kw))


def test_segments_follow_the_files():
    from proxmo_analysis.credit.stream import pack_file_blocks

    # groups of 40 rows; last file of each group: blocks of 120 (file 0), 40 (file 1), 200 (file 2), 80 (file 3)
    sizes = np.full(11, 40)
    last = np.array([0, 0, 0, 1, 2, 2, 2, 2, 2, 3, 3])
    segs = [list(s) for s in pack_file_blocks(sizes, last, 100)]
    # 120 <= 1.5 * 100: kept whole; 40 alone (120 + 40 > 100); 200 > 150: cut into pieces of at most 100
    # rows (whole groups of 40: three pieces); 80 alone (40 + 80 > 100)
    assert segs == [[0, 1, 2], [3], [4, 5], [6, 7], [8], [9, 10]]
    # small blocks share a segment up to rows_per_batch
    assert [list(s) for s in pack_file_blocks(np.full(4, 10), np.array([0, 1, 2, 3]), 25)] == [[0, 1], [2, 3]]
    assert pack_file_blocks(np.zeros(0, dtype=int), np.zeros(0, dtype=int), 10) == []


def test_share_work_keeps_order_and_raises_the_first_error():
    from concurrent.futures import ThreadPoolExecutor

    from proxmo_analysis.credit.parallel import share_work

    calls = [(i,) for i in range(23)]
    with ThreadPoolExecutor(1) as ex:
        assert share_work(lambda i: i * i, calls, ex, workers=2) == [i * i for i in range(23)]

    def fail_at(i):
        if i == 5:
            raise ValueError("call 5 failed")
        return i

    with ThreadPoolExecutor(1) as ex, pytest.raises(ValueError, match="call 5 failed"):
        share_work(fail_at, calls, ex, workers=2)


def test_tapered_chunks_shrink_towards_where_the_two_sides_meet():
    from proxmo_analysis.credit.parallel import tapered_chunks

    # 100 segments, 2 processes, at most 6 a call: the worker's calls from the front and this process's
    # from the back shrink to single segments around segment 50, where the two meet
    sizes = [s.stop - s.start for s in tapered_chunks(100, 2, 6)]
    assert sizes == [6, 6, 6, 6, 6, 5, 3, 3, 2] + [1] * 14 + [2, 3, 3, 5, 6, 6, 6, 6, 6]
    for n, workers, largest in [(0, 2, 1), (1, 2, 1), (7, 3, 1), (1000, 2, 62), (100, 4, 3), (9, 1, 4)]:
        chunks = tapered_chunks(n, workers, largest)
        assert [i for s in chunks for i in range(s.start, s.stop)] == list(range(n))
        assert all(1 <= s.stop - s.start <= largest for s in chunks)
    # one process: plain chunks of ``largest``
    assert [(s.start, s.stop) for s in tapered_chunks(9, 1, 4)] == [(0, 4), (4, 8), (8, 9)]
