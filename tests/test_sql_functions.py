"""SQL functions for PostgREST apps (``install_sql_functions``): the same results as the
collection's own searches, over SQL, as an RLS-restricted ``authenticated`` role."""

from __future__ import annotations

import json
import uuid
import warnings
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError

DIM = 4


@pytest.fixture
def api(sql_conn: psycopg.Connection[Any]) -> Any:
    """A schema for the functions (as Supabase's ``public``), dropped afterwards."""
    name = f"api_{uuid.uuid4().hex[:10]}"
    sql_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    sql_conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _records(n: int = 120, seed: int = 0) -> list[tuple[str, list[float], dict[str, Any], str]]:
    rng = np.random.default_rng(seed)
    words = ["cats", "dogs", "birds", "fish"]
    out = []
    for i in range(n):
        md: dict[str, Any] = {"year": 1990 + i % 30, "tag": ["a", "b", "c"][i % 3], "n": i}
        if i % 7 == 0:
            md["tags"] = ["x", "y"] if i % 2 else ["y"]
        if i % 11 == 0:
            md["year"] = str(md["year"])  # type-strict ranges must skip these
        out.append((f"r{i:03d}", rng.normal(size=DIM).tolist(), md, f"about {words[i % 4]} {i}"))
    return out


def _vec(v: Any) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def _call(conn: psycopg.Connection[Any], query: str, *args: Any) -> list[tuple[Any, ...]]:
    return conn.execute(query, args).fetchall()


FILTERS = [
    None,
    {"tag": "a"},
    {"year": {"$gte": 2005}},
    {"year": {"$gt": "1995"}},
    {"$or": [{"tag": {"$in": ["a", "b"]}}, {"tags": {"$contains": "x"}}]},
    {"$not": {"tags": {"$exists": True}}},
    {"tag": {"$ne": "c"}, "n": {"$lt": 50}},
    {"tags": {"$eq": ["y"]}},
    {"tag": {"$like": "_"}},
    {"tag": {"$ilike": "A"}},
    {"n": {"$nin": [1, 2, 3]}},
]


@pytest.mark.parametrize("indexed", [True, False], ids=["hnsw", "exact"])
def test_match_function_returns_what_query_returns(client, sql_conn, api, indexed):
    col = client.get_or_create_collection("docs", dimension=DIM)
    col.upsert(_records())
    if indexed:
        col.create_index(measure="cosine_distance")
    created = col.install_sql_functions(api)
    assert created == [f"{api}.match_docs(vector, double precision, integer, jsonb)"]
    q = np.random.default_rng(1).normal(size=DIM).tolist()
    fn = f"{api}.match_docs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in FILTERS:
            for limit in (1, 7, 200):
                want = col.query(q, limit=limit, filters=f, include_value=True)
                got = _call(
                    sql_conn,
                    f"SELECT id, distance, similarity FROM {fn}(%s::vector, NULL, %s, %s::jsonb)",
                    _vec(q),
                    limit,
                    json.dumps(f or {}),
                )
                assert [r[0] for r in got] == [w[0] for w in want], f
                assert [r[1] for r in got] == pytest.approx([w[1] for w in want]), f
                assert [r[2] for r in got] == pytest.approx([1 - w[1] for w in want]), f
            # the threshold is the guides' similarity: 1 - cosine distance > match_threshold
            want = col.query(q, limit=50, filters=f, include_value=True, max_distance=0.6)
            got = _call(
                sql_conn,
                f"SELECT id FROM {fn}(%s::vector, 0.4, 50, %s::jsonb)",
                _vec(q),
                json.dumps(f or {}),
            )
            assert [r[0] for r in got] == [w[0] for w in want if w[1] < 0.6], f
    # the rows carry what the collection stores
    row = _call(sql_conn, f"SELECT * FROM {fn}(%s::vector, NULL, 1)", _vec(q))[0]
    item = col.get([row[0]])[0]
    assert row[1:3] == (item.text, item.metadata)


def test_hybrid_function_returns_what_hybrid_search_returns(vx, sql_conn, api):
    col = vx.get_or_create_collection("docs", dimension=DIM)
    col.upsert(_records())
    col.create_index(measure="cosine_distance")
    col.enable_full_text()
    created = col.install_sql_functions(api)
    assert [c.split("(")[0] for c in created] == [f"{api}.match_docs", f"{api}.hybrid_docs"]
    q = np.random.default_rng(2).normal(size=DIM).tolist()
    cases = [
        ("cats", {}, None),
        ("dogs or birds", {"full_text_weight": 2.0, "rrf_k": 10}, None),
        ("fish", {"semantic_weight": 0.0}, {"tag": "a"}),
        ("cats", {"full_text_weight": 0.0}, {"year": {"$lt": 2000}}),
    ]
    for text, weights, f in cases:
        want = col.hybrid_search(text, q, limit=8, filters=f, **weights)
        args = ", ".join(f"{k} => %s" for k in weights)
        got = _call(
            sql_conn,
            f"SELECT id, score, distance, content, metadata FROM {api}.hybrid_docs("
            f"%s, %s::vector, 8{', ' if args else ''}{args}, filter => %s::jsonb)",
            text,
            _vec(q),
            *weights.values(),
            json.dumps(f or {}),
        )
        assert [r[0] for r in got] == [h.id for h in want], (text, f)
        assert [r[1] for r in got] == pytest.approx([h.score for h in want])
        assert [r[2] for r in got] == [
            None if h.distance is None else pytest.approx(h.distance) for h in want
        ]
        assert [(r[3], r[4]) for r in got] == [(h.text, h.metadata) for h in want]


def test_langchain_contract_match_documents(client, sql_conn, api):
    """LangChain's Supabase vector store calls ``match_documents(query_embedding, match_count,
    filter)`` through PostgREST: named arguments, read from a JSON body; LangChain Python sends
    no match_count (it limits the rows with PostgREST's ``limit``)."""
    col = client.get_or_create_collection("docs", dimension=DIM)
    col.upsert(_records())
    col.create_index()
    created = col.install_sql_functions(api, langchain=True)
    assert created[-1] == f"{api}.match_documents(vector, integer, jsonb)"
    # the guide's signature: argument names, defaults and the returned columns
    row = sql_conn.execute(
        "SELECT pg_get_function_arguments(p.oid), pg_get_function_result(p.oid)"
        " FROM pg_proc p WHERE p.oid = to_regprocedure(%s)",
        (created[-1],),
    ).fetchone()
    assert row == (
        "query_embedding vector, match_count integer DEFAULT NULL::integer, "
        "filter jsonb DEFAULT '{}'::jsonb",
        "TABLE(id text, content text, metadata jsonb, similarity double precision)",
    )
    q = np.random.default_rng(3).normal(size=DIM).tolist()

    def rpc(body: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
        # what PostgREST runs for POST /rpc/match_documents (?limit=...)
        cols = [c for c in ("query_embedding", "match_count", "filter") if c in body]
        types = {"query_embedding": "vector", "match_count": "int", "filter": "jsonb"}
        statement = sql.SQL(
            "SELECT coalesce(json_agg(r), '[]') FROM (SELECT c.* FROM json_to_record(%s::json)"
            " AS a({defs}), LATERAL {fn}({args}) AS c{limit}) AS r"
        ).format(
            defs=sql.SQL(", ").join(sql.SQL(f"{c} {types[c]}") for c in cols),
            fn=sql.Identifier(api, "match_documents"),
            args=sql.SQL(", ").join(sql.SQL(f"{c} := a.{c}") for c in cols),
            limit=sql.SQL(f" LIMIT {int(limit)}" if limit else ""),
        )
        return sql_conn.execute(statement, (json.dumps(body),)).fetchone()[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # LangChain JS: query_embedding, match_count and an object filter
        got = rpc({"query_embedding": q, "match_count": 4, "filter": {"tag": "b"}})
        want = col.search(q, limit=4, filters={"tag": "b"})
        assert [g["id"] for g in got] == [h.id for h in want]
        assert [g["similarity"] for g in got] == pytest.approx([1 - h.distance for h in want])
        assert [(g["content"], g["metadata"]) for g in got] == [(h.text, h.metadata) for h in want]
        # LangChain Python: no match_count, PostgREST's limit; the filter is JSONB containment
        got = rpc({"query_embedding": q, "filter": {"tags": ["y"]}}, limit=3)
        contained = [r[0] for r in _records() if set(r[2].get("tags", [])) >= {"y"}]
        want = col.search(q, limit=3, filters={"tags": {"$contains": "y"}})
        assert [g["id"] for g in got] == [h.id for h in want]
        assert set(g["id"] for g in got) <= set(contained)
        got = rpc({"query_embedding": q}, limit=5)
        assert [g["id"] for g in got] == [h.id for h in col.search(q, limit=5)]


def test_filter_errors_are_sql_errors_naming_the_problem(client, sql_conn, api):
    col = client.get_or_create_collection("docs", dimension=DIM)
    col.upsert(_records(10))
    col.install_sql_functions(api)
    fn = f"{api}.match_docs"
    bad = [
        ({"year": {"$gtt": 1}}, "unknown operator"),
        ({"tags": ["x"]}, "bare list is ambiguous"),
        ({"$and": []}, "non-empty list"),
        ({"$nor": [{"a": 1}]}, "unknown logical operator"),
        ({"n": {"$gt": True}}, "expects a number or a string"),
        ({"n": {"$in": [[1]]}}, "list of strings, numbers"),
        ({"n": {"$exists": 1}}, "true or false"),
        ({"n": {"$like": "a\\"}}, "unescaped backslash"),
        ({"n": {}}, "empty operator dict"),
        ([1], "must be a JSON object"),
        ({"$not": {}}, "empty filter"),
    ]
    for f, message in bad:
        with pytest.raises(vecs_core.FilterError):  # the Python compiler refuses it too
            col.find(filters=f)  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
            _call(sql_conn, f"SELECT * FROM {fn}('[1,0,0,0]', NULL, 3, %s::jsonb)", json.dumps(f))
    deep: dict[str, Any] = {"n": 1}
    for _ in range(70):
        deep = {"$not": deep}
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="nested more than 64"):
        _call(sql_conn, f"SELECT * FROM {fn}('[1,0,0,0]', NULL, 3, %s::jsonb)", json.dumps(deep))
    many = {"n": {"$nin": [1]}, "$and": [{"n": {"$ne": i}} for i in range(4100)]}
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="the limit is 4096"):
        _call(sql_conn, f"SELECT * FROM {fn}('[1,0,0,0]', NULL, 3, %s::jsonb)", json.dumps(many))
    for args, message in [
        ("'[1,0,0,0]', NULL, 0", "match_count must be between 1 and 1000"),
        ("'[1,0,0,0]', NULL, 1001", "match_count must be between 1 and 1000"),
        ("'[1,0,0]', NULL, 3", "has 3 dimensions; the collection stores 4"),
        ("'[0,0,0,0]', NULL, 3", "zero vector"),
        ("'[1,0,0,0]', 'NaN', 3", "match_threshold must be a finite number"),
    ]:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
            _call(sql_conn, f"SELECT * FROM {fn}({args})")


def test_functions_use_the_collections_indexes(client, sql_conn, api):
    """The function body's statements, run as they are (the function runs them with EXECUTE),
    use the HNSW index, the metadata GIN index for the filter's count, and the full-text GIN
    index; and a call of the function scans the HNSW index (pg_stat_get_xact_numscans)."""
    from vecs_core._plans.sqlbodies import FunctionsPlan, hybrid_statement, match_statements

    col = client.get_or_create_collection("docs", dimension=DIM)
    col.upsert(_records(3000))
    built = col.create_index(measure="cosine_distance")
    col.enable_full_text()
    col.install_sql_functions(api)
    sql_conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(client.schema, "docs")))
    q = _vec(np.random.default_rng(4).normal(size=DIM))
    info = col._info
    plan = FunctionsPlan(
        info,
        vecs_core.IndexMeasure.cosine_distance,
        col.list_indexes()[0],
        (0, 8, 0),
        api,
        "match_docs",
        "hybrid_docs",
        False,
        None,
    )
    plain, filtered = match_statements(plan)
    body = sql_conn.execute(
        "SELECT prosrc FROM pg_proc WHERE oid = %s::regproc", (f"{api}.match_docs",)
    ).fetchone()[0]
    assert plain.as_string(None).replace("'", "''") in body  # the function runs this statement

    def translated(f: dict[str, Any]) -> str:
        fn = sql.Identifier(client.schema, "vecs_filter_sql")
        row = sql_conn.execute(sql.SQL("SELECT {}(%s::jsonb)").format(fn), (json.dumps(f),))
        return str(row.fetchone()[0])

    def explain(statement: str, *params: Any, seqscan: bool = True) -> str:
        with sql_conn.transaction():
            sql_conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            if not seqscan:  # small test data: show that the predicate is indexable
                sql_conn.execute("SET LOCAL enable_seqscan = off")
            types = ", ".join(t for t, _ in params)
            sql_conn.execute(f"PREPARE s ({types}) AS {statement}")
            try:
                values = ", ".join(sql.Literal(v).as_string(sql_conn) + "::" + t for t, v in params)
                rows = sql_conn.execute(f"EXPLAIN EXECUTE s({values})").fetchall()
            finally:
                sql_conn.execute("DEALLOCATE s")
        return "\n".join(r[0] for r in rows)

    args = (("vector", q), ("float8", None), ("int", 10))
    assert built.name in explain(plain.as_string(None), *args)
    broad = filtered.as_string(None).replace("\x00cond\x00", translated({"tag": "a"}))
    assert built.name in explain(broad, *args)  # the index branch (>= 2000 rows may match)
    selective = filtered.as_string(None).replace("\x00cond\x00", translated({"n": 17}))
    meta_index = sql_conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE %s",
        (client.schema, "%jsonb_path_ops%"),
    ).fetchone()[0]
    assert meta_index in explain(selective, *args, seqscan=False)  # GIN serves the filter
    config = ("pg_catalog", "english")
    hybrid = hybrid_statement(plan, config).as_string(None).replace("\x00cond\x00", "true")
    shown = explain(
        hybrid,
        ("text", "cats"),
        ("vector", q),
        ("int", 10),
        ("int", 40),
        ("float8", 1.0),
        ("float8", 1.0),
        ("int", 50),
    )
    assert built.name in shown
    fts = [
        ix
        for ix in sql_conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname LIKE 'ix_fts%%'",
            (client.schema,),
        ).fetchall()
    ]
    assert fts and fts[0][0] in shown
    # the function itself scans the vector index
    with sql_conn.transaction():
        _call(sql_conn, f"SELECT * FROM {api}.match_docs(%s::vector, NULL, 5)", q)
        scans = sql_conn.execute(
            "SELECT pg_stat_get_xact_numscans(%s::regclass)",
            (sql.Identifier(client.schema, built.name).as_string(sql_conn),),
        ).fetchone()[0]
    assert scans >= 1


def test_install_is_idempotent_and_drops_cleanly(vx, sql_conn, api):
    col = vx.get_or_create_collection("docs", dimension=DIM)
    col.upsert(_records(20))
    first = col.install_sql_functions(api, langchain="match_docs_lc")
    assert col.install_sql_functions(api, langchain="match_docs_lc") == first
    count = sql_conn.execute(
        "SELECT count(*) FROM pg_proc WHERE pronamespace = %s::regnamespace", (api,)
    ).fetchone()[0]
    assert count == 2  # no hybrid function: the collection has no full text
    with pytest.raises(ArgError, match="enable_full_text"):
        col.install_sql_functions(api, hybrid=True)
    assert col.drop_sql_functions(api, langchain="match_docs_lc") == first
    assert col.drop_sql_functions(api, langchain="match_docs_lc") == []
    assert col.install_sql_functions(api, name="v2") == [
        f"{api}.match_v2(vector, double precision, integer, jsonb)"
    ]
    assert _call(sql_conn, f"SELECT count(*) FROM {api}.match_v2('[1,0,0,0]', NULL, 5)") == [(5,)]
    # a function of the same name with other arguments would make .rpc() ambiguous
    sql_conn.execute(
        f"CREATE FUNCTION {api}.match_docs(x int) RETURNS int LANGUAGE sql AS 'SELECT 1'"
    )
    with pytest.raises(ArgError, match=r"exists with other arguments.*nothing was changed"):
        col.install_sql_functions(api)
    assert (
        sql_conn.execute(
            "SELECT count(*) FROM pg_proc"
            " WHERE proname = 'match_docs' AND pronamespace = %s::regnamespace",
            (api,),
        ).fetchone()[0]
        == 1
    )
    for bad, message in [
        ({"schema": "no_such_schema"}, "does not exist"),
        ({"schema": api, "name": "x" * 60}, "truncate"),
        ({"schema": api, "measure": "dot"}, "unknown measure"),
        ({"schema": api, "hybrid": "yes"}, "hybrid must be"),
        ({"schema": api, "langchain": 3}, "langchain must be"),
    ]:
        with pytest.raises(ArgError, match=message):
            col.install_sql_functions(**bad)


def test_names_with_quotes_and_percent(client, sql_conn, api):
    col = client.get_or_create_collection('my "docs" 100%', dimension=DIM)
    col.upsert(_records(30))
    col.create_index()
    col.enable_full_text()
    created = col.install_sql_functions(api)
    assert created[0] == f'{api}."match_my ""docs"" 100%"(vector, double precision, integer, jsonb)'
    fn = sql.Identifier(api, 'match_my "docs" 100%')
    rows = sql_conn.execute(
        sql.SQL("SELECT id FROM {}('[1,0,0,0]', NULL, 3, '{{\"tag\": \"a\"}}')").format(fn)
    ).fetchall()
    assert len(rows) == 3
    hyb = sql.Identifier(api, 'hybrid_my "docs" 100%')
    assert (
        sql_conn.execute(
            sql.SQL("SELECT count(*) FROM {}('cats', '[1,0,0,0]', 3)").format(hyb)
        ).fetchone()[0]
        == 3
    )


@pytest.mark.parametrize(
    ("storage", "measure"),
    [
        ("halfvec", "cosine_distance"),
        ("sparsevec", "max_inner_product"),
        ("vector", "l2_distance"),
        ("vector", "l1_distance"),
    ],
)
def test_other_kinds_and_measures(client, sql_conn, api, storage, measure):
    col = client.get_or_create_collection("docs", dimension=DIM, storage=storage)
    records = _records(60)
    col.upsert(records)
    col.create_index(measure=measure)
    col.enable_full_text()
    created = col.install_sql_functions(api)
    vtype = storage
    assert created[0] == f"{api}.match_docs({vtype}, double precision, integer, jsonb)"
    q = [0.5, -1.0, 0.25, 2.0]
    literal = "{1:0.5,2:-1,3:0.25,4:2}/4" if storage == "sparsevec" else _vec(q)
    want = col.query(q, limit=6, measure=measure, filters={"tag": "b"}, include_value=True)
    got = _call(
        sql_conn,
        f"SELECT id, distance, similarity FROM {api}.match_docs(%s::{vtype}, NULL, 6, %s)",
        literal,
        '{"tag": "b"}',
    )
    assert [r[0] for r in got] == [w[0] for w in want]
    assert [r[1] for r in got] == pytest.approx([w[1] for w in want], rel=1e-5)
    cosine = measure == "cosine_distance"  # similarity: 1 - distance, else -distance

    def similarity(d: float) -> float:
        return 1 - d if cosine else -d

    assert [r[2] for r in got] == pytest.approx([similarity(w[1]) for w in want], rel=1e-5)
    # the threshold keeps similarity > t
    t = similarity(float(np.median([w[1] for w in want])))
    kept = _call(
        sql_conn,
        f"SELECT id FROM {api}.match_docs(%s::{vtype}, %s, 6, %s)",
        literal,
        t,
        '{"tag": "b"}',
    )
    assert [r[0] for r in kept] == [w[0] for w in want if similarity(w[1]) > t]
    assert 0 < len(kept) < len(want)
    hits = col.hybrid_search("cats", q, limit=5, measure=measure)
    got = _call(sql_conn, f"SELECT id FROM {api}.hybrid_docs('cats', %s::{vtype}, 5)", literal)
    assert [r[0] for r in got] == [h.id for h in hits]


# -- Supabase-like setup: roles, JWT claims, RLS joining an owner table -------------------------


@pytest.fixture
def supabase(sql_conn: psycopg.Connection[Any]) -> Any:
    """Supabase's roles and ``auth.uid()`` (read from ``request.jwt.claim.sub`` or
    ``request.jwt.claims``), created once per server; left in place (roles are cluster-wide)."""
    sql_conn.execute("SELECT pg_advisory_lock(hashtext('vecs_core_tests:supabase'))")
    try:
        for role, extra in [("anon", ""), ("authenticated", ""), ("service_role", " BYPASSRLS")]:
            exists = sql_conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if exists.fetchone() is None:
                sql_conn.execute(f"CREATE ROLE {role} NOLOGIN{extra}")
        sql_conn.execute("CREATE SCHEMA IF NOT EXISTS auth")
        sql_conn.execute(
            "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$"
            " SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),"
            " (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid"
            " $$"
        )
        sql_conn.execute("GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role")
    finally:
        sql_conn.execute("SELECT pg_advisory_unlock(hashtext('vecs_core_tests:supabase'))")
    return None


def _claims(user: str) -> dict[str, str]:
    return {
        "request.jwt.claims": json.dumps({"sub": user, "role": "authenticated"}),
        "request.jwt.claim.sub": user,
    }


def test_rls_as_authenticated_over_sql_matches_the_core(vx, sql_conn, api, supabase, schema):
    """The guide's RAG-with-permissions setup: sections (the collection) carry a document_id;
    the policy lets a user see the sections of the documents they own."""
    col = vx.get_or_create_collection("sections", dimension=DIM)
    records = _records(90)
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    for i, (_, _, md, _) in enumerate(records):
        md["document_id"] = 1 + i % 3  # documents 1, 2 (alice) and 3 (bob)
    col.upsert(records)
    col.create_index()
    col.enable_full_text()
    col.install_sql_functions(api, langchain=True)
    s, table = sql.Identifier(schema), sql.Identifier(schema, "sections")
    docs = sql.Identifier(schema, "documents")
    for statement in [
        sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, name text, owner_id uuid NOT NULL)"),
        sql.SQL("INSERT INTO {} VALUES (1, 'a', %(a)s), (2, 'b', %(a)s), (3, 'c', %(b)s)"),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY"),
        sql.SQL(
            "CREATE POLICY own_documents ON {} FOR SELECT TO authenticated"
            " USING (owner_id = (SELECT auth.uid()))"
        ),
    ]:
        sql_conn.execute(statement.format(docs), {"a": alice, "b": bob})
    for statement in [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO authenticated").format(s),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO authenticated").format(sql.Identifier(api)),
        sql.SQL("GRANT SELECT ON {}, {} TO authenticated").format(table, docs),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table),
        sql.SQL(
            "CREATE POLICY own_sections ON {} FOR SELECT TO authenticated USING ("
            " (metadata ->> 'document_id')::bigint IN"
            " (SELECT id FROM {} WHERE owner_id = (SELECT auth.uid())))"
        ).format(table, docs),
    ]:
        sql_conn.execute(statement)
    owned = {alice: {1, 2}, bob: {3}}
    q = np.random.default_rng(5).normal(size=DIM).tolist()

    def as_user(user: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with sql_conn.transaction():
            sql_conn.execute("SET LOCAL ROLE authenticated")
            for name, value in _claims(user).items():
                sql_conn.execute("SELECT set_config(%s, %s, true)", (name, value))
            return _call(sql_conn, query, *args)

    f = json.dumps({"year": {"$gte": 1995}})
    for user in (alice, bob):
        view = vx.session(settings=_claims(user), role="authenticated")
        mine = view.get_or_create_collection("sections")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = mine.query(q, limit=10, include_value=True, filters={"year": {"$gte": 1995}})
        got = as_user(
            user,
            f"SELECT id, distance, metadata FROM {api}.match_sections(%s::vector, NULL, 10, %s)",
            _vec(q),
            f,
        )
        assert [r[0] for r in got] == [w[0] for w in want] and got
        assert {r[2]["document_id"] for r in got} <= owned[user]
        hits = mine.hybrid_search("cats", q, limit=10)
        got = as_user(
            user, f"SELECT id, metadata FROM {api}.hybrid_sections('cats', %s::vector, 10)", _vec(q)
        )
        assert [r[0] for r in got] == [h.id for h in hits] and got
        assert {r[1]["document_id"] for r in got} <= owned[user]
        got = as_user(user, f"SELECT metadata FROM {api}.match_documents(%s::vector, 50)", _vec(q))
        assert {r[0]["document_id"] for r in got} == owned[user]
    # anon sees nothing (no grant), the owner everything
    with sql_conn.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql_conn.execute("SET LOCAL ROLE anon")
        _call(sql_conn, f"SELECT * FROM {api}.match_sections(%s::vector, NULL, 10)", _vec(q))
    everyone = _call(
        sql_conn, f"SELECT metadata FROM {api}.match_documents(%s::vector, 100)", _vec(q)
    )
    assert {r[0]["document_id"] for r in everyone} == {1, 2, 3}


# -- the simple-workloads view --------------------------------------------------------------------


def test_expose_view_typed_columns(vx, sql_conn, api, supabase, schema):
    col = vx.get_or_create_collection("docs", dimension=3)
    col.upsert(
        [
            (
                "a",
                [1, 0, 0],
                {
                    "url": "/hello-world",
                    "n": 3,
                    "price": 2.5,
                    "ok": True,
                    "tags": ["x", "y"],
                    "when": "2024-05-01T10:00:00+00:00",
                    "big": 2**40,
                    "u": str(uuid.UUID(int=1)),
                },
                "hello",
            ),
            (
                "b",
                [0, 1, 0],
                {
                    "url": 7,
                    "n": 3.5,
                    "price": "cheap",
                    "ok": "yes",
                    "tags": ["x", 1],
                    "when": "not a date",
                    "big": 2**70,
                    "u": "nope",
                },
            ),
            ("c", [0, 0, 1], {"n": 2**31, "price": 1e300}),
        ]
    )
    columns = {
        "url": "text",
        "n": "integer",
        "price": "double precision",
        "ok": "bool",
        "tags": "text[]",
        "when": "timestamptz",
        "big": "bigint",
        "u": "uuid",
        "raw": "jsonb",
        "amount": "numeric",
    }
    name = col.expose_view(f"{api}.docs", columns)
    assert name == f"{api}.docs"
    assert col.expose_view(f"{api}.docs", columns) == name  # idempotent
    types = sql_conn.execute(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
        (f"{api}.docs",),
    ).fetchall()
    assert types == [
        ("id", "character varying"),
        ("embedding", "vector(3)"),
        ("metadata", "jsonb"),
        ("content", "text"),
        ("url", "text"),
        ("n", "integer"),
        ("price", "double precision"),
        ("ok", "boolean"),
        ("tags", "text[]"),
        ("when", "timestamp with time zone"),
        ("big", "bigint"),
        ("u", "uuid"),
        ("raw", "jsonb"),
        ("amount", "numeric"),
    ]
    rows = {
        r[0]: r[1:]
        for r in sql_conn.execute(
            f'SELECT id, url, n, price, ok, tags, "when" IS NOT NULL, big, u::text, content'
            f" FROM {api}.docs ORDER BY id"
        ).fetchall()
    }
    assert rows["a"] == (
        "/hello-world",
        3,
        2.5,
        True,
        ["x", "y"],
        True,
        2**40,
        str(uuid.UUID(int=1)),
        "hello",
    )
    assert rows["b"] == (None, None, None, None, None, False, None, None, None)
    assert rows["c"] == (None, None, 1e300, None, None, False, None, None, None)
    # the guide's client call: .from('docs').select(...).eq('url', '/hello-world')
    assert sql_conn.execute(
        f"SELECT id FROM {api}.docs WHERE url = %s", ("/hello-world",)
    ).fetchall() == [("a",)]
    # security_invoker: the caller's RLS applies through the view
    table = sql.Identifier(schema, "docs")
    sql_conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table))
    sql_conn.execute(
        sql.SQL("CREATE POLICY only_a ON {} FOR SELECT TO authenticated USING (id = 'a')").format(
            table
        )
    )
    for obj in [
        sql.SQL("SCHEMA {}").format(sql.Identifier(schema)),
        sql.SQL("SCHEMA {}").format(sql.Identifier(api)),
    ]:
        sql_conn.execute(sql.SQL("GRANT USAGE ON {} TO authenticated").format(obj))
    sql_conn.execute(
        sql.SQL("GRANT SELECT ON {}, {} TO authenticated").format(
            table, sql.Identifier(api, "docs")
        )
    )
    with sql_conn.transaction():
        sql_conn.execute("SET LOCAL ROLE authenticated")
        assert sql_conn.execute(f"SELECT id FROM {api}.docs").fetchall() == [("a",)]
    # errors: unknown types, clashing names, a changed view, a missing schema
    for bad, message in [
        ({"x": "money"}, "unknown type 'money'"),
        ({"metadata": "text"}, "already has a column"),
        ({"": "text"}, "must not be empty"),
        ({"x": 1}, "unknown type 1"),
    ]:
        with pytest.raises(ArgError, match=message):
            col.expose_view(f"{api}.other", bad)
    with pytest.raises(ArgError, match="drop_view"):
        col.expose_view(f"{api}.docs", {"url": "text"})
    with pytest.raises(ArgError, match="does not exist"):
        col.expose_view("missing_schema.docs")
    col.drop_view(f"{api}.docs")
    col.drop_view(f"{api}.docs")
    assert col.expose_view(f"{api}.docs", {"url": "text"}) == f"{api}.docs"


def test_match_function_uses_querys_growing_threshold(client, sql_conn, api):
    """The function's exact/index threshold is ``query()``'s (13 x sqrt(rows), at least 2,000),
    computed from the table's row estimate when the function runs: 2,100 of 40,000 rows
    match, above the floor and below the table's threshold, and the function returns the
    exact nearest rows, as ``query()`` does."""
    from vecs_core._plans import search
    from vecs_core._plans.sqlbodies import exact_threshold_sql

    col = client.get_or_create_collection("counted", dimension=2)
    threshold = exact_threshold_sql(sql.Identifier(client.schema, "counted"))
    assert sql_conn.execute(threshold).fetchone()[0] == search.EXACT_SEARCH_BELOW  # no rows yet
    rng = np.random.default_rng(12)
    data = rng.normal(size=(40_000, 2)).astype(np.float32)
    col.upsert((f"r{i}", v, {"some": i < 2100}) for i, v in enumerate(data))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=4))
    (rows,) = sql_conn.execute(
        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
        (f'"{client.schema}"."counted"',),
    ).fetchone()
    assert sql_conn.execute(threshold).fetchone()[0] == search.exact_search_below(rows) == 2600
    col.install_sql_functions(api)
    (body,) = sql_conn.execute(
        "SELECT prosrc FROM pg_proc WHERE oid = %s::regproc", (f"{api}.match_counted",)
    ).fetchone()
    assert threshold.as_string(None).replace("'", "''") in body
    q = rng.normal(size=2)
    got = sql_conn.execute(
        sql.SQL("SELECT id FROM {}.match_counted(%s::vector, NULL, 10, %s::jsonb)").format(
            sql.Identifier(api)
        ),
        (str(q.tolist()), json.dumps({"some": True})),
    ).fetchall()
    rows_ = data[:2100]
    cos = rows_ @ q / (np.linalg.norm(rows_, axis=1) * np.linalg.norm(q))
    want = [f"r{j}" for j in np.argsort(-cos, kind="stable")[:10]]
    assert [r[0] for r in got] == want == col.query(q, limit=10, filters={"some": True})
