"""Unit tests of the filter compiler (no database): what compiles, what is refused and how.

The SQL text is inspected with ``as_string(None)``; every key and value must travel as a bound
parameter, never inside that text.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from filter_reference import like_regex, matches
from psycopg import sql

from vecs_core._filters import FIELD_OPERATORS, compile_filter, validate_filter
from vecs_core._sqlparams import Params
from vecs_core.exc import FilterError

COL = sql.Identifier("metadata")


def compile_(filters: Any) -> tuple[str, dict[str, Any]]:
    params = Params()
    composed = compile_filter(filters, COL, params)
    assert composed is not None
    return composed.as_string(None), params.values


def param_strings(values: dict[str, Any]) -> set[str]:
    """Every string a bound value carries: the value itself and, for the jsonb documents the
    compiler sends, every key and string inside the decoded JSON."""
    out: set[str] = set()

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                out.add(k)
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, str):
            out.add(obj)

    for v in values.values():
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, str):
                out.add(item)
                try:
                    walk(json.loads(item))
                except ValueError:
                    pass
    return out


# -- everything that should compile --------------------------------------------------------------

VALID = [
    {"a": 1},
    {"a": "x"},
    {"a": True},
    {"a": None},
    {"a": 1.5},
    {"a": {"$eq": 1}},
    {"a": {"$eq": None}},
    {"a": {"$eq": [1, "x", None]}},
    {"a": {"$eq": []}},
    {"a": {"$eq": {"b": [1, {"c": True}]}}},
    {"a": {"$eq": {}}},
    {"a": {"$ne": [1]}},
    {"a": {"$ne": {"b": 1}}},
    {"a": {"$eq": (1, 2)}},
    {"a": {"$ne": "x"}},
    {"a": {"$gt": 1}},
    {"a": {"$gte": 1.5}},
    {"a": {"$lt": "m"}},
    {"a": {"$lte": -3}},
    {"a": {"$gte": 1990, "$lt": 2000}},
    {"a": {"$in": [1, "1", True, None, 2.5]}},
    {"a": {"$nin": ["x"]}},
    {"a": {"$in": ("x", "y")}},
    {"a": {"$contains": "x"}},
    {"a": {"$contains": ["x", 1, False, None]}},
    {"a": {"$exists": True}},
    {"a": {"$exists": False}},
    {"a": {"$like": "a%_\\%"}},
    {"a": {"$ilike": "A%"}},
    {"a": 1, "b": 2},
    {"$and": [{"a": 1}, {"b": 2}]},
    {"$or": [{"a": 1}]},
    {"$not": {"a": 1}},
    {"$not": {"$not": {"a": {"$exists": True}}}},
    {"$and": [{"$or": [{"a": 1}, {"$not": {"b": {"$in": [1, 2]}}}]}], "c": "x"},
    {"a.b": 1},  # a literal key with a dot
]


@pytest.mark.parametrize("filters", VALID, ids=repr)
def test_valid_filters_compile(filters: dict[str, Any]) -> None:
    text, values = compile_(filters)
    assert "%(p0)s" in text
    assert values
    validate_filter(filters)


def test_every_operator_is_covered() -> None:
    used = {op for f in VALID for v in f.values() if isinstance(v, dict) for op in v}
    assert set(FIELD_OPERATORS) <= used
    assert set(FIELD_OPERATORS) == {
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$contains",
        "$exists",
        "$like",
        "$ilike",
    }


@pytest.mark.parametrize("empty", [None, {}])
def test_no_filter(empty: Any) -> None:
    assert compile_filter(empty, COL, Params()) is None
    validate_filter(empty)


def test_eq_is_containment_for_the_gin_index() -> None:
    text, values = compile_({"a": "x"})
    assert text == '("metadata" @> %(p0)s::jsonb)'
    assert values == {"p0": '{"a": "x"}'}


def test_eq_of_an_array_or_object_is_exact_equality_behind_containment() -> None:
    # containment alone would be wrong ([1, 2] contains [1]); it stays, for the GIN index
    text, values = compile_({"a": {"$eq": [1]}})
    assert text == ('(("metadata" @> %(p0)s::jsonb) AND (("metadata" -> %(p1)s) = %(p2)s::jsonb))')
    assert values == {"p0": '{"a": [1]}', "p1": "a", "p2": "[1]"}
    text, values = compile_({"a": {"$ne": {"b": (1, 2)}}})
    assert text.startswith('(("metadata" ? %(p0)s) AND NOT ((')
    assert values["p3"] == '{"b": [1, 2]}'


def test_json_operands_are_copied_as_plain_json() -> None:
    from types import MappingProxyType

    _, values = compile_({"a": {"$eq": {"b": (1, "x")}}})
    assert values["p2"] == '{"b": [1, "x"]}'
    # only dicts, lists and tuples are JSON containers here (the ones whose depth is checked)
    deep: Any = [1]
    for _ in range(5000):
        deep = [deep]
    for odd in (MappingProxyType({"b": 1}), {"b": MappingProxyType({"c": deep})}):
        with pytest.raises(FilterError, match="string, number, boolean or null"):
            validate_filter({"a": {"$eq": odd}})


def test_in_is_containment_of_any() -> None:
    text, values = compile_({"a": {"$in": [1, "1"]}})
    assert text == '("metadata" @> ANY(%(p0)s::jsonb[]))'
    assert values == {"p0": ['{"a": 1}', '{"a": "1"}']}


def test_contains_wraps_values_in_an_array() -> None:
    text, values = compile_({"a": {"$contains": "x"}})
    assert text == '("metadata" @> %(p0)s::jsonb)'
    assert values == {"p0": '{"a": ["x"]}'}


def test_numbers_are_exact_decimals() -> None:
    _, values = compile_({"a": {"$gt": 0.1}})
    assert Decimal("0.1") in values.values()
    _, values = compile_({"a": {"$lt": 2**70}})
    assert Decimal(2**70) in values.values()


def test_strings_compare_by_code_point() -> None:
    text, _ = compile_({"a": {"$gt": "m"}})
    assert 'COLLATE "C"' in text
    assert "jsonb_typeof" in text


def test_several_keys_and_operators_are_anded() -> None:
    text, _ = compile_({"a": {"$gte": 1, "$lt": 2}, "b": 1})
    assert text.count(" AND ") >= 2
    text, _ = compile_({"$or": [{"a": 1}, {"b": 1}]})
    assert " OR " in text


# -- errors: exact path, and what is allowed -----------------------------------------------------

ERRORS = [
    # (filter, path named in the message, other words the message must hold)
    ([1], "filters", ["must be a dict"]),
    ("a", "filters", ["must be a dict"]),
    ({"a": {"$regex": "x"}}, "filters['a']", ["'$regex'", *FIELD_OPERATORS]),
    ({"a": {"$EQ": 1}}, "filters['a']", ["'$EQ'", *FIELD_OPERATORS]),
    ({"a": {"b": 1}}, "filters['a']", ["'b'", "{'$eq': {...}}", *FIELD_OPERATORS]),
    ({"a": {1: 1}}, "filters['a']", [*FIELD_OPERATORS]),
    ({"$nor": [{"a": 1}]}, "filters['$nor']", ["$and", "$or", "$not"]),
    ({"$and": [{"a": 1}, {"year": {"$foo": 1}}]}, "filters['$and'][1]['year']", ["'$foo'"]),
    ({"$and": []}, "filters['$and']", ["empty"]),
    ({"$or": []}, "filters['$or']", ["empty"]),
    ({"$and": {"a": 1}}, "filters['$and']", ["non-empty list"]),
    ({"$or": "a"}, "filters['$or']", ["non-empty list"]),
    ({"$and": [{}]}, "filters['$and'][0]", ["empty filter"]),
    ({"$and": [{"a": 1}, 5]}, "filters['$and'][1]", ["must be a dict"]),
    ({"$not": {}}, "filters['$not']", ["empty filter"]),
    ({"$not": [{"a": 1}]}, "filters['$not']", ["must be a dict"]),
    ({"a": {}}, "filters['a']", ["empty operator dict"]),
    ({1: "x"}, "filters", ["keys must be strings"]),
    ({None: "x"}, "filters", ["keys must be strings"]),
    ({"$or": [{"a": 1}, {("t",): 1}]}, "filters['$or'][1]", ["keys must be strings"]),
    ({"a": [1, 2]}, "filters['a']", ["bare list", "$in", "$contains"]),
    ({"a": (1, 2)}, "filters['a']", ["bare list"]),
    ({"a": {"$eq": [1, {2}]}}, "filters['a']['$eq'][1]", ["$eq", "string, number, boolean"]),
    ({"a": {"$eq": {"b": b"x"}}}, "filters['a']['$eq']['b']", ["$eq", "bytes"]),
    ({"a": {"$eq": {1: "x"}}}, "filters['a']['$eq']", ["$eq", "keys must be strings"]),
    ({"a": {"$eq": {"k\x00": 1}}}, "filters['a']['$eq']", ["$eq", "NUL"]),
    ({"a": {"$ne": [[float("nan")]]}}, "filters['a']['$ne'][0][0]", ["$ne", "finite"]),
    ({"a": {"$eq": ["x\x00"]}}, "filters['a']['$eq'][0]", ["NUL"]),
    ({"a": {"$eq": ["\ud800"]}}, "filters['a']['$eq'][0]", ["surrogate"]),
    ({"a": "\udfff"}, "filters['a']", ["surrogate"]),
    ({"a\ud800": 1}, "filters['a\\ud800']", ["surrogate"]),
    ({"a": {"$in": ["\ud800"]}}, "filters['a']['$in'][0]", ["surrogate"]),
    ({"a": {"x": 1}.keys()}, "filters['a']", ["$eq"]),
    ({"a": b"x"}, "filters['a']", ["$eq", "bytes"]),
    ({"a": {"$gt": True}}, "filters['a']['$gt']", ["$gt", "number or a string"]),
    ({"a": {"$gte": None}}, "filters['a']['$gte']", ["$gte", "number or a string"]),
    ({"a": {"$lt": [1]}}, "filters['a']['$lt']", ["$lt", "number or a string"]),
    ({"a": {"$lte": Decimal(1)}}, "filters['a']['$lte']", ["$lte", "number or a string"]),
    ({"a": {"$in": []}}, "filters['a']['$in']", ["$in", "non-empty"]),
    ({"a": {"$in": 1}}, "filters['a']['$in']", ["$in", "list"]),
    ({"a": {"$in": "ab"}}, "filters['a']['$in']", ["$in", "list"]),
    ({"a": {"$in": [1, [2]]}}, "filters['a']['$in'][1]", ["$in"]),
    ({"a": {"$nin": []}}, "filters['a']['$nin']", ["$nin", "non-empty"]),
    ({"a": {"$nin": [{"b": 1}]}}, "filters['a']['$nin'][0]", ["$nin"]),
    ({"a": {"$contains": []}}, "filters['a']['$contains']", ["$contains", "non-empty"]),
    ({"a": {"$contains": [[1]]}}, "filters['a']['$contains'][0]", ["$contains"]),
    ({"a": {"$contains": {"b": 1}}}, "filters['a']['$contains']", ["$contains"]),
    ({"a": {"$exists": 1}}, "filters['a']['$exists']", ["$exists", "true or false"]),
    ({"a": {"$exists": "yes"}}, "filters['a']['$exists']", ["$exists"]),
    ({"a": {"$like": 1}}, "filters['a']['$like']", ["$like", "pattern string"]),
    ({"a": {"$ilike": None}}, "filters['a']['$ilike']", ["$ilike", "pattern string"]),
    ({"a": {"$like": "ab\\"}}, "filters['a']['$like']", ["$like", "unescaped backslash"]),
    ({"a": {"$ilike": "\\\\\\"}}, "filters['a']['$ilike']", ["$ilike", "unescaped backslash"]),
    ({"a": float("nan")}, "filters['a']", ["finite"]),
    ({"a": {"$gt": float("inf")}}, "filters['a']['$gt']", ["finite"]),
    ({"a": {"$in": [1, float("-inf")]}}, "filters['a']['$in'][1]", ["finite"]),
    ({"a": {"$eq": 10**5000}}, "filters['a']['$eq']", ["too large"]),
    ({"a": "x\x00y"}, "filters['a']", ["NUL"]),
    ({"a": {"$like": "\x00"}}, "filters['a']['$like']", ["NUL"]),
    ({"a": {"$in": ["ok", "\x00"]}}, "filters['a']['$in'][1]", ["NUL"]),
    ({"a\x00b": 1}, "filters['a\\x00b']", ["NUL"]),
    ({"$or": [{"k\x00": {"$exists": True}}]}, "filters['$or'][0]['k\\x00']", ["NUL"]),
]


def _short_id(value: object) -> str:
    try:
        return repr(value)[:60]
    except ValueError:  # an int too large to print
        return "huge-int"


@pytest.mark.parametrize(("filters", "path", "words"), ERRORS, ids=_short_id)
def test_errors_name_the_path(filters: Any, path: str, words: list[str]) -> None:
    with pytest.raises(FilterError) as info:
        validate_filter(filters)
    message = str(info.value)
    assert message.startswith(path + ":"), message
    for word in words:
        assert word in message, (word, message)
    with pytest.raises(FilterError):
        compile_filter(filters, COL, Params())


def test_the_first_bad_node_is_reported() -> None:
    with pytest.raises(FilterError, match=re.escape("filters['$or'][2]['$and'][0]['x']['$gt']")):
        validate_filter(
            {"$or": [{"a": 1}, {"b": 2}, {"$and": [{"x": {"$gt": [1]}}]}], "c": {"$in": []}}
        )


def test_filter_error_is_a_value_error_subclass_or_exception() -> None:
    assert issubclass(FilterError, Exception)


# -- hostile keys and values stay out of the SQL text ---------------------------------------------

HOSTILE = [
    "a' OR 1=1 --",
    '"',
    'a"; DROP TABLE x; --',
    "\\",
    "%(p0)s",
    "%s",
    "{}",
    "?",
    "x$1",
    "x" * 10_000,
    "ключ",
    "键🔑",
    "e\u0301",
    "a\nb\tc",
    "'); SELECT pg_sleep(10); --",
]


def _all_forms(key: str, value: Any) -> list[dict[str, Any]]:
    return [
        {key: value},
        {key: {"$ne": value}},
        {key: {"$gt": value}},
        {key: {"$lte": value}},
        {key: {"$in": [value, "z"]}},
        {key: {"$nin": [value]}},
        {key: {"$contains": value}},
        {key: {"$exists": True}},
        {key: {"$exists": False}},
        {key: {"$like": value.rstrip("\\") or "%"}},
        {key: {"$ilike": value.rstrip("\\") or "%"}},
        {"$not": {"$or": [{key: value}, {"$and": [{key: {"$gte": value}}]}]}},
    ]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda s: repr(s)[:30])
def test_hostile_keys_and_values_are_parameters(hostile: str) -> None:
    for filters in _all_forms(hostile, hostile):
        text, values = compile_(filters)
        # placeholders are the only dynamic part of the text
        static = re.sub(r"%\(p\d+\)s", "", text)
        if len(hostile) > 1:
            assert hostile not in static, filters
        assert "%(" not in static and "%s" not in static
        assert hostile in param_strings(values), filters


def test_sql_text_is_the_same_for_any_key() -> None:
    """The compiled text depends only on the filter's shape, never on its keys or values."""
    for hostile in HOSTILE:
        for mine, plain in zip(_all_forms(hostile, hostile), _all_forms("k", "v")):
            assert compile_(mine)[0] == compile_(plain)[0]


def test_nul_keys_are_refused_everywhere() -> None:
    for filters in _all_forms("bad\x00key", "v"):
        with pytest.raises(FilterError, match="NUL"):
            validate_filter(filters)


def test_compile_does_not_mutate_the_filter() -> None:
    filters = {"$and": [{"a": {"$in": [1, 2]}}, {"b": "x"}]}
    snapshot = repr(filters)
    compile_(filters)
    assert repr(filters) == snapshot


# -- the reference evaluator itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "filters", "expected"),
    [
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": 1}, {"a": "1"}, False),
        ({"a": None}, {"a": None}, True),
        ({}, {"a": None}, False),
        ({"a": [1]}, {"a": 1}, False),
        ({"a": [[1]]}, {"a": {"$contains": 1}}, False),
        ({"a": [1, "x"]}, {"a": {"$contains": [1.0, "x"]}}, True),
        ({"a": [True]}, {"a": {"$contains": 1}}, False),
        ({}, {"a": {"$ne": 1}}, False),
        ({}, {"a": {"$nin": [1]}}, False),
        ({"a": None}, {"a": {"$exists": True}}, True),
        ({"a": 0.1}, {"a": {"$gt": 0.1}}, False),
        ({"a": 2**53 + 1}, {"a": {"$gt": float(2**53)}}, True),
        ({"a": "10"}, {"a": {"$gt": 9}}, False),
        ({"a": "é"}, {"a": {"$gt": "z"}}, True),
        ({"a": "a_c"}, {"a": {"$like": "a\\_c"}}, True),
        ({"a": "abc"}, {"a": {"$like": "a\\_c"}}, False),
        ({"a": "A\nB"}, {"a": {"$ilike": "a_b"}}, True),
        ({"a": 1}, {"$not": {"a": {"$gt": 5}}}, True),
        ({}, {"$not": {"a": {"$gt": 5}}}, True),
    ],
)
def test_reference_examples(
    metadata: dict[str, Any], filters: dict[str, Any], expected: bool
) -> None:
    assert matches(metadata, filters) is expected


def test_like_regex_translation() -> None:
    assert like_regex("a%b_c\\%\\\\").pattern == "a.*b.c%\\\\"
    with pytest.raises(ValueError):
        like_regex("a\\")


def test_compiled_filters_are_kept_per_filter_and_indexed_keys() -> None:
    from vecs_core import _filter_cache

    kept = _filter_cache.compile_request_filter({"a": {"$in": [1, 2]}, "b": "x"})
    assert kept is not None and kept.key is not None
    again = _filter_cache.compile_request_filter({"a": {"$in": [1, 2]}, "b": "x"})
    assert again is kept  # compiled once
    assert kept.text == kept.condition.as_string(None)
    # values that bind differently never share a compiled filter
    ones = [_filter_cache.compile_request_filter({"a": v}) for v in (1, 1.0, True, "1")]
    assert len({id(c) for c in ones}) == 4
    sent = [next(iter(c.params.values())) for c in ones]  # the jsonb documents, as bound
    assert sent == ['{"a": 1}', '{"a": 1.0}', '{"a": true}', '{"a": "1"}']
    # the indexed keys change the compiled condition (over the index expression)
    indexed = _filter_cache.compile_request_filter({"a": 1}, {"a": "number"})
    assert indexed is not None and indexed.text != ones[0].text
    # a filter not made of dicts, lists and plain scalars is compiled (and checked) every call
    from types import MappingProxyType

    odd = _filter_cache.compile_request_filter(MappingProxyType({"a": 1}))
    assert odd is not None and odd.key is None and odd.text == ones[0].text
    assert _filter_cache.compile_request_filter(MappingProxyType({"a": 1})) is not odd
    big = {"$or": [{"a": i} for i in range(_filter_cache.MAX_KEPT_VALUES + 1)]}
    assert _filter_cache.compile_request_filter(big).key is None  # type: ignore[union-attr]
    # a malformed filter is never kept: it raises every time
    for _ in range(2):
        with pytest.raises(FilterError):
            _filter_cache.compile_request_filter({"a": {"$nope": 1}})
    # past MAX_COMPILED, the kept filters are dropped at once
    _filter_cache._COMPILED.clear()
    for i in range(_filter_cache.MAX_COMPILED + 1):
        _filter_cache.compile_request_filter({"n": i})
    assert len(_filter_cache._COMPILED) == 1


def test_a_hostile_filter_depth_is_refused_not_frozen() -> None:
    from vecs_core import _filter_cache

    deep: dict[str, Any] = {"a": 1}
    for _ in range(5000):
        deep = {"$and": [deep]}
    with pytest.raises(FilterError, match="nested more than"):
        _filter_cache.compile_request_filter(deep)
