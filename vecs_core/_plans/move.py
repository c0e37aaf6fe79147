"""Plans for moving a collection to another database (``Client.move_collection``). Pure.

The move runs two transactions at once, one on each database (the driver code is in
``_apods.py``):

1. source: :func:`fence_plan` takes the collection's advisory lock and ``LOCK TABLE ... IN
   EXCLUSIVE MODE`` (the write fence: reads go on, writes wait), then counts the rows;
2. target: ``catalog.create_plan`` creates the table (refusing one that exists), the text
   column when the source has one, then binary ``COPY ... FROM STDIN`` receives the rows that
   the source sends with ``COPY (SELECT ...) TO STDOUT (FORMAT binary)``;
3. both sides count: the fenced source, the rows sent, the rows received, the target table;
4. source: ``DROP TABLE`` (which fails, rolling everything back, when views or other objects
   depend on it), then the target commits, then the source.

Until the target commits, a failure rolls both back and the source is as it was. A failure
between the two commits leaves two complete copies (nothing lost) and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from .._indexes import IndexArgsHNSW, IndexArgsIVFFlat, IndexMeasure, IndexMethod
from .._metaindex import MetadataIndex
from .._names import ident
from .._protocol import Execute, Plan
from ..exc import ArgError
from .catalog import TEXT_COLUMN, TableInfo, table_sql
from .indexes import VectorIndex

COPIED = ("id", "vec", "metadata")
"""The vecs table layout; ``text`` is copied too when the collection has it."""
DERIVED = ("fts",)
"""Columns that the target recomputes (an earlier version's generated full-text column)."""


@dataclass(frozen=True)
class VectorIndexSpec:
    """A vector index to build again on the target, as ``create_index`` takes it, with the
    search default ``Collection.tune`` stored for it (carried over: the rows are the same)."""

    method: IndexMethod
    measure: IndexMeasure
    args: IndexArgsHNSW | IndexArgsIVFFlat
    search_defaults: dict[str, Any] | None = None
    """``{"ef_search": ..., "tuned": {...}}`` (or ``probes``) as ``Collection.tune`` stored
    them, or None for an index that was not tuned."""


@dataclass(frozen=True)
class MoveSpec:
    """What the source holds: the table, its copied columns and the indexes to rebuild."""

    info: TableInfo
    columns: tuple[str, ...]
    vector_indexes: tuple[VectorIndexSpec, ...]
    metadata_indexes: tuple[MetadataIndex, ...]
    full_text: str | None


def vector_index_specs(
    known: Sequence[VectorIndex], info: TableInfo
) -> tuple[VectorIndexSpec, ...]:
    """The newest valid vector index per measure, as the catalog plan reads it
    (``indexes.all_indexes_plan``: measure, kind, quantization and re-rank from the opclass
    and the index comment, build options from ``reloptions``). A half precision index over a
    ``vector`` collection that could have a full precision one was built with
    ``quantization="halfvec"``."""
    can_quantize = info.kind.name == "vector" and info.dimension <= (
        info.kind.max_index_dimension or 0
    )
    specs: dict[IndexMeasure, VectorIndexSpec] = {}
    for index in reversed(known):  # the catalog lists them oldest first
        if not index.valid or index.measure in specs:
            continue
        args: IndexArgsHNSW | IndexArgsIVFFlat
        defaults: dict[str, Any] | None = None
        if index.method == IndexMethod.hnsw:
            quantized = index.quantization or (
                "halfvec" if index.halfvec and can_quantize else None
            )
            args = IndexArgsHNSW(
                m=index.m or 16,
                ef_construction=index.ef_construction or 64,
                quantization=quantized,
                rerank=index.rerank or 4,
            )
            if index.ef_search is not None:
                defaults = {"ef_search": index.ef_search}
        else:
            args = IndexArgsIVFFlat(n_lists=index.lists)
            if index.probes is not None:
                defaults = {"probes": index.probes}
        if defaults is not None:
            defaults["tuned"] = dict(index.tuned or {})
        specs[index.measure] = VectorIndexSpec(index.method, index.measure, args, defaults)
    return tuple(specs.values())


def copied_columns(info: TableInfo) -> tuple[str, ...]:
    """The columns to copy, in order.

    Raises:
        ArgError: the table has columns that are not part of the vecs layout (they would be
            lost): the collection is not moved.
    """
    extra = sorted(info.columns - {*COPIED, TEXT_COLUMN, *DERIVED})
    if extra:
        raise ArgError(
            f"collection {info.name!r} has columns outside the vecs layout ({', '.join(extra)}); "
            "move_collection copies id, vec, metadata and text only, so it refuses to move "
            "it: copy the table yourself"
        )
    return COPIED + ((TEXT_COLUMN,) if info.has_text else ())


def _column_list(columns: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def fence_plan(schema: str, name: str) -> Plan[int]:
    """Inside the source's transaction: the collection's lock (as ``catalog`` takes it), the
    write fence, and the row count under it."""
    yield Execute(
        sql.SQL("SELECT pg_advisory_xact_lock(hashtextextended({}, 0))").format(
            sql.Placeholder("k")
        ),
        {"k": f"vecs_core:{schema}.{name}"},
        fetch="none",
    )
    table = table_sql(schema, name)
    yield Execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table), {}, fetch="none")
    row = yield Execute(sql.SQL("SELECT count(*) FROM {}").format(table), {}, fetch="one")
    return int(row[0])


def copy_out_sql(schema: str, name: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
        _column_list(columns), table_sql(schema, name)
    )


def copy_in_sql(schema: str, name: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        table_sql(schema, name), _column_list(columns)
    )


def count_plan(schema: str, name: str) -> Plan[int]:
    row = yield Execute(
        sql.SQL("SELECT count(*) FROM {}").format(table_sql(schema, name)), {}, fetch="one"
    )
    return int(row[0])


def drop_plan(schema: str, name: str) -> Plan[None]:
    yield Execute(sql.SQL("DROP TABLE {}").format(ident(schema, name)), {}, fetch="none")
