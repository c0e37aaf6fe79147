"""Carry plans to the database: connection sources and the sync/async drivers.

The two drivers are the only place where sync and async differ; they mirror each other line by
line (a test checks that they stay that way).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.copy import AsyncQueuedLibpqWriter, QueuedLibpqWriter
from psycopg.rows import tuple_row

from ._connect import ConnectOptions, diagnose
from ._protocol import CopyIn, Execute, Job, Step
from ._records import VectorParam, VectorParamDumper
from .exc import Unreachable

_SET_CONFIG = sql.SQL("SELECT set_config({}, {}, true)")


def configure(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_dumper(VectorParam, VectorParamDumper)


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


def _is_disconnect(exc: BaseException, conn: Any) -> bool:
    return isinstance(exc, psycopg.OperationalError) and (conn.closed or conn.broken)


# ----------------------------------------------------------------------------------------------
# sync


class SyncSource(Protocol):
    session_settings: bool

    def connection(self) -> Any: ...
    def check(self) -> None: ...
    def close(self) -> None: ...


class PoolSource:
    """A lazily opened ``psycopg_pool.ConnectionPool``; ``close()`` lets a later call reopen."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._pool: Any = None
        self._lock = threading.Lock()
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
                    self._pool = ConnectionPool(
                        conninfo,
                        min_size=self.options.min_size,
                        max_size=self.options.max_size,
                        kwargs=self.options.connection_kwargs(),
                        configure=configure,
                        timeout=self.options.pool_timeout,
                        open=False,
                        name="vecs_core",
                    )
                    self._pool.open(wait=False)
                pool = self._pool
        return pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        from psycopg_pool import PoolTimeout

        pool = self._get()
        try:
            conn = pool.getconn()
        except PoolTimeout as exc:
            diagnose(self.options.resolve(), self.options)
            raise Unreachable(f"no database connection became available: {exc}") from exc
        try:
            yield conn
        finally:
            # the pool rolls back a connection left in a transaction and drops a broken one
            pool.putconn(conn)

    def check(self) -> None:
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


_SESSION_SETTINGS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def _stale_settings(conn: Any, settings: Mapping[str, str], session: bool) -> dict[str, str] | None:
    """Settings to send at session level before the statement, or None to apply them locally.

    On connections of our own pool (not behind a transaction pooler) search settings are kept
    per connection with ``set_config(..., false)`` and only changed values are sent, so a search
    is one statement, as fast as a bare prepared query. Every search states all the settings it
    depends on, so a value left by an earlier call never leaks into the next one. Elsewhere (an
    injected engine, a pooler, inside a transaction) they are local to the query's transaction.
    """
    if not session or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return None
    known = _SESSION_SETTINGS.setdefault(conn, {})
    return {k: v for k, v in settings.items() if known.get(k) != v}


def _execute(conn: psycopg.Connection[Any], step: Step, session: bool = False) -> Any:
    if isinstance(step, CopyIn):
        with conn.cursor() as cur:
            # a writer thread sends while this thread encodes the next chunk
            with cur.copy(step.query, {}, writer=QueuedLibpqWriter(cur)) as copy:
                for chunk in step.chunks:
                    copy.write(chunk)
            return cur.rowcount
    with conn.cursor(binary=step.binary, row_factory=tuple_row) as cur:
        stale = _stale_settings(conn, step.settings, session) if step.settings else None
        if stale:
            _SESSION_SETTINGS[conn].clear()  # unknown until the statement succeeds
            cur.execute(*_settings_statement(stale, local=False))
            _SESSION_SETTINGS[conn].update(step.settings)
        elif step.settings and stale is None:
            set_q, set_p = _settings_statement(step.settings)
            with conn.pipeline(), conn.transaction():
                cur.execute(set_q, set_p)
                cur.execute(step.query, step.params or {})
                return _collect(cur, step)
        cur.execute(step.query, step.params or {})
        return _collect(cur, step)


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


# ----------------------------------------------------------------------------------------------
# async (mirrors the sync half above)


class AsyncPoolSource:
    """A lazily opened ``AsyncConnectionPool``; ``close()`` lets a later call reopen it."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._pool: Any = None
        self.session_settings = options.prepare_threshold is not None

    async def _get(self) -> Any:
        if self._pool is None:
            from psycopg_pool import AsyncConnectionPool

            conninfo = self.options.resolve()
            await adiagnose(conninfo, self.options)

            async def aconfigure(conn: psycopg.AsyncConnection[Any]) -> None:
                configure(conn)

            pool = AsyncConnectionPool(
                conninfo,
                min_size=self.options.min_size,
                max_size=self.options.max_size,
                kwargs=self.options.connection_kwargs(),
                configure=aconfigure,
                timeout=self.options.pool_timeout,
                open=False,
                name="vecs_core_async",
            )
            if self._pool is None:
                await pool.open(wait=False)
                self._pool = pool
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        from psycopg_pool import PoolTimeout

        pool = await self._get()
        try:
            conn = await pool.getconn()
        except PoolTimeout as exc:
            await adiagnose(self.options.resolve(), self.options)
            raise Unreachable(f"no database connection became available: {exc}") from exc
        try:
            yield conn
        finally:
            # the pool rolls back a connection left in a transaction and drops a broken one
            await pool.putconn(conn)

    async def check(self) -> None:
        if self._pool is not None:
            await self._pool.check()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


class AsyncEngineSource:
    """Borrow psycopg async connections from a user's SQLAlchemy ``AsyncEngine``."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.session_settings = False  # the engine's connections are the user's

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        raw = await self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            if not isinstance(conn, psycopg.AsyncConnection):
                from .exc import ArgError

                raise ArgError(
                    "the SQLAlchemy async engine must use the psycopg (3) driver: "
                    "create it with a 'postgresql+psycopg://' URL"
                )
            configure(conn)
            previous = conn.autocommit
            await conn.rollback()
            await conn.set_autocommit(True)
            try:
                yield conn
            finally:
                if not conn.closed:
                    await conn.set_autocommit(previous)
        finally:
            raw.close()

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def _aexecute(conn: psycopg.AsyncConnection[Any], step: Step, session: bool = False) -> Any:
    if isinstance(step, CopyIn):
        async with conn.cursor() as cur:
            async with cur.copy(step.query, {}, writer=AsyncQueuedLibpqWriter(cur)) as copy:
                for chunk in step.chunks:
                    await copy.write(chunk)
            return cur.rowcount
    async with conn.cursor(binary=step.binary, row_factory=tuple_row) as cur:
        stale = _stale_settings(conn, step.settings, session) if step.settings else None
        if stale:
            _SESSION_SETTINGS[conn].clear()  # unknown until the statement succeeds
            await cur.execute(*_settings_statement(stale, local=False))
            _SESSION_SETTINGS[conn].update(step.settings)
        elif step.settings and stale is None:
            set_q, set_p = _settings_statement(step.settings)
            async with conn.pipeline(), conn.transaction():
                await cur.execute(set_q, set_p)
                await cur.execute(step.query, step.params or {})
                return await _acollect(cur, step)
        await cur.execute(step.query, step.params or {})
        return await _acollect(cur, step)


async def _acollect(cur: psycopg.AsyncCursor[Any], step: Execute) -> Any:
    if step.fetch == "all":
        return await cur.fetchall()
    if step.fetch == "one":
        return await cur.fetchone()
    if step.fetch == "rowcount":
        return cur.rowcount
    return None


async def _adrive(
    conn: psycopg.AsyncConnection[Any], job: Job, progress: list[int], session: bool = False
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
            result = await _aexecute(conn, step, session)
            progress[0] += 1
        except psycopg.Error as exc:
            if _is_disconnect(exc, conn):
                raise
            error, result = exc, None


async def run_async(source: Any, job: Job, settings: Mapping[str, str] | None = None) -> Any:
    """Async twin of :func:`run_sync`."""
    for attempt in (1, 2):
        progress = [0]
        async with source.connection() as conn:
            try:
                if settings and job.autocommit:
                    async with conn.cursor() as cur:
                        await cur.execute(*_settings_statement(settings, local=False))
                        try:
                            return await _adrive(conn, job, progress, source.session_settings)
                        finally:
                            if not conn.broken:
                                await cur.execute(*_settings_statement(settings, False, reset=True))
                if job.transaction or settings:
                    async with conn.transaction():
                        if settings:
                            await conn.execute(*_settings_statement(settings))
                        return await _adrive(conn, job, progress, source.session_settings)
                return await _adrive(conn, job, progress, source.session_settings)
            except psycopg.OperationalError as exc:
                if attempt == 1 and progress[0] == 0 and _is_disconnect(exc, conn):
                    await source.check()
                    continue
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def adiagnose(conninfo: str, options: ConnectOptions) -> None:
    """Async twin of :func:`diagnose` (connect once, raise :class:`Unreachable` on failure)."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            conninfo, connect_timeout=options.connect_timeout, **options.connection_kwargs()
        )
    except psycopg.OperationalError as exc:
        from ._connect import unreachable

        raise unreachable(conninfo, exc) from None
    await conn.close()
