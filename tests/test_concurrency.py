"""Concurrency: many writers and readers on one client, sync and async; cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import placed, placement

import vecs_core


@pytest.mark.citus
def test_eight_writers_with_overlapping_ids_never_deadlock(client):
    col = client.get_or_create_collection("docs", dimension=4)
    rng = np.random.default_rng(1)

    def writer(w: int) -> int:
        for batch in range(10):
            ids = rng.permutation(300)[:200]  # heavy overlap between writers and batches
            col.upsert([(f"id{i}", np.ones(4) * (w + 1), {"w": w, "b": batch}) for i in ids])
        return w

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(writer, range(8))) == list(range(8))
    assert len(col) <= 300
    got = col.find(limit=1000)
    assert len({i.id for i in got}) == len(got) == len(col)


def test_concurrent_get_or_create_on_one_name(database_url, schema):
    clients = [vecs_core.create_client(database_url, schema=schema, pool_size=2) for _ in range(8)]

    def create(c: vecs_core.Client) -> int:
        return c.get_or_create_collection("same", dimension=3).dimension

    try:
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(create, clients * 3)) == [3] * 24
        assert [c.name for c in clients[0].list_collections()] == ["same"]
    finally:
        for c in clients:
            c.disconnect()


@pytest.mark.citus
def test_queries_and_upserts_continue_during_index_rebuild(client):
    col = client.get_or_create_collection("docs", dimension=16)
    rng = np.random.default_rng(2)
    col.upsert((f"r{i}", rng.normal(size=16), {"i": i}) for i in range(5_000))
    col.create_index(method="hnsw")
    stop = threading.Event()
    errors: list[BaseException] = []
    slowest = [0.0]

    def reader() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # between drop/build an index may be missing
            while not stop.is_set():
                try:
                    assert len(col.query(data=rng.normal(size=16), limit=5)) == 5
                except BaseException as exc:
                    errors.append(exc)

    def writer() -> None:
        n = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                col.upsert([(f"w{n}-{j}", rng.normal(size=16), {}) for j in range(100)])
            except BaseException as exc:
                errors.append(exc)
            slowest[0] = max(slowest[0], time.monotonic() - started)
            n += 1

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        col.create_index(method="ivfflat")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert slowest[0] < 5.0
    assert [ix.method.value for ix in col.list_indexes()] == ["ivfflat"]


@pytest.mark.citus
def test_async_fifty_queries_and_eight_upserters(db_url, schema, backend):
    async def main() -> None:
        async with vecs_core.create_async_client(db_url, schema=schema, pool_size=6) as vx:
            col = await vx.get_or_create_collection("docs", dimension=8, **placement(backend))
            rng = np.random.default_rng(3)
            await col.upsert([(f"seed{i}", rng.normal(size=8), {"i": i}) for i in range(500)])
            await col.create_index()

            async def query() -> int:
                return len(await col.query(data=rng.normal(size=8), limit=10))

            async def upserter(w: int) -> None:
                for _ in range(5):
                    await col.upsert(
                        [
                            (f"u{(w * 37 + k) % 400}", rng.normal(size=8), {"w": w})
                            for k in range(80)
                        ]
                    )

            results = await asyncio.wait_for(
                asyncio.gather(*[query() for _ in range(50)], *[upserter(w) for w in range(8)]),
                timeout=120,
            )
            assert results[:50] == [10] * 50
            written = {(w * 37 + k) % 400 for w in range(8) for k in range(80)}
            assert await col.count() == 500 + len(written)

    asyncio.run(main())


def test_cancelled_async_query_returns_its_connection(database_url, schema):
    async def main() -> None:
        async with vecs_core.create_async_client(database_url, schema=schema, pool_size=2) as vx:
            col = await vx.get_or_create_collection("docs", dimension=4)
            await col.upsert([(f"r{i}", np.ones(4), {}) for i in range(10)])
            from psycopg import sql

            from vecs_core._protocol import Execute, Job

            def slow():
                yield Execute(sql.SQL("SELECT pg_sleep(5)"))

            def flow():
                yield Job(slow)

            for _ in range(4):  # more cancellations than pool slots
                task = asyncio.create_task(col._do(flow()))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            # every slot is usable again: two concurrent calls complete promptly
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                done = await asyncio.wait_for(
                    asyncio.gather(col.count(), col.query(data=np.ones(4), limit=3)), timeout=10
                )
            assert done[0] == 10 and len(done[1]) == 3
            stats = vx._source._pool.get_stats()
            assert stats.get("requests_waiting", 0) == 0

    asyncio.run(main())


@pytest.mark.citus
def test_concurrent_index_builds_and_collection_churn(db_url, schema, backend):
    clients = [
        placed(vecs_core.create_client(db_url, schema=schema, pool_size=2), backend)
        for _ in range(4)
    ]
    try:
        col = clients[0].get_or_create_collection("idx", dimension=8)
        rng = np.random.default_rng(5)
        col.upsert((f"r{i}", rng.normal(size=8), {}) for i in range(3000))

        def build(n: int) -> str:
            c = clients[n % 4].get_or_create_collection("idx")
            method = "hnsw" if n % 2 else "ivfflat"
            return c.create_index(method=method).name

        with ThreadPoolExecutor(4) as pool:
            names = list(pool.map(build, range(6)))
        assert len(set(names)) == 6
        (left,) = col.list_indexes()  # builds took turns: exactly one index remains
        assert left.name in names and left.valid

        def churn(n: int) -> None:
            c = clients[n % 4]
            for _ in range(5):
                assert c.get_or_create_collection("churn", dimension=3).dimension == 3
                c.delete_collection("churn")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(churn, range(4)))
        assert "churn" not in [c.name for c in clients[0].list_collections()]
    finally:
        for c in clients:
            c.disconnect()
