"""The deliberate differences from vecs 0.4.5, one test each, in the order of the README table
"Differences from vecs". Everything else behaves as vecs does (``test_vecs_docs.py``,
``test_vecs_modules.py``, and vecs' own test suite run against vecs_core)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import vecs_core
from vecs_core import ArgError, FilterError, RecordError
from vecs_core.adapter import AdapterContext

ROWS = [
    ("a", [1.0, 0.0, 0.0], {"genre": "drama", "year": 1995, "tags": ["x", "y"]}),
    ("b", [0.0, 1.0, 0.0], {"genre": "drama", "year": 2005, "tags": ["x"]}),
    ("c", [0.0, 0.0, 1.0], {"genre": "comedy", "year": 2005, "tags": ["y"]}),
    ("d", [1.0, 1.0, 0.0], {"genre": "drama", "year": "2005"}),
]


@pytest.fixture
def col(vx, quiet):
    c = vx.get_or_create_collection("diff", dimension=3)
    c.upsert(ROWS)
    return c


def ids(items):
    return sorted(i.id for i in items)


def test_several_keys_in_one_filter_mean_and(col):
    assert ids(col.find({"genre": {"$eq": "drama"}, "year": {"$eq": 2005}})) == ["b"]
    assert sorted(col.query(data=[1, 1, 1], filters={"genre": "drama", "year": 1995})) == ["a"]


def test_several_operators_on_one_field_mean_and(col):
    assert ids(col.find({"year": {"$gte": 2000, "$lt": 2010}})) == ["b", "c"]


def test_contains_with_a_list_means_contains_every_element(col):
    assert ids(col.find({"tags": {"$contains": ["x", "y"]}})) == ["a"]
    assert ids(col.find({"tags": {"$contains": ["x"]}})) == ["a", "b"]
    assert ids(col.find({"tags": {"$contains": "y"}})) == ["a", "c"]


def test_a_bare_value_means_eq(col):
    assert ids(col.find({"genre": "comedy"})) == ["c"]


def test_range_operators_are_type_strict(col):
    assert ids(col.find({"year": {"$gte": 2005}})) == ["b", "c"]  # not "2005" (a string)
    assert ids(col.find({"year": {"$gte": "2005"}})) == ["d"]


def test_empty_and_or_are_refused(col):
    for f in ({"$and": []}, {"$or": []}):
        with pytest.raises(FilterError, match="empty list"):
            col.delete(filters=f)
    assert len(col) == 4


def test_delete_with_an_empty_filter_is_refused(col):
    with pytest.raises(ArgError, match="clear"):
        col.delete(filters={})
    assert len(col) == 4


def test_more_operators(col):
    assert ids(col.find({"genre": {"$nin": ["drama"]}})) == ["c"]
    assert ids(col.find({"tags": {"$exists": False}})) == ["d"]
    assert ids(col.find({"genre": {"$like": "com%"}})) == ["c"]
    assert ids(col.find({"genre": {"$ilike": "DRA%"}, "$not": {"year": 1995}})) == ["b", "d"]
    assert ids(col.find({"genre": {"$in": ["comedy", True, None]}})) == ["c"]


def test_zero_query_vector_with_cosine_is_refused(col):
    with pytest.raises(ArgError, match="no direction"):
        col.query(data=[0, 0, 0])


def test_zero_vector_upsert_with_a_cosine_index_is_refused(col):
    col.create_index(measure="cosine_distance")
    with pytest.raises(RecordError, match="no direction"):
        col.upsert([("z", [0, 0, 0], {})])
    assert len(col) == 4


def test_repr_names_vecs_core(vx):
    col = vx.get_or_create_collection("movies", dimension=99)
    assert repr(col).startswith("vecs_core.") and repr(col).endswith(
        'Collection(name="movies", dimension=99)'
    )


def test_get_or_create_collection_opens_an_existing_collection_by_name(vx):
    vx.get_or_create_collection("foo", dimension=16)
    assert vx.get_or_create_collection("foo").dimension == 16
    with pytest.raises(ArgError, match="give dimension"):
        vx.get_or_create_collection("not_there")


def test_text_embedding_keeps_the_text():
    pytest.importorskip("sentence_transformers")
    from vecs_core.adapter.text import TextEmbedding

    out = list(TextEmbedding()([("1", "first one", {"a": 1})], AdapterContext.upsert))
    assert len(out) == 1 and len(out[0]) == 4
    assert out[0][0] == "1" and len(out[0][1]) == 384 and out[0][2:] == ({"a": 1}, "first one")


def test_limit_zero_is_refused(col):
    with pytest.raises(ArgError, match="limit must be between 1 and 1000"):
        col.query(data=[1, 2, 3], limit=0)


def test_an_id_repeated_in_one_upsert_last_wins(col):
    col.upsert([("r", [1, 2, 3], {"v": 1}), ("r", [3, 2, 1], {"v": 2})])
    assert col["r"].metadata == {"v": 2}


def test_long_and_hidden_names_are_refused(vx):
    with pytest.raises(ArgError, match="63 bytes"):
        vx.get_or_create_collection("x" * 64, dimension=3)
    with pytest.raises(ArgError, match="reserved"):
        vx.get_or_create_collection("_hidden", dimension=3)


def test_bad_input_raises_typed_errors_and_writes_nothing(col):
    for record in (
        ("n", [float("nan"), 1, 1], {}),
        ("n", [1, 2], {}),
        ("n", [1, 2, 3], {"when": object()}),
        ("", [1, 2, 3], {}),
    ):
        with pytest.raises(RecordError):
            col.upsert([("ok", [1, 1, 1], {}), record])
    with pytest.raises(FilterError):
        col.find({"genre": "nul\x00"})
    assert len(col) == 4


def test_depth_limits(col):
    deep: object = 1
    for _ in range(150):
        deep = {"a": deep}
    with pytest.raises(RecordError, match="limit is 100"):
        col.upsert([("deep", [1, 2, 3], deep)])  # type: ignore[list-item]
    f: dict = {"genre": "drama"}
    for _ in range(100):
        f = {"$and": [f]}
    with pytest.raises(FilterError, match="limit is 64"):
        col.find(f)


def test_fetch_returns_the_order_asked(col):
    assert [r.id for r in col.fetch(["d", "a", "c"])] == ["d", "a", "c"]


def test_no_io_until_the_first_call():
    vx = vecs_core.create_client("postgresql://u:pw@127.0.0.1:1/db", connect_timeout=2)
    with pytest.raises(vecs_core.Unreachable):
        vx.list_collections()


def test_warning_names_the_measure_value(vx):
    col = vx.get_or_create_collection("warned", dimension=3)
    col.upsert([("a", [1, 2, 3], {})])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        col.query(data=np.ones(3))
    assert "covering index for cosine_distance." in str(caught[0].message)
