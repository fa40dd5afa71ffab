"""One check shared by the scoring tests: two scored frames carry bit-identical credit columns."""

from __future__ import annotations

import numpy as np
import polars as pl

COLUMNS = ["return_to_go", "adv_episode", "adv_step", "advantage"]
KEY = ["episode_id", "step"]


def same_numbers(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """``a`` and ``b`` hold the same rows (matched on episode and step) with equal credit columns, bit for bit."""
    a, b = a.sort(KEY), b.sort(KEY)
    assert a.height == b.height
    for c in COLUMNS:
        np.testing.assert_array_equal(a[c].to_numpy(), b[c].to_numpy(), err_msg=c)
