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
an indexed collection, an exact search when fewer rows match than ``exact_search_below``, else
the index scan in relaxed order; the same planner settings, set for the call only through the
function's ``SET`` clauses) and runs it with ``EXECUTE ... USING``: the query vector, limits and
weights are bound parameters, the filter is the predicate ``vecs_filter_sql(filter)`` writes
(:mod:`.sqlfilter`). The statements are rendered in :mod:`.sqlbodies` from ``psycopg.sql``
compositions (names quoted) and embedded as string literals; nothing user-derived is formatted
into them.

Similarity (``match_threshold`` keeps rows whose similarity is greater, as in the guides):
``1 - distance`` for ``cosine_distance``; ``-distance`` for ``max_inner_product`` (the inner
product), ``l2_distance`` and ``l1_distance``. So a row is kept when ``distance < 1 -
match_threshold`` (cosine) or ``distance < -match_threshold`` (the others).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .._names import ident
from .._protocol import Execute, Plan
from ..exc import ArgError
from .sqlbodies import (
    FunctionsPlan,
    hybrid_body,
    match_body,
    settings_of,
    text_of,
)
from .sqlfilter import body_literal, helper_ddl


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
            for key, value in settings_of(plan)
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
    return text_of(
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
            "PostgREST calls ambiguous. Drop that function first, or pass name= to install "
            "under another name (nothing was changed)"
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
        (plan.match, MATCH_ARGS, MATCH_RETURNS, match_body(plan, False), "match"),
    ]
    if plan.hybrid is not None and config is not None:
        body = hybrid_body(plan, config)
        wanted.append((plan.hybrid, HYBRID_ARGS, HYBRID_RETURNS, body, "hybrid"))
    if plan.langchain is not None:
        body = match_body(plan, True)
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
