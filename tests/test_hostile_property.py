"""A bounded hostile-input battery (hypothesis): nested and oversized metadata, filters, ids and
vectors, through upsert, query, search, find, count, fetch and delete.

Every call either succeeds *correctly* (checked against the input and the reference filter
evaluator) or raises a :class:`vecs_core.VecsError` subclass; after a refused call the collection
holds exactly what it held before (row count and contents, compared in SQL). The collection has
a cosine HNSW index, so zero vectors are in play too. Derandomized and bounded: a few seconds.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from typing import Any

import numpy as np
import pytest
from filter_reference import database_examples, json_equal, matches
from hypothesis import example, given
from hypothesis import strategies as st
from psycopg import sql

import vecs_core
from vecs_core import VecsError

DIM = 4
EXAMPLES = 150
BASE = [
    (f"base-{i:02d}", [1.0 + i, float(i % 3), 2.0, -1.0], md)
    for i, md in enumerate(
        [{"n": i, "s": f"v{i % 4}", "tags": [i % 2, "t"], "o": {"k": i % 3}} for i in range(16)]
        + [{}, {"n": None}, {"n": "1"}, {"deep": {"a": [[{"b": True}]]}}]
    )
]
BASE_IDS = {rid for rid, _, _ in BASE}


def nested(levels: int, leaf: Any = 1, kind: str = "dict") -> Any:
    node = leaf
    for _ in range(levels):
        node = {"a": node} if kind == "dict" else [node]
    return node


# -- hostile values ----------------------------------------------------------------------------

SURROGATE = "x\ud800"
depths = st.sampled_from([1, 2, 50, 99, 100, 101, 500, 5000])
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
bad_leaf = (
    st.builds(lambda: 10**5000)
    | st.builds(lambda: "x" * 200_000)
    | st.sampled_from(
        [
            float("nan"),
            float("inf"),
            b"bytes",
            {1, 2},
            datetime.date(2020, 1, 1),
            "nul\x00",
            SURROGATE,
            object(),
            np.float32(1.5),
            np.arange(6).reshape(2, 3),
        ]
    )
)
metadata = st.one_of(
    st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    st.builds(
        lambda n, kind: {"k": nested(n - 1, kind=kind)}, depths, st.sampled_from(["dict", "list"])
    ),
    st.builds(lambda leaf: {"k": leaf}, bad_leaf),
    st.builds(lambda leaf: {"k": [1, {"x": leaf}]}, bad_leaf),
    st.sampled_from([None, [], "str", 5, {1: "int key"}, {None: 1}, {SURROGATE: 1}, {"\x00": 1}]),
)
deep_list = st.builds(lambda n: nested(n, kind="list"), st.sampled_from([2000, 5000]))
ids = st.one_of(
    st.text(max_size=12).map(lambda s: "h-" + s),
    st.text(max_size=12).map(lambda s: "h-" + s),
    st.sampled_from([None, 1, 1.5, b"id", ("t",)]) | deep_list,
    st.sampled_from(["", "\x00", SURROGATE, "h-" + "x" * 3000, "h-é" * 700, "base-99"]),
)
vectors = st.one_of(
    st.lists(
        st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=DIM, max_size=DIM
    ),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=DIM + 2)
    | deep_list,
    st.sampled_from(
        [
            [0, 0, 0, 0],
            np.zeros(DIM, dtype=np.float32),
            [1e39, 1, 1, 1],
            [1, 2, 3],
            [[1, 2, 3, 4]],
            ["1", "2", "3", "4"],
            [True, False, True, True],
            [1j, 1, 1, 1],
            None,
            "1234",
            {"v": 1},
            np.ones((2, 2)),
            [1, 2, [3], 4],
            [2**70, 1, 1, 1],
            np.ones(20_000),
        ]
    ),
)
texts = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["\x00", SURROGATE, "w " * 50]))
records = st.lists(
    st.one_of(
        st.tuples(ids, vectors, metadata),
        st.tuples(ids, vectors, metadata, texts),
        st.sampled_from(
            [("only", "two"), {"id": "x"}, "record", None, ("a", [1, 1, 1, 1], {}, None, 5)]
        ),
    ),
    max_size=4,
)

# -- hostile filters -----------------------------------------------------------------------------

ops = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains"])
leaf_filters = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(["n", "s", "tags", "o", "missing"]), json_leaf),
    st.builds(
        lambda k, op, v: {k: {op: v}},
        st.sampled_from(["n", "s", "tags", "o"]),
        ops,
        st.one_of(json_leaf, json_values, st.lists(json_leaf, min_size=1, max_size=3)),
    ),
    st.builds(lambda k, b: {k: {"$exists": b}}, st.sampled_from(["n", "deep", "x"]), st.booleans()),
    st.builds(lambda p: {"s": {"$like": p}}, st.text(alphabet="v%_\\1", max_size=4)),
)


def chain(levels: int, op: str) -> dict[str, Any]:
    node: dict[str, Any] = {"n": {"$gte": 3}}
    for _ in range(levels - 1):
        node = {"$not": node} if op == "$not" else {op: [node]}
    return node


filters = st.one_of(
    st.none(),
    leaf_filters,
    st.builds(lambda fs: {"$and": fs}, st.lists(leaf_filters, min_size=1, max_size=3)),
    st.builds(lambda fs: {"$or": fs}, st.lists(leaf_filters, min_size=1, max_size=3)),
    st.builds(lambda f: {"$not": f}, leaf_filters),
    st.builds(
        chain, st.sampled_from([2, 63, 64, 65, 3000]), st.sampled_from(["$and", "$or", "$not"])
    ),
    st.builds(lambda n: {"$or": [{"n": i} for i in range(n)]}, st.sampled_from([10, 4096, 4097])),
    st.builds(lambda n: {"o": {"$eq": nested(n)}}, depths),
    st.builds(lambda leaf: {"s": leaf}, bad_leaf),
    st.builds(lambda d, op: {"n": {op: d}}, deep_list, ops),
    st.builds(lambda d: {"n": {"$in": [1, d]}}, deep_list),
    st.sampled_from(
        [
            [],
            ["x"],
            "s",
            5,
            {"$and": []},
            {"n": {"$bogus": 1}},
            {1: 2},
            {SURROGATE: 1},
            {"s": {"$like": "a\\"}},
            {"n": {"$in": 1}},
            {},
        ]
    ),
)
limits = st.one_of(
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=1, max_value=12),
    st.sampled_from([0, -1, 1001, 10**20, "5", None, True, 2.0]) | deep_list,
)
measures = st.one_of(
    st.sampled_from(["cosine_distance", "l2_distance", "max_inner_product", "l1_distance"]),
    st.sampled_from(["dot", "", None]) | deep_list,
)
operations = st.one_of(
    st.tuples(st.just("upsert"), records),
    st.tuples(st.just("query"), st.tuples(vectors, filters, limits, measures)),
    st.tuples(st.just("search"), st.tuples(vectors, filters, limits)),
    st.tuples(st.just("count"), filters),
    st.tuples(st.just("find"), st.tuples(filters, limits)),
    st.tuples(st.just("delete_filters"), filters),
    st.tuples(
        st.just("ids"),
        st.tuples(st.sampled_from(["fetch", "get", "delete"]), st.lists(ids, max_size=3)),
    ),
)

# -- the check ------------------------------------------------------------------------------------


def snapshot(conn: Any, schema: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        sql.SQL("SELECT id, vec::text, metadata::text, text FROM {} ORDER BY id").format(
            sql.Identifier(schema, "hostile")
        )
    ).fetchall()


@pytest.fixture
def hostile(client: vecs_core.Client, sql_conn: Any, schema: str, quiet: None) -> Any:
    col = client.get_or_create_collection("hostile", dimension=DIM)
    col.enable_text()  # up front: a record with text would add the column (a schema change)
    col.upsert(BASE)
    col.create_index(method="hnsw", measure="cosine_distance")
    return col, snapshot(sql_conn, schema)


def _expect_matches(f: Any) -> set[str]:
    return {rid for rid, _, md in BASE if matches(md, f)}


def plain(value: Any) -> Any:
    """``value`` as the JSON it is stored as (numpy scalars and arrays as numbers and lists)."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist()))


def run(col: Any, op: str, arg: Any) -> None:
    """Perform one operation; on success, check the result is right (raises AssertionError)."""
    if op == "upsert":
        col.upsert(arg)
        last = {r[0]: r for r in arg}  # last wins
        got = {r.id: r for r in col.fetch(list(last))}
        items = {i.id: i for i in col.get(list(last))}
        assert set(got) == set(last)
        for rid, rec in last.items():
            assert np.array_equal(got[rid].vector, np.asarray(rec[1], dtype=np.float32))
            assert json_equal(got[rid].metadata, plain(rec[2] or {})), got[rid].metadata
            assert items[rid].text == (rec[3] if len(rec) == 4 else None)
        assert not (set(last) & BASE_IDS)
        col.delete(ids=list(last))  # back to the baseline (checked by the caller)
    elif op in ("query", "search"):
        vector, f, limit, *rest = arg
        if op == "query":
            got = col.query(data=vector, filters=f, limit=limit, measure=rest[0])
        else:
            got = [h.id for h in col.search(vector, filters=f, limit=limit)]
        assert len(got) <= limit and set(got) <= _expect_matches(f)
    elif op == "count":
        assert col.count(arg) == len(_expect_matches(arg))
    elif op == "find":
        f, limit = arg
        got = [item.id for item in col.find(f, limit=limit)]
        assert got == sorted(_expect_matches(f))[:limit]
    elif op == "delete_filters":
        deleted = set(col.delete(filters=arg))
        assert deleted == _expect_matches(arg)
        col.upsert([r for r in BASE if r[0] in deleted])  # restore
    else:
        what, wanted = arg
        if what == "fetch":
            assert {r.id for r in col.fetch(wanted)} == set(wanted) & BASE_IDS
        elif what == "get":
            assert {i.id for i in col.get(wanted)} == set(wanted) & BASE_IDS
        else:
            assert set(col.delete(ids=wanted)) == set(wanted) & BASE_IDS
            col.upsert([r for r in BASE if r[0] in wanted])


OUTCOMES: Counter[tuple[str, str]] = Counter()


@database_examples(EXAMPLES)
@given(operation=operations)
# every kind of call both succeeds and is refused at least once, whatever hypothesis generates
@example(operation=("upsert", [("new-1", [1.0, 2.0, 3.0, 4.0], {"a": [1, {"b": None}]})]))
@example(operation=("upsert", [("bad", [1.0, 2.0], {})]))
@example(operation=("query", ([1.0, 0.0, 0.0, 0.0], {"n": {"$gte": 3}}, 5, "l2_distance")))
@example(operation=("query", ([1.0, 0.0, 0.0, 0.0], None, 0, "cosine_distance")))
@example(operation=("search", ([0.0, 1.0, 0.0, 0.0], {"s": "v1"}, 3)))
@example(operation=("search", ([0.0, 1.0, 0.0, 0.0], [{"s": "v1"}], 3)))
@example(operation=("count", {"tags": {"$contains": 1}}))
@example(operation=("count", {"n": {"$gtt": 1}}))
@example(operation=("find", ({"n": {"$lt": 4}}, 5)))
@example(operation=("find", ({"n": {"$lt": 4}}, -1)))
@example(operation=("delete_filters", {"n": 3}))
@example(operation=("delete_filters", {}))
@example(operation=("ids", ("fetch", ["base-01", "nope"])))
@example(operation=("ids", ("get", "base-01")))
def test_hostile_calls_succeed_correctly_or_raise_typed_errors(
    hostile: Any, sql_conn: Any, schema: str, operation: tuple[str, Any]
) -> None:
    col, baseline = hostile
    op, arg = operation
    try:
        run(col, op, arg)
    except VecsError as exc:
        OUTCOMES[op, type(exc).__name__] += 1
    else:
        OUTCOMES[op, "ok"] += 1
    # refused or not, the collection is intact (successful writes were undone by ``run``)
    assert snapshot(sql_conn, schema) == baseline


def test_both_outcomes_were_seen() -> None:
    """Every kind of call both succeeded and was refused at least once in the battery above."""
    if not OUTCOMES:
        pytest.skip("the battery did not run in this session")
    kinds = {op for op, _ in OUTCOMES}
    assert kinds == {"upsert", "query", "search", "count", "find", "delete_filters", "ids"}
    for kind in kinds:
        assert OUTCOMES[kind, "ok"] > 0, OUTCOMES
        assert any(o != "ok" for op, o in OUTCOMES if op == kind), OUTCOMES
