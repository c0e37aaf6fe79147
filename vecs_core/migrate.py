"""Moving in: copy the tables other tools made into a collection.

One function per source layout, each ``f(collection, *, ...) -> MigrationResult``:

- :func:`from_documents`: the Supabase guides' ``documents`` table (``id bigserial``,
  ``content``, ``metadata jsonb``, ``embedding vector(n)``), or any table with an id, a vector
  and optionally text and metadata columns (names are arguments);
- :func:`from_langchain`: langchain-postgres' ``PGVector`` tables (``langchain_pg_embedding``
  rows of one ``langchain_pg_collection``);
- :func:`from_langchain_v2`: a langchain-postgres ``PGVectorStore`` table (``langchain_id``,
  ``content``, ``embedding``, ``langchain_metadata`` and metadata columns);
- :func:`from_llama_index`: a LlamaIndex ``PGVectorStore`` table (``data_<table_name>``:
  ``node_id``, ``text``, ``metadata_``, ``embedding``).

Tables made by Supabase ``vecs`` need no copy: they open in place
(``client.get_or_create_collection(name)`` with the client's ``schema="vecs"``).

How a copy runs: the source is read in one ``REPEATABLE READ`` snapshot (its rows counted
first), as the source server's ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)`` already shaped
like the collection's staging table (ids as text, metadata as a JSON object, the vector cast to
the collection's kind), and the raw binary stream goes, a buffer of about 1 MiB at a time, into
``COPY ... FROM STDIN (FORMAT BINARY)`` on the collection's side: memory stays bounded whatever
the table's size, and no row is decoded in Python. The collection's side is one transaction
(see ``vecs_core._plans.migrate``): rows are checked (ids, dimension, metadata objects,
duplicates), merged like an upsert (existing ids are updated), and counted at every step against
the source's count; if anything fails, the source midway included, nothing is written.

The source may be another database (``source="postgresql://..."``); by default it is the
collection's own. These functions take a sync :class:`~vecs_core.Collection`: the copy bridges
two connections (the source's ``COPY TO`` feeds the collection's ``COPY FROM``), which the async
driver's COPY step cannot take from an async source without a thread; a one-off batch gains
nothing from an event loop (async code can run it with ``asyncio.to_thread``).

:data:`LAYOUTS` and :func:`import_table` give the functions by name, for a command line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from ._connect import normalize_url
from ._names import validate_name
from ._plans.migrate import Copied, copy_plan
from ._protocol import Flow, Job
from ._sync import Collection
from ._zero_vectors import cosine_indexed
from .exc import ArgError, MigrationError, PermissionDenied

__all__ = [
    "LAYOUTS",
    "MigrationResult",
    "from_documents",
    "from_langchain",
    "from_langchain_v2",
    "from_llama_index",
    "import_table",
]

CHUNK_BYTES = 1 << 20
"""About how much of the COPY stream is held at once."""

# The reserved metadata keys ``vecs_integrations.llama_index`` reads (its node id and the keys
# whose value is an empty list); written here so a LlamaIndex table opens in that store as if
# it had written it. The core never imports an integration; a test pins the names.
LLAMA_NODE_ID_KEY = "_vecs_node_id"
LLAMA_EMPTY_KEYS_KEY = "_vecs_empty_keys"


class MigrationResult(NamedTuple):
    """What a copy did: ``rows`` copied from ``source`` into ``collection`` (all of them)."""

    rows: int
    source: str
    collection: str
    added_text_column: bool


@dataclass(frozen=True)
class _Layout:
    """How one source table maps to a collection's ``(id, vec, metadata, text)``."""

    schema: str
    table: str
    id: str
    vector: str
    text: str | None
    metadata: str | None  # a json or jsonb column, or None for {}
    metadata_columns: tuple[str, ...] = ()  # columns folded into the metadata (they win)
    where: sql.Composable = field(default_factory=lambda: sql.SQL(""))
    llama: bool = False  # add vecs_integrations.llama_index's reserved keys

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


# -- the source side ------------------------------------------------------------------------------


def _conninfo(collection: Collection, source: str | None) -> str:
    if source is not None:
        if not isinstance(source, str):
            raise ArgError(f"source must be a connection URL (str), got {type(source).__name__}")
        return normalize_url(source)
    client = collection.client
    if type(client._source).__name__ == "EngineSource":
        raise ArgError(
            "this client borrows connections from a SQLAlchemy engine; pass the source "
            "database's URL as source='postgresql://...'"
        )
    return str(client._options.resolve())


_COLUMNS = sql.SQL(
    "SELECT a.attname::text, t.typname::text, tn.nspname::text FROM pg_attribute a"
    " JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace"
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid = (SELECT c.oid FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s"
    " AND c.relname = %(t)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))"
    " ORDER BY a.attnum"
)


def _columns(conn: psycopg.Connection[Any], layout: _Layout) -> dict[str, tuple[str, str]]:
    """The source table's columns: name -> (type name, type schema).

    Raises:
        ArgError: no such table, or a column the layout needs is missing.
    """
    rows = conn.execute(_COLUMNS, {"s": layout.schema, "t": layout.table}).fetchall()
    if not rows:
        raise ArgError(
            f"source table {layout.name} not found (or not visible to this role); "
            "check schema= and the table name"
        )
    found = {r[0]: (r[1], r[2]) for r in rows}
    needed = [layout.id, layout.vector, *layout.metadata_columns]
    needed += [c for c in (layout.text, layout.metadata) if c is not None]
    missing = [c for c in needed if c not in found]
    if missing:
        raise ArgError(
            f"source table {layout.name} has no column {missing[0]!r} (it has "
            f"{', '.join(found)}); name the right one with the function's *_column argument"
        )
    return found


def _select(layout: _Layout, columns: Mapping[str, tuple[str, str]], kind: str) -> sql.Composed:
    """The source query, shaped like the staging table: ``(ord, id, vec, metadata, text)``."""
    vec_type, vec_schema = columns[layout.vector]
    if vec_type not in ("vector", "halfvec", "sparsevec"):
        raise ArgError(
            f"column {layout.vector!r} of {layout.name} is of type {vec_type}, not a pgvector "
            "type (vector, halfvec, sparsevec)"
        )
    vec: sql.Composable = sql.Identifier(layout.vector)
    if vec_type != kind:  # converted by the source server, in its pgvector schema
        vec = sql.SQL("{}::{}").format(vec, sql.Identifier(vec_schema, kind))
    meta: sql.Composable = sql.SQL("'{}'::jsonb")
    if layout.metadata is not None:
        meta = sql.SQL("coalesce({}::jsonb, '{{}}'::jsonb)").format(sql.Identifier(layout.metadata))
    if layout.metadata_columns:
        pairs = [
            sql.SQL("{}, {}").format(sql.Literal(c), sql.Identifier(c))
            for c in layout.metadata_columns
        ]
        meta = sql.SQL("({} || jsonb_build_object({}))").format(meta, sql.SQL(", ").join(pairs))
    if layout.llama:
        meta = _llama_metadata(meta, sql.Identifier(layout.id))
    text: sql.Composable = sql.SQL("NULL::text")
    if layout.text is not None:
        text = sql.SQL("{}::text").format(sql.Identifier(layout.text))
    return sql.SQL(
        "SELECT 0::int8, {id}::text, {vec}, {meta}, {text} FROM {table} AS src{where}"
    ).format(
        id=sql.Identifier(layout.id),
        vec=vec,
        meta=meta,
        text=text,
        table=sql.Identifier(layout.schema, layout.table),
        where=layout.where,
    )


def _llama_metadata(meta: sql.Composable, node_id: sql.Composable) -> sql.Composable:
    """LlamaIndex's stored metadata plus the node id and the empty-list keys under the names
    ``vecs_integrations.llama_index`` uses (the empty-list keys only when there are some)."""
    empty = sql.SQL(
        '(SELECT jsonb_agg(e.key ORDER BY e.key COLLATE "C") FROM jsonb_each(m.doc) AS e'
        " WHERE e.value = '[]'::jsonb)"
    )
    return sql.SQL(
        "(SELECT m.doc || jsonb_build_object({node_key}, {node_id})"
        " || CASE WHEN {empty} IS NULL THEN '{{}}'::jsonb"
        " ELSE jsonb_build_object({empty_key}, {empty}) END FROM (SELECT {meta} AS doc) AS m)"
    ).format(
        node_key=sql.Literal(LLAMA_NODE_ID_KEY),
        node_id=node_id,
        empty=empty,
        empty_key=sql.Literal(LLAMA_EMPTY_KEYS_KEY),
        meta=meta,
    )


def _stream(cursor: psycopg.Cursor[Any], query: sql.Composed, name: str) -> Iterator[bytes]:
    """The binary COPY stream of ``query``, in buffers of about :data:`CHUNK_BYTES`.

    Raises:
        MigrationError: reading the source failed midway (the collection's transaction, which
            this stream feeds, is then rolled back).
    """
    copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(query)
    try:
        with cursor.copy(copy_out) as copy:
            buffer: list[bytes] = []
            size = 0
            for data in copy:
                buffer.append(bytes(data))
                size += len(data)
                if size >= CHUNK_BYTES:
                    yield b"".join(buffer)
                    buffer, size = [], 0
            if buffer:
                yield b"".join(buffer)
    except psycopg.Error as exc:
        raise MigrationError(
            f"reading {name} failed midway: {str(exc).strip().splitlines()[0]}; nothing was written"
        ) from exc


# -- the collection's side ------------------------------------------------------------------------


def _copy_flow(
    collection: Collection, chunks: Callable[[], Iterator[bytes]], expected: int, layout: _Layout
) -> Flow[Copied]:
    cosine = yield from cosine_indexed(collection)
    target = collection._target
    with_text = layout.text is not None

    def plan() -> Any:
        return copy_plan(target, chunks(), expected, with_text, cosine, layout.name)

    copied: Copied = yield Job(plan, "transaction")
    if copied.added_text_column:
        yield from collection._refresh_info_flow()
    return copied


def _run(collection: Collection, layout: _Layout, source: str | None, where: Any = None) -> Any:
    """Read ``layout`` from ``source`` and copy it into ``collection`` (see the module
    docstring)."""
    if not isinstance(collection, Collection):
        raise ArgError(
            "vecs_core.migrate copies into a sync Collection (from create_client()); from "
            f"async code, run it with asyncio.to_thread. Got {type(collection).__name__}"
        )
    if layout.text is not None and not collection._target.has_text:
        if "role" in collection.client._settings:
            raise PermissionDenied(
                "the source has document text but the collection has no text column yet, and "
                "it is never added under a session role; have the collection's owner call "
                "enable_text() first"
            )
    conninfo = _conninfo(collection, source)
    with psycopg.connect(conninfo, autocommit=False) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        columns = _columns(conn, layout)
        if where is not None:
            layout = where(conn, layout)
        query = _select(layout, columns, collection.storage)
        counted = conn.execute(
            sql.SQL("SELECT count(*) FROM {} AS src{}").format(
                sql.Identifier(layout.schema, layout.table), layout.where
            )
        ).fetchone()
        expected = int(counted[0]) if counted else 0
        with conn.cursor() as cursor:
            copied = collection._do(
                _copy_flow(
                    collection, lambda: _stream(cursor, query, layout.name), expected, layout
                )
            )
        conn.rollback()  # read only: nothing to keep
    return MigrationResult(copied.rows, layout.name, collection.name, copied.added_text_column)


def _names(*names: tuple[str, object]) -> None:
    for what, value in names:
        validate_name(value, what=what)


def from_documents(
    collection: Collection,
    *,
    table: str = "documents",
    schema: str = "public",
    source: str | None = None,
    id_column: str = "id",
    vector_column: str = "embedding",
    text_column: str | None = "content",
    metadata_column: str | None = "metadata",
    metadata_columns: Sequence[str] = (),
) -> MigrationResult:
    """Copy the guides' ``documents`` table (or any table of the same shape) into
    ``collection``: ids as text (``1`` becomes ``"1"``), ``content`` as the document text,
    ``metadata`` (json or jsonb; NULL becomes ``{}``) as metadata, and the vector column.

    Args:
        table, schema: the source table.
        source: the source database's URL; default: the collection's database.
        id_column, vector_column, text_column, metadata_column: the source's column names;
            ``text_column``/``metadata_column`` may be None (the guide's hybrid-search table
            has no metadata column: pass ``metadata_column=None``).
        metadata_columns: more columns to fold into the metadata under their own names (e.g.
            ``("document_id",)`` of the RAG guide's ``document_sections``), winning over a key
            of the same name.

    Raises:
        ArgError: a missing table or column, a column that is not a pgvector type.
        RecordError: a row that cannot be stored (empty id, NULL or wrong-dimension vector,
            metadata that is not an object, a repeated id); nothing is written.
        MigrationError: the counts do not add up; nothing is written.
    """
    _names(
        ("schema name", schema),
        ("table name", table),
        ("id_column", id_column),
        ("vector_column", vector_column),
        *(("text_column", c) for c in [text_column] if c is not None),
        *(("metadata_column", c) for c in [metadata_column] if c is not None),
        *(("metadata_columns", c) for c in metadata_columns),
    )
    layout = _Layout(
        schema,
        table,
        id_column,
        vector_column,
        text_column,
        metadata_column,
        tuple(metadata_columns),
    )
    result: MigrationResult = _run(collection, layout, source)
    return result


def from_langchain(
    collection: Collection,
    *,
    collection_name: str = "langchain",
    schema: str = "public",
    source: str | None = None,
) -> MigrationResult:
    """Copy one langchain-postgres ``PGVector`` collection (the rows of
    ``langchain_pg_embedding`` whose ``collection_id`` is the ``langchain_pg_collection`` named
    ``collection_name``; langchain's default name is ``"langchain"``): ``id`` as the id,
    ``document`` as text, ``cmetadata`` as metadata.

    Raises:
        ArgError: no such tables or langchain collection (the message lists the names found).
        RecordError, MigrationError: as :func:`from_documents`; nothing is written.
    """
    _names(("schema name", schema))
    if not isinstance(collection_name, str) or not collection_name:
        raise ArgError(f"collection_name must be a non-empty string, got {collection_name!r}")
    layout = _Layout(schema, "langchain_pg_embedding", "id", "embedding", "document", "cmetadata")

    def where(conn: psycopg.Connection[Any], layout: _Layout) -> _Layout:
        table = sql.Identifier(schema, "langchain_pg_collection")
        rows = conn.execute(sql.SQL("SELECT uuid, name FROM {}").format(table)).fetchall()
        wanted = [r[0] for r in rows if r[1] == collection_name]
        if not wanted:
            names = ", ".join(repr(r[1]) for r in rows[:20]) or "none"
            raise ArgError(
                f"langchain collection {collection_name!r} not found in "
                f"{schema}.langchain_pg_collection (found: {names}); pass collection_name="
            )
        cond = sql.SQL(" WHERE src.collection_id = {}::uuid").format(sql.Literal(str(wanted[0])))
        return replace(layout, where=cond)

    result: MigrationResult = _run(collection, layout, source, where)
    return result


def from_langchain_v2(
    collection: Collection,
    *,
    table: str,
    schema: str = "public",
    source: str | None = None,
    id_column: str = "langchain_id",
    content_column: str = "content",
    embedding_column: str = "embedding",
    metadata_json_column: str | None = "langchain_metadata",
    metadata_columns: Sequence[str] | None = None,
) -> MigrationResult:
    """Copy a langchain-postgres ``PGVectorStore`` table (``PGEngine.init_vectorstore_table``).

    The metadata is rebuilt as ``PGVectorStore`` reads it back: the JSON column, then each
    metadata column on top (a NULL column gives a ``null`` value). ``metadata_columns`` default
    to every column that is not the id, content, embedding or JSON column.

    Raises:
        ArgError, RecordError, MigrationError: as :func:`from_documents`.
    """
    _names(
        ("schema name", schema),
        ("table name", table),
        ("id_column", id_column),
        ("content_column", content_column),
        ("embedding_column", embedding_column),
        *(("metadata_json_column", c) for c in [metadata_json_column] if c is not None),
        *(("metadata_columns", c) for c in metadata_columns or ()),
    )
    known = {id_column, content_column, embedding_column, metadata_json_column}
    layout = _Layout(schema, table, id_column, embedding_column, content_column, None)

    def extra(conn: psycopg.Connection[Any], layout: _Layout) -> _Layout:
        found = _columns(conn, layout)
        json_col = metadata_json_column if metadata_json_column in found else None
        cols = metadata_columns
        if cols is None:
            cols = [c for c in found if c not in known]
        return replace(layout, metadata=json_col, metadata_columns=tuple(cols))

    result: MigrationResult = _run(collection, layout, source, extra)
    return result


def from_llama_index(
    collection: Collection,
    *,
    table_name: str = "llamaindex",
    schema: str = "public",
    source: str | None = None,
) -> MigrationResult:
    """Copy a LlamaIndex ``PGVectorStore`` table: ``data_<table_name>`` (the store adds the
    ``data_`` prefix; its default ``table_name`` is ``"llamaindex"``). The node id
    (``node_id``) becomes the id, ``text`` the text, ``metadata_`` (LlamaIndex's node metadata,
    ``_node_content`` included) the metadata, plus the keys ``vecs_integrations.llama_index``
    reads, so the collection opens in that store with the same nodes.

    Raises:
        ArgError, RecordError, MigrationError: as :func:`from_documents`.
    """
    _names(("schema name", schema), ("table name", f"data_{table_name}"))
    layout = _Layout(
        schema, f"data_{table_name}", "node_id", "embedding", "text", "metadata_", llama=True
    )
    result: MigrationResult = _run(collection, layout, source)
    return result


LAYOUTS: dict[str, Callable[..., MigrationResult]] = {
    "documents": from_documents,
    "langchain": from_langchain,
    "langchain-v2": from_langchain_v2,
    "llama-index": from_llama_index,
}
"""The copy functions by source layout name (for a command line: ``import_table``)."""


def import_table(layout: str, collection: Collection, **options: Any) -> MigrationResult:
    """Run the copy function of ``layout`` (a key of :data:`LAYOUTS`) with ``options``.

    Raises:
        ArgError: an unknown layout or option; what the function raises.
    """
    function = LAYOUTS.get(layout) if isinstance(layout, str) else None
    if function is None:
        raise ArgError(f"unknown source layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    try:
        return function(collection, **options)
    except TypeError as exc:
        if "keyword argument" not in str(exc):
            raise
        raise ArgError(f"{layout}: {exc}") from None
