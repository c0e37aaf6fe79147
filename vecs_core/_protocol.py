"""The sans-I/O protocol shared by the sync and async shells.

Every operation of the library is a *plan*: a generator that yields :class:`Execute` and
:class:`CopyIn` steps and receives each step's result. Plans hold all the rules (validation,
statement building, result shaping); the sync and async drivers (``_driver.py``,
``_adriver.py``) only carry the steps to the database, so the two APIs cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from psycopg import sql

T = TypeVar("T")

Fetch = Literal["all", "one", "none", "rowcount"]


@dataclass(frozen=True, slots=True)
class Execute:
    """Run one statement. ``settings`` are applied with ``set_config(name, value, true)`` in the
    same transaction, pipelined with the statement (no extra round trip)."""

    query: sql.SQL | sql.Composed
    params: Mapping[str, Any] | None = None
    fetch: Fetch = "all"
    binary: bool = False
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CopyIn:
    """Stream raw ``COPY ... FROM STDIN`` data, chunk by chunk."""

    query: sql.SQL | sql.Composed
    chunks: Iterable[bytes]


Step = Execute | CopyIn
Plan = Generator[Step, Any, T]


@dataclass(frozen=True, slots=True)
class Job:
    """A plan factory plus how to run it: in one transaction, or statement by statement
    (autocommit: single reads, and DDL such as ``CREATE INDEX CONCURRENTLY``)."""

    plan: Callable[[], Plan[Any]]
    transaction: bool = True
    autocommit: bool = False  # must run outside any transaction (CREATE INDEX CONCURRENTLY)
