"""read_log: folder and file reading, and one clear error per spec violation (file, column, first row)."""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxmo_analysis.logs import read_log
from proxmo_envs.trajlog import LOG_SCHEMA, PartWriter


def _episode(episode_id: str, group_id: str, n: int, task: str = "t0") -> dict[str, list]:
    return {
        "run_id": ["r"] * n, "env_id": ["env"] * n, "task_id": [task] * n, "group_id": [group_id] * n,
        "episode_id": [episode_id] * n, "rollout_index": [0] * n, "iteration": [0] * n, "step": list(range(n)),
        "observation": [f"o{i}" for i in range(n)], "action": [f"a{i}" for i in range(n)],
        "admissible_actions": [["a", "b"]] * n, "reward": [0.0] * (n - 1) + [1.0],
        "terminated": [False] * (n - 1) + [True], "truncated": [False] * n, "invalid_action": [False] * n,
        "episode_return": [1.0] * n, "won": [True] * n, "task_score": [1.0] * n,
        "behavior_logprob": [None] * n, "task_type": ["x"] * n,
    }


def _write(path, episodes, schema=LOG_SCHEMA):
    cols = {c: [v for ep in episodes for v in ep[c]] for c in schema.names}
    pq.write_table(pa.Table.from_pydict(cols, schema=schema), path)
    return path


@pytest.fixture()
def run(tmp_path):
    """A valid run folder of two parts: e0, e1 (3 steps, group g0) and e2 (2 steps, group g1)."""
    with PartWriter(tmp_path, {}, prefix="x", rows_per_part=6) as w:
        w.add_episode(_episode("e0", "g0", 3))
        w.add_episode(_episode("e1", "g0", 3))
        w.add_episode(_episode("e2", "g1", 2, task="t1"))
    return tmp_path


def test_reads_folder_and_file(run):
    df = read_log(run)
    assert df.height == 8 and df["episode_id"].to_list() == ["e0"] * 3 + ["e1"] * 3 + ["e2"] * 2
    assert read_log(run / "part-x-00001.parquet")["episode_id"].to_list() == ["e2", "e2"]
    assert df.schema["admissible_actions"] == pl.List(pl.String)
    assert df.schema["behavior_logprob"] == pl.Float32 and df["behavior_logprob"].null_count() == 8


def test_duckdb_reads_the_run_folder(run):
    got = duckdb.sql(
        f"select group_id, count(distinct episode_id) as n, sum(reward) as r from '{run}/part-*.parquet' "
        "group by group_id order by group_id"
    ).fetchall()
    assert got == [("g0", 2, 2.0), ("g1", 1, 1.0)]


def test_analysis_columns_are_kept(tmp_path):
    table = pa.Table.from_pydict(_episode("e0", "g0", 2), schema=LOG_SCHEMA)
    table = table.append_column("advantage", pa.array([0.5, -0.5], pa.float32()))
    pq.write_table(table, tmp_path / "scored.parquet")
    assert read_log(tmp_path / "scored.parquet")["advantage"].to_list() == [0.5, -0.5]


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        read_log(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no part-"):
        read_log(tmp_path)


def test_not_parquet(tmp_path):
    (tmp_path / "part-bad.parquet").write_text("hello")
    with pytest.raises(ValueError, match=r"part-bad\.parquet: not a readable Parquet file"):
        read_log(tmp_path)


def test_missing_column(tmp_path):
    schema = LOG_SCHEMA.remove(LOG_SCHEMA.get_field_index("won"))
    path = _write(tmp_path / "f.parquet", [_episode("e0", "g0", 2)], schema)
    with pytest.raises(ValueError, match=r"f\.parquet: column 'won', row 0: missing"):
        read_log(path)


def test_wrong_type(tmp_path):
    i = LOG_SCHEMA.get_field_index("step")
    schema = LOG_SCHEMA.set(i, pa.field("step", pa.int64()))
    path = _write(tmp_path / "f.parquet", [_episode("e0", "g0", 2)], schema)
    with pytest.raises(ValueError, match=r"f\.parquet: column 'step', row 0: type int64, expected int32"):
        read_log(path)


def test_float64_reward_is_wrong_type(tmp_path):
    i = LOG_SCHEMA.get_field_index("reward")
    schema = LOG_SCHEMA.set(i, pa.field("reward", pa.float64()))
    path = _write(tmp_path / "f.parquet", [_episode("e0", "g0", 2)], schema)
    with pytest.raises(ValueError, match="column 'reward', row 0: type double, expected float"):
        read_log(path)


def test_plain_string_text_columns_are_accepted(tmp_path):
    # DuckDB and Spark write 32-bit-offset strings; the values are the same.
    fields = [pa.field(f.name, pa.string() if f.type == pa.large_string() else f.type, f.nullable) for f in LOG_SCHEMA]
    path = _write(tmp_path / "f.parquet", [_episode("e0", "g0", 2)], pa.schema(fields))
    assert read_log(path).height == 2


def test_gap_in_step_names_file_column_and_row(run):
    bad = _episode("e9", "g2", 4)
    for c in bad:
        bad[c] = bad[c][:2] + bad[c][3:]  # steps 0, 1, 3
    _write(run / "part-z.parquet", [_episode("e8", "g2", 2), bad])
    with pytest.raises(ValueError, match=r"part-z\.parquet: column 'step', row 4: episode 'e9': gap in step: 1 is followed by 3"):
        read_log(run)


def test_duplicate_step(tmp_path):
    ep = _episode("e0", "g0", 3)
    ep["step"] = [0, 1, 1]
    path = _write(tmp_path / "f.parquet", [ep])
    with pytest.raises(ValueError, match=r"column 'step', row 2: episode 'e0': step 1 appears twice"):
        read_log(path)


def test_trajectory_not_starting_at_zero(tmp_path):
    ep = _episode("e0", "g0", 2)
    ep["step"] = [1, 2]
    path = _write(tmp_path / "f.parquet", [_episode("e1", "g0", 1), ep])
    with pytest.raises(ValueError, match=r"column 'step', row 1: episode 'e0': the trajectory starts at step 1"):
        read_log(path)


def test_episode_under_two_groups_across_files(run):
    _write(run / "part-y.parquet", [_episode("e5", "g1", 2), _episode("e0", "g7", 3)])
    # e0's three steps are in part-x-00000 under g0; part-y adds steps of e0 under g7, at its row 2.
    with pytest.raises(ValueError, match=r"part-y\.parquet: column 'group_id', row 2: episode 'e0' appears under two groups \('g0' and 'g7'\)"):
        read_log(run)


def test_first_offending_row_wins_across_checks(tmp_path):
    gap = _episode("e1", "g0", 3)
    gap["step"] = [0, 2, 3]
    two_groups = _episode("e2", "g0", 1) | {"group_id": ["g0"]}
    other = _episode("e2", "g9", 1) | {"step": [1]}
    path = _write(tmp_path / "f.parquet", [gap, two_groups, other])
    with pytest.raises(ValueError, match=r"column 'step', row 1: episode 'e1'"):
        read_log(path)


def test_null_in_non_nullable_column(tmp_path):
    schema = LOG_SCHEMA.set(LOG_SCHEMA.get_field_index("action"), pa.field("action", pa.large_string()))
    ep = _episode("e0", "g0", 3)
    ep["action"] = ["a", "b", None]
    path = _write(tmp_path / "f.parquet", [ep], schema)
    with pytest.raises(ValueError, match=r"column 'action', row 2: null in a non-nullable column"):
        read_log(path)


def test_lazy_validates_before_returning(tmp_path):
    ep = _episode("e0", "g0", 3)
    ep["step"] = [0, 1, 5]
    path = _write(tmp_path / "f.parquet", [ep])
    with pytest.raises(ValueError, match="gap in step"):
        read_log(path, lazy=True)


def test_a_log_rewritten_by_polars_still_validates(run, tmp_path):
    # The analysis reads with polars, adds columns and writes back with polars: still a valid log.
    df = read_log(run).with_columns(pl.lit(0.0, dtype=pl.Float32).alias("advantage"))
    df.write_parquet(tmp_path / "scored.parquet")
    back = read_log(tmp_path / "scored.parquet")
    assert back.equals(df)
    assert duckdb.sql(f"select count(*) from '{tmp_path / 'scored.parquet'}'").fetchall() == [(8,)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(2, 6), min_size=1, max_size=4), data=st.data())
def test_dropping_any_row_but_an_episodes_last_is_caught(tmp_path_factory, lengths, data):
    episodes = [_episode(f"e{k}", f"g{k % 2}", n) for k, n in enumerate(lengths)]
    k = data.draw(st.integers(0, len(episodes) - 1))
    row = data.draw(st.integers(0, lengths[k] - 2))  # not the last step: that would look like a shorter episode
    for c in episodes[k]:
        del episodes[k][c][row]
    path = _write(tmp_path_factory.mktemp("drop") / "f.parquet", episodes)
    expected_row = sum(lengths[:k]) + row  # the row after the dropped one moved up to its place
    with pytest.raises(ValueError, match=rf"column 'step', row {expected_row}: episode 'e{k}'"):
        read_log(path)
