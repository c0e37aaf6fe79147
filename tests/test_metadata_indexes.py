"""Indexed metadata keys (``index_metadata``): built concurrently, listed, dropped, and used by
filters and by the adaptive filtered search; what a filter matches never changes (the property
test ``test_sql_agrees_with_reference_with_metadata_indexes`` checks that)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError

N = 20_000


@pytest.fixture
def priced(client: vecs_core.Client, sql_conn: Any, schema: str) -> Any:
    col = client.get_or_create_collection("items", dimension=4)
    rng = np.random.default_rng(1)
    col.upsert(
        (
            f"r{i}",
            rng.normal(size=4),
            {
                "price": i if i % 100 else str(i),  # every 100th price is a string: never a number
                "sku": f"sku-{i:05d}",
                "live": i % 3 == 0,
                "day": f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}T00:00:00Z",
            },
        )
        for i in range(N)
    )
    col.create_index()
    sql_conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, "items")))
    return col


def _explain(sql_conn: Any, schema: str, col: Any, filters: dict[str, Any], generic: bool) -> str:
    where = col._where(filters)
    query = sql.SQL("EXPLAIN SELECT id FROM {} WHERE {}").format(
        sql.Identifier(schema, "items"), where.condition
    )
    sql_conn.execute(
        "SET plan_cache_mode = " + ("force_generic_plan" if generic else "force_custom_plan")
    )
    rows = sql_conn.execute(query, where.params, prepare=True).fetchall()
    sql_conn.execute("RESET plan_cache_mode")
    return " ".join(r[0] for r in rows)


def test_index_metadata_builds_lists_replaces_and_drops(priced: Any) -> None:
    col = priced
    assert col.list_metadata_indexes() == []
    made = col.index_metadata("price", "number")
    assert (made.key, made.type, made.valid) == ("price", "number", True)
    assert col.index_metadata("price", "number") == made  # idempotent: nothing rebuilt
    col.index_metadata("sku")  # text by default
    listed = {m.key: m.type for m in col.list_metadata_indexes()}
    assert listed == {"price": "number", "sku": "text"}
    retyped = col.index_metadata("price", "text")  # a new index, then the old one dropped
    assert retyped.name != made.name
    assert {m.key: m.type for m in col.list_metadata_indexes()} == {"price": "text", "sku": "text"}
    assert col.drop_metadata_index("price") == [retyped.name]
    assert col.drop_metadata_index("price") == []
    assert [m.key for m in col.list_metadata_indexes()] == ["sku"]
    assert col.list_indexes()[0].method == vecs_core.IndexMethod.hnsw  # vector index untouched
    for bad, message in [("", "non-empty"), ("$price", "starts with '\\$'"), (7, "non-empty")]:
        with pytest.raises(ArgError, match=message):
            col.index_metadata(bad, "number")
    with pytest.raises(ArgError, match="type must be one of text, number, bool, timestamp"):
        col.index_metadata("price", "float")


@pytest.mark.parametrize(
    ("key", "meta_type", "filters", "generic"),
    [
        ("price", "number", {"price": {"$gte": 100, "$lt": 300}}, True),
        ("price", "number", {"price": {"$gt": 19_000}}, True),
        ("price", "number", {"price": {"$lte": 50}}, True),
        ("price", "number", {"price": 1234}, True),
        ("price", "number", {"price": {"$in": [5, 6, 7.0]}}, True),
        ("sku", "text", {"sku": {"$gte": "sku-01000", "$lt": "sku-01100"}}, True),
        ("sku", "text", {"sku": {"$in": ["sku-00001", "sku-00002"]}}, True),
        ("sku", "text", {"sku": {"$like": "sku-0012%"}}, False),  # a prefix needs its constant
        ("day", "timestamp", {"day": {"$gte": "2024-03-05", "$lt": "2024-03-06"}}, True),
        ("live", "bool", {"$and": [{"live": True}, {"price": {"$lt": 30}}]}, True),
    ],
)
def test_filters_use_the_metadata_index(
    priced: Any, sql_conn: Any, schema: str, key: str, meta_type: str, filters: Any, generic: bool
) -> None:
    col = priced
    before = _explain(sql_conn, schema, col, filters, generic)
    made = col.index_metadata(key, meta_type)
    if key == "live":
        col.index_metadata("price", "number")
    sql_conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, "items")))
    after = _explain(sql_conn, schema, col, filters, generic)
    assert "ix_mkey_" not in before
    # the planner picks the index (for the bool case: whichever of the two is more selective)
    assert (made.name if key != "live" else "ix_mkey_") in after, after
    # same records with and without the index
    with_index = {h.id for h in col.find(filters, limit=N)}
    col.drop_metadata_index(key)
    assert {h.id for h in col.find(filters, limit=N)} == with_index


def test_adaptive_search_counts_through_the_index(priced: Any, sql_conn: Any, schema: str) -> None:
    col = priced
    col.index_metadata("price", "number")
    filters = {"price": {"$gte": 1000, "$lt": 1100}}  # 99 numbers: the exact branch
    hits = col.search(np.ones(4, dtype=np.float32), limit=10, filters=filters)
    assert len(hits) == 10 and all(1000 <= h.metadata["price"] < 1100 for h in hits)
    q = np.ones(4, dtype=np.float32)
    truth = sorted(
        (r for r in col.find(filters, limit=N, include_vector=True)),
        key=lambda r: 1 - r.vector @ q / (np.linalg.norm(r.vector) * np.linalg.norm(q)),
    )[:10]
    assert [h.id for h in hits] == [r.id for r in truth]
    # the statement the search sends counts the matching rows through the btree index
    from vecs_core._plans.search import _adaptive_sql
    from vecs_core._sqlparams import Params

    where = col._where(filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shape = next(iter(col._shapes.values()))
    params = Params(values=dict(where.params))
    statement = _adaptive_sql(col._target, shape, sql.SQL(" WHERE ") + where.condition, params)
    params.values["q"] = str(q.tolist())
    plan = sql_conn.execute(sql.SQL("EXPLAIN ").format() + statement, params.values).fetchall()
    text = " ".join(r[0] for r in plan)
    assert "ix_mkey_" in text, text


def test_statement_timeout_overrides_the_roles_for_builds(
    database_url: str, schema: str, sql_conn: Any
) -> None:
    rng = np.random.default_rng(3)
    with vecs_core.create_client(database_url, schema=schema) as vx:
        col = vx.get_or_create_collection("slow", dimension=64)
        col.upsert((f"r{i}", rng.normal(size=64), {"n": i}) for i in range(8000))
    # a role whose statements time out after 100 ms, like Supabase's: too short for the build
    with vecs_core.create_client(database_url, schema=schema, statement_timeout=100) as vx:
        col = vx.get_or_create_collection("slow")
        with pytest.raises(vecs_core.IndexBuildError, match="statement_timeout=0"):
            col.create_index(method="hnsw")
        assert col.list_indexes() == []
        built = col.create_index(method="hnsw", statement_timeout=0)
        assert built.valid and col.index == built.name
        assert col.index_metadata("n", "number", statement_timeout=0).valid
        current = sql_conn.execute("SHOW statement_timeout").fetchone()
        assert current is not None
