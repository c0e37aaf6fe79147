"""The async driver: the twin of the sync half of ``_driver.py``, function by function."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import psycopg
from psycopg.copy import AsyncQueuedLibpqWriter
from psycopg_pool import PoolTimeout

from ._connect import ConnectOptions
from ._driver import (
    AsyncPooledConnection,
    ConnState,
    _cursor,
    _is_disconnect,
    _keep_cursor,
    _settings_statement,
    _stale_settings,
    configure,
    pool_arguments,
)
from ._liveness import Liveness
from ._protocol import CopyIn, Execute, Job, Step
from .exc import Unreachable


class _AsyncLease:
    """Async twin of :class:`_Lease`."""

    __slots__ = ("conn", "pool", "source")

    def __init__(self, source: AsyncPoolSource) -> None:
        self.source = source

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        self.pool = pool = await self.source._get()
        try:
            self.conn = await self.source.liveness.agetconn(self.source, pool)
        except PoolTimeout as exc:
            await self.source.unavailable(exc)
        return self.conn  # type: ignore[no-any-return]

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.putconn(self.conn)


class AsyncPoolSource:
    """A lazily opened ``AsyncConnectionPool``; ``close()`` lets a later call reopen it."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._pool: Any = None
        self.liveness = Liveness(options)
        self.session_settings = options.prepare_threshold is not None

    async def _get(self) -> Any:
        if self._pool is None:
            from psycopg_pool import AsyncConnectionPool

            conninfo = self.options.resolve()
            await adiagnose(conninfo, self.options)

            async def aconfigure(conn: psycopg.AsyncConnection[Any]) -> None:
                configure(conn)

            pool = AsyncConnectionPool(
                conninfo, **pool_arguments(self.options, AsyncPooledConnection, aconfigure)
            )
            # see PoolSource._get
            try:
                await pool.open(wait=True, timeout=self.options.pool_timeout)
            except PoolTimeout as exc:
                await pool.close()
                await self.unavailable(exc)
            if self._pool is None:
                self._pool = pool
            else:  # another task opened one meanwhile
                await pool.close()
        return self._pool

    def connection(self) -> _AsyncLease:
        return _AsyncLease(self)

    async def unavailable(self, exc: Exception) -> NoReturn:
        await adiagnose(self.options.resolve(), self.options)
        raise Unreachable(f"no database connection became available: {exc}") from exc

    async def check(self) -> None:
        await self.liveness.acheck(self)  # see PoolSource.check
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
    state: ConnState | None = getattr(conn, "vecs_state", None)
    cur = _cursor(conn, state, step.binary)
    try:
        stale = _stale_settings(conn, state, step.settings, session) if step.settings else None
        if stale and state is not None:
            state.settings.clear()  # unknown until the statement succeeds
            await cur.execute(*_settings_statement(stale, local=False))
            state.settings.update(step.settings)
        elif step.settings and stale is None:
            set_q, set_p = _settings_statement(step.settings)
            async with conn.pipeline(), conn.transaction():
                await cur.execute(set_q, set_p)
                await cur.execute(step.query, step.params or {})
                return await _acollect(cur, step)
        await cur.execute(step.query, step.params or {})
        return await _acollect(cur, step)
    finally:
        if not _keep_cursor(state, cur, step.binary):
            await cur.close()


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
