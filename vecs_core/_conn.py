"""What the two drivers share: per-connection state, settings statements, pool arguments.

The drivers are ``_adriver.py`` (async, the source) and ``_driver.py`` (sync, generated from it
by ``scripts/async_to_sync.py``). Everything here is synchronous and does no I/O of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ._connect import ConnectOptions
from ._records import VectorParam, VectorParamDumper

IDLE = psycopg.pq.TransactionStatus.IDLE


def configure(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_dumper(VectorParam, VectorParamDumper)
    if isinstance(conn, (PooledConnection, AsyncPooledConnection)):
        conn.vecs_state = ConnState()


def settings_statement(
    settings: Any, local: bool = True, reset: bool = False
) -> tuple[sql.Composed, dict[str, Any]]:
    """``SELECT set_config(name, value, local), ...`` with names and values bound.

    ``reset`` restores each setting to its session default instead (``pg_settings.reset_val``).
    """
    parts = []
    params: dict[str, Any] = {"local": local}
    for i, (name, value) in enumerate(settings.items()):
        params[f"n{i}"], params[f"v{i}"] = name, value
        n = sql.Placeholder(f"n{i}")
        v: sql.Composable = sql.Placeholder(f"v{i}")
        if reset:
            v = sql.SQL("coalesce((SELECT reset_val FROM pg_settings WHERE name = {}), '')").format(
                n
            )
        parts.append(sql.SQL("set_config({}, {}, {})").format(n, v, sql.Placeholder("local")))
    return sql.SQL("SELECT ") + sql.SQL(", ").join(parts), params


def pool_arguments(options: ConnectOptions, connection_class: type, configure: Any) -> Any:
    """The psycopg_pool arguments the sync and the async pool share (it is opened later)."""
    return {
        "min_size": options.min_size,
        "max_size": options.max_size,
        "kwargs": {**options.connection_kwargs(), "connect_timeout": options.connect_timeout},
        "connection_class": connection_class,
        "configure": configure,
        "timeout": options.pool_timeout,
        "open": False,
        "name": "vecs_core",
    }


def is_disconnect(exc: BaseException, conn: Any) -> bool:
    return isinstance(exc, psycopg.OperationalError) and (conn.closed or conn.broken)


class ConnState:
    """What a connection of our own pool keeps between calls: the search settings it holds at
    session level (``settings``) and one reusable cursor per result format (creating a psycopg
    cursor costs more than a fast query's client-side work)."""

    __slots__ = ("cursors", "settings")

    def __init__(self) -> None:
        self.settings: dict[str, str] = {}
        self.cursors: dict[bool, Any] = {}


class PooledConnection(psycopg.Connection[Any]):
    """The connections of our pool: plain psycopg connections that carry a :class:`ConnState`."""

    vecs_state: ConnState


class AsyncPooledConnection(psycopg.AsyncConnection[Any]):
    """Async twin of :class:`PooledConnection`."""

    vecs_state: ConnState


# a reused cursor keeps its last result until the next statement: drop it after a large one
KEEP_CURSOR_ROWS = 1000


def stale_settings(
    conn: Any, state: ConnState | None, settings: Mapping[str, str], session: bool
) -> dict[str, str] | None:
    """Settings to send at session level before the statement, or None to apply them locally.

    On connections of our own pool (not behind a transaction pooler) search settings are kept
    per connection with ``set_config(..., false)`` and only changed values are sent, so a search
    is one statement, as fast as a bare prepared query. Every search states all the settings it
    depends on, so a value left by an earlier call never leaks into the next one. Elsewhere (an
    injected engine, a pooler, inside a transaction) they are local to the query's transaction.
    """
    if state is None or not session or conn.pgconn.transaction_status != IDLE:
        return None
    known = state.settings
    return {k: v for k, v in settings.items() if known.get(k) != v}


def cursor_for(conn: Any, state: ConnState | None, binary: bool) -> Any:
    """The connection's cached cursor for ``binary`` results, or a new one (cached if it can)."""
    cur = state.cursors.get(binary) if state is not None else None
    if cur is None:
        cur = conn.cursor(binary=binary, row_factory=tuple_row)
        if state is not None:
            state.cursors[binary] = cur
    return cur


def keep_cursor(state: ConnState | None, cur: Any, binary: bool) -> bool:
    """Whether ``cur`` stays cached on its connection after a step (else the caller closes it)."""
    if state is not None and cur.rowcount <= KEEP_CURSOR_ROWS and not cur.closed:
        return True
    if state is not None:
        state.cursors.pop(binary, None)
    return False
