# WARNING: this file is generated from _adriver.py by scripts/async_to_sync.py; edit the
# source and run that script (CI runs it with --check).
"""The sync driver: connection sources and the code that runs jobs, plans, steps.

Generated from ``_adriver.py`` (the async driver, where the rules of the twins
are documented) by ``scripts/async_to_sync.py``; do not edit by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg
from psycopg_pool import PoolTimeout

from ._citus import BEGIN, COMMIT, set_local_statements
from ._conn import (
    IDLE,
    ConnState,
    PooledConnection,
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


def diagnose(conninfo: str, options: ConnectOptions) -> None:
    """Connect once; raise :class:`Unreachable` (naming host and port, never the password)."""
    try:
        conn = psycopg.Connection.connect(
            conninfo, connect_timeout=options.connect_timeout, **options.connection_kwargs()
        )
    except psycopg.OperationalError as exc:
        raise unreachable(conninfo, exc) from None
    conn.close()


def _configure(conn: psycopg.Connection[Any]) -> None:
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
        self._lock = threading.Lock()
        self._ok_at = float("-inf")  # time.monotonic() of the last successful check

    def _first_wait(self) -> float:
        return min(FIRST_WAIT, self.options.pool_timeout)

    def _trusted(self) -> bool:
        return time.monotonic() - self._ok_at < FIRST_WAIT

    def getconn(self, source: Any, pool: Any) -> psycopg.Connection[Any]:
        """``pool.getconn()`` that checks the server after :data:`FIRST_WAIT` seconds.

        Raises:
            Unreachable: the server cannot be reached (the pool is closed).
            PoolTimeout: the server answers but no pooled connection came free in time.
        """
        first = self._first_wait()
        try:
            conn: psycopg.Connection[Any] = pool.getconn(timeout=first)
            return conn
        except PoolTimeout:
            self.check(source)
            rest = self.options.pool_timeout - first
            if rest <= 0:
                raise
        conn = pool.getconn(timeout=rest)
        return conn

    def check(self, source: Any) -> None:
        """Connect once, directly; on failure close ``source``'s pool and raise
        :class:`Unreachable` (naming host and port, never the password)."""
        with self._lock:
            if self._trusted():
                return
            try:
                diagnose(self.options.resolve(), self.options)
            except Unreachable:
                source.close()
                raise
            self._ok_at = time.monotonic()


class _Lease:
    """``with source.connection() as conn``: a connection of the pool, given back on exit
    (the pool rolls back one left in a transaction and drops a broken one). A class rather than
    a generator-based context manager: it runs on every call."""

    __slots__ = ("conn", "pool", "source")

    def __init__(self, source: PoolSource) -> None:
        self.source = source

    def __enter__(self) -> psycopg.Connection[Any]:
        self.pool = pool = self.source.get()
        try:
            conn = self.source.liveness.getconn(self.source, pool)
        except PoolTimeout as exc:
            self.source.unavailable(exc)
        self.conn = conn
        return conn

    def __exit__(self, *exc: object) -> None:
        self.pool.putconn(self.conn)


class PoolSource:
    """A lazily opened pool (``psycopg_pool``); ``close()`` lets a later call reopen it."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._pool: Any = None
        self._lock = threading.Lock()
        self.liveness = Liveness(options)
        # behind a transaction pooler (prepare_threshold=None) session state is not ours to keep
        self.session_settings = options.prepare_threshold is not None
        self.propagate_settings = False  # set by the client on a Citus coordinator

    def get(self) -> Any:
        """The open pool, opened on first use (by one caller; the others wait for it)."""
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    from psycopg_pool import ConnectionPool

                    conninfo = self.options.resolve()
                    diagnose(conninfo, self.options)
                    fresh = ConnectionPool(
                        conninfo, **pool_arguments(self.options, PooledConnection, _configure)
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
        """After a pooled connection was found dead: fail fast if the server is gone (see
        :class:`Liveness`), else let the pool drop its dead connections."""
        self.liveness.check(self)
        if self._pool is not None:
            self._pool.check()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class EngineSource:
    """Borrow psycopg connections from a user's SQLAlchemy engine (never disposed here)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.session_settings = False  # the engine's connections are the user's
        self.propagate_settings = False  # set by the client on a Citus coordinator

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            if not isinstance(conn, psycopg.Connection):
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


def run_step(
    conn: psycopg.Connection[Any], step: Step, session: bool = False, citus: bool = False
) -> Any:
    """Send one step. Search settings go with the statement (see ``_conn.stale_settings``;
    on a Citus coordinator, ``citus``, see :func:`run_propagated`)."""
    if isinstance(step, CopyIn):
        with conn.cursor() as cur:
            # written from this thread, a small chunk at a time (see records.COPY_CHUNK_ROWS):
            # the server reads one chunk from the socket while the next is encoded. A writer
            # thread was slower: it waits for the GIL each time the socket drains (0.65x raw
            # COPY at 1M x 128 against 0.78x)
            with cur.copy(step.query, {}) as copy:
                for chunk in step.chunks:
                    copy.write(chunk)
            return cur.rowcount
    state: ConnState | None = getattr(conn, "vecs_state", None)
    cur = cursor_for(conn, state, step.binary)
    try:
        if citus and step.settings:
            return run_propagated(conn, cur, step)
        stale = stale_settings(conn, state, step.settings, session) if step.settings else None
        if stale and state is not None:
            state.settings.clear()  # unknown until the statement succeeds
            cur.execute(*settings_statement(stale, local=False))
            state.settings.update(step.settings)
        elif step.settings and stale is None:
            set_q, set_p = settings_statement(step.settings)
            with conn.pipeline(), conn.transaction():
                cur.execute(set_q, set_p)
                cur.execute(step.query, step.params or {})
                return collect(cur, step)
        cur.execute(step.query, step.params or {})
        return collect(cur, step)
    finally:
        if not keep_cursor(state, cur, step.binary):
            cur.close()


def run_propagated(conn: psycopg.Connection[Any], cur: psycopg.Cursor[Any], step: Execute) -> Any:
    """Run ``step`` on a Citus coordinator with its settings applied on the workers too:
    ``BEGIN``, ``SET LOCAL`` of each setting (forwarded by Citus, see ``_citus.py``), the
    statement and ``COMMIT``, pipelined in one round trip. Inside a transaction already open
    (a session's RLS settings) only the settings and the statement are sent."""
    own = conn.pgconn.transaction_status == IDLE
    error: psycopg.Error | None = None
    aux = conn.cursor()
    try:
        with conn.pipeline():
            try:
                for statement in ([BEGIN] if own else []) + set_local_statements(step.settings):
                    aux.execute(statement)
                cur.execute(step.query, step.params or {})
                if own:
                    aux.execute(COMMIT)
            except psycopg.Error as exc:  # raised early when an error result arrives in time
                error = exc
    except psycopg.Error as exc:  # the usual place: the pipeline's sync at its exit
        error = error or exc
    finally:
        aux.close()
    if error is not None:
        if own and not conn.closed and conn.pgconn.transaction_status != IDLE:
            conn.rollback()
        raise error
    return collect(cur, step)


def collect(cur: psycopg.Cursor[Any], step: Execute) -> Any:
    if step.fetch == "all":
        return cur.fetchall()
    if step.fetch == "one":
        return cur.fetchone()
    if step.fetch == "rowcount":
        return cur.rowcount
    return None


def run_plan(
    conn: psycopg.Connection[Any],
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
            result = run_step(conn, step, session, citus)
            sent[0] += 1
        except psycopg.Error as exc:
            if is_disconnect(exc, conn):
                plan.close()
                raise
            error, result = exc, None
        except BaseException as exc:
            _interrupted(conn, plan, exc, session)
            raise


def _interrupted(
    conn: psycopg.Connection[Any], plan: Any, exc: BaseException, session: bool
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
                result = run_step(conn, step, session)
            except psycopg.Error as error:
                step = plan.throw(error)
                continue
            step = plan.send(result)
    except BaseException:  # the plan re-raised (the usual end), or a second interruption
        pass
    finally:
        plan.close()


def run_job(source: Any, job: Job[Any], settings: Mapping[str, str] | None = None) -> Any:
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
        with source.connection() as conn:
            try:
                if settings and job.mode == "outside":
                    with conn.cursor() as cur:
                        cur.execute(*settings_statement(settings, local=False))
                        try:
                            return run_plan(conn, job, sent, session, citus)
                        finally:
                            if not conn.broken:
                                cur.execute(*settings_statement(settings, False, reset=True))
                if job.mode == "transaction" or (settings and job.mode == "statements"):
                    with conn.transaction():
                        if settings and citus:
                            with conn.pipeline():
                                for statement in set_local_statements(settings):
                                    conn.execute(statement)
                        elif settings:
                            conn.execute(*settings_statement(settings))
                        return run_plan(conn, job, sent, session, citus)
                return run_plan(conn, job, sent, session, citus)
            except psycopg.OperationalError as exc:
                if attempt == 1 and sent[0] == 0 and is_disconnect(exc, conn):
                    source.check()
                    continue
                raise
    raise AssertionError("unreachable")  # pragma: no cover
