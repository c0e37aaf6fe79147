"""Depth and size limits: deep or huge input gets a typed error naming the limit, before anything
is written, and never a RecursionError. The limits are chosen in ``vecs_core._checks``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError, FilterError, RecordError, VecsError
from vecs_core._checks import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_METADATA_DEPTH,
    NestingError,
    scan_json,
)
from vecs_core._filters import validate_filter
from vecs_core._records import encode_metadata


def nested_dict(levels: int, leaf: Any = 1) -> dict[str, Any]:
    """``{"a": {"a": ... leaf}}`` with ``levels`` objects, built without recursion."""
    node: Any = leaf
    for _ in range(levels):
        node = {"a": node}
    return node  # type: ignore[no-any-return]


def nested_list(levels: int, leaf: Any = 1) -> list[Any]:
    node: Any = leaf
    for _ in range(levels):
        node = [node]
    return node  # type: ignore[no-any-return]


def chain(op: str, levels: int) -> dict[str, Any]:
    """A filter ``levels`` filter dicts deep: ``{"$and": [{"$and": [... {"k": 1}]}]}``."""
    node: dict[str, Any] = {"k": 1}
    for _ in range(levels - 1):
        node = {"$not": node} if op == "$not" else {op: [node]}
    return node


def test_limits_are_below_what_python_and_postgres_can_read():
    assert MAX_METADATA_DEPTH == 100 and MAX_FILTER_DEPTH == 64
    assert MAX_FILTER_CONDITIONS * 3 * 3 < 65535  # 3 parameters, bound 3 times by a search


# -- metadata ----------------------------------------------------------------------------------


def test_metadata_depth_limit_pure():
    assert encode_metadata(nested_dict(MAX_METADATA_DEPTH), what="r")
    mixed = {"a": nested_list(MAX_METADATA_DEPTH - 1)}
    assert encode_metadata(mixed, what="r")
    for deep in (nested_dict(MAX_METADATA_DEPTH + 1), {"a": nested_list(5000)}, nested_dict(10**5)):
        with pytest.raises(RecordError, match=r"nested more than 100 levels deep.*limit is 100"):
            encode_metadata(deep, what="record 0")


def test_metadata_cycles_and_numpy_depth():
    loop: dict[str, Any] = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(RecordError, match="circular"):
        encode_metadata(loop, what="r")
    shared = [1, 2]
    assert encode_metadata({"x": shared, "y": shared}, what="r")  # shared is not circular
    # a numpy array counts its dimensions as nesting levels
    assert encode_metadata({"a": np.zeros((2,) * 3)}, what="r")
    with pytest.raises(RecordError, match="nested more than"):
        encode_metadata(nested_dict(MAX_METADATA_DEPTH - 2, np.zeros((1, 1, 1))), what="r")
    objects = np.empty(1, dtype=object)
    objects[0] = nested_dict(MAX_METADATA_DEPTH)
    with pytest.raises(RecordError, match="nested more than"):
        encode_metadata({"a": objects}, what="r")


def test_scan_json_has_no_recursion():
    deep = nested_list(200_000)
    started = time.monotonic()
    with pytest.raises(NestingError):
        scan_json(deep, MAX_METADATA_DEPTH)
    assert time.monotonic() - started < 1
    assert scan_json({"a": [{"b": 1}], 1: 2}, 5) is False  # a non-str key
    assert scan_json({"a": [{"b": 1}]}, 3) is True
    with pytest.raises(NestingError):
        scan_json({"a": [{"b": 1}]}, 2)


def test_deep_metadata_is_refused_before_anything_is_written(client):
    col = client.get_or_create_collection("deep_md", dimension=2)
    col.upsert([("keep", [1, 2], {"k": 1})])
    at_limit = nested_dict(MAX_METADATA_DEPTH, "leaf")
    col.upsert([("ok", [1, 2], at_limit)])
    assert col.fetch(["ok"])[0].metadata == at_limit  # stored and read back by psycopg
    # the case: 5,000 levels; in the one-statement path and the COPY path (last record)
    for records in (
        [("new", [1, 2], {}), ("bad", [1, 2], nested_dict(5000))],
        [(f"n{i}", [1, 2], {}) for i in range(300)] + [("bad", [1, 2], nested_dict(5000))],
        (r for r in [("g", [1, 2], {}), ("bad", [1, 2], {"a": nested_list(5000)})]),
    ):
        with pytest.raises(RecordError, match=r"'bad'.*limit is 100"):
            col.upsert(records)
        assert sorted(r.id for r in col.find(limit=1000)) == ["keep", "ok"]


def test_postgres_itself_takes_far_deeper_jsonb(client, sql_conn):
    """Our limit sits far below the server's: jsonb input and containment 1,000 levels deep (10x
    ours) work on PostgreSQL with the default max_stack_depth."""
    doc = '{"a":' * 1000 + "1" + "}" * 1000
    assert sql_conn.execute("SELECT %s::jsonb @> %s::jsonb", (doc, doc)).fetchone() == (True,)


# -- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["$and", "$or", "$not"])
def test_filter_depth_limit_pure(op):
    validate_filter(chain(op, MAX_FILTER_DEPTH))
    for levels in (MAX_FILTER_DEPTH + 1, 3000, 100_000):
        with pytest.raises(FilterError, match=r"nested more than 64 levels.*limit is 64"):
            validate_filter(chain(op, levels))


def test_filter_condition_limit_pure():
    validate_filter({"$and": [{"a": i} for i in range(MAX_FILTER_CONDITIONS)]})
    validate_filter({f"k{i}": {"$gte": 0, "$lt": i} for i in range(MAX_FILTER_CONDITIONS // 2)})
    with pytest.raises(FilterError, match=r"more than 4096 conditions.*\$in"):
        validate_filter({"$or": [{"a": i} for i in range(MAX_FILTER_CONDITIONS + 1)]})
    with pytest.raises(FilterError, match="more than 4096 conditions"):
        validate_filter({f"k{i}": i for i in range(10**5)})
    validate_filter({"a": {"$in": list(range(10**5))}})  # one condition, one parameter


def test_eq_operand_depth_limit_pure():
    validate_filter({"a": {"$eq": nested_list(MAX_METADATA_DEPTH - 1)}})
    validate_filter({"a": {"$ne": nested_dict(MAX_METADATA_DEPTH - 1)}})
    for deep in (nested_list(MAX_METADATA_DEPTH), nested_dict(5000)):
        with pytest.raises(FilterError, match=r"\$eq operand is nested more than 99 levels"):
            validate_filter({"a": {"$eq": deep}})


def test_deep_filters_against_the_database(vx, quiet):
    col = vx.get_or_create_collection("deep_filters", dimension=2)
    col.upsert(
        [(f"r{i}", [1.0, float(i)], {"k": i % 2, "deep": nested_dict(20)}) for i in range(40)]
    )
    col.create_index(method="hnsw")
    deepest = chain("$and", MAX_FILTER_DEPTH)  # {"k": 1} at the bottom
    double_not = chain("$not", MAX_FILTER_DEPTH - 1)  # 62 times $not: the same as {"k": 1}
    odd = sorted(f"r{i}" for i in range(40) if i % 2)
    everyone = sorted(f"r{i}" for i in range(40))
    for f, expected in (
        (deepest, odd),
        (double_not, odd),
        ({"deep": {"$eq": nested_dict(20)}}, everyone),
        ({"deep": {"$ne": nested_dict(19)}}, everyone),
    ):
        assert sorted(item.id for item in col.find(f, limit=100)) == expected
        assert col.count(f) == len(expected)
        assert len(col.query(data=[1.0, 3.0], limit=5, filters=f)) == 5
        assert col.keyword_search("x", filters=f) == []
        assert len(col.hybrid_search("x", [1.0, 3.0], filters=f, limit=3)) == 3
    # the case: a filter nested 3,000 levels deep, through every method; nothing deleted
    hostile = chain("$and", 3000)
    for call in (
        lambda: col.delete(filters=hostile),
        lambda: col.query(data=[1.0, 2.0], filters=hostile),
        lambda: col.search([1.0, 2.0], filters=hostile),
        lambda: col.find(hostile),
        lambda: col.count(hostile),
        lambda: col.keyword_search("x", filters=hostile),
        lambda: col.hybrid_search("x", [1.0, 2.0], filters=hostile),
    ):
        with pytest.raises(FilterError, match="limit is 64"):
            call()
    assert len(col) == 40
    assert sorted(col.delete(filters=deepest)) == sorted(f"r{i}" for i in range(40) if i % 2)


def test_wide_filter_at_the_condition_limit_runs(client, quiet):
    """4,096 conditions stay under PostgreSQL's 65,535 bind parameters, even in the filtered
    indexed search that binds the filter three times."""
    col = client.get_or_create_collection("wide_filter", dimension=2)
    col.upsert([(f"r{i}", [1.0, float(i)], {"n": i, "s": f"v{i}"}) for i in range(30)])
    col.create_index(method="hnsw")
    conds = [{"s": {"$like": f"v{i}"}} for i in range(MAX_FILTER_CONDITIONS - 1)]
    f = {"$or": conds, "n": {"$gte": 0}}
    assert col.count(f) == 30
    assert len(col.query(data=[1.0, 2.0], limit=10, filters=f)) == 10


# -- unencodable strings (lone surrogates) -------------------------------------------------------


def test_lone_surrogates_are_refused_everywhere(vx):
    bad = "x\ud800y"
    col = vx.get_or_create_collection("surrogates", dimension=2)
    col.upsert([("keep", [1, 2], {"k": "v"}, "text")])
    for record in (
        (bad, [1, 2], {}),
        ("a", [1, 2], {"k": bad}),
        ("a", [1, 2], {bad: 1}),
        ("a", [1, 2], {"k": [{"deeper": bad}]}),
        ("a", [1, 2], {}, bad),
    ):
        with pytest.raises(RecordError, match="surrogate"):
            col.upsert([record])
    for call in (
        lambda: col.fetch([bad]),
        lambda: col.get(["ok", bad]),
        lambda: col.delete(ids=[bad]),
        lambda: col.find(after=bad),
        lambda: col.keyword_search(bad),
        lambda: vx.get_or_create_collection(bad, dimension=2),
    ):
        with pytest.raises(ArgError, match="surrogate"):
            call()
    for f in ({"k": bad}, {bad: 1}, {"k": {"$like": bad}}, {"k": {"$eq": [bad]}}):
        with pytest.raises(FilterError, match="surrogate"):
            col.count(f)
    assert [r.id for r in col.find()] == ["keep"]


def test_values_the_server_refuses_are_arg_errors(client, sql_conn, schema):
    """A value only the server can judge (here: text too long for full-text search) raises a
    typed error, and the call's transaction leaves nothing behind."""
    col = client.get_or_create_collection("too_long", dimension=2)
    col.enable_full_text()
    words = " ".join(f"w{i}" for i in range(200_000))  # > 1 MB of distinct lexemes
    with pytest.raises(ArgError, match="too long for tsvector"):
        col.upsert([("a", [1, 2], {}, words)])
    count = sql_conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "too_long"))
    ).fetchone()
    assert count == (0,)
    assert isinstance(vecs_core.ArgError("x"), ValueError)


def test_deep_values_in_any_argument_raise_typed_errors(client, quiet):
    """A 5,000-level nested list in any argument is refused with a VecsError; error messages
    show it shortly (``safe_repr``) instead of recursing into it."""
    deep = nested_list(5000)
    col = client.get_or_create_collection("deep_args", dimension=3)
    col.upsert([("a", [1, 2, 3], {"k": 1}, "text")])
    calls = {
        "upsert id": lambda: col.upsert([(deep, [1, 2, 3], {})]),
        "upsert vector": lambda: col.upsert([("b", deep, {})]),
        "upsert metadata": lambda: col.upsert([("b", [1, 2, 3], {"k": deep})]),
        "upsert text": lambda: col.upsert([("b", [1, 2, 3], {}, deep)]),
        "upsert records": lambda: col.upsert(deep),
        "fetch": lambda: col.fetch([deep]),
        "get": lambda: col.get([deep]),
        "delete ids": lambda: col.delete(ids=[deep]),
        "getitem": lambda: col[deep],
        "query data": lambda: col.query(data=deep),
        "query limit": lambda: col.query(data=[1, 2, 3], limit=deep),
        "query measure": lambda: col.query(data=[1, 2, 3], measure=deep),
        "query probes": lambda: col.query(data=[1, 2, 3], probes=deep),
        "query ef_search": lambda: col.query(data=[1, 2, 3], ef_search=deep),
        "query iterative_scan": lambda: col.query(data=[1, 2, 3], iterative_scan=deep),
        "query filters": lambda: col.query(data=[1, 2, 3], filters=deep),
        "filter value": lambda: col.count({"k": deep}),
        "filter $in": lambda: col.count({"k": {"$in": [deep]}}),
        "filter $gt": lambda: col.count({"k": {"$gt": deep}}),
        "filter $like": lambda: col.count({"k": {"$like": deep}}),
        "filter $exists": lambda: col.count({"k": {"$exists": deep}}),
        "filter $and": lambda: col.count({"$and": deep}),
        "filter key": lambda: col.count({("t",): 1}),
        "find limit": lambda: col.find(limit=deep),
        "find after": lambda: col.find(after=deep),
        "search": lambda: col.search(deep),
        "keyword text": lambda: col.keyword_search(deep),
        "keyword language": lambda: col.keyword_search("x", language=deep),
        "hybrid weight": lambda: col.hybrid_search("x", [1, 2, 3], full_text_weight=deep),
        "hybrid rrf_k": lambda: col.hybrid_search("x", [1, 2, 3], rrf_k=deep),
        "index measure": lambda: col.create_index(measure=deep),
        "index method": lambda: col.create_index(method=deep),
        "index arguments": lambda: col.create_index(index_arguments=deep),
        "collection name": lambda: client.get_or_create_collection(deep, dimension=3),
        "dimension": lambda: client.get_or_create_collection("x", dimension=deep),
        "session": lambda: client.session({"app.x": deep}),
        "vector_version": lambda: client.set_vector_version(deep),
    }
    for name, call in calls.items():
        try:
            call()
        except VecsError as exc:
            assert len(str(exc)) < 2000, name
        else:
            raise AssertionError(f"{name}: accepted")
    assert [r.id for r in col.find()] == ["a"]
