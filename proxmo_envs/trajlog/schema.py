"""The trajectory-log schema (spec ``trajectory-log.md``): one row per environment step.

The pyarrow schema here is the contract between the environments, which write it, and
``proxmo_analysis``, which reads it. Column types are exact: ``int32`` indices, ``float32`` rewards and
scores, ``large_string`` text (observations can be long), ``list<large_string>`` action lists; only
``behavior_logprob`` and ``task_type`` may hold nulls.
"""

from __future__ import annotations

import pyarrow as pa

#: Bumped on any change to the required columns or their meaning.
SCHEMA_VERSION = 1

#: Key of the run metadata (JSON) in every Parquet file's key-value metadata.
RUN_METADATA_KEY = "proxmo.run"

#: Key of the credit-assignment metadata the analysis adds when re-scoring.
CREDIT_METADATA_KEY = "proxmo.credit"

#: Name of the visible part files inside a run folder (glob).
PART_GLOB = "part-*.parquet"

MANIFEST_NAME = "manifest.json"
FAILURES_NAME = "failures.jsonl"

_FIELDS = [
    pa.field("run_id", pa.large_string(), nullable=False),
    pa.field("env_id", pa.large_string(), nullable=False),
    pa.field("task_id", pa.large_string(), nullable=False),
    pa.field("group_id", pa.large_string(), nullable=False),
    pa.field("episode_id", pa.large_string(), nullable=False),
    pa.field("rollout_index", pa.int32(), nullable=False),
    pa.field("iteration", pa.int32(), nullable=False),
    pa.field("step", pa.int32(), nullable=False),
    pa.field("observation", pa.large_string(), nullable=False),
    pa.field("action", pa.large_string(), nullable=False),
    pa.field("admissible_actions", pa.list_(pa.field("item", pa.large_string())), nullable=False),
    pa.field("reward", pa.float32(), nullable=False),
    pa.field("terminated", pa.bool_(), nullable=False),
    pa.field("truncated", pa.bool_(), nullable=False),
    pa.field("invalid_action", pa.bool_(), nullable=False),
    pa.field("episode_return", pa.float32(), nullable=False),
    pa.field("won", pa.bool_(), nullable=False),
    pa.field("task_score", pa.float32(), nullable=False),
    pa.field("behavior_logprob", pa.float32(), nullable=True),
    pa.field("task_type", pa.large_string(), nullable=True),
]

#: The required columns, in the order they are written.
LOG_SCHEMA: pa.Schema = pa.schema(_FIELDS)

REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in _FIELDS)

#: Columns that may hold nulls; every other required column must not.
NULLABLE_COLUMNS: frozenset[str] = frozenset(f.name for f in _FIELDS if f.nullable)

#: Columns ``proxmo_analysis.score`` adds (float32); listed so readers can tell them from unknown ones.
ANALYSIS_COLUMNS: tuple[str, ...] = ("return_to_go", "adv_episode", "adv_step", "advantage")


def schema_with_metadata(metadata: dict[str, str]) -> pa.Schema:
    """The log schema carrying ``metadata`` (str -> str, e.g. ``{RUN_METADATA_KEY: json}``)."""
    return LOG_SCHEMA.with_metadata({k.encode(): v.encode() for k, v in metadata.items()})


def type_matches(expected: pa.DataType, actual: pa.DataType) -> bool:
    """Whether a column of type ``actual`` satisfies the spec type ``expected``.

    Text may be stored as ``string`` or ``large_string`` (and lists as ``list`` or ``large_list``): other
    Parquet writers (DuckDB, Spark) choose the 32-bit offsets and readers see the same values. Numeric and
    boolean types must match exactly.
    """
    if pa.types.is_large_string(expected):
        return pa.types.is_large_string(actual) or pa.types.is_string(actual) or pa.types.is_string_view(actual)
    if pa.types.is_list(expected):
        if not (pa.types.is_list(actual) or pa.types.is_large_list(actual) or pa.types.is_list_view(actual)):
            return False
        return type_matches(expected.value_type, actual.value_type)
    return expected.equals(actual)


__all__ = [
    "SCHEMA_VERSION",
    "RUN_METADATA_KEY",
    "CREDIT_METADATA_KEY",
    "PART_GLOB",
    "MANIFEST_NAME",
    "FAILURES_NAME",
    "LOG_SCHEMA",
    "REQUIRED_COLUMNS",
    "NULLABLE_COLUMNS",
    "ANALYSIS_COLUMNS",
    "schema_with_metadata",
    "type_matches",
]
