"""Collection.tune: the smallest ef_search / probes reaching a target recall, measured against
exact neighbours computed in the database, stored in the index's comment for every client."""

from __future__ import annotations

import numpy as np
import pytest

import vecs_core
from vecs_core import ArgError


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(0, 40, size=n)] + 0.8 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_recall(col, data: np.ndarray, ids: list[int], k: int, **knob) -> float:
    hits = 0
    for i in ids:
        got = [g for g in col.query(data=data[i], limit=k + 1, **knob) if g != f"r{i}"][:k]
        sims = data @ data[i]
        sims[i] = -np.inf
        want = {f"r{j}" for j in np.argsort(-sims)[:k]}
        hits += len(want & set(got))
    return hits / (k * len(ids))


def test_tune_hnsw_picks_and_stores_the_smallest_ef_search(vx, database_url, schema, sql_conn):
    data = clustered(6000, 64)
    col = vx.get_or_create_collection("tuned", dimension=64)
    col.upsert((f"r{i}", v, {}) for i, v in enumerate(data))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=4, ef_construction=8))
    result = col.tune(target_recall=0.95, sample=60)
    assert result.parameter == "ef_search" and result.reached and result.stored
    assert result.recall >= 0.95 and result.sample == 60 and result.limit == 10
    # the smallest value on the ladder: the one below it misses the target
    tried = sorted(result.measured)
    assert result.value in tried
    below = [v for v in tried if v < result.value]
    assert all(result.measured[v] < 0.95 for v in below)
    # stored in the index's comment: every client (and list_indexes) sees the default
    (ix,) = col.list_indexes()
    assert ix.ef_search == result.value and ix.name == result.index_name
    (comment,) = sql_conn.execute(
        "SELECT obj_description(%s::regclass, 'pg_class')", (f'"{schema}"."{ix.name}"',)
    ).fetchone()
    assert f'"ef_search": {result.value}' in comment
    with vecs_core.create_client(database_url, schema=schema) as other:
        ocol = other.get_or_create_collection("tuned")
        assert ocol.list_indexes()[0].ef_search == result.value
        # searches without ef_search= now run at the tuned value
        held_out = list(range(3000, 3040))
        assert exact_recall(ocol, data, held_out, 10) == exact_recall(
            ocol, data, held_out, 10, ef_search=result.value
        )
    # a rebuild drops the tuned default
    col.create_index(method="hnsw")
    assert col.list_indexes()[0].ef_search is None


def test_tune_ivfflat_probes_without_storing(vx):
    data = clustered(3000, 16, seed=1)
    col = vx.get_or_create_collection("tuned_ivf", dimension=16)
    col.upsert((f"r{i}", v, {}) for i, v in enumerate(data))
    col.create_index(method="ivfflat", index_arguments=vecs_core.IndexArgsIVFFlat(n_lists=50))
    result = col.tune(target_recall=0.9, sample=40, store=False)
    assert result.parameter == "probes" and result.reached and not result.stored
    assert col.list_indexes()[0].probes is None
    assert 1 <= result.value <= 50


def test_tune_a_binary_quantized_index_keeps_its_note(vx):
    data = clustered(2000, 128, seed=2)
    col = vx.get_or_create_collection("tuned_bq", dimension=128, storage="halfvec")
    col.upsert((f"r{i}", v, {}) for i, v in enumerate(data))
    col.create_index(
        method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(quantization="binary", rerank=2)
    )
    result = col.tune(target_recall=0.5, sample=30, limit=5)
    (ix,) = col.list_indexes()
    assert ix.quantization == "binary" and ix.rerank == 2 and ix.ef_search == result.value


def test_tune_refuses_what_it_cannot_do(vx):
    col = vx.get_or_create_collection("untuned", dimension=4)
    with pytest.raises(ArgError, match="no valid index for cosine_distance"):
        col.tune()
    col.create_index(method="hnsw")
    with pytest.raises(ArgError, match="is empty"):
        col.tune()
    with pytest.raises(ArgError, match=r"target_recall must be in \(0, 1\]"):
        col.tune(target_recall=1.5)
    with pytest.raises(ArgError, match="sample must be between 10 and 10000"):
        col.tune(sample=5)


def test_tune_on_held_out_queries(vx):
    data = clustered(5000, 48, seed=3)
    col = vx.get_or_create_collection("tuned_q", dimension=48)
    col.upsert((f"r{i}", v, {}) for i, v in enumerate(data[:4000]))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=4, ef_construction=8))
    held_out = data[4000:4060]
    result = col.tune(target_recall=0.9, queries=list(held_out), store=False)
    assert result.sample == 60 and result.reached and result.recall >= 0.9
    # the recall it reports is what those queries get at that value
    hits = 0
    for q in held_out:
        sims = data[:4000] @ q
        want = {f"r{j}" for j in np.argsort(-sims)[:10]}
        hits += len(want & set(col.query(data=q, ef_search=result.value)))
    assert hits / 600 == pytest.approx(result.recall, abs=0.02)
    with pytest.raises(ArgError, match="at least one query vector"):
        col.tune(queries=[])
    with pytest.raises(ArgError, match="expected a vector of dimension 48"):
        col.tune(queries=[[1.0, 2.0]])
