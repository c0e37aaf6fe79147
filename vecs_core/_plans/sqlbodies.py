"""The statements and PL/pgSQL bodies of the SQL functions (see :mod:`.sqlapi`). Pure text,
rendered from ``psycopg.sql`` compositions: names are quoted identifiers, constants literals.

The filtered statements hold a marker where the filter's predicate goes; a body builds the
statement with PL/pgSQL string concatenation (``'...' || cond || '...'``) and runs it with
``EXECUTE ... USING`` (values bound). The statements are the ones ``Collection.query`` and
``Collection.hybrid_search`` send (see ``search.py`` and ``text.py``); the tests compare results.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from .._indexes import MEASURES, IndexMeasure, IndexMethod
from .._kinds import KINDS, column_expression, param_expression
from .._requests import MAX_LIMIT
from .catalog import TEXT_COLUMN, TableInfo
from .indexes import VectorIndex
from .search import EXACT_SEARCH_BELOW, EXACT_SEARCH_MAX, EXACT_SEARCH_SCALE, ITERATIVE_BOUNDS
from .sqlfilter import FILTER_SQL

_COND = "\x00cond\x00"  # where the filter predicate is spliced in (names never hold NUL)


@dataclass(frozen=True)
class FunctionsPlan:
    """What ``install_sql_functions`` decided: the collection, its state, and the names."""

    info: TableInfo
    measure: IndexMeasure
    index: VectorIndex | None  # the valid index serving ``measure``, if any
    version: tuple[int, ...]
    schema: str  # where the functions go
    match: str
    hybrid: str | None  # None: no hybrid function
    hybrid_required: bool  # False: skip it when the collection has no full-text index
    langchain: str | None  # the name of LangChain's function, or None


def similarity_sql(measure: IndexMeasure, distance: str) -> str:
    """The similarity of a row from its distance (see the module docstring)."""
    if measure is IndexMeasure.cosine_distance:
        return f"(1 - {distance})"
    return f"(-{distance})"


def _max_distance_sql(measure: IndexMeasure) -> str:
    if measure is IndexMeasure.cosine_distance:
        return "1 - match_threshold"
    return "-match_threshold"


def text_of(composable: sql.Composable) -> str:
    return composable.as_string(None)


def _lit(text: str) -> str:
    """A static string as a PL/pgSQL string literal."""
    return sql.Literal(text).as_string(None)


def _concat(statement: sql.Composable, cond: str = "cond") -> str:
    """A PL/pgSQL expression building ``statement`` (rendered) with the PL/pgSQL expression
    ``cond`` (the predicate) spliced in at each marker."""
    parts = text_of(statement).split(_COND)
    pieces = [_lit(parts[0])]
    for part in parts[1:]:
        pieces += [cond, _lit(part)]
    return " || ".join(pieces)


_MARK = sql.SQL(_COND)
_ID, _META, _DISTANCE = (sql.Identifier(c) for c in ("id", "metadata", "distance"))


@dataclass(frozen=True)
class _Shape:
    table: sql.Composable  # the collection's table
    distance: sql.Composable  # the distance over ``vec`` and the vector parameter (as indexed)
    content: sql.Composable  # the text column, or NULL::text


def _shape(plan: FunctionsPlan, vector_param: str) -> _Shape:
    """Plain ``sql.Identifier`` names (not ``ident``): the rendered text goes into a function
    body, which :func:`~.sqlfilter.body_literal` quotes as a whole."""
    info = plan.info
    kind = info.kind
    index_kind = KINDS[plan.index.kind] if plan.index is not None else kind
    distance = sql.SQL("({} {} {})").format(
        column_expression(kind, index_kind, info.dimension),
        sql.SQL(MEASURES[plan.measure].operator),
        param_expression(sql.SQL(vector_param), kind, index_kind, info.dimension),
    )
    content = sql.Identifier(TEXT_COLUMN) if info.has_text else sql.SQL("NULL::text")
    return _Shape(sql.Identifier(info.schema, info.name), distance, content)


def exact_threshold_sql(table: sql.Composable) -> sql.Composed:
    """``SELECT <threshold> AS c``: :func:`search.exact_search_below` of ``table``'s row
    estimate, computed in the database when a function runs (the threshold ``query()`` uses)."""
    return sql.SQL(
        "SELECT greatest({low}, least({high}, floor({scale} * sqrt(greatest(c.reltuples, 0)))"
        "::int)) AS c FROM pg_class c WHERE c.oid = {table}::regclass"
    ).format(
        low=sql.Literal(EXACT_SEARCH_BELOW),
        high=sql.Literal(EXACT_SEARCH_MAX),
        scale=sql.Literal(EXACT_SEARCH_SCALE),
        table=sql.Literal(table.as_string(None)),
    )


def match_statements(
    plan: FunctionsPlan, with_distance: bool = True
) -> tuple[sql.Composed, sql.Composed]:
    """The unfiltered and the filtered search statements of ``match_<name>`` (the filtered one
    holds the predicate marker). Parameters: ``$1`` query vector, ``$2`` distance bound (NULL:
    none), ``$3`` limit."""
    s = _shape(plan, "$1")
    inner = sql.SQL("SELECT {id}, {content} AS content, {meta}, {d} AS {dist} FROM {table}").format(
        id=_ID, content=s.content, meta=_META, d=s.distance, dist=_DISTANCE, table=s.table
    )
    out = sql.SQL("f.id::text, f.content, f.metadata, {}::float8{}").format(
        sql.SQL(similarity_sql(plan.measure, "f.distance")),
        sql.SQL(", f.distance::float8" if with_distance else ""),
    )
    # ``+ 0``: the outer sort re-sorts a relaxed (iterative) index scan's rows; PostgreSQL 17+
    # would skip a sort on the bare column of a subquery it knows is ordered (see search.py)
    tail = sql.SQL(" WHERE $2 IS NULL OR f.distance < $2 ORDER BY f.distance + 0")
    nearest = sql.SQL(" ORDER BY {} LIMIT $3").format(_DISTANCE)
    plain = sql.SQL("SELECT {} FROM ({}{}) AS f{}").format(out, inner, nearest, tail)
    if plan.index is None:
        filtered = sql.SQL("SELECT {} FROM ({} WHERE {}{}) AS f{}").format(
            out, inner, _MARK, nearest, tail
        )
        return plain, filtered
    cap = sql.SQL("(SELECT c FROM cap)")
    filtered = sql.SQL(
        "WITH cap AS MATERIALIZED ({threshold}),"
        " matching AS MATERIALIZED (SELECT count(*) AS n FROM"
        " (SELECT 1 FROM {table} WHERE {cond} LIMIT {cap}) AS m)"
        " SELECT {out} FROM (({inner} WHERE {cond} AND (SELECT n FROM matching) < {cap}"
        " ORDER BY 0 + {d} LIMIT $3) UNION ALL ({inner} WHERE {cond}"
        " AND (SELECT n FROM matching) >= {cap}{nearest})) AS f{tail}"
    ).format(
        threshold=exact_threshold_sql(s.table),
        table=s.table,
        cond=_MARK,
        cap=cap,
        out=out,
        inner=inner,
        d=s.distance,
        nearest=nearest,
        tail=tail,
    )
    return plain, filtered


def hybrid_statement(plan: FunctionsPlan, config: tuple[str, str]) -> sql.Composed:
    """The statement of ``hybrid_<name>`` (with the predicate marker). Parameters: ``$1`` query
    text, ``$2`` query vector, ``$3`` limit, ``$4`` candidates per side, ``$5`` semantic weight,
    ``$6`` full-text weight, ``$7`` rrf_k. ``config`` is the text search configuration of the
    collection's full-text index (schema, name), qualified so the index expression matches."""
    s = _shape(plan, "$2")
    regconfig = sql.SQL("{}::regconfig").format(sql.Literal(text_of(sql.Identifier(*config))))
    doc = sql.SQL("to_tsvector({}, coalesce({}, ''))").format(
        regconfig, sql.Identifier(TEXT_COLUMN)
    )
    return sql.SQL(
        "WITH semantic AS (SELECT id, distance,"
        " row_number() OVER (ORDER BY distance, id) AS rank FROM"
        " (SELECT t.id, {d} AS distance FROM {table} t WHERE true AND {cond}"
        " ORDER BY {d} LIMIT $4) s),"
        " keyword AS (SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank FROM"
        " (SELECT t.id, ts_rank_cd({doc}, q.query)::float8 AS score FROM {table} t"
        " CROSS JOIN websearch_to_tsquery({regconfig}, $1) AS q(query)"
        " WHERE {doc} @@ q.query AND {cond} ORDER BY score DESC, t.id LIMIT $4) k),"
        " fused AS (SELECT coalesce(s.id, k.id) AS id, s.distance,"
        " coalesce($5 / ($7 + s.rank), 0) + coalesce($6 / ($7 + k.rank), 0) AS score"
        " FROM semantic s FULL OUTER JOIN keyword k ON k.id = s.id)"
        " SELECT f.id::text, t.{text}, t.metadata, f.score::float8, f.distance::float8"
        " FROM fused f JOIN {table} t ON t.id = f.id ORDER BY f.score DESC, f.id LIMIT $3"
    ).format(
        d=s.distance,
        table=s.table,
        cond=_MARK,
        doc=doc,
        regconfig=regconfig,
        text=sql.Identifier(TEXT_COLUMN),
    )


def settings_of(plan: FunctionsPlan) -> list[tuple[str, str]]:
    """The planner settings every call starts from (the function's ``SET`` clauses, restored
    when it returns): those of an unfiltered search; a filtered one turns the iterative scan on
    for the call (pgvector >= 0.8), as ``Collection.query`` does."""
    settings = [("hnsw.ef_search", "40"), ("ivfflat.probes", "10")]
    if plan.version >= (0, 8, 0):
        settings += [("hnsw.iterative_scan", "off"), ("ivfflat.iterative_scan", "off")]
        settings += [ITERATIVE_BOUNDS[IndexMethod.hnsw], ITERATIVE_BOUNDS[IndexMethod.ivfflat]]
    return settings


def _relaxed(plan: FunctionsPlan) -> str:
    if plan.version < (0, 8, 0):
        return ""
    return (
        "    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);\n"
        "    PERFORM set_config('ivfflat.iterative_scan', 'relaxed_order', true);\n"
    )


def _vector_checks(plan: FunctionsPlan, param: str) -> str:
    """Refuse a query vector of the wrong dimension (pgvector's own error does not say which
    argument) and, for cosine distance, a zero vector (its distance to anything is NaN)."""
    info = plan.info
    checks = ""
    if info.kind.dense:
        checks += (
            f"  IF vector_dims({param}) <> {info.dimension} THEN\n"
            "    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format("
            f"'{param} has %s dimensions; the collection stores {info.dimension}',"
            f" vector_dims({param}));\n  END IF;\n"
        )
    if plan.measure is IndexMeasure.cosine_distance:
        norm = "vector_norm" if info.kind.name == "vector" else "l2_norm"
        checks += (
            f"  IF {norm}({param}) = 0 THEN\n"
            "    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE ="
            f" '{param} is a zero vector: its cosine distance to anything is undefined';\n"
            "  END IF;\n"
        )
    return checks


_COUNT_CHECK = (
    "  IF n < 1 OR n > {max} THEN\n"
    "    RAISE EXCEPTION USING ERRCODE = '22023',"
    " MESSAGE = format('match_count must be between 1 and {max}, got %s', n);\n  END IF;\n"
)


def match_body(plan: FunctionsPlan, langchain: bool) -> str:
    plain, filtered = match_statements(plan, with_distance=not langchain)
    filter_fn = text_of(sql.Identifier(plan.info.schema, FILTER_SQL))
    if langchain:  # LangChain's contract: containment, as the guide's match_documents
        cond = (
            "CASE WHEN filter IS NULL OR filter = '{}'::jsonb THEN NULL ELSE '(metadata @> $4)' END"
        )
        bound = "  dmax := NULL;\n"
    else:
        cond = f"{filter_fn}(filter)"
        bound = (
            "  IF match_threshold IS NOT NULL THEN\n"
            "    IF NOT (match_threshold > '-Infinity' AND match_threshold < 'Infinity') THEN\n"
            "      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format("
            "'match_threshold must be a finite number or NULL, got %s', match_threshold);\n"
            "    END IF;\n"
            f"    dmax := {_max_distance_sql(plan.measure)};\n  END IF;\n"
        )
    return (
        "DECLARE\n  n int := coalesce(match_count, {max});\n  cond text;\n  dmax float8;\nBEGIN\n"
        + _COUNT_CHECK
        + _vector_checks(plan, "query_embedding")
        + bound
        + f"  cond := {cond};\n"
        + "  PERFORM set_config('hnsw.ef_search', greatest(40, n)::text, true);\n"
        + "  IF cond IS NULL THEN\n"
        + f"    RETURN QUERY EXECUTE {_lit(text_of(plain))}"
        + " USING query_embedding, dmax, n, filter;\n"
        + "  ELSE\n"
        + _relaxed(plan)
        + f"    RETURN QUERY EXECUTE {_concat(filtered)} USING query_embedding, dmax, n, filter;\n"
        + "  END IF;\nEND\n"
    ).replace("{max}", str(MAX_LIMIT))


def hybrid_body(plan: FunctionsPlan, config: tuple[str, str]) -> str:
    filter_fn = text_of(sql.Identifier(plan.info.schema, FILTER_SQL))
    weights = (
        "  IF full_text_weight IS NULL OR semantic_weight IS NULL"
        " OR NOT (full_text_weight >= 0 AND full_text_weight < 'Infinity'"
        " AND semantic_weight >= 0 AND semantic_weight < 'Infinity') THEN\n"
        "    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('full_text_weight and"
        " semantic_weight must be finite numbers >= 0, got %s and %s', full_text_weight,"
        " semantic_weight);\n  END IF;\n"
        "  IF full_text_weight = 0 AND semantic_weight = 0 THEN\n"
        "    RAISE EXCEPTION USING ERRCODE = '22023',"
        " MESSAGE = 'full_text_weight and semantic_weight cannot both be 0';\n  END IF;\n"
        "  IF rrf_k IS NULL OR rrf_k < 1 THEN\n"
        "    RAISE EXCEPTION USING ERRCODE = '22023',"
        " MESSAGE = format('rrf_k must be >= 1, got %s', rrf_k);\n  END IF;\n"
        "  IF query_text IS NULL OR query_text ~ '^\\s*$' THEN\n"
        "    RAISE EXCEPTION USING ERRCODE = '22023',"
        " MESSAGE = 'query_text must be a non-empty string';\n  END IF;\n"
    )
    statement = hybrid_statement(plan, config)
    return (
        "DECLARE\n  n int := coalesce(match_count, {max});\n  candidates int;\n  cond text;\n"
        "BEGIN\n"
        + _COUNT_CHECK
        + weights
        + _vector_checks(plan, "query_embedding")
        + "  candidates := least(n * 4, {max});\n"
        + f"  cond := {filter_fn}(filter);\n"
        + "  PERFORM set_config('hnsw.ef_search', greatest(40, candidates)::text, true);\n"
        + "  IF cond IS NOT NULL THEN\n"
        + _relaxed(plan)
        + "  END IF;\n"
        + f"  RETURN QUERY EXECUTE {_concat(statement, 'coalesce(cond, $$true$$)')}"
        + " USING query_text, query_embedding, n, candidates, semantic_weight,"
        + " full_text_weight, rrf_k;\nEND\n"
    ).replace("{max}", str(MAX_LIMIT))
