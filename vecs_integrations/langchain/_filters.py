"""LangChain-style metadata filters translated onto vecs_core's filter language.

Pure functions: no I/O and no SQL. The output is a plain dict that
:class:`vecs_core.Collection` validates and compiles itself.

Accepted input (the dialect most LangChain vector stores understand)::

    {"genre": "drama"}                                  # bare scalar = $eq
    {"year": {"$gte": 2000, "$lt": 2010}}               # several operators = all must hold
    {"year": {"$between": [2000, 2010]}}                # inclusive, -> $gte + $lte
    {"$and": [...]}, {"$or": [...]}, {"$not": {...}}    # logical operators
    {"$not": [f1, f2]}                                  # none of them holds

Field operators: the core's (:data:`vecs_core.FILTER_OPERATORS`: ``$eq $ne $gt $gte $lt $lte $in
$nin $contains $exists $like $ilike``), passed through unchanged, plus ``$between``. Anything else
starting with ``$`` raises :class:`vecs_core.FilterError`, and so does a filter that is not a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vecs_core import FILTER_OPERATORS, LOGICAL_OPERATORS, FilterError

#: Operators rewritten by this module into core operators.
REWRITTEN_OPERATORS = ("$between",)
#: Every field operator a LangChain filter may use.
FIELD_OPERATORS = (*FILTER_OPERATORS, *REWRITTEN_OPERATORS)


def translate_filter(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Translate a LangChain filter to a vecs_core filter.

    ``None`` and ``{}`` mean "no filter" and give ``None``.

    Raises:
        FilterError: not a dict, an unknown operator or a malformed filter.
    """
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise FilterError(
            f"filter: a filter must be a dict, got {type(filter).__name__} {filter!r}; "
            "combine several conditions with {'$and': [...]}"
        )
    if not filter:
        return None
    return _node(filter, "filter")


def _node(node: object, path: str) -> dict[str, Any]:
    if not isinstance(node, Mapping):
        raise FilterError(f"{path}: a filter must be a dict, got {type(node).__name__} {node!r}")
    if not node:
        raise FilterError(f"{path}: empty filter")
    fields: dict[str, Any] = {}
    clauses: list[dict[str, Any]] = []
    for key, value in node.items():
        if not isinstance(key, str):
            raise FilterError(f"{path}: keys must be strings, got {key!r}")
        sub = f"{path}[{key!r}]"
        if key in ("$and", "$or"):
            clauses.append(
                {key: [_node(item, f"{sub}[{i}]") for i, item in enumerate(_list(value, sub, key))]}
            )
        elif key == "$not":
            clauses.append(_not(value, sub))
        elif key.startswith("$"):
            raise FilterError(
                f"{sub}: unknown operator {key!r}; expected one of "
                f"{', '.join(LOGICAL_OPERATORS)} or a field name"
            )
        else:
            fields[key] = _field(value, sub)
    if not clauses:
        return fields
    if fields:
        clauses.insert(0, fields)
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _list(value: object, path: str, op: str) -> list[Any]:
    if not isinstance(value, (list, tuple)) or not value:
        raise FilterError(f"{path}: {op} expects a non-empty list of filters, got {value!r}")
    return list(value)


def _not(value: object, path: str) -> dict[str, Any]:
    if isinstance(value, (list, tuple)):
        # LangChain's list form: none of the filters holds.
        items = [
            {"$not": _node(item, f"{path}[{i}]")}
            for i, item in enumerate(_list(value, path, "$not"))
        ]
        return items[0] if len(items) == 1 else {"$and": items}
    return {"$not": _node(value, path)}


def _field(value: object, path: str) -> Any:
    if isinstance(value, Mapping):
        if not value:
            raise FilterError(f"{path}: empty operator dict")
        ops: dict[str, Any] = {}
        for op, operand in value.items():
            sub = f"{path}[{op!r}]"
            if op == "$between":
                for bound_op, bound in zip(("$gte", "$lte"), _between(operand, sub)):
                    if bound is None:
                        continue
                    if bound_op in ops or bound_op in value:
                        raise FilterError(f"{sub}: $between conflicts with {bound_op}")
                    ops[bound_op] = bound
            elif op in FILTER_OPERATORS:
                ops[op] = list(operand) if isinstance(operand, tuple) else operand
            else:
                raise FilterError(
                    f"{sub}: unknown operator {op!r}; expected one of {', '.join(FIELD_OPERATORS)}"
                )
        if not ops:
            raise FilterError(f"{path}: $between needs at least one bound")
        return ops
    if isinstance(value, (list, tuple, set, frozenset)):
        raise FilterError(
            f"{path}: a bare list is ambiguous; use {{'$in': [...]}} for any of the values or "
            "{'$contains': [...]} for an array holding all of them"
        )
    return value


def _between(operand: object, path: str) -> tuple[Any, Any]:
    if not isinstance(operand, (list, tuple)) or len(operand) != 2:
        raise FilterError(f"{path}: $between expects [low, high], got {operand!r}")
    low, high = operand
    if low is None and high is None:
        raise FilterError(f"{path}: $between needs at least one bound")
    return low, high
