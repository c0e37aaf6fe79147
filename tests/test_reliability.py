"""Crash safety and reconnection against a private embedded server that the test stops/restarts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from pg_control import Server

import vecs_core


@pytest.fixture(scope="module")
def crash_server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.cleanup()


def _count(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f'SELECT count(*) FROM "vecs"."{table}"').fetchone()
        assert row is not None
        return int(row[0])


def test_idle_pool_survives_a_server_restart(crash_server: Server) -> None:
    with vecs_core.create_client(crash_server.url, pool_size=3) as vx:
        col = vx.get_or_create_collection("restart", dimension=3)
        col.upsert([("a", [1, 2, 3], {})])
        # put several connections in the pool
        threads = [threading.Thread(target=col.count) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        crash_server.crash()
        crash_server.start()
        for _ in range(5):  # every call succeeds, with no user-visible error
            assert len(col) == 1
        col.upsert([("b", [1, 2, 3], {})])
        assert len(col) == 2


def test_crash_during_large_upsert_leaves_no_partial_batch(crash_server: Server) -> None:
    with vecs_core.create_client(crash_server.url, pool_size=2) as vx:
        col = vx.get_or_create_collection("crash", dimension=64)
        col.upsert([(f"base{i}", np.ones(64), {"base": True}) for i in range(100)])
        started = threading.Event()

        def records() -> Iterator[tuple[str, Any, dict[str, int]]]:
            for i in range(2_000_000):
                if i == 20_000:
                    started.set()
                yield (f"big{i}", np.full(64, 0.5, dtype=np.float32), {"i": i})

        failure: list[BaseException] = []

        def run() -> None:
            try:
                col.upsert(records())
            except BaseException as exc:
                failure.append(exc)

        t = threading.Thread(target=run)
        t.start()
        assert started.wait(60)
        time.sleep(0.3)
        crash_server.crash()
        t.join(60)
        assert not t.is_alive()
        assert failure and isinstance(failure[0], vecs_core.Unreachable), failure
        crash_server.start()
        assert _count(crash_server.url, "crash") == 100  # all or nothing: nothing
        # the same client object works on its next call, without the user doing anything
        assert len(col) == 100
        col.upsert([("after", np.ones(64), {})])
        assert len(col) == 101


def test_async_pool_survives_a_server_restart(crash_server: Server) -> None:
    import asyncio

    async def main() -> None:
        async with vecs_core.create_async_client(crash_server.url, pool_size=3) as vx:
            col = await vx.get_or_create_collection("arestart", dimension=3)
            await col.upsert([("a", [1, 2, 3], {})])
            await asyncio.gather(*[col.count() for _ in range(3)])
            crash_server.crash()
            crash_server.start()
            for _ in range(5):
                assert await col.count() == 1
            await col.upsert([("b", [1, 2, 3], {})])
            assert await col.count() == 2

    asyncio.run(main())
