"""The sans-I/O protocol shared by the sync and async shells.

Four layers, each named for what it runs:

- a **flow** (``Flow[T]``, a method of ``CollectionBase``/``ClientBase``) is a generator that
  yields :class:`Job` objects, receives each job's result and finally returns the call's result.
  It holds the per-call logic that needs earlier results (caches, the pgvector version).
- a **job** (:class:`Job`) says how to run one plan: in one transaction, statement by statement,
  or outside any transaction.
- a **plan** (``Plan[T]``, in ``_plans/``) is a generator that yields :class:`Execute` and
  :class:`CopyIn` steps, receives each step's result, and returns the job's result. It builds
  the SQL and shapes the rows.
- a **step** is one statement (or one ``COPY``) that the driver sends.

The drivers (``_adriver.py``, and ``_driver.py`` generated from it) are the only code that does
I/O; the shells (``_async.py``, and ``_sync.py`` generated from it) run flows with them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from psycopg import sql

T = TypeVar("T")

Fetch = Literal["all", "one", "none", "rowcount"]

Mode = Literal["transaction", "statements", "outside"]
"""How a job runs its plan.

- ``"transaction"``: every step in one transaction (all or nothing).
- ``"statements"``: each step on its own (single reads); the driver still wraps the plan in a
  transaction when a client session's settings (RLS) must apply to it.
- ``"outside"``: never inside a transaction (``CREATE INDEX CONCURRENTLY``); a session's settings
  are set on the connection for the job and reset afterwards.
"""


@dataclass(frozen=True, slots=True)
class Execute:
    """Run one statement. ``settings`` are the planner settings the statement depends on; the
    driver applies them at session level on connections it owns (sending only what changed), or
    with ``set_config(name, value, true)`` in the statement's transaction elsewhere."""

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
class Job(Generic[T]):
    """A plan factory plus how to run it (see :data:`Mode`). The factory is called once per
    attempt, so a retry on a dead pooled connection starts the plan afresh.

    ``read`` marks the one job of a read call that a read replica may answer (the read of
    records itself; see ``_areplicas.py``). Every other job runs on the primary: writes, DDL,
    index builds, and the catalog lookups whose answers must be fresh (the index cache)."""

    plan: Callable[[], Plan[T]]
    mode: Mode = "transaction"
    read: bool = False


Flow = Generator[Job[Any], Any, T]
