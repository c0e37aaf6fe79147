"""Compiled filters, kept: a call's filter is compiled once (over the collection's indexed
metadata keys) and reused by every later call with an equal filter. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg import sql

from ._checks import MAX_FILTER_DEPTH, MAX_METADATA_DEPTH
from ._filters import Compiler
from ._metaindex import MetaType
from ._sqlparams import Params

_METADATA = sql.Identifier("metadata")


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A filter compiled once, when a call is validated: a boolean SQL expression over the
    (unqualified) ``metadata`` column, and its bound values, named ``f0``, ``f1`` ... so they
    never collide with a plan's own parameters. A statement may splice ``condition`` in more
    than once: psycopg binds a repeated named parameter once. ``text`` is the condition's SQL
    text (its values are placeholders), ``key`` a hashable equal for equal filters over the
    same indexed keys (None for a filter that has none, see :func:`compile_request_filter`)."""

    condition: sql.Composable
    params: Mapping[str, Any]
    text: str
    key: Hashable | None


MAX_COMPILED = 1024
"""Compiled filters kept (all dropped at once past this)."""
MAX_KEPT_VALUES = 64
"""Filters with more bound values than this are compiled every call (bounds the memory kept)."""
_COMPILED: dict[Hashable, CompiledFilter] = {}
_FREEZE_DEPTH = 2 * MAX_FILTER_DEPTH + MAX_METADATA_DEPTH + 8
"""Deeper than any valid filter: ``$and`` lists of dicts, then an operand object."""


class _Unfreezable(Exception):
    pass


def _freeze(value: object, depth: int = 0) -> Hashable:
    """``value`` (a filter, or part of one) as a hashable equal for equal filters and distinct
    wherever compiling could differ (1, 1.0 and True; a list and a tuple; key order)."""
    if depth > _FREEZE_DEPTH:
        raise _Unfreezable
    if isinstance(value, dict):
        return ("{",) + tuple((k, _freeze(v, depth + 1)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return (type(value).__name__,) + tuple(_freeze(v, depth + 1) for v in value)
    if value is None or isinstance(value, str | int | float | Decimal):
        return (type(value), value)
    raise _Unfreezable  # anything else is compiled (and checked) every time


def compile_request_filter(
    filters: Mapping[str, Any] | None, indexed: Mapping[str, MetaType] | None = None
) -> CompiledFilter | None:
    """Compile a call's ``filters`` (None and ``{}`` mean no filter). ``indexed`` names the
    collection's indexed metadata keys and their types: conditions on them are written over
    the index expressions (same results, served by the indexes).

    A filter made of dicts, lists and plain scalars is compiled once and kept (with the indexed
    keys it was compiled over): compiling and rendering it cost more than a selective search's
    round trip (measured ~0.1 ms a search). Malformed filters are never kept, so they raise on
    every call.

    Raises:
        FilterError: the filter is malformed (see :func:`compile_filter`).
    """
    if filters is None:
        return None
    if isinstance(filters, Mapping) and not filters:
        return None
    try:
        key: Hashable | None = (_freeze(filters), tuple(indexed.items()) if indexed else ())
    except (_Unfreezable, TypeError):  # TypeError: an unhashable scalar subclass
        key = None
    if key is not None:
        found = _COMPILED.get(key)
        if found is not None:
            return found
    params = Params("f")
    condition = Compiler(_METADATA, params, indexed).filter(filters, "filters")
    if len(params.values) > MAX_KEPT_VALUES:
        key = None
    compiled = CompiledFilter(condition, params.values, condition.as_string(None), key)
    if key is not None:
        if len(_COMPILED) >= MAX_COMPILED:
            _COMPILED.clear()
        _COMPILED[key] = compiled
    return compiled
