"""Carry plans to the database: what both drivers share, and the sync sources and driver.

``_adriver.py`` is the async driver. The two drivers are the only place where sync and async
differ; they mirror each other function by function (``tests/test_client.py`` checks that every
async function and class has a sync twin with the same parameters).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, Protocol

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from psycopg.rows import tuple_row
from psycopg_pool import PoolTimeout

from ._connect import ConnectOptions, diagnose
from ._liveness import Liveness
from ._protocol import CopyIn, Execute, Job, Step
from ._records import VectorParam, VectorParamDumper
from .exc import Unreachable

_IDLE = psycopg.pq.TransactionStatus.IDLE


def configure(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_dumper(VectorParam, VectorParamDumper)
    if isinstance(conn, (PooledConnection, AsyncPooledConnection)):
        conn.vecs_state = ConnState()


def _settings_statement(
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


def _is_disconnect(exc: BaseException, conn: Any) -> bool:
    return isinstance(exc, psycopg.OperationalError) and (conn.closed or conn.broken)


# ----------------------------------------------------------------------------------------------
# sync


class SyncSource(Protocol):
    session_settings: bool

    def connection(self) -> Any: ...
    def check(self) -> None: ...
    def close(self) -> None: ...


class _Lease:
    """``with source.connection() as conn``: a connection of the pool, given back on exit (the
    pool rolls back one left in a transaction and drops a broken one). A class rather than a
    ``@contextmanager`` generator: it runs on every call."""

    __slots__ = ("conn", "pool", "source")

    def __init__(self, source: PoolSource) -> None:
        self.source = source

    def __enter__(self) -> psycopg.Connection[Any]:
        self.pool = pool = self.source._get()
        try:
            self.conn = self.source.liveness.getconn(self.source, pool)  # fails fast when down
        except PoolTimeout as exc:
            self.source.unavailable(exc)
        return self.conn  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        self.pool.putconn(self.conn)


class PoolSource:
    """A lazily opened ``psycopg_pool.ConnectionPool``; ``close()`` lets a later call reopen."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._pool: Any = None
        self._lock = threading.Lock()
        self.liveness = Liveness(options)
        # behind a transaction pooler (prepare_threshold=None) session state is not ours to keep
        self.session_settings = options.prepare_threshold is not None

    def _get(self) -> Any:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    from psycopg_pool import ConnectionPool

                    conninfo = self.options.resolve()
                    diagnose(conninfo, self.options)
                    fresh = ConnectionPool(
                        conninfo, **pool_arguments(self.options, PooledConnection, configure)
                    )
                    # wait for the first connection: a request queued before it is ready makes
                    # the pool grow, and then its connections take turns (colder caches)
                    try:
                        fresh.open(wait=True, timeout=self.options.pool_timeout)
                    except PoolTimeout as exc:
                        fresh.close()
                        self.unavailable(exc)
                    self._pool = fresh
                pool = self._pool
        return pool

    def connection(self) -> _Lease:
        return _Lease(self)

    def unavailable(self, exc: Exception) -> NoReturn:
        diagnose(self.options.resolve(), self.options)
        raise Unreachable(f"no database connection became available: {exc}") from exc

    def check(self) -> None:
        self.liveness.check(self)  # a dead connection: is the server gone? (then Unreachable)
        if self._pool is not None:
            self._pool.check()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class EngineSource:
    """Borrow psycopg connections from a user's SQLAlchemy ``Engine`` (never disposed here)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.session_settings = False  # the engine's connections are the user's

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            if not isinstance(conn, psycopg.Connection):
                from .exc import ArgError

                raise ArgError(
                    "the SQLAlchemy engine must use the psycopg (3) driver: "
                    "create it with a 'postgresql+psycopg://' URL"
                )
            configure(conn)
            previous = conn.autocommit
            conn.rollback()
            conn.autocommit = True
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.autocommit = previous
        finally:
            raw.close()

    def check(self) -> None:
        return None

    def close(self) -> None:
        return None


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


def _stale_settings(
    conn: Any, state: ConnState | None, settings: Mapping[str, str], session: bool
) -> dict[str, str] | None:
    """Settings to send at session level before the statement, or None to apply them locally.

    On connections of our own pool (not behind a transaction pooler) search settings are kept
    per connection with ``set_config(..., false)`` and only changed values are sent, so a search
    is one statement, as fast as a bare prepared query. Every search states all the settings it
    depends on, so a value left by an earlier call never leaks into the next one. Elsewhere (an
    injected engine, a pooler, inside a transaction) they are local to the query's transaction.
    """
    if state is None or not session or conn.pgconn.transaction_status != _IDLE:
        return None
    known = state.settings
    return {k: v for k, v in settings.items() if known.get(k) != v}


def _cursor(conn: Any, state: ConnState | None, binary: bool) -> Any:
    """The connection's cached cursor for ``binary`` results, or a new one (cached if it can)."""
    cur = state.cursors.get(binary) if state is not None else None
    if cur is None:
        cur = conn.cursor(binary=binary, row_factory=tuple_row)
        if state is not None:
            state.cursors[binary] = cur
    return cur


def _keep_cursor(state: ConnState | None, cur: Any, binary: bool) -> bool:
    """Whether ``cur`` stays cached on its connection after a step (else the caller closes it)."""
    if state is not None and cur.rowcount <= KEEP_CURSOR_ROWS and not cur.closed:
        return True
    if state is not None:
        state.cursors.pop(binary, None)
    return False


def _execute(conn: psycopg.Connection[Any], step: Step, session: bool = False) -> Any:
    if isinstance(step, CopyIn):
        with conn.cursor() as cur:
            # a writer thread sends while this thread encodes the next chunk
            with cur.copy(step.query, {}, writer=QueuedLibpqWriter(cur)) as copy:
                for chunk in step.chunks:
                    copy.write(chunk)
            return cur.rowcount
    state: ConnState | None = getattr(conn, "vecs_state", None)
    cur = _cursor(conn, state, step.binary)
    try:
        stale = _stale_settings(conn, state, step.settings, session) if step.settings else None
        if stale and state is not None:
            state.settings.clear()  # unknown until the statement succeeds
            cur.execute(*_settings_statement(stale, local=False))
            state.settings.update(step.settings)
        elif step.settings and stale is None:
            set_q, set_p = _settings_statement(step.settings)
            with conn.pipeline(), conn.transaction():
                cur.execute(set_q, set_p)
                cur.execute(step.query, step.params or {})
                return _collect(cur, step)
        cur.execute(step.query, step.params or {})
        return _collect(cur, step)
    finally:
        if not _keep_cursor(state, cur, step.binary):
            cur.close()


def _collect(cur: psycopg.Cursor[Any], step: Execute) -> Any:
    if step.fetch == "all":
        return cur.fetchall()
    if step.fetch == "one":
        return cur.fetchone()
    if step.fetch == "rowcount":
        return cur.rowcount
    return None


def _drive(
    conn: psycopg.Connection[Any], job: Job, progress: list[int], session: bool = False
) -> Any:
    plan = job.plan()
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.send(result) if error is None else plan.throw(error)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            result = _execute(conn, step, session)
            progress[0] += 1
        except psycopg.Error as exc:
            if _is_disconnect(exc, conn):
                raise
            error, result = exc, None


def run_sync(source: SyncSource, job: Job, settings: Mapping[str, str] | None = None) -> Any:
    """Run ``job`` on a pooled connection; retry once if the connection was found dead before
    any step ran (e.g. the server restarted while it sat idle in the pool).

    ``settings`` (a client session's, e.g. for Row Level Security) are applied with
    ``set_config(..., true)`` inside the job's transaction, or for an autocommit job at session
    level and reset afterwards, so they never leak to the next user of the connection.
    """
    for attempt in (1, 2):
        progress = [0]
        with source.connection() as conn:
            try:
                if settings and job.autocommit:
                    with conn.cursor() as cur:
                        cur.execute(*_settings_statement(settings, local=False))
                        try:
                            return _drive(conn, job, progress, source.session_settings)
                        finally:
                            if not conn.broken:
                                cur.execute(*_settings_statement(settings, False, reset=True))
                if job.transaction or settings:
                    with conn.transaction():
                        if settings:
                            conn.execute(*_settings_statement(settings))
                        return _drive(conn, job, progress, source.session_settings)
                return _drive(conn, job, progress, source.session_settings)
            except psycopg.OperationalError as exc:
                if attempt == 1 and progress[0] == 0 and _is_disconnect(exc, conn):
                    source.check()
                    continue
                raise
    raise AssertionError("unreachable")  # pragma: no cover
