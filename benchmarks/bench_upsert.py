"""Upsert throughput: vecs_core vs raw psycopg 3 binary COPY (the ceiling) vs vecs 0.4.5.

Each contender writes into a fresh, empty table with the vecs layout
(``id varchar PK, vec vector(d), metadata jsonb`` + GIN index on metadata). Records are built
once, outside the timed region, as ``(id, float32 numpy vector, metadata dict)`` tuples.

Run alone: ``python benchmarks/bench_upsert.py [--quick] [--url URL]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data
from common import SCHEMA, Timer

BATCH = 10_000


def _checkpoint(db) -> None:
    import psycopg

    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _vecs_core_timed(db, dim, name, load, preload=(), stored=0):
    """A fresh collection ``name``, ``preload``-ed untimed, then ``load(col)`` timed; checks
    that ``stored`` records are there afterwards and drops the collection."""
    import vecs_core

    vx = vecs_core.create_client(db.url, schema=SCHEMA)
    try:
        col = vx.get_or_create_collection(name, dimension=dim)
        if preload:
            col.upsert(preload)
        _checkpoint(db)
        with Timer() as t:
            load(col)
        assert col.count() == stored, (col.count(), stored)
        return t.seconds
    finally:
        vx.delete_collection(name)
        vx.disconnect()


def bench_vecs_core_batches(db, records, dim):
    def load(col):
        for s in range(0, len(records), BATCH):
            col.upsert(records[s : s + BATCH])

    return _vecs_core_timed(db, dim, "up_core_batch", load, stored=len(records))


def bench_vecs_core_generator(db, records, dim):
    """One call, one transaction, streamed."""
    load = lambda col: col.upsert(r for r in records)  # noqa: E731
    return _vecs_core_timed(db, dim, "up_core_gen", load, stored=len(records))


def bench_vecs_core_more(db, records, dim):
    """One generator of new ids into a collection that already has rows (10,000 others, loaded
    untimed): more than ``part_rows`` records, spooled, sorted and sent straight."""
    old = [(f"old-{i}", v, m) for i, v, m in records[:BATCH]]
    load = lambda col: col.upsert(r for r in records)  # noqa: E731
    return _vecs_core_timed(db, dim, "up_core_more", load, old, len(records) + len(old))


def bench_vecs_core_overwrite(db, records, dim):
    """An overwrite load: every id already stored (staging + merge, ON CONFLICT DO UPDATE)."""
    load = lambda col: col.upsert((i, -v, m) for i, v, m in records)  # noqa: E731
    return _vecs_core_timed(db, dim, "up_core_over", load, records, len(records))


def create_raw_table(conn, table, dim):
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    conn.execute(f'DROP TABLE IF EXISTS "{SCHEMA}"."{table}"')
    conn.execute(
        f'CREATE TABLE "{SCHEMA}"."{table}" (id character varying NOT NULL PRIMARY KEY, '
        f"vec vector({dim}) NOT NULL, metadata jsonb NOT NULL DEFAULT '{{}}')"
    )
    conn.execute(
        f'CREATE INDEX "ix_meta_{table}" ON "{SCHEMA}"."{table}" USING gin (metadata jsonb_path_ops)'
    )


def bench_raw_copy(db, records, dim, table="up_raw"):
    """The ceiling: one binary COPY straight into the (empty) target table, one transaction."""
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(db.url, autocommit=True) as conn:
        create_raw_table(conn, table, dim)
        conn.autocommit = False
        register_vector(conn)
        conn.commit()
        _checkpoint(db)
        with Timer() as t:
            with conn.cursor() as cur:
                with cur.copy(
                    f'COPY "{SCHEMA}"."{table}" (id, vec, metadata) FROM STDIN (FORMAT BINARY)'
                ) as copy:
                    copy.set_types(["varchar", "vector", "jsonb"])
                    for rec in records:
                        copy.write_row(rec)
            conn.commit()
        n = conn.execute(f'SELECT count(*) FROM "{SCHEMA}"."{table}"').fetchone()[0]
        assert n == len(records), n
        conn.execute(f'DROP TABLE "{SCHEMA}"."{table}"')
        conn.commit()
    return t.seconds


def bench_raw_copy_freeze(db, records, dim, table="up_raw_freeze"):
    """``COPY ... FREEZE`` into a table created in the same transaction (rows written frozen:
    no hint-bit or freeze writes later), with its primary key and GIN index."""
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(db.url) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
        conn.execute(f'DROP TABLE IF EXISTS "{SCHEMA}"."{table}"')
        conn.commit()
        register_vector(conn)
        _checkpoint(db)
        with Timer() as t:
            create_raw_table(conn, table, dim)
            with conn.cursor() as cur:
                with cur.copy(
                    f'COPY "{SCHEMA}"."{table}" (id, vec, metadata) FROM STDIN '
                    "(FORMAT BINARY, FREEZE)"
                ) as copy:
                    copy.set_types(["varchar", "vector", "jsonb"])
                    for rec in records:
                        copy.write_row(rec)
            conn.commit()
        conn.execute(f'DROP TABLE "{SCHEMA}"."{table}"')
        conn.commit()
    return t.seconds


def bench_raw_parallel_copy(db, records, dim, streams=2, table="up_raw_par"):
    """``streams`` binary COPYs on separate connections (separate transactions: not atomic)."""
    import threading

    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(db.url, autocommit=True) as conn:
        create_raw_table(conn, table, dim)
    _checkpoint(db)
    parts = [records[i::streams] for i in range(streams)]
    conns = [psycopg.connect(db.url) for _ in parts]
    for c in conns:
        register_vector(c)

    def load(conn, part):
        with conn.cursor() as cur:
            with cur.copy(
                f'COPY "{SCHEMA}"."{table}" (id, vec, metadata) FROM STDIN (FORMAT BINARY)'
            ) as copy:
                copy.set_types(["varchar", "vector", "jsonb"])
                for rec in part:
                    copy.write_row(rec)
        conn.commit()

    threads = [threading.Thread(target=load, args=(c, part)) for c, part in zip(conns, parts)]
    with Timer() as t:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    for c in conns:
        c.close()
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{SCHEMA}"."{table}"')
    return t.seconds


def bench_vecs(db, records, dim, name="up_vecs"):
    import vecs

    vx = vecs.create_client(db.psycopg2_url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            col = vx.get_or_create_collection(name=name, dimension=dim)
        _checkpoint(db)
        with Timer() as t:
            col.upsert(records)
        assert len(col) == len(records)
        return t.seconds
    finally:
        vx.delete_collection(name)
        vx.disconnect()


def run(db, ds, vecs_records: int = 20_000, progress=None, repeats: int = 3) -> dict:
    records = list(ds.records())
    n = len(records)
    steps = [
        ("raw psycopg3 COPY", lambda: bench_raw_copy(db, records, ds.dim), n),
        (
            "raw COPY FREEZE (table created in the load's transaction)",
            lambda: bench_raw_copy_freeze(db, records, ds.dim),
            n,
        ),
        (
            "raw 2 parallel COPY streams (2 transactions)",
            lambda: bench_raw_parallel_copy(db, records, ds.dim),
            n,
        ),
        (
            f"vecs_core (batches of {BATCH:,})",
            lambda: bench_vecs_core_batches(db, records, ds.dim),
            n,
        ),
        ("vecs_core (one generator)", lambda: bench_vecs_core_generator(db, records, ds.dim), n),
        (
            "vecs_core (one generator into a collection that has rows)",
            lambda: bench_vecs_core_more(db, records, ds.dim),
            n,
        ),
        (
            "vecs_core overwrite (one generator, every id stored)",
            lambda: bench_vecs_core_overwrite(db, records, ds.dim),
            n,
        ),
    ]
    try:
        import vecs  # noqa: F401

        m = min(vecs_records, n)
        steps.append(("vecs 0.4.5", lambda: bench_vecs(db, records[:m], ds.dim), m))
    except ImportError:
        pass
    out = {"dimension": ds.dim, "repeats": repeats, "contenders": {}}
    times: dict = {label: [] for label, _, _ in steps}
    for rep in range(repeats):  # contenders interleaved, the median of the repeats reported
        for label, fn, _ in steps:
            if label == "vecs 0.4.5" and rep:
                continue  # slow: once
            if progress:
                progress.set_postfix_str(f"upsert: {label} ({rep + 1}/{repeats})")
            times[label].append(fn())
    for label, _, count in steps:
        secs = statistics.median(times[label])
        out["contenders"][label] = {
            "records": count,
            "seconds": round(secs, 3),
            "runs": [round(t, 3) for t in times[label]],
            "records_per_s": round(count / secs, 1),
        }
        if progress:
            progress.update(1)
    c = out["contenders"]
    raw = c["raw psycopg3 COPY"]["records_per_s"]
    best_core = max(c[k]["records_per_s"] for k in c if k.startswith("vecs_core ("))
    batch_core = c[f"vecs_core (batches of {BATCH:,})"]["records_per_s"]
    over = c["vecs_core overwrite (one generator, every id stored)"]["records_per_s"]
    out["ratios"] = {
        "vecs_core_batches/raw": round(batch_core / raw, 3),
        "vecs_core_best/raw": round(best_core / raw, 3),
        "vecs_core_overwrite/raw": round(over / raw, 3),
        "vecs_core_into_rows/raw": round(
            c["vecs_core (one generator into a collection that has rows)"]["records_per_s"] / raw, 3
        ),
    }
    if "vecs 0.4.5" in c:
        out["ratios"]["vecs_core_batches/vecs"] = round(
            batch_core / c["vecs 0.4.5"]["records_per_s"], 2
        )
    return out


def n_steps() -> int:
    return 8


if __name__ == "__main__":
    import argparse
    import json

    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--url")
    p.add_argument("--vecs-records", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    ds = data.load(n=10_000 if a.quick else 100_000)
    db = common.open_db(a.url)
    try:
        common.reset_schema(db)
        print(json.dumps(run(db, ds, a.vecs_records, repeats=a.repeats), indent=2))
    finally:
        db.close()
