"""Synthetic ALFWorld-like trajectory logs for benchmarks and tests (no environment needed).

Each task group is one random room (receptacles and the objects in them); its N trajectories walk
around it, so trajectories of a group revisit the same states with the same text, as in ALFWorld.
"""

from __future__ import annotations

import numpy as np
import polars as pl

RECEPTACLES = ("cabinet", "countertop", "drawer", "fridge", "microwave", "shelf", "sinkbasin",
               "stoveburner", "diningtable", "garbagecan", "coffeemachine", "toaster", "sidetable", "dresser")
OBJECTS = ("apple", "bowl", "knife", "spatula", "egg", "pan", "plate", "mug", "potato", "tomato", "fork",
           "lettuce", "bread", "cup", "spoon", "saltshaker", "peppershaker", "book", "cellphone", "keychain")
TASKS = ("put a {o} in {r}", "put a clean {o} in {r}", "put a hot {o} in {r}", "put a cool {o} in {r}",
         "put two {o} in {r}", "look at {o} under the desklamp")


def _room(rng: np.random.Generator) -> tuple[list[str], dict[str, str]]:
    places = []
    for r in rng.choice(len(RECEPTACLES), size=rng.integers(5, 10), replace=False):
        places += [f"{RECEPTACLES[r]} {k}" for k in range(1, int(rng.integers(1, 4)) + 1)]
    contents = {}
    for p in places:
        objs = [f"{OBJECTS[o]} {int(rng.integers(1, 4))}" for o in rng.choice(len(OBJECTS), int(rng.integers(0, 4)))]
        contents[p] = ", ".join(f"a {o}" for o in objs) if objs else "nothing"
    return places, contents


def alfworld_like_log(n_rows: int, *, group_size: int = 8, max_steps: int = 50, iterations: int = 1,
                      seed: int = 0) -> pl.DataFrame:
    """About ``n_rows`` step rows (whole groups; the last group is cut to fit) in the log's columns.

    Trajectory lengths are uniform in [2, max_steps]; about a third of trajectories win; ~5 % of actions
    are invalid ("Nothing happens."). Groups are spread evenly over ``iterations``.
    """
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("group_id", "episode_id", "rollout_index", "iteration", "step",
                                            "observation", "reward", "won", "invalid_action", "task_id")}
    g = 0
    while len(cols["step"]) < n_rows:
        places, contents = _room(rng)
        task = TASKS[int(rng.integers(len(TASKS)))].format(o=OBJECTS[int(rng.integers(len(OBJECTS)))],
                                                           r=RECEPTACLES[int(rng.integers(len(RECEPTACLES)))])
        intro = ("-= Welcome to TextWorld, ALFRED! =- You are in the middle of a room. Looking quickly around "
                 f"you, you see {', '.join('a ' + p for p in places)}. Your task is to: {task}.")
        iteration = g % iterations
        for e in range(group_size):
            length = int(rng.integers(2, max_steps + 1))
            won = bool(rng.random() < 0.35)
            for t in range(length):
                invalid = t > 0 and bool(rng.random() < 0.05)
                if t == 0:
                    obs = intro
                elif invalid:
                    obs = "Nothing happens."
                else:
                    p = places[int(rng.integers(len(places)))]
                    kind = int(rng.integers(3))
                    if kind == 0:
                        obs = f"You arrive at {p}. On the {p}, you see {contents[p]}."
                    elif kind == 1:
                        obs = f"You open the {p}. The {p} is open. In it, you see {contents[p]}."
                    else:
                        obs = f"You arrive at {p}. The {p} is closed."
                cols["group_id"].append(f"it{iteration}-g{g}")
                cols["episode_id"].append(f"it{iteration}-g{g}-e{e}")
                cols["rollout_index"].append(e)
                cols["iteration"].append(iteration)
                cols["step"].append(t)
                cols["observation"].append(obs)
                cols["reward"].append(1.0 if (won and t == length - 1) else 0.0)
                cols["won"].append(won)
                cols["invalid_action"].append(invalid)
                cols["task_id"].append(f"task-{g}")
        g += 1
    df = pl.DataFrame(cols, schema_overrides={"rollout_index": pl.Int32, "iteration": pl.Int32, "step": pl.Int32,
                                              "reward": pl.Float32})
    last_group = df["group_id"][min(n_rows, df.height) - 1]
    cut = df.head(n_rows)
    # keep whole groups: drop the partial last group unless it is the only one
    if cut["group_id"].n_unique() > 1 and cut.height < df.height:
        cut = cut.filter(pl.col("group_id") != last_group)
    return cut


def complete_log_columns(df: pl.DataFrame, run_id: str = "synthetic") -> pl.DataFrame:
    """Add the trajectory-log columns a synthetic frame lacks (action text, flags, returns, ...)."""
    last = pl.col("step") == pl.col("step").max().over("episode_id")
    extra = {
        "run_id": pl.lit(run_id), "env_id": pl.lit("proxmo/ALFWorld-v0"),
        "action": pl.lit("go to somewhere"), "admissible_actions": pl.lit(["look", "inventory"]),
        "terminated": last & pl.col("won"), "truncated": last & ~pl.col("won"),
        "episode_return": pl.col("reward").sum().over("episode_id"),
        "task_score": pl.col("won").cast(pl.Float32), "behavior_logprob": pl.lit(None, dtype=pl.Float32),
        "task_type": pl.lit(None, dtype=pl.String),
    }
    return df.with_columns(**{k: v for k, v in extra.items() if k not in df.columns})


def write_run(df: pl.DataFrame, out_dir, *, rows_per_part: int = 50_000, run_metadata: dict | None = None):
    """Write ``df`` (completed to the log schema) as a run folder: ``part-*.parquet`` + ``manifest.json``."""
    import json
    from pathlib import Path

    import pyarrow.parquet as pq

    from proxmo_envs.trajlog.schema import LOG_SCHEMA, MANIFEST_NAME, RUN_METADATA_KEY

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = run_metadata or {"env_id": "proxmo/ALFWorld-v0", "generator": "proxmo_analysis.credit.synthetic"}
    full = complete_log_columns(df).select(LOG_SCHEMA.names)
    schema = LOG_SCHEMA.with_metadata({RUN_METADATA_KEY: json.dumps(meta, sort_keys=True)})
    for k, start in enumerate(range(0, full.height, rows_per_part)):
        table = full.slice(start, rows_per_part).to_arrow().cast(schema)
        pq.write_table(table, out / f"part-{k:05d}.parquet", compression="zstd")
    (out / MANIFEST_NAME).write_text(json.dumps(meta, sort_keys=True))
    return out


def _group_rows(rng: np.random.Generator, g: int, iteration: int, group_size: int, max_steps: int) -> dict:
    """One task group of ``write_synthetic_run``: its distinct texts and, per row, the text's index."""
    places, contents = _room(rng)
    task = TASKS[int(rng.integers(len(TASKS)))].format(o=OBJECTS[int(rng.integers(len(OBJECTS)))],
                                                       r=RECEPTACLES[int(rng.integers(len(RECEPTACLES)))])
    intro = ("-= Welcome to TextWorld, ALFRED! =- You are in the middle of a room. Looking quickly around "
             f"you, you see {', '.join('a ' + p for p in places)}. Your task is to: {task}.")
    texts = [intro, "Nothing happens."]
    for p in places:
        texts += [f"You arrive at {p}. On the {p}, you see {contents[p]}.",
                  f"You open the {p}. The {p} is open. In it, you see {contents[p]}.",
                  f"You arrive at {p}. The {p} is closed."]
    lengths = rng.integers(2, max_steps + 1, size=group_size)
    won = rng.random(group_size) < 0.35
    n = int(lengths.sum())
    episode = np.repeat(np.arange(group_size), lengths)
    step = np.arange(n) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    invalid = (step > 0) & (rng.random(n) < 0.05)
    kind = 2 + 3 * rng.integers(len(places), size=n) + rng.integers(3, size=n)
    text = np.where(step == 0, 0, np.where(invalid, 1, kind))
    last = step == np.repeat(lengths - 1, lengths)
    return {"texts": texts, "text": text, "episode": episode, "step": step, "invalid": invalid,
            "won": won[episode], "last": last, "g": g, "iteration": iteration}


def synthetic_parts(n_rows: int, *, rows_per_part: int = 100_000, group_size: int = 8, max_steps: int = 50,
                    iterations: int = 1, seed: int = 0):
    """Yield about ``n_rows`` ALFWorld-like step rows as frames of whole groups of about ``rows_per_part``
    rows each (the log's columns, ``complete_log_columns`` applied). Vectorised per group, so 10^8 rows
    take minutes and memory stays at one part; same distributions as ``alfworld_like_log`` (not the same
    rows), including groups that recur over iterations (group ``g`` is in iteration ``g % iterations``)."""
    rng = np.random.default_rng(seed)
    total, g = 0, 0
    while total < n_rows:
        groups, rows = [], 0
        while rows < rows_per_part and total + rows < n_rows:
            groups.append(_group_rows(rng, g, g % iterations, group_size, max_steps))
            rows += len(groups[-1]["step"])
            g += 1
        offsets = np.cumsum([0] + [len(x["texts"]) for x in groups[:-1]])
        texts = pl.Series([t for x in groups for t in x["texts"]], dtype=pl.String)
        sizes = [len(x["step"]) for x in groups]
        gnum = np.repeat([x["g"] for x in groups], sizes)
        it = np.repeat([x["iteration"] for x in groups], sizes)
        episode = np.concatenate([x["episode"] for x in groups])
        frame = pl.DataFrame({
            "__g": gnum, "__e": episode, "__it": it,
            "observation": texts.gather(np.concatenate([x["text"] + o for x, o in zip(groups, offsets)])),
            "step": np.concatenate([x["step"] for x in groups]).astype(np.int32),
            "won": np.concatenate([x["won"] for x in groups]),
            "invalid_action": np.concatenate([x["invalid"] for x in groups]),
            "__last": np.concatenate([x["last"] for x in groups]),
        })
        group_id = pl.concat_str(pl.lit("it"), pl.col("__it"), pl.lit("-g"), pl.col("__g"))
        frame = frame.select(
            group_id.alias("group_id"),
            pl.concat_str(group_id, pl.lit("-e"), pl.col("__e")).alias("episode_id"),
            pl.col("__e").cast(pl.Int32).alias("rollout_index"), pl.col("__it").cast(pl.Int32).alias("iteration"),
            "step", "observation",
            (pl.col("won") & pl.col("__last")).cast(pl.Float32).alias("reward"),
            "won", "invalid_action", pl.concat_str(pl.lit("task-"), pl.col("__g")).alias("task_id"),
        )
        total += frame.height
        yield complete_log_columns(frame)


def write_synthetic_run(n_rows: int, out_dir, *, rows_per_part: int = 100_000, iterations: int = 1,
                        seed: int = 0, run_metadata: dict | None = None):
    """Write ``synthetic_parts(n_rows, ...)`` as a run folder (``part-*.parquet`` + ``manifest.json``),
    one part at a time; returns the folder."""
    import json
    from pathlib import Path

    import pyarrow.parquet as pq

    from proxmo_envs.trajlog.schema import LOG_SCHEMA, MANIFEST_NAME, RUN_METADATA_KEY

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = run_metadata or {"env_id": "proxmo/ALFWorld-v0", "generator": "proxmo_analysis.credit.synthetic"}
    schema = LOG_SCHEMA.with_metadata({RUN_METADATA_KEY: json.dumps(meta, sort_keys=True)})
    for k, frame in enumerate(synthetic_parts(n_rows, rows_per_part=rows_per_part, iterations=iterations,
                                              seed=seed)):
        pq.write_table(frame.select(LOG_SCHEMA.names).to_arrow().cast(schema), out / f"part-{k:05d}.parquet",
                       compression="zstd")
    (out / MANIFEST_NAME).write_text(json.dumps(meta, sort_keys=True))
    return out
