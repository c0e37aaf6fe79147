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
    """A vector index to build again on the target, as ``create_index`` takes it."""

    method: IndexMethod
    measure: IndexMeasure
    args: IndexArgsHNSW | IndexArgsIVFFlat


@dataclass(frozen=True)
class MoveSpec:
    """What the source holds: the table, its copied columns and the indexes to rebuild."""

    info: TableInfo
    columns: tuple[str, ...]
    vector_indexes: tuple[VectorIndexSpec, ...]
    metadata_indexes: tuple[MetadataIndex, ...]
    full_text: str | None


_VECTOR_INDEXES = sql.SQL(
    """SELECT ic.relname::text, am.amname::text, coalesce(ic.reloptions, '{{}}')
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = {} AND c.relname = {})
  AND am.amname IN ('hnsw', 'ivfflat') AND i.indisvalid
ORDER BY ic.oid DESC"""
)


def _options(reloptions: Sequence[str]) -> dict[str, int]:
    found = {}
    for item in reloptions:
        key, _, value = item.partition("=")
        if value.isdigit():
            found[key] = int(value)
    return found


def vector_index_specs(
    rows: Sequence[Sequence[Any]], known: Sequence[VectorIndex], info: TableInfo
) -> tuple[VectorIndexSpec, ...]:
    """The newest valid vector index per measure, with its build arguments. ``known``: the
    indexes as the catalog plan reads them (``indexes.all_indexes_plan``: measure, kind,
    quantization and re-rank, from the opclass and the index comment); ``rows`` add each
    one's build options (``m``, ``ef_construction``, ``lists``) by name. A half precision
    index over a ``vector`` collection that could have a full precision one was built with
    ``quantization="halfvec"``."""
    by_name = {index.name: index for index in known}
    can_quantize = info.kind.name == "vector" and info.dimension <= (
        info.kind.max_index_dimension or 0
    )
    specs: dict[IndexMeasure, VectorIndexSpec] = {}
    for name, method, reloptions in rows:
        index = by_name.get(name)
        if index is None or index.measure in specs:
            continue
        options = _options(reloptions)
        args: IndexArgsHNSW | IndexArgsIVFFlat
        if method == "hnsw":
            quantized = index.quantization or (
                "halfvec" if index.halfvec and can_quantize else None
            )
            args = IndexArgsHNSW(
                m=options.get("m", 16),
                ef_construction=options.get("ef_construction", 64),
                quantization=quantized,
                rerank=index.rerank or 4,
            )
        else:
            args = IndexArgsIVFFlat(n_lists=options.get("lists"))
        specs[index.measure] = VectorIndexSpec(IndexMethod(method), index.measure, args)
    return tuple(specs.values())


def vector_indexes_plan(
    schema: str, name: str, known: Sequence[VectorIndex], info: TableInfo
) -> Plan[tuple[VectorIndexSpec, ...]]:
    rows = yield Execute(
        _VECTOR_INDEXES.format(sql.Placeholder("s"), sql.Placeholder("n")),
        {"s": schema, "n": name},
    )
    return vector_index_specs(rows, known, info)


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
