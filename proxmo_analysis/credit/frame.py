"""From a trajectory-log DataFrame to the sorted numpy columns the methods work on, and back.

All checks on user input live here, so every method sees clean columns: step rows sorted so each
trajectory is contiguous and in step order, ids encoded as dense integer codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import polars as pl

from proxmo_analysis.errors import InputTypeError

ID_COLUMNS = ("group_id", "episode_id")
ADDED_COLUMNS = ("return_to_go", "adv_episode", "adv_step", "advantage")


def dense_codes(series: pl.Series) -> np.ndarray:
    """0-based dense integer codes of a column's values (equal values, equal codes), int64, shape (n,).

    Codes follow first appearance (so a subset of the rows in the same order codes its values in the same
    relative order). Fast paths: runs of equal values (ids written trajectory by trajectory); otherwise
    64-bit hashes, checked against the exact number of distinct values (a collision falls back to sorting
    the values, an order that is also the same for any subset).
    """
    n = len(series)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = (series != series.shift(1)).fill_null(True).to_numpy()
    change[0] = True
    starts = series.filter(pl.Series(change))
    if starts.n_unique() == len(starts):  # no value comes back after its run ended
        return np.cumsum(change, dtype=np.int64) - 1
    uniq, first, inverse = np.unique(series.hash(seed=0).to_numpy(), return_index=True, return_inverse=True)
    if len(uniq) == series.n_unique():
        # codes in order of first appearance, as the fast path: any subset of whole groups kept in the
        # same row order (a streamed segment) orders its episodes as the whole log does
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return rank[inverse.reshape(-1)]
    return series.rank("dense").to_numpy().astype(np.int64) - 1


def code_values(series: pl.Series, codes: np.ndarray) -> list:
    """The value of each code from ``dense_codes``: ``values[codes[i]] == series[i]``."""
    if not len(codes):
        return []
    first = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return series.gather(first).to_list()


def _hash_codes(series: pl.Series) -> tuple[np.ndarray, pl.Series] | None:
    """Codes of ``series``' distinct values in the order of their 64-bit hashes (one sort of n integers) and
    those values, checked exactly against every row; None on a hash collision."""
    _, first, codes = np.unique(series.hash(seed=0).to_numpy(), return_index=True, return_inverse=True)
    codes = codes.reshape(-1)
    values = series.gather(first)
    return (codes, values) if bool((values.gather(codes) == series).all()) else None


def text_codes(series: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Codes of a string column's distinct values and those values: ``values[codes[i]] == series[i]``.

    Codes come from 64-bit hashes (``_hash_codes``); a hash collision falls back to ``dense_codes``."""
    if not len(series):
        return np.zeros(0, dtype=np.int64), series.clear()
    hashed = _hash_codes(series)
    if hashed is not None:
        return hashed
    codes = dense_codes(series)
    return codes, pl.Series(series.name, code_values(series, codes), dtype=series.dtype)


def dictionary_text_codes(indices: np.ndarray, dictionary: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """``text_codes(dictionary.gather(indices))`` without building that column: the column as a dictionary
    encoding (``indices``: (n,) ints into ``dictionary``, which may hold unused or repeated strings, as a
    Parquet reader's does). Only the used dictionary strings are hashed, so the cost is per distinct text,
    not per row; the codes and values are exactly ``text_codes``' (the same hash order; a collision takes
    ``text_codes``' own route)."""
    indices = np.asarray(indices, dtype=np.int64)
    if not len(indices):
        return text_codes(dictionary.clear())
    used = np.flatnonzero(np.bincount(indices, minlength=len(dictionary)))
    hashed = _hash_codes(dictionary.gather(used))
    if hashed is None:  # a hash collision: the plain route
        return text_codes(dictionary.gather(indices))
    inverse, values = hashed
    remap = np.zeros(len(dictionary), dtype=np.int64)
    remap[used] = inverse
    return remap[indices], values


@dataclass(frozen=True)
class StepRows:
    """Step rows of one or more task groups, each trajectory contiguous; shapes are (n_rows,).

    ``group`` / ``episode`` are dense integer codes, ``batch`` the integer ``iteration`` (0 without one); every episode's rows are contiguous and
    in increasing ``step`` order (episodes themselves in any order). ``observation`` is None when the method does not need it.
    """

    group: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    reward: np.ndarray
    won: np.ndarray
    invalid: np.ndarray
    batch: np.ndarray
    observation: pl.Series | None
    #: ``text_codes(observation)`` when the reader had them cheaply (``dictionary_text_codes``), else None
    observation_codes: tuple[np.ndarray, pl.Series] | None = None

    @property
    def n_rows(self) -> int:
        return len(self.group)

    @property
    def last(self) -> np.ndarray:
        """True on the last row of each episode."""
        out = np.ones(self.n_rows, dtype=bool)
        out[:-1] = self.episode[1:] != self.episode[:-1]
        return out

    def observation_text_codes(self) -> tuple[np.ndarray, pl.Series]:
        """``text_codes(observation)``: (n,) codes in hash order and the distinct texts."""
        if self.observation_codes is not None:
            return self.observation_codes
        return text_codes(self.observation)

    def episode_starts(self) -> np.ndarray:
        """Index of the first row of each episode, shape (n_episodes,)."""
        first = np.ones(self.n_rows, dtype=bool)
        first[1:] = self.episode[1:] != self.episode[:-1]
        return np.flatnonzero(first)


def check_columns(df: pl.DataFrame, required: Iterable[str], where: str = "input") -> None:
    """Raise one ValueError naming every required column that ``df`` lacks."""
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"{where}: expected a polars DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where}: missing required column(s) {', '.join(missing)} (has: {', '.join(df.columns)})"
        )


def _first_bad_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _numeric(df: pl.DataFrame, name: str, where: str) -> np.ndarray:
    col = df.get_column(name)
    if not (col.dtype.is_numeric() or col.dtype == pl.Boolean):
        raise InputTypeError(f"{where}: column {name!r} must be numeric, got {col.dtype}")
    if col.null_count():
        raise ValueError(f"{where}: column {name!r} has a null at row {_first_bad_row(col.is_null().to_numpy())}")
    return col.cast(pl.Float64).to_numpy()


def _boolean(df: pl.DataFrame, name: str, where: str) -> np.ndarray:
    col = df.get_column(name)
    if col.null_count():
        raise ValueError(f"{where}: column {name!r} has a null at row {_first_bad_row(col.is_null().to_numpy())}")
    if col.dtype != pl.Boolean:
        if not col.dtype.is_numeric():
            raise InputTypeError(f"{where}: column {name!r} must be boolean, got {col.dtype}")
        col = col != 0
    return col.to_numpy().astype(bool)


def prepare_rows(
    df: pl.DataFrame,
    *,
    need_observation: bool,
    need_won: bool,
    need_invalid: bool,
    where: str = "input",
    locate: Callable[[int], str] | None = None,
    contiguous_steps: bool = False,
    observation_dictionary: tuple[np.ndarray, pl.Series] | None = None,
) -> tuple[StepRows, np.ndarray]:
    """Validate ``df`` and return its rows sorted by (episode, step) plus the sort permutation.

    ``order[k]`` is the input row of sorted row k. Raises ValueError on a missing column, a null id or
    observation, a NaN/inf reward, a repeated (episode_id, step) or an episode under two group_ids; with
    ``contiguous_steps`` also on an episode whose steps are not 0..n-1 (``read_log``'s rule). ``locate``
    names a row of ``df`` in messages (default ``"row {i}"``; the streaming scorer names file and row).
    ``observation_dictionary``: the observation column as (indices, dictionary) when the reader has it so
    (a Parquet dictionary): the rows then carry ``text_codes`` from it (``dictionary_text_codes``).
    """
    at = locate or (lambda i: f"row {i}")
    required = ["group_id", "episode_id", "step", "reward"]
    required += ["observation"] * need_observation + ["won"] * need_won + ["invalid_action"] * need_invalid
    check_columns(df, required, where)
    n = df.height
    for name in ID_COLUMNS:
        if df.get_column(name).null_count():
            raise ValueError(f"{where}: column {name!r} has a null at row "
                             f"{_first_bad_row(df.get_column(name).is_null().to_numpy())}")
    reward = _numeric(df, "reward", where)
    bad = ~np.isfinite(reward)
    if bad.any():
        row = _first_bad_row(bad)
        raise ValueError(f"{where}: column 'reward' has a non-finite value ({reward[row]}) at row {row}")
    step_col = df.get_column("step")
    if not step_col.dtype.is_integer():
        raise InputTypeError(f"{where}: column 'step' must be an integer, got {step_col.dtype}")
    if step_col.null_count():
        raise ValueError(f"{where}: column 'step' has a null at row {_first_bad_row(step_col.is_null().to_numpy())}")
    step = step_col.cast(pl.Int64).to_numpy()
    group = dense_codes(df.get_column("group_id"))
    episode = dense_codes(df.get_column("episode_id"))
    won = _boolean(df, "won", where) if need_won else np.zeros(n, dtype=bool)
    invalid = _boolean(df, "invalid_action", where) if need_invalid else np.zeros(n, dtype=bool)
    if "iteration" in df.columns and df.get_column("iteration").null_count() == 0:
        it = df.get_column("iteration")
        # raw values, so statistics fitted per iteration elsewhere (streaming, workers) find their batch
        batch = it.cast(pl.Int64).to_numpy() if it.dtype.is_integer() else dense_codes(it)
    else:
        batch = np.zeros(n, dtype=np.int64)
    observation = None
    if need_observation:
        observation = df.get_column("observation")
        if observation.dtype not in (pl.String,):
            raise InputTypeError(f"{where}: column 'observation' must be a string column, got {observation.dtype}")
        if observation.null_count():
            raise ValueError(f"{where}: column 'observation' has a null at row "
                             f"{_first_bad_row(observation.is_null().to_numpy())}")

    # Logs are written trajectory by trajectory, so usually no sort is needed.
    changes = episode[1:] != episode[:-1]
    n_episodes = int(episode.max()) + 1 if n else 0
    in_order = n < 2 or (int(changes.sum()) + 1 == n_episodes and bool(np.all(changes | (step[1:] > step[:-1]))))
    order = np.arange(n) if in_order else np.lexsort((step, episode))
    if not in_order:
        group, episode, step = group[order], episode[order], step[order]
        reward, won, invalid, batch = reward[order], won[order], invalid[order], batch[order]
        if observation is not None:
            observation = observation.gather(order)
    observation_codes = None
    if observation is not None and observation_dictionary is not None:
        indices, dictionary = observation_dictionary
        observation_codes = dictionary_text_codes(indices if in_order else indices[order], dictionary)
    same_episode = episode[1:] == episode[:-1]
    dup = same_episode & (step[1:] == step[:-1])
    if dup.any():
        row = int(order[_first_bad_row(dup) + 1])
        raise ValueError(f"{where}: episode {df['episode_id'][row]!r} has step {step[_first_bad_row(dup)]} twice "
                         f"({at(row)})")
    if contiguous_steps and n:
        starts = np.ones(n, dtype=bool)
        starts[1:] = ~same_episode
        expected = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        bad = step != expected
        if bad.any():
            k = _first_bad_row(bad)
            row = int(order[k])
            what = (f"the trajectory starts at step {step[k]}, not 0" if expected[k] == 0
                    else f"gap in step: {step[k - 1]} is followed by {step[k]}")
            raise ValueError(f"{where}: column 'step', {at(row)}: episode {df['episode_id'][row]!r}: {what}")
    split = same_episode & (group[1:] != group[:-1])
    if split.any():
        row = int(order[_first_bad_row(split) + 1])
        raise ValueError(f"{where}: episode {df['episode_id'][row]!r} appears under two group_ids ({at(row)})")
    if need_won:
        flip = same_episode & (won[1:] != won[:-1])
        if flip.any():
            row = int(order[_first_bad_row(flip) + 1])
            raise ValueError(f"{where}: column 'won' differs inside episode {df['episode_id'][row]!r} ({at(row)})")
    rows = StepRows(group=group, episode=episode, step=step, reward=reward, won=won, invalid=invalid,
                    batch=batch, observation=observation, observation_codes=observation_codes)
    return rows, order
