"""The Supabase vecs documentation examples, run unchanged with ``import vecs_core as vecs``."""

from __future__ import annotations

import warnings

import pytest

import vecs_core as vecs


@pytest.mark.parametrize("storage", ["vector", "halfvec", "sparsevec"])
def test_api_guide_examples(database_url, storage):
    DB_CONNECTION = database_url
    # the guide's code as written, on each vector kind (vecs itself has only ``vector``)
    kind = {} if storage == "vector" else {"storage": storage}

    # create vector store client
    vx = vecs.create_client(DB_CONNECTION)

    docs = vx.get_or_create_collection(name="docs_guide", dimension=3, **kind)
    # add records to the collection
    docs.upsert(
        records=[
            (
                "vec0",  # the vector's identifier
                [0.1, 0.2, 0.3],  # the vector. list or np.array
                {"year": 1973},  # associated  metadata
            ),
            ("vec1", [0.7, 0.8, 0.9], {"year": 2012}),
        ]
    )
    with pytest.warns(UserWarning, match="covering index for cosine_distance"):
        ids = docs.query(
            data=[0.4, 0.5, 0.6],  # required
            limit=5,  # number of records to return
            filters={},  # metadata filters
            measure="cosine_distance",  # distance measure to use
            include_value=False,  # should distance measure values be returned?
            include_metadata=False,  # should record metadata be returned?
        )
    assert sorted(ids) == ["vec0", "vec1"]

    # index the collection to be queried by cosine distance
    docs.create_index(measure=vecs.IndexMeasure.cosine_distance)
    docs.create_index()
    docs.create_index(
        method=vecs.IndexMethod.hnsw,
        measure=vecs.IndexMeasure.cosine_distance,
        index_arguments=vecs.IndexArgsHNSW(m=8),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert docs.query(data=[0.4, 0.5, 0.6], filters={"year": {"$eq": 2012}}) == ["vec1"]
    vx.disconnect()

    with vecs.create_client(DB_CONNECTION) as vx:
        # do some work here
        assert "docs_guide" in [c.name for c in vx.list_collections()]
        vx.delete_collection("docs_guide")


def test_collections_guide_deprecated_calls(database_url):
    vx = vecs.Client(database_url)  # the adapter guide constructs Client directly
    with pytest.warns(DeprecationWarning):
        docs = vx.create_collection(name="docs_collections", dimension=3)
    docs.upsert(records=[("vec0", [0.1, 0.2, 0.3], {"year": 1973})])
    with pytest.warns(DeprecationWarning):
        docs = vx.get_collection(name="docs_collections")
    assert docs.fetch(ids=["vec0"])[0].metadata == {"year": 1973}
    for measure in (
        vecs.IndexMeasure.cosine_distance,
        vecs.IndexMeasure.l2_distance,
        vecs.IndexMeasure.max_inner_product,
    ):
        docs.create_index(measure=measure)
        assert docs.is_indexed_for_measure(measure)
    docs.create_index(
        method=vecs.IndexMethod.ivfflat, index_arguments=vecs.IndexArgsIVFFlat(n_lists=10)
    )
    vx.delete_collection("docs_collections")
    vx.disconnect()
