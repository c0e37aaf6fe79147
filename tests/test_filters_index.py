"""Filters on a 20,000-row collection: the GIN metadata index serves equality-style filters,
filtered HNSW search returns full, accurate pages, and range filters stay exact at scale."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from filter_reference import matches
from psycopg import sql

import vecs_core
from vecs_core._filters import compile_filter
from vecs_core._sqlparams import Params

N = 20_000
DIM = 32

pytestmark = pytest.mark.slow


def _metadata(i: int, rng: np.random.Generator) -> dict[str, Any]:
    md: dict[str, Any] = {
        "cat": f"c{i % 50}",  # 2% each
        "num": i % 500,  # 0.2% each
        "score": float(rng.uniform(-100, 100)),
        "word": f"w{i:05d}",
        "flag": i % 250 == 0,  # true for 0.4%
        "tags": [f"t{i % 300}", i % 700, i % 1000 == 0],
        "bucket": (i * 7919) % 100,  # 1% each, scattered over the ids
    }
    if i % 100 == 0:
        md["rare"] = "yes"  # 1% of rows: the filtered-search key
    if i % 7 == 0:
        del md["score"]
    return md


@pytest.fixture(scope="module")
def big(database_url: str) -> Any:
    """One 20,000-row collection with an HNSW cosine index, shared by this module's tests."""
    import uuid

    schema = f"t_{uuid.uuid4().hex[:12]}"
    rng = np.random.default_rng(1234)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    metas = [_metadata(i, rng) for i in range(N)]
    with vecs_core.create_client(database_url, schema=schema, pool_size=2) as vx:
        col = vx.get_or_create_collection("big", dimension=DIM)
        col.upsert((f"id{i:05d}", vectors[i], metas[i]) for i in range(N))
        col.create_index(
            method="hnsw",
            measure="cosine_distance",
            index_arguments=vecs_core.IndexArgsHNSW(m=12, ef_construction=48),
            maintenance_work_mem="256MB",
            parallel_workers=2,
        )
        with psycopg.connect(database_url, autocommit=True) as conn:
            # VACUUM too: right after a bulk load the GIN index's pending list holds every new
            # entry, and the planner prices the index too high to use until it is flushed.
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(schema, "big")))
        yield {"col": col, "schema": schema, "vectors": vectors, "metas": metas}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _explain(conn: psycopg.Connection[Any], schema: str, filters: dict[str, Any]) -> str:
    """EXPLAIN of ``SELECT id FROM <table> WHERE <filters compiled as the library does>``."""
    params = Params()
    where = compile_filter(filters, sql.Identifier("metadata"), params)
    assert where is not None
    query = sql.SQL("EXPLAIN SELECT id FROM {} WHERE {}").format(
        sql.Identifier(schema, "big"), where
    )
    return "\n".join(r[0] for r in conn.execute(query, params.values))


GIN_FILTERS = [
    {"word": "w01234"},
    {"word": {"$eq": "w00007"}},
    {"num": 17},
    {"num": 17.0},
    {"flag": True},
    {"word": {"$in": ["w00001", "w19999", "nope"]}},
    {"num": {"$in": [3, 4]}},
    {"tags": {"$contains": "t123"}},
    {"tags": {"$contains": 699}},
    {"tags": {"$contains": True}},
    {"tags": {"$contains": ["t5", 5]}},
    {"rare": "yes", "num": 100},
    # arrays: exact equality, with containment in front for the index
    {"tags": {"$eq": ["t5", 5, False]}},
    {"tags": {"$eq": ["t5", 5]}},  # a prefix: contained in many rows, equal to none
]


@pytest.mark.parametrize("filters", GIN_FILTERS, ids=repr)
def test_equality_filters_use_the_gin_index(
    big: dict[str, Any], sql_conn: psycopg.Connection[Any], filters: dict[str, Any]
) -> None:
    plan = _explain(sql_conn, big["schema"], filters)
    assert "Bitmap Index Scan on ix_meta_" in plan, plan
    # and the index answers exactly what the reference selects
    expected = sum(matches(md, filters) for md in big["metas"])
    assert big["col"].count(filters=filters) == expected
    assert expected <= 200


def _explain_search(
    conn: psycopg.Connection[Any], schema: str, filters: dict[str, Any], q: np.ndarray
) -> str:
    """EXPLAIN of a filtered nearest-neighbour query shaped like the library's, with the
    iterative HNSW scan it enables for filtered queries."""
    params = Params()
    where = compile_filter(filters, sql.Identifier("metadata"), params)
    assert where is not None
    vec = params.add("[" + ",".join(repr(float(x)) for x in q) + "]", "vector")
    query = sql.SQL("EXPLAIN SELECT id FROM {} WHERE {} ORDER BY vec <=> {} LIMIT 10").format(
        sql.Identifier(schema, "big"), where, vec
    )
    with conn.transaction():
        conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        return "\n".join(r[0] for r in conn.execute(query, params.values))


@pytest.mark.parametrize(
    ("filters", "plan_uses"),
    [
        # served by the HNSW index, filtered during its (iterative) scan
        ({"bucket": {"$lt": 1}}, "Index Scan using ix_vector_cosine_ops_hnsw"),
        # selective containment: the planner reads the GIN index and sorts exactly
        ({"rare": "yes"}, "Bitmap Index Scan on ix_meta_"),
    ],
    ids=["hnsw", "gin"],
)
def test_filtered_search_returns_full_accurate_pages(
    big: dict[str, Any],
    sql_conn: psycopg.Connection[Any],
    filters: dict[str, Any],
    plan_uses: str,
) -> None:
    col = big["col"]
    vectors: np.ndarray = big["vectors"]
    matching = np.array([i for i, md in enumerate(big["metas"]) if matches(md, filters)])
    assert len(matching) == N // 100
    unit = vectors[matching] / np.linalg.norm(vectors[matching], axis=1, keepdims=True)
    rng = np.random.default_rng(7)
    plan = _explain_search(sql_conn, big["schema"], filters, rng.standard_normal(DIM))
    assert plan_uses in plan, plan
    recalls = []
    for _ in range(20):
        q = rng.standard_normal(DIM).astype(np.float32)
        got = col.query(data=q, limit=10, filters=filters, include_metadata=True)
        assert len(got) == 10
        assert all(matches(md, filters) for _, md in got)
        sims = unit @ (q / np.linalg.norm(q))
        exact = {f"id{matching[j]:05d}" for j in np.argsort(-sims)[:10]}
        recalls.append(len(exact & {rid for rid, _ in got}) / 10)
    assert float(np.mean(recalls)) >= 0.9, recalls


RANGE_FILTERS = [
    {"score": {"$gt": 99.5}},
    {"score": {"$gte": -0.25, "$lt": 0.25}},
    {"score": {"$lte": -99.0}},
    {"num": {"$gte": 498}},
    {"num": {"$lt": 1.5}},
    {"word": {"$gte": "w19990"}},
    {"word": {"$lt": "w00010"}},
    {"cat": {"$gt": "c48"}},
    {"$not": {"score": {"$gt": -99.0}}},
    {"score": {"$exists": False}, "num": {"$lt": 3}},
    {"$or": [{"num": {"$gt": 498}}, {"word": {"$like": "w1234%"}}]},
]


@pytest.mark.parametrize("filters", RANGE_FILTERS, ids=repr)
def test_range_filters_are_exact_at_scale(big: dict[str, Any], filters: dict[str, Any]) -> None:
    col = big["col"]
    expected = {f"id{i:05d}" for i, md in enumerate(big["metas"]) if matches(md, filters)}
    assert col.count(filters=filters) == len(expected)
    found = {item.id for item in col.find(filters=filters, limit=100_000)}
    assert found == expected
