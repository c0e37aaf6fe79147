"""No leaked connections after 10,000 operations, failing ones included (pg_stat_activity)."""

from __future__ import annotations

import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import vecs_core


def _backends(sql_conn, app: str) -> int:
    row = sql_conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
    ).fetchone()
    return int(row[0])


def test_ten_thousand_operations_leak_nothing(database_url, schema, sql_conn):
    app = f"leak-{uuid.uuid4().hex[:8]}"
    vx = vecs_core.create_client(database_url, schema=schema, pool_size=4, application_name=app)
    col = vx.get_or_create_collection("docs", dimension=4)
    col.upsert([(f"r{i}", np.ones(4) * (i + 1), {"i": i}) for i in range(100)])
    gone = vx.get_or_create_collection("gone", dimension=4)
    vx.delete_collection("gone")
    failures = {"not_found": 0, "record": 0, "filter": 0}

    def work(worker: int) -> int:
        rng = np.random.default_rng(worker)
        done = 0
        for n in range(2500):
            kind = n % 5
            try:
                if kind == 0:
                    col.count({"i": {"$lt": int(rng.integers(100))}})
                elif kind == 1:
                    col.fetch([f"r{int(rng.integers(100))}"])
                elif kind == 2:
                    col.query(data=rng.normal(size=4), limit=3)
                elif kind == 3:
                    gone.count()  # the table is gone: a server-side error
                else:
                    col.upsert([(f"w{worker}", rng.normal(size=4), {}), ("bad", [1.0], {})])
            except vecs_core.CollectionNotFound:
                failures["not_found"] += 1
            except vecs_core.RecordError:
                failures["record"] += 1
            done += 1
        return done

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ThreadPoolExecutor(4) as pool:
            assert sum(pool.map(work, range(4))) == 10_000
    assert failures["not_found"] == 2000 and failures["record"] == 2000
    assert _backends(sql_conn, app) <= 4
    assert len(col) == 100
    vx.disconnect()
    deadline = time.monotonic() + 10  # backends exit just after their connection closes
    while _backends(sql_conn, app) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _backends(sql_conn, app) == 0
    with pytest.raises(vecs_core.CollectionNotFound):
        gone.count()  # reconnects lazily after disconnect; still a clean error
    vx.disconnect()
