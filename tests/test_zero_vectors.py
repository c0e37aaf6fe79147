"""Zero vectors have no direction: refused as cosine queries, and as records of a collection with
a cosine index (which would skip them); accepted everywhere else."""

from __future__ import annotations

import numpy as np
import pytest

from vecs_core import ArgError, RecordError

ZEROS = [[0, 0, 0], [0.0, -0.0, 0.0], np.zeros(3), np.zeros(3, dtype=np.float32), (0, 0, 0)]


@pytest.mark.parametrize("zero", ZEROS, ids=repr)
def test_zero_query_vector_with_cosine_is_refused(vx, quiet, zero):
    col = vx.get_or_create_collection("zq", dimension=3)
    col.upsert([("a", [1, 2, 3], {}), ("b", [3, 2, 1], {})])
    for call in (
        lambda: col.query(data=zero),
        lambda: col.query(data=zero, measure="cosine_distance", include_value=True),
        lambda: col.search(zero, filters={"x": 1}),
        lambda: col.hybrid_search("text", zero),
    ):
        with pytest.raises(ArgError, match="zero vector has no direction"):
            call()
    # every other measure is defined for it
    for measure in ("l2_distance", "max_inner_product", "l1_distance"):
        assert sorted(col.query(data=zero, measure=measure)) == ["a", "b"]
    assert len(col.hybrid_search("text", zero, measure="l2_distance")) == 2


def test_zero_vectors_are_stored_without_a_cosine_index(vx, quiet):
    col = vx.get_or_create_collection("zs", dimension=3)
    col.upsert([("z", [0, 0, 0], {}), ("a", [1, 2, 3], {})])  # one statement
    col.upsert((f"z{i}", np.zeros(3), {}) for i in range(300))  # COPY
    assert len(col) == 302
    assert col.query(data=[0, 0, 0], limit=1, measure="l2_distance")[0].startswith("z")
    col.create_index(measure="l2_distance")
    col.upsert([("zz", [0, 0, 0], {})])  # an l2 index stores zero vectors fine
    assert len(col) == 303


def test_no_index_lookup_for_ordinary_small_upserts(client):
    col = client.get_or_create_collection("zl", dimension=3)
    col.upsert([("a", [1, 2, 3], {})])
    assert col._indexes is None  # no zero vector: the indexes were not looked up
    col.upsert([("z", [0, 0, 0], {})])
    assert col._indexes is not None


@pytest.mark.parametrize("method", ["hnsw", "ivfflat"])
def test_zero_vectors_are_refused_with_a_cosine_index(vx, method):
    col = vx.get_or_create_collection("zc", dimension=3)
    col.upsert([(f"r{i}", [1.0, float(i), 2.0], {"i": i}) for i in range(20)])
    col.create_index(measure="cosine_distance", method=method)
    before = sorted(r.id for r in col.find(limit=1000))
    batches = [
        [("bad", [0, 0, 0], {})],
        [("ok", [1, 1, 1], {}), ("bad", np.zeros(3, dtype=np.float32), {})],
        [(f"n{i}", [1, 1, 1], {}) for i in range(400)] + [("bad", np.zeros(3), {})],
        [("bad", [0.0, -0.0, 0.0], {})] + [(f"n{i}", [1, 1, 1], {}) for i in range(400)],
        ((f"g{i}", [0, 0, 0] if i == 2100 else [1, 2, 3], {}) for i in range(3000)),
    ]
    for records in batches:
        with pytest.raises(RecordError, match=r"\(id '(bad|g2100)'\): a zero vector has no dir"):
            col.upsert(records)
        assert sorted(r.id for r in col.find(limit=1000)) == before  # nothing written
    col.drop_index()
    col.upsert([("zero", [0, 0, 0], {})])  # no cosine index any more: stored
    assert "zero" in [r.id for r in col.fetch(["zero"])]
