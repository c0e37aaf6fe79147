"""Quantized HNSW indexes: binary (DDL, the catalog, recall with the exact re-rank, filters)
and half precision over a float32 collection."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError

BQ = vecs_core.IndexArgsHNSW(m=16, ef_construction=64, quantization="binary", rerank=4)


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Embedding-like unit vectors: cluster centres plus noise (binary quantization suits
    vectors whose dimensions are centred on zero)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    x = centres[rng.integers(0, 50, size=n)] + 0.6 * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def exact_top(data: np.ndarray, q: np.ndarray, k: int, rows: np.ndarray | None = None) -> list:
    idx = np.arange(len(data)) if rows is None else rows
    sims = data[idx] @ q / np.linalg.norm(q)
    return [f"r{i}" for i in idx[np.argsort(-sims)[:k]]]


def _refused(col, quantization: str, match: str) -> None:
    """``create_index`` with ``quantization`` raises ``ArgError`` matching ``match``."""
    with pytest.raises(ArgError, match=match):
        col.create_index(
            method="hnsw",
            measure="max_inner_product",
            index_arguments=vecs_core.IndexArgsHNSW(quantization=quantization),
        )


def _explain_indexed(sql_conn, query: sql.Composed, vector: np.ndarray) -> str:
    """The plan of ``query`` (one vector parameter) with sequential scans discouraged."""
    with sql_conn.transaction():
        sql_conn.execute("SET LOCAL enable_seqscan = off")
        rows = sql_conn.execute(sql.SQL("EXPLAIN ") + query, (str(vector.tolist()),)).fetchall()
    return " ".join(r[0] for r in rows)


@pytest.mark.parametrize("storage", ["vector", "halfvec"])
def test_binary_index_ddl_catalog_and_recall(vx, sql_conn, schema, storage):
    dim = 256  # one bit per dimension: the candidates need enough bits to be found
    data = clustered(3000, dim)
    col = vx.get_or_create_collection("bq", dimension=dim, storage=storage)
    col.upsert((f"r{i}", v, {"i": i, "odd": i % 2}) for i, v in enumerate(data))
    built = col.create_index(method="hnsw", measure="cosine_distance", index_arguments=BQ)
    assert built.quantization == "binary" and built.rerank == 4
    assert built.name.startswith(f"ix_bq_{storage}_cosine_ops_hnsw")
    # the DDL: an expression index over the binary quantized column, Hamming opclass
    (indexdef,) = sql_conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
        (schema, built.name),
    ).fetchone()
    assert f"binary_quantize(vec))::bit({dim})" in indexdef and "bit_hamming_ops" in indexdef
    # the catalog recognises it like any vector index (through its comment)
    (listed,) = col.list_indexes()
    assert (listed.name, listed.measure, listed.quantization, listed.kind) == (
        built.name,
        vecs_core.IndexMeasure.cosine_distance,
        "binary",
        storage,
    )
    assert col.is_indexed_for_measure("cosine_distance")
    assert not col.is_indexed_for_measure("l2_distance")
    # recall against exact search, with exact distances in the results
    rng = np.random.default_rng(5)
    hits = 0
    queries = data[rng.integers(0, 3000, size=30)] + 0.05 * rng.normal(size=(30, dim))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # covered: no missing-index warning
        for q in queries:
            got = col.query(data=q, limit=10, include_value=True)
            ids = [g[0] for g in got]
            dists = [g[1] for g in got]
            assert dists == sorted(dists)
            want = exact_top(data, q.astype(np.float32), 10)
            hits += len(set(ids) & set(want))
            # the distance is the exact one, not a Hamming distance
            vec = data[int(ids[0][1:])]
            cos = 1 - float(vec @ q) / float(np.linalg.norm(vec) * np.linalg.norm(q))
            assert dists[0] == pytest.approx(cos, abs=2e-3)
    assert hits / 300 >= 0.8  # measured 0.89 (40 candidates from 256 bits)
    # the statement orders the candidates through the index
    plan = _explain_indexed(
        sql_conn,
        sql.SQL(
            "SELECT id FROM {t} ORDER BY (binary_quantize(vec)::bit({d})) <~> "
            "(binary_quantize(%s::{k})::bit({d})) LIMIT 40"
        ).format(t=sql.Identifier(schema, "bq"), d=sql.Literal(dim), k=sql.SQL(storage)),
        queries[0],
    )
    assert built.name in plan


def test_binary_index_serves_filters_and_full_rows(vx):
    dim = 32
    data = clustered(4000, dim, seed=2)
    col = vx.get_or_create_collection("bqf", dimension=dim)
    col.upsert(
        (f"r{i}", v, {"i": i, "rare": i % 200 == 0, "half": i % 2}) for i, v in enumerate(data)
    )
    col.create_index(method="hnsw", index_arguments=BQ)
    rows = np.arange(4000)
    q = data[11]
    # a selective filter (exact branch) and a broad one (index branch, re-ranked)
    for flt, allowed in (
        ({"rare": True}, rows[rows % 200 == 0]),
        ({"half": 1}, rows[rows % 2 == 1]),
    ):
        hits = col.search(q, limit=10, filters=flt, include_vector=True)
        assert len(hits) == 10
        assert all(h.metadata["i"] in set(allowed.tolist()) for h in hits)
        assert [h.distance for h in hits] == sorted(h.distance for h in hits)
        want = exact_top(data, q, 10, allowed)
        assert len({h.id for h in hits} & set(want)) >= 8
        assert np.allclose(hits[0].vector, data[int(hits[0].id[1:])], atol=1e-6)
    # a threshold still cuts after the re-rank
    near = col.query(data=q, limit=10, max_distance=1e-4)
    assert near == ["r11"]


def test_binary_index_arguments_are_checked(vx):
    col = vx.get_or_create_collection("bqa", dimension=8)
    with pytest.raises(ArgError, match="quantization must be None, 'binary' or 'halfvec'"):
        col.create_index(
            method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(quantization="int8")
        )
    with pytest.raises(ArgError, match="rerank must be an int in"):
        col.create_index(
            method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(quantization="binary", rerank=0)
        )
    sparse = vx.get_or_create_collection("bqs", dimension=8, storage="sparsevec")
    _refused(sparse, "binary", "binary quantization needs a vector or halfvec")


def test_replacing_a_binary_index_drops_it(vx):
    col = vx.get_or_create_collection("bqr", dimension=8)
    col.upsert([(f"r{i}", np.eye(8)[i % 8] + 0.1 * i, {}) for i in range(40)])
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(quantization="binary"))
    plain = col.create_index()
    assert [ix.name for ix in col.list_indexes()] == [plain.name]
    assert plain.quantization is None
    col.create_index(
        method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(quantization="binary", rerank=8)
    )
    (only,) = col.list_indexes()
    assert only.rerank == 8
    assert col.drop_index() == [only.name]
    assert col.list_indexes() == []


def test_hybrid_and_keyword_search_beside_a_binary_index(vx):
    dim = 64
    data = clustered(500, dim, seed=4)
    col = vx.get_or_create_collection("bqh", dimension=dim)
    words = ["apple", "banana", "cherry", "damson", "elder"]
    col.upsert(
        (f"r{i}", v, {"i": i}, f"{words[i % 5]} fruit number {i}") for i, v in enumerate(data)
    )
    col.create_index(method="hnsw", index_arguments=BQ)
    hits = col.hybrid_search("cherry", data[2], limit=5)
    assert "r2" in {h.id for h in hits} and len(hits) == 5  # nearest and a keyword match
    assert all("cherry" in (h.text or "") or h.distance is not None for h in hits)
    assert {h.id for h in col.keyword_search("damson", limit=3)} <= {
        f"r{i}" for i in range(3, 500, 5)
    }


def test_half_precision_index_over_a_float32_collection(vx, sql_conn, schema):
    dim = 48
    data = clustered(3000, dim, seed=4)
    col = vx.get_or_create_collection("hq", dimension=dim)
    col.upsert((f"r{i}", v, {"i": i, "rare": i % 100 == 0}) for i, v in enumerate(data))
    built = col.create_index(
        method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(quantization="halfvec")
    )
    assert built.halfvec and built.name.startswith("ix_halfvec_cosine_ops_hnsw_m16_efc64")
    (indexdef,) = sql_conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
        (schema, built.name),
    ).fetchone()
    assert f"((vec)::halfvec({dim})) halfvec_cosine_ops" in indexdef
    (listed,) = col.list_indexes()
    assert (listed.name, listed.kind) == (built.name, "halfvec")
    assert col.is_indexed_for_measure("cosine_distance")
    # float32 stays stored; the searches go through the index with recall as at full precision
    rng = np.random.default_rng(6)
    hits = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # covered: no missing-index warning
        for q in data[rng.integers(0, 3000, size=20)] + 0.05 * rng.normal(size=(20, dim)):
            got = col.search(q, limit=10, include_vector=True)
            assert [h.distance for h in got] == sorted(h.distance for h in got)
            hits += len({h.id for h in got} & set(exact_top(data, q.astype(np.float32), 10)))
            assert got[0].vector.dtype == np.float32
            assert np.array_equal(got[0].vector, data[int(got[0].id[1:])])
    assert hits / 200 >= 0.9
    rare = col.search(data[100], limit=5, filters={"rare": True})
    assert [h.id for h in rare][0] == "r100" and all(h.metadata["rare"] for h in rare)
    # the exact branch (30 rows match) reads the float32 vectors: full precision distances
    for h in rare:
        v, q = data[int(h.id[1:])].astype(np.float64), data[100].astype(np.float64)
        cos = 1 - v @ q / (np.linalg.norm(v) * np.linalg.norm(q))
        assert h.distance == pytest.approx(cos, abs=1e-6)
    plan = _explain_indexed(
        sql_conn,
        sql.SQL(
            "SELECT id FROM {t} ORDER BY (vec::halfvec({d})) <=> (%s::vector::halfvec({d})) "
            "LIMIT 10"
        ).format(t=sql.Identifier(schema, "hq"), d=sql.Literal(dim)),
        data[0],
    )
    assert built.name in plan
    # refused where it means nothing
    for storage in ("halfvec", "sparsevec"):
        other = vx.get_or_create_collection(f"hq_{storage}", dimension=dim, storage=storage)
        _refused(other, "halfvec", "half precision index over a vector collection")


def test_half_precision_index_needs_pgvector_0_7(client):
    col = client.get_or_create_collection("hq_old", dimension=8)
    client.vector_version = "0.6.2"  # the client acts as if pgvector were 0.6.2
    _refused(col, "halfvec", r"quantization='halfvec' needs pgvector >= 0\.7\.0")
    assert col.list_indexes() == []  # nothing was built
