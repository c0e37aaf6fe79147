"""Read replicas (async): route each job to the primary or to a replica pool.

This is the source of the sync router: ``scripts/async_to_sync.py`` generates ``_replicas.py``
from it (see ``_adriver.py`` for the rules of the twins). The pure rules (policy, token, replica
state, error classes, statements) are in ``_routing.py``.

Routing, by job (``Job.read`` marks the one read of a read call; see ``_protocol.py``):

* a job that is not a replica read (writes, DDL, index builds, catalog lookups) runs on the
  primary; afterwards the client's session token advances to the primary's WAL position;
* a read in ``"strong"`` consistency runs on the primary;
* a read in ``"eventual"`` consistency runs alone on a replica that answers (in turn);
* a read in ``"session"`` consistency runs on a replica that has replayed the session token.
  A connection that has already seen a replay position at least the token sends the read
  alone (it stays on one server, and replay only moves forward). Any other connection sends
  the read in pipeline mode behind a check of the replay position, in the same round trip;
  the answer is used only when the check passed. When it did not, the router polls the
  replay position (cheap statements, up to ``max_replica_wait``), then reads again.

Whatever cannot be answered by a replica in time (all down, still behind, beyond
``max_replica_lag_bytes``, or missing a table that a schema change has not brought yet) is
answered by the primary, with no error. A replica that does not answer is skipped for a while
(0.5 s, doubling up to 5 s), then tried again by the next read.
"""
# sync-docstring: Read replicas (sync): route each job to the primary or to a replica pool.
# sync-docstring:
# sync-docstring: Generated from ``_areplicas.py`` (where the routing rules are documented) by
# sync-docstring: ``scripts/async_to_sync.py``; do not edit by hand.

from __future__ import annotations

import asyncio  # async-only
import dataclasses
import itertools
import time
from collections.abc import Mapping
from typing import Any, cast

import psycopg

from ._adriver import AsyncPoolSource, run_job
from ._connect import ConnectOptions, describe
from ._protocol import Execute, Job, Plan
from ._routing import (
    CHECK_SQL,
    POLL_FIRST,
    POLL_MAX,
    REFERENCE_AGE,
    REPLAY_SQL,
    TOKEN_SQL,
    Consistency,
    Counters,
    ReadPolicy,
    ReadStats,
    ReplicaState,
    SessionToken,
    check_read_urls,
    classify,
    insert_token,
)
from .exc import ArgError, Unreachable


def token_plan() -> Plan[tuple[int, int, int]]:
    row = yield Execute(TOKEN_SQL, fetch="one")
    return int(row[0]), int(row[1]), int(row[2])


class AsyncReplica:
    """One read URL: its lazily opened pool and what the router knows of it."""

    def __init__(self, options: ConnectOptions) -> None:
        self.source = AsyncPoolSource(options)
        self.state = ReplicaState(describe(options.url or ""))


def _seen(conn: Any) -> int | None:
    """The replay position last read on ``conn`` (None: never). A connection stays on one
    server for its life and replay only moves forward, so it is a lower bound of the server's
    position now."""
    seen: int | None = getattr(conn, "vecs_replay", None)
    return seen


class _AsyncCheckedLease:
    """A connection of a replica pool for one read. When it is not known to have replayed the
    session token (or a lag bound needs a fresh look), it is put in pipeline mode with the
    check queued first, so that the check and the read's statements reach the server in one
    round trip; the check's row is stored on the owner once the pipeline has synced. A
    connection known to be fresh enough sends the read alone."""

    __slots__ = ("conn", "cur", "lease", "owner", "pipeline")

    def __init__(self, owner: _AsyncCheckedSource) -> None:
        self.owner = owner
        self.pipeline: Any = None

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        owner = self.owner
        self.lease = owner.replica.source.connection()
        conn = await self.lease.__aenter__()
        self.conn = conn
        owner.row = None
        owner.standby = conn.info.parameter_status("in_hot_standby") != "off"
        seen = _seen(conn)
        if not owner.always and (not owner.need or (seen is not None and seen >= owner.need)):
            return conn  # no check needed: the read alone
        try:
            self.pipeline = conn.pipeline()
            await self.pipeline.__aenter__()
            self.cur = conn.cursor()
            await self.cur.execute(CHECK_SQL)
        except BaseException as exc:
            await self.lease.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return conn

    async def __aexit__(self, *exc: Any) -> None:
        try:
            if self.pipeline is not None:
                try:
                    await self.pipeline.__aexit__(*exc)
                    if exc[0] is None:
                        row = await self.cur.fetchone()
                        self.owner.row = row
                        if row is not None and row[0] is not None:
                            cast(Any, self.conn).vecs_replay = row[0]
                finally:
                    await self.cur.close()
        finally:
            await self.lease.__aexit__(*exc)


class _AsyncCheckedSource:
    """What ``run_job`` sees of a replica for one read: the replica's pool, each connection
    lent with the freshness check in front when one is needed (:class:`_AsyncCheckedLease`).
    ``need`` is the replay position the read needs (0: none); ``always`` asks for the check
    anyway (a lag bound)."""

    def __init__(self, replica: AsyncReplica, propagate: bool, need: int, always: bool) -> None:
        self.replica = replica
        self.need = need
        self.always = always
        self.row: Any = None
        self.standby = True
        self.session_settings = replica.source.session_settings
        self.propagate_settings = propagate

    def connection(self) -> _AsyncCheckedLease:
        return _AsyncCheckedLease(self)

    async def check(self) -> None:
        await self.replica.source.check()

    async def close(self) -> None:
        return None


class AsyncRouter:
    """The primary's connection source and the replica pools, with the session token."""

    def __init__(self, primary: Any, replicas: list[ConnectOptions], policy: ReadPolicy) -> None:
        self.primary = primary
        self.replicas = [AsyncReplica(options) for options in replicas]
        self.policy = policy
        self.token = SessionToken()
        self.counters = Counters()
        self._turn = itertools.count()

    def stats(self) -> ReadStats:
        now = time.monotonic()
        return self.counters.snapshot(sum(r.state.down(now) for r in self.replicas))

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.source.close()

    async def run(
        self, job: Job[Any], settings: Mapping[str, str] | None, consistency: Consistency | None
    ) -> Any:
        """Run ``job`` where it belongs (see the module docstring)."""
        mode = consistency or self.policy.consistency
        if job.read and mode != "strong" and self.replicas:
            return await self._read(job, settings, mode)
        result = await run_job(self.primary, job, settings)
        if job.read:
            self.counters.add(primary=1)
        else:
            try:
                await self._advance(written=True)
            except (psycopg.Error, Unreachable):
                self.token.lose()  # session reads go to the primary until the next write
        return result

    async def _advance(self, written: bool) -> None:
        """Read the primary's WAL position (after a write: the session token)."""
        insert, block, segment = await run_job(self.primary, Job(token_plan, "statements"))
        self.token.advance(insert_token(insert, block, segment), written=written)

    def _candidates(self, token: int) -> list[AsyncReplica]:
        """Usable replicas, in turn; with a token, those known to have replayed it first."""
        now = time.monotonic()
        usable = [r for r in self.replicas if r.state.usable(now)]
        if len(usable) > 1:
            start = next(self._turn) % len(usable)
            usable = usable[start:] + usable[:start]
            if token:
                usable.sort(key=lambda r: not r.state.caught_up(token))
        return usable

    async def _read(
        self, job: Job[Any], settings: Mapping[str, str] | None, mode: Consistency
    ) -> Any:
        token = self.token.value if mode == "session" else 0
        if mode == "session" and self.token.unknown:
            return await self._fallback(job, settings, False)
        deadline = time.monotonic() + self.policy.max_wait
        bounded = self.policy.max_lag_bytes is not None
        if bounded and time.monotonic() - self.token.primary_at > REFERENCE_AGE:
            try:
                await self._advance(written=False)
            except (psycopg.Error, Unreachable):
                pass  # the primary is away: measure lag against what is known
        waited = False
        propagate = self.primary.propagate_settings
        for replica in self._candidates(token):
            state = replica.state
            attempt = 0
            while True:
                attempt += 1
                checked = _AsyncCheckedSource(replica, propagate, token, bounded)
                try:
                    result = await run_job(checked, job, settings)
                except Exception as exc:
                    outcome = classify(exc)
                    if outcome == "raise":
                        raise
                    if outcome == "primary":
                        return await self._fallback(job, settings, waited)
                    if attempt == 1 and isinstance(exc, psycopg.OperationalError):
                        try:  # a connection that died while pooled: is the server there?
                            await replica.source.check()
                            continue
                        except Unreachable:
                            pass
                    state.mark_down()
                    break
                state.mark_up()
                if checked.row is None:  # the connection was known to be fresh enough
                    self._answered(checked.standby, waited)
                    return result
                replay, reference = checked.row
                state.observe(replay)
                if replay is None:  # not in recovery: a primary answered
                    self._answered(False, waited)
                    return result
                if self._too_far(replay, reference):
                    state.mark_lagging()
                    break
                if replay >= token:
                    self._answered(True, waited)
                    return result
                waited = True  # behind: wait for it (cheap probes), then read again
                try:
                    caught_up = await self._catch_up(replica, token, deadline)
                except Exception as exc:
                    if classify(exc) == "raise":
                        raise
                    state.mark_down()
                    break
                if not caught_up:
                    return await self._fallback(job, settings, waited)
        return await self._fallback(job, settings, waited)

    def _answered(self, standby: bool, waited: bool) -> None:
        if standby:
            self.counters.add(standby=1, waited=waited)
        else:
            self.counters.add(primary=1, waited=waited)

    def _too_far(self, replay: int, reference: int | None) -> bool:
        limit = self.policy.max_lag_bytes
        if limit is None:
            return False
        newest = max(self.token.primary, reference or 0)
        return newest - replay > limit

    async def _catch_up(self, replica: AsyncReplica, token: int, deadline: float) -> bool:
        """Poll ``replica``'s replay position on one of its connections until it reaches
        ``token`` (True: that connection now knows it, and the read that follows on it is sent
        alone) or the deadline passes (False)."""
        delay = POLL_FIRST
        async with replica.source.connection() as conn:
            while True:
                cur = await conn.execute(REPLAY_SQL)
                row = await cur.fetchone()
                replay = None if row is None else row[0]
                replica.state.observe(replay)
                if replay is None or replay >= token:
                    if replay is not None:
                        cast(Any, conn).vecs_replay = replay
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                await asyncio.sleep(min(delay, left))  # async-only
                # sync: time.sleep(min(delay, left))
                delay = min(delay * 2, POLL_MAX)

    async def _fallback(
        self, job: Job[Any], settings: Mapping[str, str] | None, waited: bool
    ) -> Any:
        result = await run_job(self.primary, job, settings)
        self.counters.add(primary=1, fallbacks=1, waited=waited)
        return result


def make_router(
    primary: Any, options: ConnectOptions, read_urls: object, policy: ReadPolicy, engine: bool
) -> AsyncRouter | None:
    """The client's router, or None without read URLs. Each read URL gets the primary's
    connection options (pool size, timeouts...) with its own URL.

    Raises:
        ArgError: bad read URLs, or read URLs for the embedded server.
    """
    urls = check_read_urls(read_urls)
    if not urls:
        return None
    if options.embedded and not engine:
        raise ArgError(
            "read_urls are replicas of a primary server: give the primary's url too (the "
            "embedded server has no replicas)"
        )
    return AsyncRouter(primary, [dataclasses.replace(options, url=url) for url in urls], policy)


async def run_routed(
    route: Any,
    job: Job[Any],
    settings: Mapping[str, str] | None,
    consistency: Consistency | None = None,
) -> Any:
    """Run ``job`` through ``route``: a router (with read replicas) or a connection source."""
    if isinstance(route, AsyncRouter):
        return await route.run(job, settings, consistency)
    return await run_job(route, job, settings)
