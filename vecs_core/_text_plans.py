"""Plans for text search: the full-text column and index, keyword search and hybrid search.

Pure: no I/O. Keyword search ranks rows whose document text (the ``text`` column) matches
``websearch_to_tsquery(language, query)`` by ``ts_rank_cd``. It is served by a stored generated
column ``fts tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(text, ''))) STORED``
and a GIN index on it; for any other text search configuration the document vector is computed on
the fly (correct, but a scan of every row). Hybrid search fuses a vector ranking and a keyword
ranking with Reciprocal Rank Fusion in one statement.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ._catalog import TEXT_COLUMN, TableInfo, _lock, add_text_column, table_info_plan, table_sql
from ._checks import check_encodable, safe_repr
from ._filters import compile_filter
from ._protocol import Execute, Plan
from ._records import VectorParam, query_step
from ._sqlparams import Params
from ._types import Hit
from .exc import ArgError

FTS_COLUMN = "fts"
FTS_LANGUAGE = "english"
"""The text search configuration of the stored ``fts`` column (the one the GIN index serves)."""

_ID, _META, _TEXT, _FTS, _VEC = (
    sql.Identifier(c) for c in ("id", "metadata", TEXT_COLUMN, FTS_COLUMN, "vec")
)


def check_query_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ArgError(f"the search text must be a non-empty string, got {safe_repr(text)}")
    if "\x00" in text:
        raise ArgError(f"the search text contains a NUL character: {text!r:.80}")
    check_encodable([text], "the search text")
    return text


def check_language(language: object) -> str:
    """Shape check only; the name is checked against ``pg_ts_config`` by the flow."""
    if not isinstance(language, str) or not language.strip() or "\x00" in language:
        raise ArgError(
            f"language must be the name of a text search configuration such as 'english', "
            f"got {safe_repr(language)}"
        )
    return language


def check_weight(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(
            f"{name} must be a number >= 0, got {type(value).__name__} {safe_repr(value)}"
        )
    weight = float(value)
    if not math.isfinite(weight) or weight < 0:
        raise ArgError(f"{name} must be a finite number >= 0, got {value!r}")
    return weight


def unknown_language(language: str, known: frozenset[str]) -> ArgError:
    return ArgError(
        f"unknown text search language {language!r}; this server has: {', '.join(sorted(known))}"
    )


def fts_index_name(name: str) -> str:
    """A stable per-table name for the GIN index (index names are unique per schema)."""
    return f"ix_fts_{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def enable_full_text_plan(schema: str, name: str) -> Plan[TableInfo | None]:
    """Add the ``text`` column, the generated ``fts`` column and its GIN index where missing.

    Idempotent and serialised per collection; adding ``fts`` rewrites the table once (the column
    is stored), so do it early on a big collection. Returns the refreshed catalog entry.
    """
    table = table_sql(schema, name)
    index = fts_index_name(name)
    yield _lock(f"vecs_core:{schema}.{name}")
    info = yield from table_info_plan(schema, name)
    has_index = False
    if info is None or FTS_COLUMN not in info.columns:
        yield add_text_column(table)
        yield Execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} tsvector GENERATED ALWAYS AS"
                " (to_tsvector({}::regconfig, coalesce({}, ''))) STORED"
            ).format(table, _FTS, sql.Literal(FTS_LANGUAGE), _TEXT),
            fetch="none",
        )
    else:
        row = yield Execute(
            sql.SQL("SELECT to_regclass(format('%%I.%%I', {}::text, {}::text)) IS NOT NULL").format(
                sql.Placeholder("s"), sql.Placeholder("i")
            ),
            {"s": schema, "i": index},
            fetch="one",
        )
        has_index = bool(row[0])
    if not has_index:  # skip when present: CREATE INDEX would lock out writes meanwhile
        yield Execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin ({})").format(
                sql.Identifier(index), table, _FTS
            ),
            fetch="none",
        )
    return (yield from table_info_plan(schema, name))


def languages_plan() -> Plan[frozenset[str]]:
    """Names of the server's text search configurations (``pg_ts_config``)."""
    rows = yield Execute(sql.SQL("SELECT cfgname::text FROM pg_ts_config"))
    return frozenset(r[0] for r in rows)


def _document(language: str, params: Params) -> sql.Composable:
    """The tsvector of a row: the indexed stored column, or computed for another language."""
    if language == FTS_LANGUAGE:
        return sql.SQL("t.{}").format(_FTS)
    return sql.SQL("to_tsvector({}, coalesce(t.{}, ''))").format(
        params.add(language, "regconfig"), _TEXT
    )


def _and_filter(filters: Mapping[str, Any] | None, params: Params) -> sql.Composable:
    cond = compile_filter(filters, sql.SQL("t.{}").format(_META), params)
    return sql.SQL("") if cond is None else sql.SQL(" AND ") + cond


@dataclass(frozen=True)
class KeywordSpec:
    """A validated keyword search (see ``Collection.keyword_search``)."""

    text: str
    language: str
    limit: int
    filters: Mapping[str, Any] | None


def _keyword_ranked(
    table: sql.Composable,
    text: str,
    language: str,
    filters: Mapping[str, Any] | None,
    limit: sql.Composable,
    params: Params,
    extra: sql.Composable,
) -> sql.Composed:
    doc = _document(language, params)
    query = sql.SQL("websearch_to_tsquery({}, {})").format(
        params.add(language, "regconfig"), params.add(text, "text")
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
        filt=_and_filter(filters, params),
        limit=limit,
    )


def keyword_plan(table: sql.Composable, spec: KeywordSpec) -> Plan[list[Hit]]:
    params = Params()
    extra = sql.SQL(", t.{}, t.{}").format(_META, _TEXT)
    query = _keyword_ranked(
        table, spec.text, spec.language, spec.filters, params.add(spec.limit), params, extra
    )
    rows = yield Execute(query, params.values)
    return [Hit(r[0], None, r[2], r[3], None, float(r[1])) for r in rows]


@dataclass(frozen=True)
class HybridSpec:
    """A validated hybrid search (see ``Collection.hybrid_search``)."""

    text: str
    language: str
    vector: VectorParam
    limit: int
    candidates: int
    filters: Mapping[str, Any] | None
    operator: str
    halfvec: bool
    dimension: int
    full_text_weight: float
    semantic_weight: float
    rrf_k: int
    settings: Mapping[str, str]


def hybrid_plan(table: sql.Composable, spec: HybridSpec) -> Plan[list[Hit]]:
    """One statement: the ``candidates`` nearest rows and the ``candidates`` best keyword
    matches, each numbered by rank, full-outer-joined on id and ordered by the fused score
    ``semantic_weight / (rrf_k + semantic_rank) + full_text_weight / (rrf_k + keyword_rank)``
    (a side a row is missing from adds 0)."""
    params = Params()
    vec = params.add(spec.vector, "vector")
    expr: sql.Composable = sql.SQL("t.{}").format(_VEC)
    if spec.halfvec:  # match the index expression so the planner can use it
        dim = sql.Literal(spec.dimension)
        expr = sql.SQL("({}::halfvec({}))").format(expr, dim)
        vec = sql.SQL("({}::halfvec({}))").format(vec, dim)
    distance = sql.SQL("({} {} {})").format(expr, sql.SQL(spec.operator), vec)
    n = params.add(spec.candidates)
    semantic = sql.SQL(
        "SELECT t.{id}, {distance} AS distance FROM {table} t WHERE true{filt}"
        " ORDER BY {distance} LIMIT {n}"
    ).format(id=_ID, distance=distance, table=table, filt=_and_filter(spec.filters, params), n=n)
    keyword = _keyword_ranked(table, spec.text, spec.language, spec.filters, n, params, sql.SQL(""))
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
        sw=params.add(spec.semantic_weight, "float8"),
        kw=params.add(spec.full_text_weight, "float8"),
        rrf_k=params.add(spec.rrf_k, "int"),
        meta=_META,
        text=_TEXT,
        table=table,
        id=_ID,
        limit=params.add(spec.limit),
    )
    rows = yield from query_step(Execute(query, params.values, binary=True, settings=spec.settings))
    return [
        Hit(r[0], None if r[1] is None else float(r[1]), r[2], r[3], None, float(r[4]))
        for r in rows
    ]
