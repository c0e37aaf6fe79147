"""Behaviour of collections, run through both the sync and the async shell on every vector kind
(fixture ``kvx``: vector, halfvec, sparsevec)."""

from __future__ import annotations

import datetime
import decimal
import math
import warnings

import numpy as np
import pytest
from conftest import dense, same_vector, stored

import vecs_core
from vecs_core import ArgError, FilterError, RecordError

NO_INDEX = "Query does not have a covering index"


def rows(n: int, dim: int = 3, seed: int = 0) -> list[tuple[str, list[float], dict]]:
    rng = np.random.default_rng(seed)
    return [
        (f"r{i:05d}", rng.normal(size=dim).tolist(), {"i": i, "even": i % 2 == 0}) for i in range(n)
    ]


@pytest.mark.citus
def test_upsert_fetch_roundtrip_vector_forms(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(
        [
            ("list", [0.1, 0.2, 0.3], {"year": 1973}),
            ("tuple", (1, 2, 3), {"nested": {"a": [1, "x", None, True]}}),
            ("f16", np.array([1, 2, 3], dtype=np.float16), {}),
            ("f64", np.array([0.5, -1.5, 2.25], dtype=np.float64), None),
        ]
    )
    got = {r.id: r for r in col.fetch(["list", "tuple", "f16", "f64", "missing"])}
    assert set(got) == {"list", "tuple", "f16", "f64"}
    assert got["list"].metadata == {"year": 1973}
    assert same_vector(kvx.kind, got["list"].vector, [0.1, 0.2, 0.3])
    assert dense(got["list"].vector).dtype == np.float32
    assert got["tuple"].metadata == {"nested": {"a": [1, "x", None, True]}}
    assert got["f64"].metadata == {}
    assert same_vector(kvx.kind, got["f64"].vector, [0.5, -1.5, 2.25])
    assert len(col) == 4


@pytest.mark.citus
def test_fetch_keeps_requested_order_and_skips_missing(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(rows(5))
    assert [r.id for r in col.fetch(["r00003", "nope", "r00001", "r00003"])] == [
        "r00003",
        "r00001",
    ]
    assert col.fetch([]) == []
    with pytest.raises(ArgError):
        col.fetch("r00001")


@pytest.mark.citus
def test_upsert_last_wins_and_updates(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert([("a", [1, 0, 0], {"v": 1}), ("a", [0, 1, 0], {"v": 2}), ("b", [0, 0, 1], {})])
    assert col.fetch(["a"])[0].metadata == {"v": 2}
    col.upsert([("a", [0, 0, 1], {"v": 3})])
    (rec,) = col.fetch(["a"])
    assert rec.metadata == {"v": 3} and same_vector(kvx.kind, rec.vector, [0, 0, 1])
    assert len(col) == 2


@pytest.mark.citus
def test_last_wins_on_the_copy_path(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert([(f"k{i}", [1, 0, 0], {"v": "old"}) for i in range(50)])
    # 3,000 records over 100 ids: each id repeats 30 times; the last occurrence must win
    records = [(f"k{i % 100}", [1, 2, float(n)], {"n": n}) for n, i in enumerate(range(3000))]
    col.upsert(records)
    assert len(col) == 100
    for rec in col.fetch([f"k{i}" for i in range(100)]):
        last = max(n for n, i in enumerate(range(3000)) if f"k{i % 100}" == rec.id)
        assert rec.metadata == {"n": last} and same_vector(kvx.kind, rec.vector, [1, 2, last])


@pytest.mark.citus
def test_upsert_streams_a_generator(kvx):
    col = kvx.get_or_create_collection("docs", dimension=8)
    gen = ((f"g{i}", np.full(8, i % 7 + 1, dtype=np.float32), {"i": i}) for i in range(25_000))
    col.upsert(gen)
    assert len(col) == 25_000
    assert col.fetch(["g24999"])[0].metadata == {"i": 24999}


def test_empty_upsert_is_a_noop(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert([])
    col.upsert(iter(()))
    assert len(col) == 0


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (("bad", [1, 2], {}), "expected a vector of dimension 3, got 2"),
        (("bad", [1, float("nan"), 2], {}), "NaN"),
        (("bad", [1, math.inf, 2], {}), "NaN or infinity"),
        (("bad", [1e39, 0, 0], {}), "NaN or infinity"),
        ((7, [1, 2, 3], {}), "id must be a str"),
        (("", [1, 2, 3], {}), "id must not be empty"),
        (("a\x00b", [1, 2, 3], {}), "NUL"),
        (("bad", "1,2,3", {}), "sequence of numbers"),
        (("bad", [1, "x", 3], {}), "only numbers"),
        (("bad", ["1", "2", "3"], {}), "only numbers"),
        (("bad", [[1, 2, 3]], {}), "one-dimensional"),
        (("bad", [1, 2, 3], ["not", "a", "dict"]), "metadata must be a dict"),
        (("bad", [1, 2, 3], {"when": datetime.datetime(2024, 1, 1)}), "datetime"),
        (("bad", [1, 2, 3], {"price": decimal.Decimal("1.5")}), "Decimal"),
        (("bad", [1, 2, 3], {"s": "nul\x00here"}), "NUL"),
        (("bad", [1, 2, 3], {"x": float("nan")}), "NaN"),
        (("bad", [1, 2, 3], {1: "int key"}), "keys must be strings"),
        (("bad", [1, 2, 3], {"deep": [{"k": {2: "x"}}]}), "keys must be strings"),
        (("bad", [1, 2, 3], {}, b"bytes"), "text must be a str"),
        (("bad", [1, 2, 3]), "got 2 items"),
        ({"id": "bad"}, "expected a tuple"),
    ],
)
@pytest.mark.parametrize("batch", [3, 3000], ids=["one-statement", "copy"])
@pytest.mark.citus(params={"message": ["NaN"]})
def test_bad_records_are_refused_and_nothing_is_written(kvx, record, message, batch):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert([("keep", [1, 1, 1], {"v": "original"})])
    good = [(f"new{i}", [1, 2, 3], {}) for i in range(batch)]
    with pytest.raises(RecordError, match=message):
        col.upsert([("keep", [9, 9, 9], {"v": "changed"}), *good, record])
    assert len(col) == 1
    assert col.fetch(["keep"])[0].metadata == {"v": "original"}


def test_bad_record_message_names_id_expected_and_actual(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    with pytest.raises(RecordError) as info:
        col.upsert([("ok", [1, 2, 3], {}), ("doc-42", [1, 2, 3, 4], {})])
    text = str(info.value)
    assert "'doc-42'" in text and "dimension 3" in text and "got 4" in text


def test_numpy_metadata_values_are_converted(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    meta = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(3)}
    col.upsert([("n", [1, 2, 3], meta)])
    assert col.fetch(["n"])[0].metadata == {"i": 3, "f": 0.5, "b": True, "a": [0, 1, 2]}


@pytest.mark.citus
def test_delete_by_ids_and_filters(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(rows(10))
    assert sorted(col.delete(ids=["r00001", "r00002", "missing"])) == ["r00001", "r00002"]
    assert col.delete(ids=[]) == []
    deleted = col.delete(filters={"even": True})
    assert sorted(deleted) == ["r00000", "r00004", "r00006", "r00008"]
    assert len(col) == 4
    with pytest.raises(ArgError, match="exactly one"):
        col.delete()
    with pytest.raises(ArgError, match="exactly one"):
        col.delete(ids=["r00003"], filters={"i": 3})
    with pytest.raises(ArgError, match="clear"):
        col.delete(filters={})
    with pytest.raises(FilterError):
        col.delete(filters={"$and": []})
    assert len(col) == 4
    assert col.clear() == 4
    assert len(col) == 0


@pytest.mark.citus
def test_query_shapes_and_order(kvx, quiet):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(
        [
            ("near", [1, 0, 0], {"k": "n"}),
            ("mid", [1, 1, 0], {"k": "m"}),
            ("far", [-1, 0, 0], {"k": "f"}),
        ]
    )
    assert col.query(data=[1, 0, 0], limit=3) == ["near", "mid", "far"]
    with_value = col.query(data=[1, 0, 0], limit=2, include_value=True)
    assert [r[0] for r in with_value] == ["near", "mid"]
    assert with_value[0][1] == pytest.approx(0.0, abs=1e-6)
    assert with_value[1][1] == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    full = col.query(
        data=[1, 0, 0], limit=1, include_value=True, include_metadata=True, include_vector=True
    )
    ((rid, dist, vec, meta),) = full
    assert rid == "near" and meta == {"k": "n"} and same_vector(kvx.kind, vec, [1, 0, 0])
    only_meta = col.query(data=[1, 0, 0], limit=1, include_metadata=True)
    assert only_meta == [("near", {"k": "n"})]
    assert col.query(data=[1, 0, 0], filters={"k": {"$eq": "f"}}) == ["far"]
    assert col.query(data=[1, 0, 0], filters={"k": "m"}) == ["mid"]


@pytest.mark.citus
@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("cosine_distance", lambda a, b: 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))),
        ("l2_distance", lambda a, b: np.linalg.norm(a - b)),
        ("max_inner_product", lambda a, b: -(a @ b)),
        ("l1_distance", lambda a, b: np.abs(a - b).sum()),
    ],
)
def test_every_measure_matches_numpy(kvx, quiet, measure, expected):
    data = rows(50, dim=8, seed=3)
    col = kvx.get_or_create_collection("docs", dimension=8)
    col.upsert(data)
    q = np.random.default_rng(9).normal(size=8).astype(np.float32)
    hits = col.query(data=q, limit=10, measure=measure, include_value=True)
    qs = stored(kvx.kind, q)  # what the collection compares: its own precision
    truth = sorted((float(expected(qs, stored(kvx.kind, v))), i) for i, v, _ in data)[:10]
    assert [h[0] for h in hits] == [i for _, i in truth]
    for (_, got), (want, _) in zip(hits, truth):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be between 1 and 1000"),
        ({"limit": -5}, "limit must be between 1 and 1000"),
        ({"limit": 1001}, "limit must be between 1 and 1000"),
        ({"limit": True}, "limit must be an int"),
        ({"limit": 2.5}, "limit must be an int"),
        ({"measure": "cosine"}, "unknown measure 'cosine'"),
        ({"probes": 0}, "probes"),
        ({"ef_search": 5000}, "ef_search"),
        ({"ef_search": "40"}, "ef_search must be an int"),
        ({"filters": {"year": {"$gtt": 1}}}, "unknown operator"),
        ({"data": None}, "not None"),
        ({"data": [1, 2]}, "dimension 3"),
        ({"data": [0, float("nan"), 1]}, "NaN"),
    ],
)
def test_query_argument_errors(kvx, kwargs, message):
    col = kvx.get_or_create_collection("docs", dimension=3)
    args = {"data": [1, 2, 3], **kwargs}
    with pytest.raises((ArgError, FilterError), match=message):
        col.query(**args)


@pytest.mark.citus
def test_missing_index_warning_and_index_lifecycle(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(rows(20))
    with pytest.warns(UserWarning, match=f"{NO_INDEX} for cosine_distance"):
        col.query(data=[1, 2, 3])
    assert col.index is None
    built = col.create_index()
    assert built.method == vecs_core.IndexMethod.hnsw
    assert col.index == built.name
    assert col.is_indexed_for_measure("cosine_distance")
    assert not col.is_indexed_for_measure(vecs_core.IndexMeasure.l2_distance)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(col.query(data=[1, 2, 3], limit=5)) == 5
    with pytest.warns(UserWarning, match=f"{NO_INDEX} for l2_distance"):
        col.query(data=[1, 2, 3], measure="l2_distance")
    with pytest.raises(ArgError, match="replace=False"):
        col.create_index(replace=False)
    if kvx.kind == "sparsevec":  # IVFFlat does not serve sparse vectors
        with pytest.raises(ArgError, match="ivfflat indexes cannot serve sparsevec"):
            col.create_index(method="ivfflat", measure="l2_distance")
        ivf = col.create_index(method="hnsw", measure="l2_distance")
    else:
        ivf = col.create_index(
            method="ivfflat", measure="l2_distance", index_arguments=vecs_core.IndexArgsIVFFlat(4)
        )
    names = [ix.name for ix in col.list_indexes()]
    assert names == [ivf.name]
    assert col.is_indexed_for_measure("l2_distance")
    assert len(col.query(data=[1, 2, 3], measure="l2_distance", limit=5, probes=4)) == 5
    assert col.drop_index() == [ivf.name]
    assert col.index is None


def test_warn_unindexed_is_per_call(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(rows(5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(col.search([1, 2, 3], limit=2, warn_unindexed=False)) == 2
    # nothing global changed: the next call, and query(), still warn
    with pytest.warns(UserWarning, match=NO_INDEX):
        col.search([1, 2, 3], limit=2)
    with pytest.warns(UserWarning, match=NO_INDEX):
        col.query(data=[1, 2, 3], limit=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "auto", "index_arguments": vecs_core.IndexArgsHNSW()}, "not allowed"),
        ({"method": "hnsw", "index_arguments": vecs_core.IndexArgsIVFFlat(10)}, "supplied but"),
        ({"method": "ivfflat", "index_arguments": vecs_core.IndexArgsHNSW()}, "supplied but"),
        ({"method": "btree"}, "unknown index method"),
        ({"measure": "dot"}, "unknown measure"),
        ({"method": "ivfflat", "measure": "l1_distance"}, "cannot serve"),
        ({"method": "hnsw", "index_arguments": vecs_core.IndexArgsHNSW(m=1)}, "IndexArgsHNSW.m"),
        ({"maintenance_work_mem": ""}, "maintenance_work_mem"),
    ],
)
def test_create_index_argument_errors(kvx, kwargs, message):
    col = kvx.get_or_create_collection("docs", dimension=3)
    with pytest.raises(ArgError, match=message):
        col.create_index(**kwargs)
    assert col.index is None


def test_index_build_settings_and_catalog_detection(kvx, sql_conn, schema):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(rows(100))
    built = col.create_index(
        method="hnsw",
        measure="max_inner_product",
        index_arguments=vecs_core.IndexArgsHNSW(m=8, ef_construction=32),
        maintenance_work_mem="64MB",
        parallel_workers=0,
    )
    # the index is found through pg_index/pg_opclass, whatever its name
    sql_conn.execute(f'ALTER INDEX "{schema}"."{built.name}" RENAME TO "weird name"')
    assert col.index == "weird name"
    assert col.is_indexed_for_measure("max_inner_product")


@pytest.mark.citus
def test_find_count_get(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert(rows(30))
    assert col.count() == 30
    assert col.count({"even": True}) == 15
    page1 = col.find({"even": True}, limit=4)
    assert [i.id for i in page1] == ["r00000", "r00002", "r00004", "r00006"]
    page2 = col.find({"even": True}, limit=4, after=page1[-1].id)
    assert page2[0].id == "r00008"
    assert [i.id for i in col.find({"even": True}, limit=4, offset=4)] == [i.id for i in page2]
    assert page1[0].vector is None and page1[0].text is None
    with_vec = col.find(limit=1, include_vector=True)
    assert with_vec[0].vector is not None and dense(with_vec[0].vector).shape == (3,)
    got = col.get(["r00002", "zz", "r00001"])
    assert [i.id for i in got] == ["r00002", "r00001"]
    assert got[0].metadata == {"i": 2, "even": True}
    with pytest.raises(ArgError):
        col.find(limit=0)


@pytest.mark.citus
def test_text_column_round_trips_apart_from_metadata(kvx, quiet):
    col = kvx.get_or_create_collection("docs", dimension=3)
    col.upsert([("plain", [1, 0, 0], {"text": "metadata field"})])
    text = "Ünïcode ✓ 'quotes' \"double\" \\ back\nslash"
    col.upsert([("t", [0, 1, 0], {"text": "not the document"}, text), ("n", [0, 0, 1], {}, None)])
    by_id = {i.id: i for i in col.get(["plain", "t", "n"])}
    assert by_id["t"].text == text and by_id["t"].metadata == {"text": "not the document"}
    assert by_id["plain"].text is None and by_id["plain"].metadata == {"text": "metadata field"}
    hit = col.search([0, 1, 0], limit=1)[0]
    assert hit.id == "t" and hit.text == text


@pytest.mark.citus
def test_text_first_seen_mid_stream_adds_the_column(kvx):
    col = kvx.get_or_create_collection("docs", dimension=3)
    # > 256 records: the COPY path; only records after the first 400 carry text
    records = [
        (f"r{i}", [1, 0, float(i)], {"i": i}, *(() if i < 400 else (f"text {i}",)))
        for i in range(500)
    ]
    col.upsert(records)
    got = {item.id: item.text for item in col.get(["r0", "r399", "r400", "r499"])}
    assert got == {"r0": None, "r399": None, "r400": "text 400", "r499": "text 499"}
    assert len(col) == 500


@pytest.mark.citus
def test_len_and_getitem(client):
    col = client.get_or_create_collection("docs", dimension=3)
    col.upsert([("a", [1, 2, 3], {"x": 1})])
    assert len(col) == 1
    assert col["a"].metadata == {"x": 1}
    with pytest.raises(KeyError):
        col["missing"]
    with pytest.raises(ArgError):
        col[3]  # type: ignore[index]
    assert repr(col) == 'vecs_core.Collection(name="docs", dimension=3)'


def test_repr_matches_vecs_format(vx):
    col = vx.get_or_create_collection("movies", dimension=99)
    kind = "Collection" if isinstance(vx, vecs_core.Client) else "AsyncCollection"
    assert repr(col) == f'vecs_core.{kind}(name="movies", dimension=99)'
    odd = vx.get_or_create_collection('it\'s "x"', dimension=2)
    assert repr(odd) == f'vecs_core.{kind}(name="it\'s \\"x\\"", dimension=2)'


NOT_DICTS = [["wrong type"], [{"a": 1}], ({"a": 1},), "a", 5, True, {"a", "b"}]


@pytest.mark.parametrize("bad", NOT_DICTS, ids=repr)
def test_every_filter_argument_must_be_a_dict(vx, bad):
    """A filter that is not a dict is a FilterError saying so, from every method taking one,
    and nothing is deleted."""
    col = vx.get_or_create_collection("typed", dimension=2)
    col.upsert([("a", [1, 2], {"a": 1}, "some text"), ("b", [2, 1], {"a": 2}, "more text")])
    calls = {
        "delete": lambda: col.delete(filters=bad),
        "query": lambda: col.query(data=[1, 2], filters=bad),
        "search": lambda: col.search([1, 2], filters=bad),
        "find": lambda: col.find(bad),
        "count": lambda: col.count(bad),
        "keyword_search": lambda: col.keyword_search("text", filters=bad),
        "hybrid_search": lambda: col.hybrid_search("text", [1, 2], filters=bad),
    }
    for name, call in calls.items():
        with pytest.raises(FilterError, match=r"^filters: a filter must be a dict") as info:
            call()
        assert type(bad).__name__ in str(info.value), name
    assert len(col) == 2
    with pytest.raises(ArgError, match="clear"):
        col.delete(filters={})  # a dict, but empty: the caller must mean clear()
