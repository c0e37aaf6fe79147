"""Translate LlamaIndex ``MetadataFilters`` into the vecs_core filter language. Pure: no I/O.

The target semantics are LlamaIndex's own, as implemented by
``llama_index.core.vector_stores.utils.build_metadata_filter_fn`` (what ``SimpleVectorStore``
uses), evaluated on the flat metadata written by ``node_to_metadata_dict``:

* a missing key or a JSON ``null`` value matches only ``NE``, ``NIN`` and ``IS_EMPTY``;
* ``EQ``/``NE``/``IN``/``NIN`` follow Python ``==``, so ``1 == 1.0`` and ``True == 1``
  (metadata booleans equal the numbers 1 and 0), and ``NE``/``NIN`` are the exact complements
  of ``EQ``/``IN``;
* ``GT``/``GTE``/``LT``/``LTE`` compare numbers with numbers (booleans count as 0/1) and strings
  with strings by code point;
* ``IN``/``NIN`` with a string value test "metadata is a substring of the value";
* ``CONTAINS`` is Python ``in``: list membership, or substring for a string metadata value;
  ``ANY``/``ALL`` apply ``CONTAINS`` to each element of the value (to each character of a
  string value); ``ALL`` of nothing holds for every present, non-null value;
* ``TEXT_MATCH`` is a case-sensitive substring test, ``TEXT_MATCH_INSENSITIVE`` compares
  lower-cased strings;
* ``IS_EMPTY``: missing, ``null``, ``""`` or ``[]``;
* a group of filters combines with AND (all), OR (any) or NOT (none of them); an empty group
  matches everything. Groups nest to any depth (the installed ``build_metadata_filter_fn``
  refuses nesting; a nested group here means what LlamaIndex gives for it as a top-level filter).

Where LlamaIndex raises ``TypeError`` for *every* node that has the key (an ``IN`` with a number,
a range with a list, ...) the translation raises :class:`vecs_core.FilterError` up front. Where it
raises only for some values (e.g. ``"a" > 1``), our rows of the wrong type simply do not match;
equality with LlamaIndex holds on every filter and data set for which LlamaIndex does not raise.

Two reserved metadata keys written by the store support this: ``_vecs_node_id`` (the node id,
for ``node_ids`` restrictions) and ``_vecs_empty_keys`` (the keys whose value is ``[]``, since the
core language cannot test for an empty array). Those and ``_node_content`` are invisible to
filters, as they are in ``SimpleVectorStore``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Union

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from vecs_core import FilterError

NODE_ID_KEY = "_vecs_node_id"
EMPTY_KEYS_KEY = "_vecs_empty_keys"
#: Keys present in the stored metadata but not in the metadata LlamaIndex filters on.
HIDDEN_KEYS = frozenset({"_node_content", NODE_ID_KEY, EMPTY_KEYS_KEY})
#: Longest string value accepted by ``IN``/``NIN`` (they expand to every substring).
MAX_IN_STRING = 200

#: A translated filter: a core filter dict, or ``True`` (matches every row) / ``False`` (none).
Expr = Union[dict[str, Any], bool]


# -- boolean algebra with constant folding ------------------------------------------------------
def and_(parts: Iterable[Expr]) -> Expr:
    """Conjunction; ``True`` for no parts."""
    out: list[dict[str, Any]] = []
    for p in parts:
        if p is False:
            return False
        if isinstance(p, dict):  # True adds nothing to a conjunction
            out.append(p)
    if not out:
        return True
    return out[0] if len(out) == 1 else {"$and": out}


def or_(parts: Iterable[Expr]) -> Expr:
    """Disjunction; ``False`` for no parts."""
    out: list[dict[str, Any]] = []
    for p in parts:
        if p is True:
            return True
        if isinstance(p, dict):  # False adds nothing to a disjunction
            out.append(p)
    if not out:
        return False
    return out[0] if len(out) == 1 else {"$or": out}


def not_(p: Expr) -> Expr:
    if isinstance(p, bool):
        return not p
    if len(p) == 1 and "$not" in p:
        inner: dict[str, Any] = p["$not"]
        return inner
    return {"$not": p}


# -- value checks --------------------------------------------------------------------------------
def _is_number(v: object) -> bool:
    return isinstance(v, (int, float))  # bool included: Python treats True as 1


def _num(v: int | float) -> int | float:
    if isinstance(v, float) and not math.isfinite(v):
        raise FilterError(f"filter value {v!r} is not a finite number")
    return int(v) if isinstance(v, bool) else v


def _str(v: str) -> str:
    if "\x00" in v:
        raise FilterError(f"filter value {v!r} contains a NUL character")
    return v


def _scalar(v: object, what: str) -> Any:
    if isinstance(v, (int, float)):  # bool included, as in _is_number
        return _num(v)
    if isinstance(v, str):
        return _str(v)
    raise FilterError(f"{what}: expected a string or a number, got {type(v).__name__} {v!r}")


def _like_substring(v: str) -> str:
    escaped = v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bools(key: str, pred: Callable[[int], bool]) -> list[Expr]:
    """Terms matching the metadata booleans that ``pred`` accepts (False is 0, True is 1)."""
    return [{key: b} for b in (False, True) if pred(int(b))]


# -- operators -----------------------------------------------------------------------------------
def _present(key: str) -> Expr:
    """Key present with a non-null value."""
    return and_([{key: {"$exists": True}}, not_({key: None})])


def _eq(key: str, value: Any) -> Expr:
    if value is None:
        return False  # null/missing never match EQ; nothing else equals None
    if isinstance(value, list):
        raise FilterError(
            f"filter on {key!r}: EQ/NE with a list value (list equality) is not supported; "
            "use IN/NIN, ANY or ALL"
        )
    v = _scalar(value, f"filter on {key!r}")
    if isinstance(v, str):
        return {key: v}
    return or_([{key: v}, *_bools(key, lambda b: b == v)])


_RANGE_OPS: dict[FilterOperator, tuple[str, Callable[[Any, Any], bool]]] = {
    FilterOperator.GT: ("$gt", lambda a, b: a > b),
    FilterOperator.GTE: ("$gte", lambda a, b: a >= b),
    FilterOperator.LT: ("$lt", lambda a, b: a < b),
    FilterOperator.LTE: ("$lte", lambda a, b: a <= b),
}


def _range(key: str, op: FilterOperator, value: Any) -> Expr:
    core_op, cmp = _RANGE_OPS[op]
    if value is None or isinstance(value, list):
        raise FilterError(f"filter on {key!r}: {op.name} needs a number or a string, got {value!r}")
    v = _scalar(value, f"filter on {key!r}")
    if isinstance(v, str):
        return {key: {core_op: v}}
    return or_([{key: {core_op: v}}, *_bools(key, lambda b: cmp(b, v))])


def _in(key: str, value: Any, op: FilterOperator) -> Expr:
    if isinstance(value, str):
        # Python: `metadata in "abc"` is a substring test (string metadata only).
        if len(value) > MAX_IN_STRING:
            raise FilterError(
                f"filter on {key!r}: {op.name} with a string value longer than "
                f"{MAX_IN_STRING} characters is not supported"
            )
        _str(value)
        subs = sorted({value[i:j] for i in range(len(value) + 1) for j in range(i, len(value) + 1)})
        return {key: {"$in": subs}}
    if not isinstance(value, list):
        raise FilterError(f"filter on {key!r}: {op.name} needs a list (or a string), got {value!r}")
    items = [_scalar(x, f"filter on {key!r}") for x in value if x is not None]
    if not items:
        return False
    nums = [x for x in items if not isinstance(x, str)]
    return or_([{key: {"$in": items}}, *_bools(key, lambda b: any(b == x for x in nums))])


def _contains(key: str, value: Any) -> Expr:
    """Python ``value in metadata``: list membership, or substring of a string."""
    if isinstance(value, str):
        v = _str(value)
        return or_([{key: {"$contains": v}}, {key: {"$like": _like_substring(v)}}])
    if value is None:
        return {key: {"$contains": None}}
    if _is_number(value):
        n = _num(value)
        return or_(
            [
                {key: {"$contains": n}},
                *[{key: {"$contains": b}} for b in (False, True) if int(b) == n],
            ]
        )
    raise FilterError(
        f"filter on {key!r}: CONTAINS needs a string or a number, got {value!r}; "
        "use ANY or ALL for several values"
    )


def _elements(key: str, op: FilterOperator, value: Any) -> Sequence[Any]:
    if isinstance(value, str):
        return list(value)  # Python iterates a string's characters
    if isinstance(value, list):
        return value
    raise FilterError(f"filter on {key!r}: {op.name} needs a list (or a string), got {value!r}")


def _text_match(key: str, op: FilterOperator, value: Any) -> Expr:
    if not isinstance(value, str):
        raise FilterError(f"filter on {key!r}: {op.name} needs a string, got {value!r}")
    core_op = "$like" if op == FilterOperator.TEXT_MATCH else "$ilike"
    return {key: {core_op: _like_substring(_str(value))}}


def _is_empty(key: str) -> Expr:
    return or_(
        [
            {key: {"$exists": False}},
            {key: None},
            {key: ""},
            {EMPTY_KEYS_KEY: {"$contains": key}},
        ]
    )


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise FilterError(f"filter keys must be strings, got {key!r}")
    if key.startswith("$"):
        raise FilterError(f"filter key {key!r}: keys starting with '$' cannot be filtered on")
    if "\x00" in key:
        raise FilterError(f"filter key {key!r} contains a NUL character")
    return key


def translate_filter(f: MetadataFilter) -> Expr:
    """One ``MetadataFilter`` as a core filter (or a constant)."""
    op = FilterOperator(f.operator)
    key = _check_key(f.key)
    value = f.value
    if key in HIDDEN_KEYS:  # absent from LlamaIndex's view of the metadata
        return op in (FilterOperator.NE, FilterOperator.NIN, FilterOperator.IS_EMPTY)
    if op == FilterOperator.EQ:
        return _eq(key, value)
    if op == FilterOperator.NE:
        return not_(_eq(key, value))
    if op in _RANGE_OPS:
        return _range(key, op, value)
    if op == FilterOperator.IN:
        return _in(key, value, op)
    if op == FilterOperator.NIN:
        return not_(_in(key, value, op))
    if op == FilterOperator.CONTAINS:
        return _contains(key, value)
    if op == FilterOperator.ANY:
        return or_([_contains(key, x) for x in _elements(key, op, value)])
    if op == FilterOperator.ALL:
        elements = _elements(key, op, value)
        if not elements:
            return _present(key)
        return and_([_contains(key, x) for x in elements])
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        return _text_match(key, op, value)
    if op == FilterOperator.IS_EMPTY:
        return _is_empty(key)
    raise FilterError(f"unsupported filter operator {op!r}")  # pragma: no cover


def translate_filters(filters: MetadataFilters | None) -> Expr:
    """Translate ``filters`` (nested to any depth) into a core filter dict.

    Returns ``True`` when every row matches (no filters, or an empty group) and ``False`` when
    none can. Raises :class:`vecs_core.FilterError` for filters LlamaIndex itself could only
    answer with a ``TypeError`` or that the core cannot express (see the module docstring),
    and for ``filters`` that are not a ``MetadataFilters`` (a list or a dict, for instance).
    """
    if filters is None:
        return True
    if not isinstance(filters, MetadataFilters):
        raise FilterError(
            f"filters: a filter must be a MetadataFilters, got {type(filters).__name__} "
            f"{filters!r}; wrap the conditions as MetadataFilters(filters=[MetadataFilter(...)])"
        )
    parts: list[Expr] = []
    for child in filters.filters:
        if isinstance(child, MetadataFilters):
            parts.append(translate_filters(child))
        elif isinstance(child, MetadataFilter):
            parts.append(translate_filter(child))
        else:
            raise FilterError(f"unexpected filter {child!r}")
    if not parts:
        return True
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition == FilterCondition.AND:
        return and_(parts)
    if condition == FilterCondition.OR:
        return or_(parts)
    if condition == FilterCondition.NOT:
        return not_(or_(parts))
    raise FilterError(f"unsupported filter condition {condition!r}")  # pragma: no cover


def to_vecs_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """Like :func:`translate_filters` but always a dict for ``Collection.find``/``search``:
    ``None`` for "everything" and a contradiction for "nothing"."""
    expr = translate_filters(filters)
    if expr is True:
        return None
    if expr is False:
        return dict(NOTHING)
    return expr


#: A filter no row satisfies.
NOTHING: dict[str, Any] = {
    "$and": [{NODE_ID_KEY: {"$exists": True}}, {NODE_ID_KEY: {"$exists": False}}]
}
