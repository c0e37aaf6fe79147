"""The async driver: connection sources and the code that runs jobs, plans and steps.

This is the source of the sync driver: ``scripts/async_to_sync.py`` generates ``_driver.py``
from it (``await`` and ``async`` removed, async names mapped to their sync twins), and CI checks
that the generated file is current. Lines that differ are marked: ``# async-only`` lines are
dropped, ``# sync: <code>`` comments become ``<code>``.

Running a job (:func:`run_job`) takes a pooled connection and runs the job's plan
(:func:`run_plan`), step by step (:func:`run_step`), in the way the job's mode asks.
"""
# sync-docstring: The sync driver: connection sources and the code that runs jobs, plans, steps.
# sync-docstring:
# sync-docstring: Generated from ``_adriver.py`` (the async driver, where the rules of the twins
# sync-docstring: are documented) by ``scripts/async_to_sync.py``; do not edit by hand.

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import psycopg
from psycopg_pool import PoolTimeout

from ._citus import BEGIN, COMMIT, set_local_statements
from ._conn import (
    IDLE,
    AsyncPooledConnection,
    ConnState,
    configure,
    cursor_for,
    is_disconnect,
    keep_cursor,
    pool_arguments,
    settings_statement,
    stale_settings,
)
from ._connect import ConnectOptions, unreachable
from ._protocol import CopyIn, Execute, Job, Step
from .exc import ArgError, Unreachable

_IDLE = psycopg.pq.TransactionStatus.IDLE


async def diagnose(conninfo: str, options: ConnectOptions) -> None:
    """Connect once; raise :class:`Unreachable` (naming host and port, never the password)."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            conninfo, connect_timeout=options.connect_timeout, **options.connection_kwargs()
        )
    except psycopg.OperationalError as exc:
        raise unreachable(conninfo, exc) from None
    await conn.close()


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    configure(conn)


FIRST_WAIT = 1.0
"""Seconds a call waits for a pooled connection before it checks that the server is up."""


class Liveness:
    """Fail fast while the server is down, and recover by itself once it is back.

    psycopg_pool, left alone, makes a call against a stopped server wait for the whole pool
    timeout (30 s) while it retries in the background, and once the server is back its retries
    have backed off so far that recovery takes as long again. So a pool source keeps a
    ``Liveness``:

    * a call waits for a pooled connection at most :data:`FIRST_WAIT` seconds before checking
      the server with one direct connection (bounded by ``connect_timeout``); when the server
      is busy but up, the call waits for the rest of ``pool_timeout``;
    * a pooled connection found dead triggers the same check before the call is retried;
    * when the check fails, the pool is closed (waiting calls end too) and :class:`Unreachable`
      is raised; the next call opens a fresh pool after the same check, so calls fail fast while
      the server is down and work at once when it is back.

    A successful check is trusted for :data:`FIRST_WAIT` seconds, so a saturated pool does not
    turn every waiting call into a connection attempt.
    """

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._lock = asyncio.Lock()
        self._ok_at = float("-inf")  # time.monotonic() of the last successful check

    def _first_wait(self) -> float:
        return min(FIRST_WAIT, self.options.pool_timeout)

    def _trusted(self) -> bool:
        return time.monotonic() - self._ok_at < FIRST_WAIT

    async def getconn(self, source: Any, pool: Any) -> psycopg.AsyncConnection[Any]:
        """``pool.getconn()`` that checks the server after :data:`FIRST_WAIT` seconds.

        Raises:
            Unreachable: the server cannot be reached (the pool is closed).
            PoolTimeout: the server answers but no pooled connection came free in time.
        """
        first = self._first_wait()
        try:
            conn: psycopg.AsyncConnection[Any] = await pool.getconn(timeout=first)
            return conn
        except PoolTimeout:
            await self.check(source)
            rest = self.options.pool_timeout - first
            if rest <= 0:
                raise
        conn = await pool.getconn(timeout=rest)
        return conn

    async def check(self, source: Any) -> None:
        """Connect once, directly; on failure close ``source``'s pool and raise
        :class:`Unreachable` (naming host and port, never the password)."""
        async with self._lock:
            if self._trusted():
                return
            try:
                await diagnose(self.options.resolve(), self.options)
            except Unreachable:
                await source.close()
                raise
            self._ok_at = time.monotonic()


class _AsyncLease:
    """``async with source.connection() as conn``: a connection of the pool, given back on exit
    (the pool rolls back one left in a transaction and drops a broken one). A class rather than
    a generator-based context manager: it runs on every call."""

    __slots__ = ("conn", "pool", "source")

    def __init__(self, source: AsyncPoolSource) -> None:
        self.source = source

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        self.pool = pool = await self.source.get()
        try:
            conn = await self.source.liveness.getconn(self.source, pool)
        except PoolTimeout as exc:
            await self.source.unavailable(exc)
        self.conn = conn
        return conn

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.putconn(self.conn)


class AsyncPoolSource:
    """A lazily opened pool (``psycopg_pool``); ``close()`` lets a later call reopen it."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self.liveness = Liveness(options)
        # behind a transaction pooler (prepare_threshold=None) session state is not ours to keep
        self.session_settings = options.prepare_threshold is not None
        self.propagate_settings = False  # set by the client on a Citus coordinator

    async def get(self) -> Any:
        """The open pool, opened on first use (by one caller; the others wait for it)."""
        pool = self._pool
        if pool is None:
            async with self._lock:
                if self._pool is None:
                    from psycopg_pool import AsyncConnectionPool

                    conninfo = self.options.resolve()
                    await diagnose(conninfo, self.options)
                    fresh = AsyncConnectionPool(
                        conninfo, **pool_arguments(self.options, AsyncPooledConnection, _configure)
                    )
                    # wait for the first connection: a request queued before it is ready makes
                    # the pool grow, and then its connections take turns (colder caches)
                    try:
                        await fresh.open(wait=True, timeout=self.options.pool_timeout)
                    except PoolTimeout as exc:
                        await fresh.close()
                        await self.unavailable(exc)
                    self._pool = fresh
                pool = self._pool
        return pool

    def connection(self) -> _AsyncLease:
        return _AsyncLease(self)

    async def unavailable(self, exc: Exception) -> NoReturn:
        await diagnose(self.options.resolve(), self.options)
        raise Unreachable(f"no database connection became available: {exc}") from exc

    async def check(self) -> None:
        """After a pooled connection was found dead: fail fast if the server is gone (see
        :class:`Liveness`), else let the pool drop its dead connections."""
        await self.liveness.check(self)
        if self._pool is not None:
            await self._pool.check()

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


class AsyncEngineSource:
    """Borrow psycopg connections from a user's SQLAlchemy engine (never disposed here)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.session_settings = False  # the engine's connections are the user's
        self.propagate_settings = False  # set by the client on a Citus coordinator

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        raw = await self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            if not isinstance(conn, psycopg.AsyncConnection):
                raise ArgError(
                    "the SQLAlchemy engine must use the psycopg (3) driver: "
                    "create it with a 'postgresql+psycopg://' URL"
                )
            configure(conn)
            previous = conn.autocommit
            await conn.rollback()
            await conn.set_autocommit(True)  # async-only
            # sync: conn.autocommit = True
            try:
                yield conn
            finally:
                if not conn.closed:
                    await conn.set_autocommit(previous)  # async-only
                    # sync: conn.autocommit = previous
        finally:
            raw.close()

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def run_step(
    conn: psycopg.AsyncConnection[Any], step: Step, session: bool = False, citus: bool = False
) -> Any:
    """Send one step. Search settings go with the statement (see ``_conn.stale_settings``;
    on a Citus coordinator, ``citus``, see :func:`run_propagated`)."""
    if isinstance(step, CopyIn):
        async with conn.cursor() as cur:
            # written from this thread, a small chunk at a time (see records.COPY_CHUNK_ROWS):
            # the server reads one chunk from the socket while the next is encoded. A writer
            # thread was slower: it waits for the GIL each time the socket drains (0.65x raw
            # COPY at 1M x 128 against 0.78x)
            async with cur.copy(step.query, {}) as copy:
                for chunk in step.chunks:
                    await copy.write(chunk)
            return cur.rowcount
    state: ConnState | None = getattr(conn, "vecs_state", None)
    cur = cursor_for(conn, state, step.binary)
    try:
        if citus and step.settings:
            return await run_propagated(conn, cur, step)
        stale = stale_settings(conn, state, step.settings, session) if step.settings else None
        if stale and state is not None:
            state.settings.clear()  # unknown until the statement succeeds
            await cur.execute(*settings_statement(stale, local=False))
            state.settings.update(step.settings)
        elif step.settings and stale is None:
            set_q, set_p = settings_statement(step.settings)
            async with conn.pipeline(), conn.transaction():
                await cur.execute(set_q, set_p)
                await cur.execute(step.query, step.params or {})
                return await collect(cur, step)
        await cur.execute(step.query, step.params or {})
        return await collect(cur, step)
    finally:
        if not keep_cursor(state, cur, step.binary):
            await cur.close()


async def run_propagated(
    conn: psycopg.AsyncConnection[Any], cur: psycopg.AsyncCursor[Any], step: Execute
) -> Any:
    """Run ``step`` on a Citus coordinator with its settings applied on the workers too:
    ``BEGIN``, ``SET LOCAL`` of each setting (forwarded by Citus, see ``_citus.py``), the
    statement and ``COMMIT``, pipelined in one round trip. Inside a transaction already open
    (a session's RLS settings) only the settings and the statement are sent."""
    own = conn.pgconn.transaction_status == IDLE
    error: psycopg.Error | None = None
    aux = conn.cursor()
    try:
        async with conn.pipeline():
            try:
                for statement in ([BEGIN] if own else []) + set_local_statements(step.settings):
                    await aux.execute(statement)
                await cur.execute(step.query, step.params or {})
                if own:
                    await aux.execute(COMMIT)
            except psycopg.Error as exc:  # raised early when an error result arrives in time
                error = exc
    except psycopg.Error as exc:  # the usual place: the pipeline's sync at its exit
        error = error or exc
    finally:
        await aux.close()
    if error is not None:
        if own and not conn.closed and conn.pgconn.transaction_status != IDLE:
            await conn.rollback()
        raise error
    return await collect(cur, step)


async def collect(cur: psycopg.AsyncCursor[Any], step: Execute) -> Any:
    if step.fetch == "all":
        return await cur.fetchall()
    if step.fetch == "one":
        return await cur.fetchone()
    if step.fetch == "rowcount":
        return cur.rowcount
    return None


async def run_plan(
    conn: psycopg.AsyncConnection[Any],
    job: Job[Any],
    sent: list[int],
    session: bool = False,
    citus: bool = False,
) -> Any:
    """Run ``job``'s plan on ``conn``: send each step, hand back its result (or throw its
    database error into the plan, which may handle it). ``sent[0]`` counts the steps sent.

    An interruption while a step runs (``KeyboardInterrupt``, ``asyncio.CancelledError``) has
    already cancelled the statement on the server (psycopg does that and waits for it); it is
    thrown into the plan, whose cleanup steps (drop a half-built index, release a lock) run on
    the same, recovered connection, and then re-raised (see :func:`_interrupted`)."""
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
            result = await run_step(conn, step, session, citus)
            sent[0] += 1
        except psycopg.Error as exc:
            if is_disconnect(exc, conn):
                plan.close()
                raise
            error, result = exc, None
        except BaseException as exc:
            await _interrupted(conn, plan, exc, session)
            raise


async def _interrupted(
    conn: psycopg.AsyncConnection[Any], plan: Any, exc: BaseException, session: bool
) -> None:
    """Throw the interruption ``exc`` into ``plan`` and run the cleanup steps it yields, while
    the connection is usable; a failing cleanup step (or a broken connection) ends it (the
    server releases session locks with the connection, and the next build drops leftovers)."""
    try:
        step = plan.throw(exc)
        while True:
            if conn.closed or conn.broken or conn.pgconn.transaction_status != _IDLE:
                break
            try:
                result = await run_step(conn, step, session)
            except psycopg.Error as error:
                step = plan.throw(error)
                continue
            step = plan.send(result)
    except BaseException:  # the plan re-raised (the usual end), or a second interruption
        pass
    finally:
        plan.close()


async def run_job(source: Any, job: Job[Any], settings: Mapping[str, str] | None = None) -> Any:
    """Run ``job`` on a pooled connection; retry once if the connection was found dead before
    any step ran (e.g. the server restarted while it sat idle in the pool).

    ``settings`` (a client session's, e.g. for Row Level Security) are applied with
    ``set_config(..., true)`` inside the job's transaction (on a Citus coordinator with ``SET
    LOCAL`` statements that reach the workers), or for a job that runs outside any transaction
    at session level and reset afterwards, so they never leak to the next user of the
    connection.
    """
    citus = source.propagate_settings
    session = source.session_settings and not citus
    for attempt in (1, 2):
        sent = [0]
        async with source.connection() as conn:
            try:
                if settings and job.mode == "outside":
                    async with conn.cursor() as cur:
                        await cur.execute(*settings_statement(settings, local=False))
                        try:
                            return await run_plan(conn, job, sent, session, citus)
                        finally:
                            if not conn.broken:
                                await cur.execute(*settings_statement(settings, False, reset=True))
                if job.mode == "transaction" or (settings and job.mode == "statements"):
                    async with conn.transaction():
                        if settings and citus:
                            async with conn.pipeline():
                                for statement in set_local_statements(settings):
                                    await conn.execute(statement)
                        elif settings:
                            await conn.execute(*settings_statement(settings))
                        return await run_plan(conn, job, sent, session, citus)
                return await run_plan(conn, job, sent, session, citus)
            except psycopg.OperationalError as exc:
                if attempt == 1 and sent[0] == 0 and is_disconnect(exc, conn):
                    await source.check()
                    continue
                raise
    raise AssertionError("unreachable")  # pragma: no cover
