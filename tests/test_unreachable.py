"""A stopped server fails calls fast with Unreachable, and the client recovers by itself when the
server is back. Runs against a private embedded server (its own data directory) that the tests
stop and start; the session server of the other tests is not touched."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pg_control import Server

import vecs_core
from vecs_core import ArgError, Unreachable

FAST = 5.0  # seconds: "fails fast" (a local stopped server is refused at once; ~1 s at worst)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.cleanup()


@pytest.fixture
def stopped(server: Server) -> Iterator[Server]:
    """The server, to be stopped by the test; started again afterwards in any case."""
    try:
        yield server
    finally:
        try:
            server.start()
        except Exception:
            pass  # already running


def _timed(call: Any) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_calls_fail_fast_while_the_server_is_down_and_recover(stopped: Server) -> None:
    with vecs_core.create_client(stopped.url, pool_size=3) as vx:
        col = vx.get_or_create_collection("down", dimension=3)
        col.upsert([("a", [1, 2, 3], {})])
        threads = [threading.Thread(target=col.count) for _ in range(3)]  # fill the pool
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stopped.stop()
        for call in (
            lambda: len(col),  # meets a dead pooled connection
            lambda: len(col),  # the pool was closed: a fresh one, checked first
            lambda: col.upsert([("b", [1, 2, 3], {})]),
            lambda: col.query(data=[1, 2, 3], limit=1),
            lambda: vx.list_collections(),
        ):
            error, took = _timed(call)
            assert isinstance(error, Unreachable), error
            assert took < FAST, took
            assert "port=" in str(error)
        # several threads at once: all fail fast
        errors: list[tuple[BaseException | None, float]] = []
        threads = [
            threading.Thread(target=lambda: errors.append(_timed(col.count))) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(isinstance(e, Unreachable) and took < FAST for e, took in errors), errors
        stopped.start()
        error, took = _timed(lambda: col.upsert([("b", [1, 2, 3], {})]))
        assert error is None and took < FAST, (error, took)  # recovered by itself, at once
        assert len(col) == 2


def test_a_call_waiting_for_a_busy_pool_fails_fast_when_the_server_stops(
    stopped: Server,
) -> None:
    with vecs_core.create_client(stopped.url, pool_size=1, pool_timeout=30) as vx:
        col = vx.get_or_create_collection("busy_down", dimension=3)
        col.upsert([("a", [1, 2, 3], {})])
        pool = vx._source._pool
        held = pool.getconn()  # the only connection is busy elsewhere
        try:
            stopped.stop()
            error, took = _timed(lambda: len(col))
            assert isinstance(error, Unreachable), error
            assert took < FAST, took  # not the 30 s pool timeout
        finally:
            pool.putconn(held)
        stopped.start()
        assert len(col) == 1


def test_a_busy_pool_with_a_live_server_keeps_waiting(server: Server) -> None:
    """pool_timeout is how long a call waits for a free connection; the server check after a
    second does not cut that short while the server answers."""
    with vecs_core.create_client(server.url, pool_size=1, pool_timeout=30) as vx:
        col = vx.get_or_create_collection("busy_up", dimension=3)
        col.upsert([("a", [1, 2, 3], {})])
        pool = vx._source._pool
        held = pool.getconn()
        threading.Timer(2.5, pool.putconn, (held,)).start()
        error, took = _timed(lambda: len(col))
        assert error is None and 2.0 < took < 10, (error, took)
    with vecs_core.create_client(server.url, pool_size=1, pool_timeout=1.5) as vx:
        col = vx.get_or_create_collection("busy_up", dimension=3)
        assert len(col) == 1
        pool = vx._source._pool
        held = pool.getconn()
        try:
            error, took = _timed(lambda: len(col))
        finally:
            pool.putconn(held)
        assert isinstance(error, Unreachable) and "no database connection" in str(error)
        assert 1.2 < took < FAST, took


def test_a_new_client_against_a_stopped_server_fails_fast(stopped: Server) -> None:
    stopped.stop()
    for _ in range(2):
        vx = vecs_core.create_client(stopped.url)
        error, took = _timed(vx.list_collections)
        assert isinstance(error, Unreachable) and took < FAST, (error, took)
        vx.disconnect()
    stopped.start()
    with vecs_core.create_client(stopped.url) as vx:
        assert isinstance(vx.list_collections(), list)


def test_async_calls_fail_fast_while_the_server_is_down_and_recover(stopped: Server) -> None:
    async def main() -> None:
        async with vecs_core.create_async_client(stopped.url, pool_size=3) as vx:
            col = await vx.get_or_create_collection("adown", dimension=3)
            await col.upsert([("a", [1, 2, 3], {})])
            await asyncio.gather(*[col.count() for _ in range(3)])
            stopped.stop()
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(Unreachable):
                    await col.count()
                assert time.monotonic() - started < FAST
            results = await asyncio.gather(*[col.count() for _ in range(4)], return_exceptions=True)
            assert all(isinstance(r, Unreachable) for r in results), results
            pool = vx._source._pool
            assert pool is None  # closed; the next call opens a fresh one
            stopped.start()
            started = time.monotonic()
            await col.upsert([("b", [1, 2, 3], {})])
            assert await col.count() == 2
            assert time.monotonic() - started < FAST

    asyncio.run(main())


def test_async_busy_pool_fails_fast_when_the_server_stops(stopped: Server) -> None:
    async def main() -> None:
        async with vecs_core.create_async_client(stopped.url, pool_size=1) as vx:
            col = await vx.get_or_create_collection("abusy", dimension=3)
            await col.upsert([("a", [1, 2, 3], {})])
            pool = vx._source._pool
            held = await pool.getconn()
            try:
                stopped.stop()
                started = time.monotonic()
                with pytest.raises(Unreachable):
                    await col.count()
                assert time.monotonic() - started < FAST
            finally:
                await pool.putconn(held)
            stopped.start()
            assert await col.count() == 1

    asyncio.run(main())


def test_timeouts_are_validated() -> None:
    for bad in (0, -1, 2.5, "10", True, None):
        with pytest.raises(ArgError, match="connect_timeout"):
            vecs_core.create_client("postgresql://u@h/db", connect_timeout=bad)  # type: ignore[arg-type]
    for bad in (0, -1, float("nan"), float("inf"), "30", False):
        with pytest.raises(ArgError, match="pool_timeout"):
            vecs_core.create_async_client("postgresql://u@h/db", pool_timeout=bad)  # type: ignore[arg-type]
    vecs_core.create_client("postgresql://u@h/db", connect_timeout=3, pool_timeout=0.5)
