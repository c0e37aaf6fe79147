"""Read replicas, without I/O: the read policy, the session's LSN token, what the client knows
of each replica, and the statements that measure replication. The router that does the I/O is
``_areplicas.py`` (and ``_replicas.py``, generated from it).

PostgreSQL's streaming replication does the work: a hot standby replays the primary's write-ahead
log (WAL) and serves reads. Its lag is measured in WAL bytes (log sequence numbers, LSNs), never
in time: ``now() - pg_last_xact_replay_timestamp()`` grows on an idle primary that writes nothing.

Read-your-writes ("session" consistency): after each write the client reads the primary's WAL
insert position (:data:`TOKEN_SQL`) and keeps the highest one (:class:`SessionToken`). A read
goes to a standby only once ``pg_last_wal_replay_lsn()`` there is at least that token. The
comparison travels in the same round trip as the read: the check is a statement of its own,
pipelined just before the read's statements. It cannot be part of the read's own statement,
because a statement takes its snapshot before it evaluates anything: replay could pass the token
after the snapshot was taken and before the check ran, and the read would miss the write while
the check said it was there. A separate statement that runs first closes that window: replay
only moves forward, so the read's later snapshot sees everything the check saw. For the same
reason a connection that has already seen a position at least the token (it stays on one
server for its life) needs no check at all.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql

from ._checks import safe_repr
from .exc import ArgError, Unreachable

Consistency = Literal["session", "eventual", "strong"]
CONSISTENCIES: tuple[Consistency, ...] = ("session", "eventual", "strong")

MAX_REPLICA_WAIT = 60.0
"""Upper bound of ``max_replica_wait`` (seconds): longer waits mean a replica is unusable."""
RETRY_FIRST, RETRY_MAX = 0.5, 5.0
"""Seconds a replica found down is skipped before it is tried again (doubling up to the max)."""
LAG_RECHECK = 0.25
"""Seconds a replica found behind ``max_replica_lag_bytes`` is skipped before a new look."""
REFERENCE_AGE = 1.0
"""With ``max_replica_lag_bytes``, the primary's WAL position is read again when the newest one
the client knows is older than this (seconds)."""
POLL_FIRST, POLL_MAX = 0.0005, 0.005
"""Seconds between two looks at a standby's replay position while a session read waits."""


def check_consistency(value: object, what: str = "consistency") -> Consistency:
    """``value`` if it names a consistency mode.

    Raises:
        ArgError: anything else.
    """
    if isinstance(value, str) and value in CONSISTENCIES:
        return value
    raise ArgError(
        f"{what} must be one of 'session', 'eventual' or 'strong', got {safe_repr(value)}"
    )


@dataclass(frozen=True)
class ReadPolicy:
    """How a client with read replicas routes its reads (validated by :meth:`build`)."""

    consistency: Consistency = "session"
    max_wait: float = 0.05
    max_lag_bytes: int | None = None

    @classmethod
    def build(
        cls, consistency: object, max_replica_wait: object, max_replica_lag_bytes: object
    ) -> ReadPolicy:
        """Raises:
        ArgError: an unknown consistency, a wait that is not a number of seconds in
            0..60, or a lag bound that is not an int >= 0 (or None).
        """
        mode = check_consistency(consistency)
        wait = max_replica_wait
        if (
            isinstance(wait, bool)
            or not isinstance(wait, (int, float))
            or not math.isfinite(wait)
            or not 0 <= wait <= MAX_REPLICA_WAIT
        ):
            raise ArgError(
                f"max_replica_wait must be a number of seconds from 0 to {MAX_REPLICA_WAIT:g}, "
                f"got {safe_repr(wait)}"
            )
        lag = max_replica_lag_bytes
        if lag is not None and (isinstance(lag, bool) or not isinstance(lag, int) or lag < 0):
            raise ArgError(
                f"max_replica_lag_bytes must be a number of WAL bytes >= 0 or None, got "
                f"{safe_repr(lag)}"
            )
        return cls(mode, float(wait), lag)


def check_read_urls(read_urls: object) -> list[str]:
    """The read URLs as a list of strings (each is checked as a URL by ``ConnectOptions``).

    Raises:
        ArgError: a single string, or anything but a list/tuple of strings.
    """
    if read_urls is None:
        return []
    if isinstance(read_urls, (str, bytes)):
        raise ArgError(
            "read_urls must be a list of URLs, got a single string: pass read_urls=[url]"
        )
    if not isinstance(read_urls, (list, tuple)):
        raise ArgError(f"read_urls must be a list of URLs, got {safe_repr(read_urls)}")
    for url in read_urls:
        if not isinstance(url, str) or not url.strip():
            raise ArgError(f"read_urls must hold non-empty URL strings, got {safe_repr(url)}")
    return list(read_urls)


@dataclass(frozen=True)
class ReadStats:
    """Where a client's reads went (counted since the client was created).

    Attributes:
        standby: reads answered by a server in recovery (a hot standby), through a read URL.
        primary: reads answered by a server that is not in recovery: the primary (``"strong"``
            reads, fallbacks), or a read URL that led to a primary.
        waited: session reads that waited for a standby to replay the client's writes.
        fallbacks: reads sent to the primary because no standby could answer: all down,
            still behind after ``max_replica_wait`` or ``max_replica_lag_bytes``, or missing
            the table (a schema change not replayed yet).
        replicas_down: read URLs skipped right now because they did not answer.
    """

    standby: int = 0
    primary: int = 0
    waited: int = 0
    fallbacks: int = 0
    replicas_down: int = 0

    @property
    def standby_fraction(self) -> float | None:
        """The share of reads answered by a standby (None before any read)."""
        total = self.standby + self.primary
        return self.standby / total if total else None


class Counters:
    """Mutable twin of :class:`ReadStats`, updated under a lock (sync clients share threads)."""

    __slots__ = ("_lock", "fallbacks", "primary", "standby", "waited")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.standby = self.primary = self.waited = self.fallbacks = 0

    def add(
        self, *, standby: int = 0, primary: int = 0, waited: int = 0, fallbacks: int = 0
    ) -> None:
        with self._lock:
            self.standby += standby
            self.primary += primary
            self.waited += waited
            self.fallbacks += fallbacks

    def snapshot(self, down: int) -> ReadStats:
        with self._lock:
            return ReadStats(self.standby, self.primary, self.waited, self.fallbacks, down)


class SessionToken:
    """The highest primary WAL position this client has written up to (0: nothing yet), and
    the newest primary position it knows of (for ``max_replica_lag_bytes``). Only grows."""

    __slots__ = ("_lock", "primary", "primary_at", "unknown", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0
        self.unknown = False  # a write's position could not be read: trust no standby
        self.primary = 0
        self.primary_at = float("-inf")

    def advance(self, lsn: int, *, written: bool) -> None:
        with self._lock:
            if written:
                self.value = max(self.value, lsn)
                self.unknown = False
            if lsn >= self.primary:
                self.primary, self.primary_at = lsn, time.monotonic()

    def lose(self) -> None:
        """A write committed but its WAL position could not be read (the primary went away
        right after): session reads use the primary until a later write sets a token."""
        with self._lock:
            self.unknown = True


TOKEN_SQL = sql.SQL(
    "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint,"
    " current_setting('wal_block_size')::int,"
    " pg_size_bytes(current_setting('wal_segment_size'))"
)
"""The primary's WAL insert position, with the WAL page and segment sizes (see
:func:`insert_token`)."""

REPLAY_SQL = sql.SQL(
    "SELECT CASE WHEN pg_is_in_recovery()"
    " THEN coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint, 0) END"
)
"""A standby's replay position (None on a server that is not in recovery)."""

CHECK_SQL = sql.SQL(
    "SELECT CASE WHEN pg_is_in_recovery()"
    " THEN coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint, 0) END,"
    " (SELECT pg_wal_lsn_diff(latest_end_lsn, '0/0')::bigint FROM pg_stat_wal_receiver)"
)
"""Sent in the same pipeline as a replica read, before it: the replay position (None when the
server is not in recovery) and the primary's WAL end as the standby's WAL receiver last heard
it (None without the ``pg_read_all_stats`` privilege or while it is not streaming)."""

SHORT_PAGE_HEADER, LONG_PAGE_HEADER = 24, 40


def insert_token(insert: int, block: int, segment: int) -> int:
    """The end of the last WAL record inserted, from ``pg_current_wal_insert_lsn()``.

    The insert position points past the page header when the last record ended exactly at a
    page boundary (``insert`` is then the boundary plus 24 bytes, or 40 at the start of a
    segment), while a standby's replay position is the boundary itself: without this
    correction such a token would never be reached until the primary writes again."""
    offset = insert % block
    header = LONG_PAGE_HEADER if insert % segment == offset else SHORT_PAGE_HEADER
    return insert - offset if offset == header else insert


def format_lsn(value: int) -> str:
    """An LSN as PostgreSQL writes it (``'0/3000148'``)."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


class ReplicaState:
    """What the router knows of one read URL: the last replay position seen and when, and
    whether it is skipped for now (down, or too far behind)."""

    __slots__ = ("backoff", "down_until", "lagging_until", "replay", "seen_at", "where")

    def __init__(self, where: str) -> None:
        self.where = where  # host:port/dbname, never a password
        self.replay: int | None = None  # None: not in recovery (or never seen)
        self.seen_at = float("-inf")
        self.down_until = float("-inf")
        self.lagging_until = float("-inf")
        self.backoff = RETRY_FIRST

    def observe(self, replay: int | None) -> None:
        self.replay, self.seen_at = replay, time.monotonic()

    def caught_up(self, token: int) -> bool:
        """Whether the last look showed it replayed ``token`` (or it is not in recovery)."""
        return self.seen_at > float("-inf") and (self.replay is None or self.replay >= token)

    def usable(self, now: float) -> bool:
        return self.down_until <= now and self.lagging_until <= now

    def down(self, now: float) -> bool:
        return self.down_until > now

    def mark_down(self) -> None:
        """Skip it for a while (doubling each time it is found down again)."""
        self.down_until = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, RETRY_MAX)

    def mark_up(self) -> None:
        self.down_until = float("-inf")
        self.backoff = RETRY_FIRST

    def mark_lagging(self) -> None:
        self.lagging_until = time.monotonic() + LAG_RECHECK


Outcome = Literal["down", "primary", "raise"]


def classify(exc: BaseException) -> Outcome:
    """What a replica read's error means: ``"down"`` (the server is gone or refuses
    connections: skip it for a while), ``"primary"`` (this read cannot be answered there now:
    a schema change not replayed yet, a query cancelled by a recovery conflict; ask the
    primary) or ``"raise"`` (the read itself is wrong: it would fail on the primary too)."""
    if isinstance(exc, Unreachable):
        return "down"
    if not isinstance(exc, psycopg.Error):
        return "raise"
    state = exc.sqlstate
    if state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return "down"
    if state in ("40001", "40P01", "57P04", "25006") or state in _NOT_REPLAYED:
        return "primary"
    return "raise"


_NOT_REPLAYED = ("42P01", "42703", "42704", "42883", "3F000")
"""Undefined table, column, object, function, schema: a standby that has not replayed the DDL
yet (the primary answers; when the object is really missing it raises there)."""
