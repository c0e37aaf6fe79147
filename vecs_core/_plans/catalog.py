"""Plans for the client: setup, collection lookup/creation/removal, versions. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from .._citus import Placement
from .._kinds import VectorKind, kind_of_type
from .._names import ident
from .._protocol import Execute, Plan
from ..exc import ArgError, CollectionAlreadyExists, MismatchedDimension
from . import distribution

TEXT_COLUMN = "text"


@dataclass(frozen=True)
class TableInfo:
    """What the catalog says about a collection's table."""

    name: str
    dimension: int
    columns: frozenset[str]
    kind: VectorKind
    schema: str = ""
    fts_language: str | None = None  # the language of the valid full-text index, if any

    @property
    def table(self) -> sql.Composable:
        return table_sql(self.schema, self.name)

    @property
    def full_text(self) -> str | None:
        """The language full-text search is set up in (an earlier version's stored ``fts``
        column is english), or None."""
        if self.fts_language is None and "fts" in self.columns:
            return "english"
        return self.fts_language

    @property
    def has_text(self) -> bool:
        return TEXT_COLUMN in self.columns


_TABLES = sql.SQL(
    """SELECT c.relname::text, a.atttypmod,
  ARRAY(SELECT x.attname::text FROM pg_attribute x
        WHERE x.attrelid = c.oid AND x.attnum > 0 AND NOT x.attisdropped),
  t.typname::text,
  (SELECT cfg.cfgname::text FROM pg_index i
   JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
     AND d.refclassid = 'pg_ts_config'::regclass
   JOIN pg_ts_config cfg ON cfg.oid = d.refobjid
   WHERE i.indrelid = c.oid AND i.indisvalid ORDER BY i.indexrelid DESC LIMIT 1),
  n.nspname::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'vec' AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE t.typname IN ('vector', 'halfvec', 'sparsevec') AND n.nspname = {schema}
  AND c.relkind IN ('r', 'p') AND NOT starts_with(c.relname, '_')"""
)


def _lock(key: str) -> Execute:
    return Execute(
        sql.SQL("SELECT pg_advisory_xact_lock(hashtextextended({}, 0))").format(
            sql.Placeholder("k")
        ),
        {"k": key},
        fetch="none",
    )


def _info(row: Any) -> TableInfo:
    kind = kind_of_type(row[3])
    assert kind is not None  # the query selects the known kinds only
    return TableInfo(
        name=row[0],
        dimension=int(row[1]),
        columns=frozenset(row[2]),
        kind=kind,
        schema=row[5],
        fts_language=row[4],
    )


def table_info_plan(schema: str, name: str) -> Plan[TableInfo | None]:
    query = _TABLES.format(schema=sql.Placeholder("schema")) + sql.SQL(
        " AND c.relname = {}"
    ).format(sql.Placeholder("name"))
    row = yield Execute(query, {"schema": schema, "name": name}, fetch="one")
    return None if row is None else _info(row)


def list_plan(schema: str) -> Plan[list[TableInfo]]:
    query = _TABLES.format(schema=sql.Placeholder("schema")) + sql.SQL(" ORDER BY 1")
    rows = yield Execute(query, {"schema": schema})
    return [_info(r) for r in rows]


def vector_version_plan() -> Plan[tuple[str | None, str | None]]:
    """The pgvector version (installed, else available) and the Citus version (None when the
    citus extension is not installed), in one statement."""
    row = yield Execute(
        sql.SQL(
            "SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'),"
            " (SELECT default_version FROM pg_available_extensions WHERE name = 'vector')),"
            " (SELECT extversion FROM pg_extension WHERE extname = 'citus')"
        ),
        fetch="one",
    )
    return (None, None) if row is None else (row[0], row[1])


def _setup_steps(schema: str) -> Plan[None]:
    """Create the pgvector extension and the schema when missing (under one advisory lock, so
    concurrent first calls do not race). Existing objects are not touched, so a role without
    CREATE privileges works on a database that is already set up."""
    yield _lock("vecs_core:setup")
    row = yield Execute(
        sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'),"
            " EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {})"
        ).format(sql.Placeholder("s")),
        {"s": schema},
        fetch="one",
    )
    if not row[0]:
        yield Execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"), fetch="none")
    if not row[1]:
        yield Execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident(schema)), fetch="none")


def table_sql(schema: str, name: str) -> sql.Composable:
    return ident(schema, name)


def create_plan(
    schema: str,
    name: str,
    dimension: int | None,
    kind: VectorKind | None,
    *,
    exist_ok: bool,
    placement: Placement | None = None,
    citus_version: str | None = None,
) -> Plan[TableInfo]:
    """Get or create a collection's table in one transaction, serialised per name.

    The table is laid out exactly as vecs lays it out (``id`` varchar primary key, ``vec
    vector(d) NOT NULL``, ``metadata jsonb NOT NULL DEFAULT '{}'``) plus a GIN ``jsonb_path_ops``
    index on metadata; ``kind`` may store ``halfvec(d)`` or ``sparsevec(d)`` instead. An
    existing table keeps its kind: asking for another one raises. On Citus, ``placement``
    distributes a new table in the same transaction, or is checked against an existing one.
    """
    yield from _setup_steps(schema)
    yield _lock(f"vecs_core:{schema}.{name}")
    info = yield from table_info_plan(schema, name)
    if info is not None:
        if not exist_ok:
            raise CollectionAlreadyExists(
                f"collection {name!r} already exists in schema {schema!r}; "
                "use get_or_create_collection to open it"
            )
        if dimension is not None and dimension != info.dimension:
            raise MismatchedDimension(
                f"collection {name!r} stores vectors of dimension {info.dimension}, "
                f"but dimension {dimension} was requested"
            )
        if kind is not None and kind.name != info.kind.name:
            raise ArgError(
                f"collection {name!r} stores {info.kind.name} vectors, but storage="
                f"{kind.name!r} was requested; open it without storage= (or with "
                f"storage={info.kind.name!r})"
            )
        if placement is not None and citus_version is not None:
            yield from distribution.check_placement_plan(schema, name, placement, citus_version)
        return info
    assert dimension is not None
    kind = kind or kind_of_type("vector")
    assert kind is not None
    table = table_sql(schema, name)
    yield Execute(
        sql.SQL(
            "CREATE TABLE {} (id character varying NOT NULL PRIMARY KEY,"
            " vec {}({}) NOT NULL, metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb)"
        ).format(table, sql.SQL(kind.name), sql.Literal(dimension)),
        fetch="none",
    )
    yield Execute(
        sql.SQL("CREATE INDEX {} ON {} USING gin (metadata jsonb_path_ops)").format(
            sql.Identifier(f"ix_meta_{uuid.uuid4().hex[:7]}"), table
        ),
        fetch="none",
    )
    if placement is not None and citus_version is not None:
        yield from distribution.distribute_plan(schema, name, placement, citus_version)
    columns = frozenset({"id", "vec", "metadata"})
    return TableInfo(name=name, dimension=dimension, columns=columns, kind=kind, schema=schema)


def drop_plan(schema: str, name: str) -> Plan[None]:
    yield _lock(f"vecs_core:{schema}.{name}")
    yield Execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table_sql(schema, name)), fetch="none")


def add_text_column(table: sql.Composable) -> Execute:
    """Add the nullable document-text column (idempotent; a catalog-only change)."""
    return Execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text").format(
            table, sql.Identifier(TEXT_COLUMN)
        ),
        fetch="none",
    )


def add_text_column_plan(schema: str, name: str) -> Plan[None]:
    yield _lock(f"vecs_core:{schema}.{name}")
    yield add_text_column(table_sql(schema, name))
