"""Fail fast while the server is down, and recover by itself once it is back.

psycopg_pool, left alone, makes a call against a stopped server wait for the whole pool timeout
(30 s) while it retries in the background, and after the server comes back its retries have
backed off so far that recovery takes as long again. So a pool source keeps a :class:`Liveness`:

* a call waits for a pooled connection at most :data:`FIRST_WAIT` seconds before checking the
  server with one direct connection attempt (bounded by ``connect_timeout``); when it is busy
  but reachable, the call keeps waiting for the rest of ``pool_timeout``;
* a pooled connection found dead triggers the same check before the call is retried;
* when the check fails, the pool is closed (waiting calls end too) and :class:`Unreachable` is
  raised; the next call opens a fresh pool, after the same check, so it fails fast while the
  server is down and works at once when it is back.

A successful check is trusted for :data:`FIRST_WAIT` seconds, so a saturated pool does not turn
every waiting call into a connection attempt.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from psycopg_pool import PoolTimeout

from ._connect import ConnectOptions, adiagnose, diagnose
from .exc import Unreachable

FIRST_WAIT = 1.0  # seconds


class Liveness:
    """Per pool source: when to suspect the server is gone, and the quick check (sync and async
    halves; a source uses one of them)."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._ok_at = float("-inf")  # time.monotonic() of the last successful check

    def _first_wait(self) -> float:
        return min(FIRST_WAIT, self.options.pool_timeout)

    def _trusted(self) -> bool:
        return time.monotonic() - self._ok_at < FIRST_WAIT

    # -- sync ----------------------------------------------------------------------------------
    def getconn(self, source: Any, pool: Any) -> Any:
        """``pool.getconn()`` that checks the server after :data:`FIRST_WAIT` seconds.

        Raises:
            Unreachable: the server cannot be reached (the pool is closed).
            PoolTimeout: the server answers but no pooled connection came free in time.
        """
        first = self._first_wait()
        try:
            return pool.getconn(timeout=first)
        except PoolTimeout:
            self.check(source)
            rest = self.options.pool_timeout - first
            if rest <= 0:
                raise
        return pool.getconn(timeout=rest)

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

    # -- async ---------------------------------------------------------------------------------
    async def agetconn(self, source: Any, pool: Any) -> Any:
        """Async twin of :meth:`getconn`."""
        first = self._first_wait()
        try:
            return await pool.getconn(timeout=first)
        except PoolTimeout:
            await self.acheck(source)
            rest = self.options.pool_timeout - first
            if rest <= 0:
                raise
        return await pool.getconn(timeout=rest)

    async def acheck(self, source: Any) -> None:
        """Async twin of :meth:`check` (concurrent checks may overlap: no lock across loops)."""
        if self._trusted():
            return
        try:
            await adiagnose(self.options.resolve(), self.options)
        except Unreachable:
            await source.close()
            raise
        self._ok_at = time.monotonic()
