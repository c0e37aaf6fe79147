"""A pure-Python reference evaluator for the metadata filter language: the spec, in code.

``matches(metadata, filters)`` says whether one record's metadata (a dict of JSON values, as it
was upserted) is selected by ``filters``. The property tests compare it with what the SQL compiled
by :mod:`vecs_core._filters` selects in a real PostgreSQL database, so every rule below is one the
database is checked against.

The language
------------
A filter is a dict. Its keys are field names (literal top-level metadata keys; a dot is just a
character) or the logical operators ``$and``/``$or`` (non-empty lists of filters) and ``$not``
(one filter). Several keys in one dict must all hold. A field maps to a dict of operators (all
must hold) or to a bare scalar, which means ``$eq``.

JSON types are strict. Python's ``True == 1`` and ``1 == 1.0`` are *not* what JSON equality
means here, so values are first classified into the JSON types ``null``, ``boolean``,
``number``, ``string``, ``array`` and ``object`` (:func:`json_type`). Two values are equal only
when they have the same JSON type and, for numbers, the same exact decimal value (``1`` equals
``1.0``, a float is taken as ``Decimal(repr(x))``, the digits ``json.dumps`` writes and jsonb
stores), for the others the same Python value. Arrays and objects never equal a scalar operand.

Operators, on the value ``v`` stored under the field (absent when the key is missing):

* ``$eq x``: ``v`` present and JSON-equal to ``x``. ``$eq: None`` matches JSON null only.
* ``$ne x``: ``v`` present and not JSON-equal to ``x`` (a missing key does not match).
* ``$gt $gte $lt $lte x``: ``x`` is a number (not bool) or a string; ``v`` must have the same JSON
  type; numbers compare as exact decimals, strings by Unicode code point (Python's ``str`` order,
  which is the order of PostgreSQL's ``COLLATE "C"`` on UTF-8).
* ``$in [x, ...]``: ``v`` present and JSON-equal to one of the ``x``.
* ``$nin [x, ...]``: ``v`` present and JSON-equal to none of them.
* ``$contains x`` / ``$contains [x, ...]``: ``v`` is an array holding an element JSON-equal to
  ``x`` (to every ``x``). Nested arrays are not searched: ``[[1]]`` does not contain ``1``.
* ``$exists b``: the key is present (even with a null value) when ``b`` is true, absent when false.
* ``$like p`` / ``$ilike p``: ``v`` is a string matching the SQL LIKE pattern ``p`` over the whole
  string: ``%`` is any run of characters, ``_`` exactly one, a backslash makes the next character
  literal. ``$ilike`` compares ``str.lower()`` of both sides (the test data keeps to characters
  whose lower case PostgreSQL's C.UTF-8 collation and Python agree on).
* ``$and`` / ``$or`` / ``$not``: conjunction, disjunction and exact complement. Every leaf is
  true or false (never "unknown"), so ``$not`` of a filter selects exactly the other records.

This module does not validate: it assumes the filter is one the compiler accepts (the unit tests
prove the compiler refuses the rest) and raises ``ValueError`` on an operator it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["json_equal", "json_type", "like_regex", "matches"]

_MISSING = object()


def json_type(value: object) -> str:
    """The JSON type of a Python value (``bool`` is checked before ``int``: it subclasses it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def _decimal(number: int | float) -> Decimal:
    """The exact decimal a JSON number denotes: ints as they are, floats by their shortest repr."""
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def json_equal(a: object, b: object) -> bool:
    """JSON equality: same JSON type, numbers by exact decimal value, containers element-wise."""
    kind = json_type(a)
    if kind != json_type(b):
        return False
    if kind == "number":
        return _decimal(a) == _decimal(b)  # type: ignore[arg-type]
    if kind == "array":
        assert isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if kind == "object":
        assert isinstance(a, Mapping) and isinstance(b, Mapping)
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def like_regex(pattern: str) -> re.Pattern[str]:
    """Translate a SQL LIKE pattern (backslash escape) into an equivalent anchored regex."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt is None:
                raise ValueError(f"LIKE pattern {pattern!r} ends with the escape character")
            out.append(re.escape(nxt))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _compare(value: object, operand: object, op: str) -> bool:
    """Range comparison: only between two numbers or two strings, otherwise false."""
    kind = json_type(operand)
    if kind not in ("number", "string") or json_type(value) != kind:
        return False
    if kind == "number":
        left: Any = _decimal(value)  # type: ignore[arg-type]
        right: Any = _decimal(operand)  # type: ignore[arg-type]
    else:
        left, right = value, operand
    if op == "$gt":
        return bool(left > right)
    if op == "$gte":
        return bool(left >= right)
    if op == "$lt":
        return bool(left < right)
    return bool(left <= right)


def _as_list(operand: object) -> list[Any]:
    return list(operand) if isinstance(operand, (list, tuple)) else [operand]


def _operator(value: object, op: str, operand: Any) -> bool:
    """One field operator applied to ``value`` (``_MISSING`` when the key is absent)."""
    present = value is not _MISSING
    if op == "$exists":
        return present is bool(operand)
    if not present:
        return False  # a missing key matches no comparison, including $ne and $nin
    if op == "$eq":
        return json_equal(value, operand)
    if op == "$ne":
        return not json_equal(value, operand)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _compare(value, operand, op)
    if op == "$in":
        return any(json_equal(value, x) for x in operand)
    if op == "$nin":
        return not any(json_equal(value, x) for x in operand)
    if op == "$contains":
        if not isinstance(value, (list, tuple)):
            return False
        return all(any(json_equal(elem, x) for elem in value) for x in _as_list(operand))
    if op in ("$like", "$ilike"):
        if not isinstance(value, str):
            return False
        if op == "$ilike":
            return like_regex(operand.lower()).fullmatch(value.lower()) is not None
        return like_regex(operand).fullmatch(value) is not None
    raise ValueError(f"unknown operator {op!r}")


def _match(metadata: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    for key, value in node.items():
        if key == "$and":
            ok = all(_match(metadata, sub) for sub in value)
        elif key == "$or":
            ok = any(_match(metadata, sub) for sub in value)
        elif key == "$not":
            ok = not _match(metadata, value)
        else:
            stored = metadata.get(key, _MISSING)
            if isinstance(value, Mapping):
                ok = all(_operator(stored, op, operand) for op, operand in value.items())
            else:
                ok = _operator(stored, "$eq", value)
        if not ok:
            return False
    return True


def matches(metadata: Mapping[str, Any] | None, filters: Mapping[str, Any] | None) -> bool:
    """True when a record with ``metadata`` is selected by ``filters``.

    ``None`` or ``{}`` as ``filters`` selects everything; ``None`` metadata is stored as ``{}``.
    ``filters`` must be well-formed (one the compiler accepts).
    """
    if not filters:
        return True
    return _match(metadata or {}, filters)


def database_examples(max_examples: int) -> Any:
    """Hypothesis settings for property tests whose examples run against the test database:
    reproducible (derandomized, no example database), no deadline, and the health checks that
    a function-scoped database fixture and large generated datasets would trip turned off."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
