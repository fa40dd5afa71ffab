"""What the credit method sees during training: the training rewards and the scored log."""

from __future__ import annotations

from typing import Any

from .config import WIN_REWARD


def training_rewards(df, reward: str):
    """The rewards the credit method sees. ``"env"``: the logged ``reward`` column unchanged. ``"won"``:
    ``10 * won`` on the last step of each episode and 0 elsewhere (the GiGPO/ProxMO training convention),
    ``episode_return`` to match. With the small scorer starting from a uniform policy, "won" is too sparse
    to learn from in the default budget (measured in the README), so "env" is the default. Every credit
    method takes its returns from this one column (ProxMO's PSC uses ``won`` only as its success
    indicator), so the methods of one run set see the same reward. The run folder on disk keeps the
    environment's rewards either way."""
    import polars as pl

    if reward == "env":
        return df
    last = pl.col("step") == pl.col("step").max().over("episode_id")
    won = pl.col("won").cast(pl.Float32) * WIN_REWARD
    return df.with_columns(
        pl.when(last).then(won).otherwise(0.0).cast(pl.Float32).alias("reward"),
        won.cast(pl.Float32).alias("episode_return"),
    )


def assign_credit(df, method: str, credit: dict[str, Any]):
    """``proxmo_analysis.score`` with a registered method (ablations such as ``proxmo_wo_psa`` included)."""
    from proxmo_analysis.credit import score

    return score(df, method=method, **credit)
