"""Limits on what callers send, and value checks shared by records, filters and names. Pure.

Everything here runs before a statement is sent, so bad input gets a typed error and nothing is
written. Nothing here recurses: nested input is walked with an explicit stack, so a structure
nested thousands of levels deep is refused instead of exhausting Python's stack.

The limits, and why:

* :data:`MAX_METADATA_DEPTH` (100): arrays and objects nested in one record's metadata, the
  metadata object itself counting as level 1 (``{"a": [1]}`` is 2 levels deep). PostgreSQL's own
  limits are far higher and depend on ``max_stack_depth`` (measured on PostgreSQL 18 with the
  default 2 MB: jsonb input up to 14,532 levels, ``@>`` containment up to 10,894), but Python's
  ``json`` module, which reads metadata back in every Python client (psycopg included), gives up
  near its recursion limit (~1,000 levels, less when called from a deep stack). 100 keeps every
  record readable anywhere, and no real metadata comes close.
* :data:`MAX_FILTER_DEPTH` (64): filters nested in ``$and``/``$or``/``$not`` (the filter dict
  itself is level 1). The filter compiler recurses once per level, so this bounds its stack too.
* :data:`MAX_FILTER_CONDITIONS` (4,096): field conditions in one filter (a bare value or one
  operator on a field each). Each binds at most 3 parameters and a filtered search binds the
  filter 3 times, so the statement stays below PostgreSQL's 65,535 bind parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

MAX_METADATA_DEPTH = 100
MAX_FILTER_DEPTH = 64
MAX_FILTER_CONDITIONS = 4096


_SCALARS = (bool, float, complex, type(None))


def safe_repr(value: object, width: int = 80) -> str:
    """``repr(value)`` for an error message, cut to about ``width`` characters, that neither
    recurses into nor builds the whole text of huge or deeply nested input: containers show their
    first elements one level deep (``[1, [...], 'x', ...]``), other objects their type."""
    if isinstance(value, (str, bytes)):
        text = repr(value[: width + 1])
    elif isinstance(value, _SCALARS):
        text = repr(value)
    elif isinstance(value, int):
        bits = value.bit_length()
        text = repr(value) if bits < 4 * width else f"<int of {bits} bits>"
    elif isinstance(value, (list, tuple, set, frozenset, dict)):
        text = _shallow(value, width)
    elif isinstance(value, np.ndarray):
        text = f"<numpy array of shape {value.shape} and dtype {value.dtype}>"
    else:
        text = f"<{type(value).__module__}.{type(value).__qualname__} object>"
    return text if len(text) <= width else text[: width - 3] + "..."


def _shallow(value: Any, width: int) -> str:
    def one(item: object) -> str:
        if isinstance(item, (list, tuple, set, frozenset, dict)):
            return "{...}" if isinstance(item, dict) else "[...]"
        return safe_repr(item, 20)

    parts: list[str] = []
    size = 0
    items = value.items() if isinstance(value, dict) else value
    for item in items:
        part = f"{one(item[0])}: {one(item[1])}" if isinstance(value, dict) else one(item)
        parts.append(part)
        size += len(part) + 2
        if size > width:
            parts.append("...")
            break
    if isinstance(value, (set, frozenset)) and not value:
        return f"{type(value).__name__}()"
    brackets = "[]" if isinstance(value, list) else "()" if isinstance(value, tuple) else "{}"
    close = ",)" if isinstance(value, tuple) and len(value) == 1 else brackets[1]
    return brackets[0] + ", ".join(parts) + close


def utf8_encodable(text: str) -> bool:
    """False when ``text`` holds a lone surrogate (e.g. ``"\\ud800"``, which ``json.loads`` and
    ``os.fsdecode`` can produce): UTF-8, and so PostgreSQL, cannot store it."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_encodable(values: Iterable[str], what: str) -> None:
    """Raise :class:`~vecs_core.exc.ArgError` naming the first string of ``values`` that holds a
    lone surrogate (psycopg would fail to encode it with a bare ``UnicodeEncodeError``)."""
    for value in values:
        if not utf8_encodable(value):
            from .exc import ArgError

            raise ArgError(f"{what}: {safe_repr(value)} holds a lone surrogate (not valid Unicode)")


class NestingError(ValueError):
    """Raised by :func:`scan_json`; the message says what is wrong, callers add where."""


def scan_json(root: object, max_depth: int) -> bool:
    """Walk the containers of a JSON-like value (dicts, lists, tuples, numpy arrays) without
    recursion, and return whether every dict key is a ``str``.

    ``root`` (a dict, list or tuple) is level 1; each nested container adds a level.

    Raises:
        NestingError: nesting deeper than ``max_depth`` levels, or a container that contains
            itself (a circular reference).
    """
    str_keys = True
    stack: list[tuple[Iterator[Any], int]] = []
    on_path: set[int] = set()
    child: object = root
    while True:
        # ``child`` is a container to enter (the root first)
        ident = id(child)
        if ident in on_path:
            raise NestingError("contains a circular reference (a container inside itself)")
        if len(stack) >= max_depth:
            raise _too_deep(max_depth)
        if isinstance(child, dict):
            if str_keys and not all(isinstance(k, str) for k in child):
                str_keys = False
            stack.append((iter(child.values()), ident))
        else:
            stack.append((iter(child), ident))  # type: ignore[call-overload]
        on_path.add(ident)
        child = _next_container(stack, on_path, max_depth)
        if child is None:
            return str_keys


def _next_container(
    stack: list[tuple[Iterator[Any], int]], on_path: set[int], max_depth: int
) -> object | None:
    """Advance the walk to the next container to enter, popping finished ones; None at the end."""
    while stack:
        for value in stack[-1][0]:
            if isinstance(value, (dict, list, tuple)):
                return value
            if isinstance(value, np.ndarray):
                if value.dtype.kind == "O":
                    elements: object = value.tolist()  # json.dumps encodes them, whatever
                    return elements
                if len(stack) + value.ndim > max_depth:  # numbers, nested ndim levels deep
                    raise _too_deep(max_depth)
        on_path.discard(stack.pop()[1])
    return None


def _too_deep(max_depth: int) -> NestingError:
    return NestingError(
        f"is nested more than {max_depth} levels deep (arrays and objects); the limit is "
        f"{max_depth}: flatten it, or store deep structures as a JSON string"
    )
