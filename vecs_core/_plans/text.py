"""Plans for text search: the full-text index, keyword search and hybrid search. Pure: no I/O.

Keyword search ranks rows whose document text (the ``text`` column) matches
``websearch_to_tsquery(language, query)`` by ``ts_rank_cd``. A collection's full text is served
by a GIN expression index on ``to_tsvector('<language>'::regconfig, coalesce(text, ''))`` in the
text search configuration chosen with ``enable_full_text(language=...)`` (any configuration the
server has; ``english`` by default). The language is read back from the catalog (the index
depends on its ``pg_ts_config`` entry), and changing it builds the new index concurrently before
the old one is dropped. Searching in another language computes the document vector on the fly
(correct, but a scan of every row). Collections set up by earlier versions have a stored
``fts`` column (english) instead; it keeps working, and ``enable_full_text()`` moves it to an
index. Hybrid search fuses a vector ranking and a keyword ranking with Reciprocal Rank Fusion
in one statement.

The configuration's name is written into the statement as a literal (``sql.Literal``, quoted by
psycopg) rather than bound: it is checked against the server's ``pg_ts_config`` first, and the
planner can only match the index expression against a constant.
"""

from __future__ import annotations

import hashlib
import uuid

import psycopg
from psycopg import sql

from .._filter_cache import CompiledFilter
from .._names import ident
from .._protocol import Execute, Plan
from .._records import query_step
from .._requests import HybridRequest, KeywordRequest
from .._sqlparams import Params
from .._types import Hit
from ..exc import ArgError, IndexBuildError
from .catalog import TEXT_COLUMN, TableInfo, add_text_column, table_info_plan, table_sql
from .indexes import locked

FTS_COLUMN = "fts"
"""The stored ``tsvector`` column of collections set up by earlier versions (english)."""
FTS_LANGUAGE = "english"
"""The default text search configuration."""

_ID, _META, _TEXT, _FTS = (sql.Identifier(c) for c in ("id", "metadata", TEXT_COLUMN, FTS_COLUMN))
_NONE = sql.SQL("")


def unknown_language(language: str, known: frozenset[str]) -> ArgError:
    return ArgError(
        f"unknown text search language {language!r}; this server has: {', '.join(sorted(known))}"
    )


def fts_index_name(name: str) -> str:
    """A stable per-table name for the GIN index (index names are unique per schema)."""
    return f"ix_fts_{hashlib.sha256(name.encode()).hexdigest()[:16]}"


_FTS_INDEXES = sql.SQL(
    """SELECT ic.relname::text, cfg.cfgname::text, i.indisvalid
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
  AND d.refclassid = 'pg_ts_config'::regclass
JOIN pg_ts_config cfg ON cfg.oid = d.refobjid
WHERE i.indrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = {s} AND c.relname = {n})
ORDER BY ic.oid"""
)


def document_sql(language: str) -> sql.Composable:
    """The full-text document of a row in ``language``: the indexed expression."""
    return sql.SQL("to_tsvector({}::regconfig, coalesce({}, ''))").format(
        sql.Literal(language), _TEXT
    )


def enable_full_text_plan(schema: str, name: str, language: str) -> Plan[TableInfo | None]:
    """Make the document text searchable in ``language``: add the ``text`` column if missing,
    build the GIN index over ``document_sql(language)`` with ``CREATE INDEX CONCURRENTLY`` (reads
    and writes go on), then drop the collection's other full-text indexes (an earlier language,
    an invalid leftover) and the stored ``fts`` column of earlier versions. Run outside a
    transaction, serialised per collection; idempotent. Returns the refreshed catalog entry.
    """
    info: TableInfo | None = yield from locked(
        f"fts:{schema}.{name}", _enable_full_text(schema, name, language)
    )
    return info


def _enable_full_text(schema: str, name: str, language: str) -> Plan[TableInfo | None]:
    table = table_sql(schema, name)
    yield add_text_column(table)
    found = yield Execute(
        _FTS_INDEXES.format(s=sql.Placeholder("s"), n=sql.Placeholder("n")),
        {"s": schema, "n": name},
    )
    keep = next((r[0] for r in found if r[1] == language and r[2]), None)
    if keep is None:
        keep = f"ix_fts_{hashlib.sha256(name.encode()).hexdigest()[:10]}_{uuid.uuid4().hex[:6]}"
        try:
            yield Execute(
                sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} USING gin ({})").format(
                    sql.Identifier(keep), table, document_sql(language)
                ),
                fetch="none",
            )
        except psycopg.Error as exc:
            yield Execute(
                sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(ident(schema, keep)),
                fetch="none",
            )
            raise IndexBuildError(
                f"building the {language} full-text index on {name!r} failed: "
                f"{str(exc).strip().splitlines()[0]}; the previous one (if any) is kept"
            ) from exc
    for old in [r[0] for r in found if r[0] != keep] + [fts_index_name(name)]:
        yield Execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(ident(schema, old)),
            fetch="none",
        )
    yield Execute(
        sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS {}").format(table, _FTS), fetch="none"
    )
    return (yield from table_info_plan(schema, name))


def languages_plan() -> Plan[frozenset[str]]:
    """Names of the server's text search configurations (``pg_ts_config``)."""
    rows = yield Execute(sql.SQL("SELECT cfgname::text FROM pg_ts_config"))
    return frozenset(r[0] for r in rows)


def _document(info: TableInfo, language: str) -> sql.Composable:
    """The tsvector of a row in ``language``: the stored column of an earlier version's
    collection (english), else the expression the full-text index serves (computed on the fly
    when the collection's index is in another language)."""
    if info.fts_language is None and FTS_COLUMN in info.columns and language == FTS_LANGUAGE:
        return _FTS
    return document_sql(language)


def _and_filter(where: CompiledFilter | None, params: Params) -> sql.Composable:
    if where is None:
        return sql.SQL("")
    params.values.update(where.params)
    return sql.SQL(" AND ") + where.condition


def _keyword_ranked(
    table: sql.Composable,
    doc: sql.Composable,
    text: str,
    language: str,
    where: CompiledFilter | None,
    limit: sql.Composable,
    params: Params,
    extra: sql.Composable,
) -> sql.Composed:
    query = sql.SQL("websearch_to_tsquery({}::regconfig, {})").format(
        sql.Literal(language), params.add(text, "text")
    )
    return sql.SQL(
        "SELECT t.{id}, ts_rank_cd({doc}, q.query)::float8 AS score{extra}"
        " FROM {table} t CROSS JOIN {query} AS q(query)"
        " WHERE {doc} @@ q.query{filt} ORDER BY score DESC, t.{id} LIMIT {limit}"
    ).format(
        id=_ID,
        doc=doc,
        extra=extra,
        table=table,
        query=query,
        filt=_and_filter(where, params),
        limit=limit,
    )


def keyword_plan(info: TableInfo, request: KeywordRequest, language: str) -> Plan[list[Hit]]:
    """The best keyword matches; ``language`` is the request's, or the collection's."""
    params = Params()
    extra = sql.SQL(", t.{}, t.{}").format(_META, _TEXT)
    query = _keyword_ranked(
        info.table,
        _document(info, language),
        request.text,
        language,
        request.where,
        params.add(request.options.limit),
        params,
        extra,
    )
    rows = yield Execute(query, params.values)
    return [Hit(r[0], None, r[2], r[3], None, float(r[1])) for r in rows]


def hybrid_plan(
    info: TableInfo,
    request: HybridRequest,
    language: str,
    distance: sql.Composable,
    settings: dict[str, str],
) -> Plan[list[Hit]]:
    """One statement: the ``candidates`` nearest rows and the ``candidates`` best keyword
    matches, each numbered by rank, full-outer-joined on id and ordered by the fused score
    ``semantic_weight / (rrf_k + semantic_rank) + full_text_weight / (rrf_k + keyword_rank)``
    (a side a row is missing from adds 0). ``distance`` is the search's distance expression
    over the bare ``vec`` column and the ``q`` parameter (see ``search.distance_sql``)."""
    params = Params()
    params.values["q"] = request.vector
    o = request.options
    table = info.table
    semantic_n, keyword_n = o.candidates
    n = params.add(semantic_n)
    semantic: sql.Composable = sql.SQL(
        "SELECT t.{id}, {distance} AS distance FROM {table} t WHERE true{filt}"
        " ORDER BY {distance} LIMIT {n}"
    ).format(id=_ID, distance=distance, table=table, filt=_and_filter(request.where, params), n=n)
    if o.max_distance is not None:  # cut after the nearest are found (see search._outer)
        semantic = sql.SQL("SELECT * FROM ({}) AS near WHERE distance <= {}").format(
            semantic, params.add(o.max_distance, "float8")
        )
    doc = _document(info, language)
    keyword = _keyword_ranked(
        table, doc, request.text, language, request.where, params.add(keyword_n), params, _NONE
    )
    query = sql.SQL(
        "WITH semantic AS (SELECT id, distance,"
        " row_number() OVER (ORDER BY distance, id) AS rank FROM ({semantic}) s),"
        " keyword AS (SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank"
        " FROM ({keyword}) k),"
        " fused AS (SELECT coalesce(s.id, k.id) AS id, s.distance,"
        " coalesce({sw} / ({rrf_k} + s.rank), 0) + coalesce({kw} / ({rrf_k} + k.rank), 0)"
        " AS score FROM semantic s FULL OUTER JOIN keyword k ON k.id = s.id)"
        " SELECT f.id, f.distance, t.{meta}, t.{text}, f.score"
        " FROM fused f JOIN {table} t ON t.{id} = f.id"
        " ORDER BY f.score DESC, f.id LIMIT {limit}"
    ).format(
        semantic=semantic,
        keyword=keyword,
        sw=params.add(o.semantic_weight, "float8"),
        kw=params.add(o.full_text_weight, "float8"),
        rrf_k=params.add(o.rrf_k, "int"),
        meta=_META,
        text=_TEXT,
        table=table,
        id=_ID,
        limit=params.add(o.limit),
    )
    rows = yield from query_step(Execute(query, params.values, binary=True, settings=settings))
    return [
        Hit(r[0], None if r[1] is None else float(r[1]), r[2], r[3], None, float(r[4]))
        for r in rows
    ]
