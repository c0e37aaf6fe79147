"""Plans for the SQL functions and views that PostgREST apps call. Pure: no I/O.

``install_sql_functions`` creates, in one transaction:

- ``match_<name>(query_embedding, match_threshold, match_count, filter jsonb default '{}')``
  returning ``id, content, metadata, similarity, distance``, nearest first;
- ``hybrid_<name>(query_text, query_embedding, match_count, full_text_weight = 1,
  semantic_weight = 1, rrf_k = 50, filter jsonb default '{}')`` returning ``id, content,
  metadata, score, distance``, best first (when the collection has full text);
- optionally LangChain's Supabase contract ``match_documents(query_embedding, match_count
  default null, filter jsonb default '{}')`` returning ``id, content, metadata, similarity``.

Each is ``LANGUAGE plpgsql STABLE SECURITY INVOKER``: it runs with the caller's privileges, so
Row Level Security on the collection's table holds. Its body builds the same statement as
``Collection.query``/``Collection.hybrid_search`` (the same shapes: for a filtered search over
an indexed collection, an exact search when fewer than ``EXACT_SEARCH_BELOW`` rows match, else
the index scan in relaxed order; the same planner settings, set for the call only through the
function's ``SET`` clauses) and runs it with ``EXECUTE ... USING``: the query vector, limits and
weights are bound parameters, the filter is the predicate ``vecs_filter_sql(filter)`` writes
(:mod:`.sqlfilter`). The statements are rendered here from ``psycopg.sql`` compositions (names
quoted) and embedded as string literals; nothing user-derived is formatted into them.

Similarity (``match_threshold`` keeps rows whose similarity is greater, as in the guides):
``1 - distance`` for ``cosine_distance``; ``-distance`` for ``max_inner_product`` (the inner
product), ``l2_distance`` and ``l1_distance``. So a row is kept when ``distance < 1 -
match_threshold`` (cosine) or ``distance < -match_threshold`` (the others).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from .._indexes import MEASURES, IndexMeasure, IndexMethod
from .._kinds import KINDS, column_expression, param_expression
from .._names import ident
from .._protocol import Execute, Plan
from .._requests import MAX_LIMIT
from ..exc import ArgError
from .catalog import TEXT_COLUMN, TableInfo
from .indexes import VectorIndex
from .search import EXACT_SEARCH_BELOW, ITERATIVE_BOUNDS
from .sqlfilter import FILTER_SQL, body_literal, helper_ddl

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


def _text(composable: sql.Composable) -> str:
    return composable.as_string(None)


def _lit(text: str) -> str:
    """A static string as a PL/pgSQL string literal."""
    return sql.Literal(text).as_string(None)


def _concat(statement: sql.Composable, cond: str = "cond") -> str:
    """A PL/pgSQL expression building ``statement`` (rendered) with the PL/pgSQL expression
    ``cond`` (the predicate) spliced in at each marker."""
    parts = _text(statement).split(_COND)
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
    tail = sql.SQL(" WHERE $2 IS NULL OR f.distance < $2 ORDER BY f.distance")
    nearest = sql.SQL(" ORDER BY {} LIMIT $3").format(_DISTANCE)
    plain = sql.SQL("SELECT {} FROM ({}{}) AS f{}").format(out, inner, nearest, tail)
    if plan.index is None:
        filtered = sql.SQL("SELECT {} FROM ({} WHERE {}{}) AS f{}").format(
            out, inner, _MARK, nearest, tail
        )
        return plain, filtered
    cap = sql.Literal(EXACT_SEARCH_BELOW)
    filtered = sql.SQL(
        "WITH matching AS MATERIALIZED (SELECT count(*) AS n FROM"
        " (SELECT 1 FROM {table} WHERE {cond} LIMIT {cap}) AS m)"
        " SELECT {out} FROM (({inner} WHERE {cond} AND (SELECT n FROM matching) < {cap}"
        " ORDER BY 0 + {d} LIMIT $3) UNION ALL ({inner} WHERE {cond}"
        " AND (SELECT n FROM matching) >= {cap}{nearest})) AS f{tail}"
    ).format(
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
    regconfig = sql.SQL("{}::regconfig").format(sql.Literal(_text(sql.Identifier(*config))))
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


def _settings(plan: FunctionsPlan) -> list[tuple[str, str]]:
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


def _match_body(plan: FunctionsPlan, langchain: bool) -> str:
    plain, filtered = match_statements(plan, with_distance=not langchain)
    filter_fn = _text(sql.Identifier(plan.info.schema, FILTER_SQL))
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
        + f"    RETURN QUERY EXECUTE {_lit(_text(plain))} USING query_embedding, dmax, n, filter;\n"
        + "  ELSE\n"
        + _relaxed(plan)
        + f"    RETURN QUERY EXECUTE {_concat(filtered)} USING query_embedding, dmax, n, filter;\n"
        + "  END IF;\nEND\n"
    ).replace("{max}", str(MAX_LIMIT))


def _hybrid_body(plan: FunctionsPlan, config: tuple[str, str]) -> str:
    filter_fn = _text(sql.Identifier(plan.info.schema, FILTER_SQL))
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


def _vector_type(plan: FunctionsPlan, vector_schema: str, value: bool = False) -> sql.Composable:
    """``schema.vector(d)`` (``halfvec``, ``sparsevec``): the query vector's type. ``value``:
    for text sent as a bound value (no ``%`` doubling, see :func:`~vecs_core._names.ident`)."""
    name = (sql.Identifier if value else ident)(vector_schema, plan.info.kind.name)
    return sql.SQL("{}({})").format(name, sql.Literal(plan.info.dimension))


def _create(
    plan: FunctionsPlan,
    vector_schema: str,
    name: str,
    args: str,
    returns: str,
    body: str,
    comment: str,
) -> list[sql.Composed]:
    settings = [
        sql.SQL("SET search_path = pg_catalog, {}, pg_temp").format(ident(vector_schema)),
        *(
            sql.SQL("SET {} = {}").format(sql.SQL(key), sql.Literal(value))
            for key, value in _settings(plan)
        ),
    ]
    create = sql.SQL(
        "CREATE OR REPLACE FUNCTION {name}({args}) RETURNS TABLE ({returns})"
        " LANGUAGE plpgsql STABLE SECURITY INVOKER {settings} AS {body}"
    ).format(
        name=ident(plan.schema, name),
        args=sql.SQL(args).format(vector=_vector_type(plan, vector_schema)),
        returns=sql.SQL(returns),
        settings=sql.SQL(" ").join(settings),
        body=body_literal(body),
    )
    note = sql.SQL("COMMENT ON FUNCTION {}({}) IS {}").format(
        ident(plan.schema, name),
        sql.SQL(_signature_types(args)).format(vector=_vector_type(plan, vector_schema)),
        body_literal(comment),
    )
    return [create, note]


def _signature_types(args: str) -> str:
    """``"a {vector}, b int DEFAULT 1"`` -> ``"{vector}, int"``: the argument types."""
    types = []
    for arg in args.split(", "):
        words = arg.split(" DEFAULT ")[0].split(" ", 1)
        types.append(words[1])
    return ", ".join(types)


MATCH_ARGS = (
    "query_embedding {vector}, match_threshold float8, match_count int, filter jsonb DEFAULT '{{}}'"
)
MATCH_RETURNS = "id text, content text, metadata jsonb, similarity float8, distance float8"
HYBRID_ARGS = (
    "query_text text, query_embedding {vector}, match_count int,"
    " full_text_weight float8 DEFAULT 1, semantic_weight float8 DEFAULT 1,"
    " rrf_k int DEFAULT 50, filter jsonb DEFAULT '{{}}'"
)
HYBRID_RETURNS = "id text, content text, metadata jsonb, score float8, distance float8"
LANGCHAIN_ARGS = (
    "query_embedding {vector}, match_count int DEFAULT NULL, filter jsonb DEFAULT '{{}}'"
)
LANGCHAIN_RETURNS = "id text, content text, metadata jsonb, similarity float8"


def _lock() -> Execute:
    return Execute(
        sql.SQL("SELECT pg_advisory_xact_lock(hashtextextended({}, 0))").format(
            sql.Placeholder("k")
        ),
        {"k": "vecs_core:sql_functions"},
        fetch="none",
    )


_VECTOR_SCHEMA = sql.SQL(
    "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'vector'"
)
_SCHEMA_EXISTS = sql.SQL("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {})")
_FTS_CONFIG = sql.SQL(
    """SELECT cn.nspname::text, cfg.cfgname::text FROM pg_index i
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
  AND d.refclassid = 'pg_ts_config'::regclass
JOIN pg_ts_config cfg ON cfg.oid = d.refobjid
JOIN pg_namespace cn ON cn.oid = cfg.cfgnamespace
WHERE i.indisvalid AND i.indrelid = (SELECT c.oid FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {s} AND c.relname = {n})
ORDER BY i.indexrelid DESC LIMIT 1"""
)
_FUNCTIONS = sql.SQL(
    "SELECT p.oid::int8, quote_ident(n.nspname) || '.' || quote_ident(p.proname)"
    " || '(' || oidvectortypes(p.proargtypes) || ')'"
    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = {s} AND p.proname = {n} ORDER BY p.oid"
)


def check_schema(schema: str) -> Plan[None]:
    row = yield Execute(_SCHEMA_EXISTS.format(sql.Placeholder("s")), {"s": schema}, fetch="one")
    if not row[0]:
        raise ArgError(
            f"schema {schema!r} does not exist; create it first (CREATE SCHEMA), or pick one "
            "your API exposes (Supabase exposes 'public')"
        )


def _existing(schema: str, name: str) -> Plan[list[tuple[int, str]]]:
    """(oid, ``schema.name(types)``) of the functions ``name`` in ``schema``."""
    rows = yield Execute(
        _FUNCTIONS.format(s=sql.Placeholder("s"), n=sql.Placeholder("n")),
        {"s": schema, "n": name},
    )
    return [(int(r[0]), str(r[1])) for r in rows]


def _signature(plan: FunctionsPlan, vector_schema: str, name: str, args: str) -> str:
    """``schema.name(types)`` of one of our functions, for ``to_regprocedure``."""
    return _text(
        sql.SQL("{}({})").format(
            sql.Identifier(plan.schema, name),
            sql.SQL(_signature_types(args)).format(
                vector=_vector_type(plan, vector_schema, value=True)
            ),
        )
    )


def _only_one(schema: str, name: str, signature: str) -> Plan[str]:
    """The signature of the function ``signature`` names, after checking that it is the only
    function called ``name`` in ``schema``: another one (other arguments, e.g. from a
    collection of another vector kind, or made by hand) would make PostgREST's ``.rpc()``
    ambiguous ("could not choose the best candidate function")."""
    ours = yield from _oid(signature)
    found = yield from _existing(schema, name)
    others = [sig for oid, sig in found if oid != ours]
    if others:
        raise ArgError(
            f"function {others[0]} exists with other arguments; a second {name!r} would make "
            f"PostgREST calls ambiguous. Drop it first (DROP FUNCTION {others[0]}), or pass "
            "name= to install under another name (nothing was changed)"
        )
    return next(sig for oid, sig in found if oid == ours)


def _oid(signature: str) -> Plan[int | None]:
    row = yield Execute(
        sql.SQL("SELECT to_regprocedure({})::oid::int8").format(sql.Placeholder("sig")),
        {"sig": signature},
        fetch="one",
    )
    return None if row[0] is None else int(row[0])


def install_plan(plan: FunctionsPlan) -> Plan[list[str]]:
    """Create (or replace) the translator functions in the collection's schema and the
    collection's SQL functions in ``plan.schema``; return their signatures."""
    yield _lock()
    row = yield Execute(_VECTOR_SCHEMA, fetch="one")
    if row is None:
        raise ArgError("the pgvector extension is not installed in this database")
    vector_schema = str(row[0])
    yield from check_schema(plan.schema)
    info = plan.info
    config = None
    if plan.hybrid is not None:
        found = yield Execute(
            _FTS_CONFIG.format(s=sql.Placeholder("s"), n=sql.Placeholder("n")),
            {"s": info.schema, "n": info.name},
            fetch="one",
        )
        if found is None and plan.hybrid_required:
            raise ArgError(
                f"collection {info.name!r} has no full-text index, which hybrid_{info.name} "
                "needs; call enable_full_text() first, or pass hybrid=False"
            )
        if found is not None:
            config = (str(found[0]), str(found[1]))
    wanted: list[tuple[str, str, str, str, str]] = [
        (plan.match, MATCH_ARGS, MATCH_RETURNS, _match_body(plan, False), "match"),
    ]
    if plan.hybrid is not None and config is not None:
        body = _hybrid_body(plan, config)
        wanted.append((plan.hybrid, HYBRID_ARGS, HYBRID_RETURNS, body, "hybrid"))
    if plan.langchain is not None:
        body = _match_body(plan, True)
        wanted.append((plan.langchain, LANGCHAIN_ARGS, LANGCHAIN_RETURNS, body, "langchain"))
    for statement in helper_ddl(info.schema):
        yield Execute(statement, fetch="none")
    created = []
    for name, args, returns, body, what in wanted:
        comment = (
            f"vecs-core: {what} search over collection {info.schema}.{info.name} "
            f"({plan.measure.value}); made by install_sql_functions(), replaced when it runs again"
        )
        for statement in _create(plan, vector_schema, name, args, returns, body, comment):
            try:
                yield Execute(statement, fetch="none")
            except psycopg.errors.InvalidFunctionDefinition as exc:
                raise ArgError(
                    f"cannot replace function {plan.schema}.{name}: "
                    f"{str(exc).strip().splitlines()[0]}; drop it first "
                    "(drop_sql_functions()), then install again"
                ) from exc
        signature = _signature(plan, vector_schema, name, args)
        created.append((yield from _only_one(plan.schema, name, signature)))
    return created


def drop_plan(plan: FunctionsPlan) -> Plan[list[str]]:
    """Drop the collection's SQL functions named by ``plan`` (exactly the signatures
    ``install_plan`` creates; other functions of the same names are left alone); return the
    signatures dropped. The translator functions stay: other collections' functions use them.
    """
    yield _lock()
    row = yield Execute(_VECTOR_SCHEMA, fetch="one")
    vector_schema = "public" if row is None else str(row[0])
    named = [(plan.match, MATCH_ARGS), (plan.hybrid, HYBRID_ARGS), (plan.langchain, LANGCHAIN_ARGS)]
    dropped = []
    for name, args in named:
        if name is None:
            continue
        oid = yield from _oid(_signature(plan, vector_schema, name, args))
        if oid is None:
            continue
        signature = next(sig for o, sig in (yield from _existing(plan.schema, name)) if o == oid)
        yield Execute(
            sql.SQL("DROP FUNCTION {}({})").format(
                ident(plan.schema, name),
                sql.SQL(_signature_types(args)).format(vector=_vector_type(plan, vector_schema)),
            ),
            fetch="none",
        )
        dropped.append(signature)
    return dropped
