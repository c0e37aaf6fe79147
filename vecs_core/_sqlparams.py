"""A tiny helper that hands out named bound parameters while a statement is composed."""

from __future__ import annotations

from typing import Any

from psycopg import sql


class Params:
    """Collects bound values under generated names (``p0``, ``p1`` ...).

    ``params.add(value)`` returns a placeholder to splice into a ``psycopg.sql`` composition; the
    value itself only ever travels as a bound parameter. ``prefix`` keeps the names of parts
    composed apart (a compiled filter uses ``f``) from colliding when they are merged.
    """

    __slots__ = ("prefix", "values")

    def __init__(self, prefix: str = "p", values: dict[str, Any] | None = None) -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {} if values is None else values

    def add(self, value: Any, cast: str | None = None) -> sql.Composable:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        ph: sql.Composable = sql.Placeholder(name)
        if cast is not None:
            # ``cast`` is always a constant type name from this package, never user input.
            ph = sql.SQL("{}::{}").format(ph, sql.SQL(cast))
        return ph
