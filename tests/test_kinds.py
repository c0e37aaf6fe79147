"""Vector kinds (``storage=``): what is particular to halfvec and sparsevec collections.

The behaviour suites (``test_collection.py``, ``test_search_path.py``, hybrid search, the vecs
guide) run on every kind through the ``kvx`` fixture; this module covers what differs: input
forms, precision and range, limits, sizes, recall, and how existing tables are recognised.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dense
from pgvector import SparseVector
from psycopg import sql

import vecs_core
from vecs_core import ArgError, IndexBuildError, RecordError


def clustered(n: int, dim: int, seed: int = 0, clusters: int = 20) -> np.ndarray:
    """Unit vectors around ``clusters`` centres: recall figures that mean something."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    data = centres[rng.integers(clusters, size=n)] + 0.35 * rng.normal(size=(n, dim))
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


def test_unknown_storage_and_kind_mismatch(client):
    with pytest.raises(ArgError, match="unknown storage 'float8'"):
        client.get_or_create_collection("docs", dimension=3, storage="float8")
    client.get_or_create_collection("docs", dimension=3)
    with pytest.raises(ArgError, match="stores vector vectors, but storage='halfvec'"):
        client.get_or_create_collection("docs", dimension=3, storage="halfvec")
    with pytest.raises(ArgError, match="stores vector vectors, but storage='sparsevec'"):
        client.get_or_create_collection("docs", storage="sparsevec")
    assert client.get_or_create_collection("docs").storage == "vector"
    with pytest.raises(ArgError, match="dimension must be between 1 and 16000"):
        client.get_or_create_collection("big", dimension=16_001, storage="halfvec")
    wide = client.get_or_create_collection("wide", dimension=100_000, storage="sparsevec")
    assert wide.storage == "sparsevec" and wide.dimension == 100_000


def test_existing_tables_are_recognised_by_kind(client, sql_conn, schema):
    client.get_or_create_collection("made_by_vecs", dimension=3)  # creates the schema
    for kind in ("halfvec", "sparsevec"):
        sql_conn.execute(
            sql.SQL(
                "CREATE TABLE {}.{} (id character varying NOT NULL PRIMARY KEY,"
                " vec {}(5) NOT NULL, metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb)"
            ).format(sql.Identifier(schema), sql.Identifier(f"t_{kind}"), sql.SQL(kind))
        )
    found = {c.name: (c.storage, c.dimension) for c in client.list_collections()}
    assert found == {
        "made_by_vecs": ("vector", 3),
        "t_halfvec": ("halfvec", 5),
        "t_sparsevec": ("sparsevec", 5),
    }
    col = client.get_or_create_collection("t_sparsevec")
    col.upsert([("a", {0: 1.0, 4: 2.0}, {})])
    assert col.fetch(["a"])[0].vector == SparseVector({0: 1.0, 4: 2.0}, 5)


def test_halfvec_precision_range_and_size(client, sql_conn, schema):
    half = client.get_or_create_collection("half", dimension=384, storage="halfvec")
    full = client.get_or_create_collection("full", dimension=384)
    data = clustered(3000, 384, seed=1)
    for col in (half, full):
        col.upsert((f"r{i}", v, {"i": i}) for i, v in enumerate(data))
        col.create_index(measure="cosine_distance")
    got = half.fetch(["r7"])[0].vector
    assert got.dtype == np.float32 and np.allclose(got, data[7], rtol=1e-3, atol=1e-4)
    assert np.array_equal(got, data[7].astype(np.float16).astype(np.float32))

    def size(name: str) -> int:
        row = sql_conn.execute(
            "SELECT pg_total_relation_size(format('%%I.%%I', %s::text, %s::text)::regclass)",
            (schema, name),
        ).fetchone()
        return int(row[0])

    assert size("half") <= 0.6 * size("full"), (size("half"), size("full"))
    with pytest.raises(RecordError, match="half-precision range"):
        half.upsert([("big", np.full(384, 70_000.0), {})])
    with pytest.raises(RecordError, match="record 300 .* half-precision range"):  # COPY path
        half.upsert([(f"ok{i}", data[0], {}) for i in range(300)] + [("big", data[0] * 1e7, {})])
    assert len(half) == 3000
    with pytest.raises(ArgError, match="half-precision range"):
        half.query(data=np.full(384, 1e6, dtype=np.float32))


def test_halfvec_indexes_up_to_4000_dimensions(client):
    col = client.get_or_create_collection("wide", dimension=3000, storage="halfvec")
    rng = np.random.default_rng(0)
    col.upsert((f"r{i}", rng.normal(size=3000), {}) for i in range(20))
    built = col.create_index(method="hnsw")
    assert built.kind == "halfvec" and built.name.startswith("ix_halfvec_cosine_ops_hnsw")
    assert col.query(data=rng.normal(size=3000), limit=3) != []
    too_wide = client.get_or_create_collection("wider", dimension=4001, storage="halfvec")
    with pytest.raises(ArgError, match="cannot index 4001 dimensions"):
        too_wide.create_index()


def test_sparse_input_forms_and_results(vx, quiet):
    col = vx.get_or_create_collection("sparse", dimension=10, storage="sparsevec")
    col.upsert(
        [
            ("dict", {0: 1.0, 3: 2.5, 9: -1.0}, {"f": "dict"}),
            ("pgv", SparseVector({1: 4.0}, 10), {"f": "pgvector"}),
            ("dense", [0, 0, 3.0, 0, 0, 0, 0, 0, 0, 0], {"f": "dense"}),
            ("zeros dropped", {2: 0.0, 5: 1.0}, {}),
            ("numpy", np.eye(10, dtype=np.float32)[4], {}),
        ]
    )
    got = {r.id: r.vector for r in col.fetch(["dict", "pgv", "dense", "zeros dropped"])}
    assert got["dict"] == SparseVector({0: 1.0, 3: 2.5, 9: -1.0}, 10)
    assert got["pgv"] == SparseVector({1: 4.0}, 10)
    assert got["dense"] == SparseVector({2: 3.0}, 10)
    assert got["zeros dropped"].indices() == [5]
    hits = col.search({1: 1.0}, limit=1, include_vector=True, measure="max_inner_product")
    assert hits[0].id == "pgv" and hits[0].vector == SparseVector({1: 4.0}, 10)
    assert hits[0].distance == pytest.approx(-4.0)
    assert col.query(data=SparseVector({2: 1.0}, 10), limit=1) == ["dense"]
    assert col.query(data=np.eye(10)[4], limit=1, measure="l2_distance") == ["numpy"]


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        ({10: 1.0}, "index 10 is out of range for dimension 10"),
        ({-1: 1.0}, "out of range"),
        ({"1": 1.0}, "indices must be ints"),
        ({True: 1.0}, "indices must be ints"),
        ({1: "x"}, "values must be numbers"),
        ({1: float("nan")}, "NaN or infinity"),
        ({1: 1e39}, "NaN or infinity"),
        (SparseVector({1: 1.0}, 11), "dimension 10, got 11"),
        ([1.0] * 9, "expected a vector of dimension 10"),
        ("1:1", "sequence of numbers"),
    ],
)
def test_bad_sparse_vectors_are_refused(client, vector, message):
    col = client.get_or_create_collection("sparse", dimension=10, storage="sparsevec")
    col.upsert([("keep", {1: 1.0}, {})])
    with pytest.raises(RecordError, match=message):
        col.upsert([("bad", vector, {})])
    with pytest.raises(ArgError, match=message):
        col.query(data=vector)
    assert [r.id for r in col.fetch(["keep", "bad"])] == ["keep"]


@pytest.mark.citus
def test_sparse_limits_storage_and_hnsw(client):
    col = client.get_or_create_collection("sparse", dimension=100_000, storage="sparsevec")
    with pytest.raises(RecordError, match="at most 16000"):
        col.upsert([("huge", {i: 1.0 for i in range(16_001)}, {})])
    many = {i: 1.0 for i in range(1_500)}
    col.upsert([("many", many, {}), ("few", {1: 1.0}, {})])  # storable: up to 16,000
    with pytest.raises(IndexBuildError, match="1000 non-zero"):
        col.create_index()  # HNSW indexes up to 1,000 non-zero elements
    assert col.list_indexes() == [] and col.index is None
    col.delete(ids=["many"])
    assert col.create_index().kind == "sparsevec"
    with pytest.raises(RecordError, match="at most 1,000 non-zero elements"):
        col.upsert([("again", many, {})])
    with pytest.raises(RecordError, match="at most 1,000 non-zero elements"):  # COPY path
        col.upsert([(f"r{i}", {i: 1.0}, {}) for i in range(300)] + [("again", many, {})])
    assert len(col) == 1
    with pytest.raises(ArgError, match="ivfflat indexes cannot serve sparsevec"):
        col.create_index(method="ivfflat")


@pytest.mark.parametrize("kind", ["vector", "halfvec", "sparsevec"])
def test_recall_per_kind_unfiltered_and_filtered(client, kind):
    """HNSW at the default ef_search (40) finds the true neighbours, filtered or not, and always
    returns the full ``limit`` (the 1%-selective filter takes the exact branch)."""
    n, dim = 5000, 64
    data = clustered(n, dim, seed=3)
    if kind == "sparsevec":  # keep the 16 largest coordinates: a sparse vector per record
        keep = np.argsort(-np.abs(data), axis=1)[:, :16]
        sparse = np.zeros_like(data)
        np.put_along_axis(sparse, keep, np.take_along_axis(data, keep, axis=1), axis=1)
        data = sparse / np.linalg.norm(sparse, axis=1, keepdims=True)
    col = client.get_or_create_collection("recall", dimension=dim, storage=kind)
    col.upsert((f"r{i}", v, {"bucket": i % 100}) for i, v in enumerate(data))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(ef_construction=64))
    stored = dense_matrix(col, n) if kind == "halfvec" else data
    rng = np.random.default_rng(4)
    found = total = 0
    for qi in rng.choice(n, 30, replace=False):
        q = data[qi] + 0.05 * rng.normal(size=dim).astype(np.float32)
        for filters in (None, {"bucket": 7}):
            ids = col.query(data=q, limit=10, filters=filters)
            assert len(ids) == 10
            allowed = np.arange(n) if filters is None else np.arange(7, n, 100)
            sims = stored[allowed] @ q / np.linalg.norm(stored[allowed], axis=1)
            truth = {f"r{i}" for i in allowed[np.argsort(-sims)[:10]]}
            found += len(truth & set(ids))
            total += 10
    assert found / total >= 0.9, found / total


def dense_matrix(col, n: int) -> np.ndarray:
    return np.stack([dense(r.vector) for r in col.fetch([f"r{i}" for i in range(n)])])
