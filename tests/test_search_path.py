"""The query hot path: cached search shapes, the statement it sends, reused cursors, and the
checks that moved to the server (NaN/infinity in a float32 query vector)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from conftest import dense, stored
from psycopg import sql

import vecs_core
from vecs_core import ArgError

DIM = 8


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def indexed(kvx):
    """3,000 records, two thirds of them ``big``: a filter on ``big`` matches more rows than the
    exact-search threshold (2,000), so filtered searches take the index branch."""
    rng = np.random.default_rng(5)
    data = rng.normal(size=(3000, DIM)).astype(np.float32)
    col = kvx.get_or_create_collection("hot", dimension=DIM)
    col.upsert((f"r{i:04d}", v, {"i": i, "big": i % 3 != 0}) for i, v in enumerate(data))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=16))
    return col, stored(kvx.kind, data), kvx.kind


@pytest.mark.citus
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_float32_query_vector_is_refused(vx, quiet, bad):
    col = vx.get_or_create_collection("docs", dimension=3)
    col.upsert([("a", [1, 0, 0], {})])
    q = np.array([1, bad, 0], dtype=np.float32)  # the fast path: no client-side numpy check
    with pytest.raises(ArgError, match="query vector: vector contains NaN or infinity"):
        col.query(data=q)
    with pytest.raises(ArgError, match="NaN or infinity"):
        col.search(q, filters={"x": 1})
    with pytest.raises(ArgError, match="NaN or infinity"):
        col.hybrid_search("hello", vector=q)
    assert col.query(data=np.array([1, 0, 0], dtype=np.float32)) == ["a"]  # connection fine


@pytest.mark.citus
@pytest.mark.parametrize("filtered", [False, True])
def test_every_result_shape_on_an_indexed_collection(indexed, filtered):
    col, data, kind = indexed
    q = stored(kind, data[42] + np.float32(0.01))
    filters = {"big": True} if filtered else None
    allowed = [i for i in range(len(data)) if not filtered or i % 3 != 0]
    truth = sorted(allowed, key=lambda i: cosine(q, data[i]))[:10]
    for value, vector, meta in itertools.product([False, True], repeat=3):
        got = col.query(
            data=q,
            limit=10,
            filters=filters,
            include_value=value,
            include_vector=vector,
            include_metadata=meta,
            ef_search=100,
        )
        if not (value or vector or meta):
            ids = got
        else:
            assert all(isinstance(r, tuple) and len(r) == 1 + value + vector + meta for r in got)
            ids = [r[0] for r in got]
        assert len(set(ids) & {f"r{i:04d}" for i in truth}) >= 9, (value, vector, meta)
        for r in got if (value or vector or meta) else []:
            i = int(r[0][1:])
            rest = list(r[1:])
            if value:
                assert rest.pop(0) == pytest.approx(cosine(q, data[i]), abs=1e-5)
            if vector:
                assert np.array_equal(dense(rest.pop(0)), data[i])
            if meta:
                assert rest.pop(0) == {"i": i, "big": i % 3 != 0}
    hits = col.search(q, limit=5, filters=filters, include_vector=True, ef_search=100)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    for h in hits:
        i = int(h.id[1:])
        assert h.metadata == {"i": i, "big": i % 3 != 0} and h.text is None
        assert h.score == pytest.approx(1.0 - h.distance)  # cosine: the similarity
        assert np.array_equal(dense(h.vector), data[i])


def test_unfiltered_search_statement_is_served_by_the_index(client, sql_conn, schema):
    col = client.get_or_create_collection("hot", dimension=DIM)
    rng = np.random.default_rng(2)
    col.upsert((f"r{i}", v, {}) for i, v in enumerate(rng.normal(size=(500, DIM))))
    built = col.create_index(method="hnsw")
    for include_value in (False, True):
        col.query(data=rng.normal(size=DIM), include_value=include_value)
    statements = [shape.statement for shape in col._shapes.values()]
    assert len(statements) == 2
    sql_conn.execute("SET enable_seqscan = off")
    for statement in statements:
        text = statement.as_string(sql_conn)
        assert "LIMIT 10" in text  # a literal: a prepared search keeps one generic plan
        plan = sql_conn.execute(
            sql.SQL("EXPLAIN ") + sql.SQL(text),
            {"q": str(rng.normal(size=DIM).tolist())},
        ).fetchall()
        assert built.name in " ".join(r[0] for r in plan)
        assert "Sort" not in " ".join(r[0] for r in plan)


def test_prepared_search_settles_on_a_generic_plan_on_one_connection(client):
    col = client.get_or_create_collection("hot", dimension=DIM)
    rng = np.random.default_rng(3)
    col.upsert((f"r{i}", v, {}) for i, v in enumerate(rng.normal(size=(200, DIM))))
    col.create_index(method="hnsw")
    for _ in range(25):
        col.query(data=rng.normal(size=DIM).astype(np.float32), ef_search=40)
    pool = client._source.get()
    assert pool.get_stats()["pool_size"] == 1  # opened ready: no spurious second connection
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%ORDER BY%<=>%LIMIT 10'"
        ).fetchall()
    assert len(rows) == 1
    generic, custom = rows[0]
    assert generic >= 10 and custom <= 5


def test_cursor_is_reused_and_dropped_after_a_large_result(client):
    col = client.get_or_create_collection("hot", dimension=DIM)
    rng = np.random.default_rng(4)
    col.upsert((f"r{i:05d}", v, {}) for i, v in enumerate(rng.normal(size=(1500, DIM))))
    pool = client._source.get()
    with pool.connection() as conn:
        state = conn.vecs_state
    col.fetch(["r00001"])
    first = state.cursors[True]
    col.fetch(["r00002", "r00003"])
    assert state.cursors[True] is first and not first.closed
    assert len(col.find(limit=1500)) == 1500  # more rows than a cached cursor may keep
    assert True not in state.cursors and first.closed
    assert [r.id for r in col.fetch(["r00004"])] == ["r00004"]
    assert state.cursors[True] is not first


def test_search_shapes_are_bounded_and_follow_index_changes(client, quiet):
    from vecs_core._collection_base import MAX_SHAPES

    col = client.get_or_create_collection("hot", dimension=DIM)
    rng = np.random.default_rng(6)
    col.upsert((f"r{i}", v, {}) for i, v in enumerate(rng.normal(size=(100, DIM))))
    q = rng.normal(size=DIM).astype(np.float32)
    for limit in range(1, MAX_SHAPES + 50):
        assert len(col.query(data=q, limit=limit)) == min(limit, 100)
    assert 0 < len(col._shapes) <= MAX_SHAPES
    assert all(shape.unindexed for shape in col._shapes.values())
    col.create_index(method="ivfflat", index_arguments=vecs_core.IndexArgsIVFFlat(n_lists=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new index is seen at once: no missing-index warning
        assert len(col.query(data=q, limit=5, probes=2)) == 5
    assert [shape.unindexed for shape in col._shapes.values()] == [False]
