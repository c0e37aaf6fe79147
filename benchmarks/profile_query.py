"""Diagnostics for vecs_core's query path (not part of run.py): per-query overhead vs raw psycopg
(cProfile), the filtered-search plan, and 100-record upsert latency vs a raw INSERT.

    python benchmarks/profile_query.py [--n 100000]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data
from bench_query import TABLE, Raw, measure


def overhead(url=None, n=10_000):
    """Split vecs_core's per-query overhead on a small IVFFlat table (probes=1: little server
    work): raw single prepared statement; + transaction with set_config; + pipeline; col.query."""
    import psycopg
    import vecs_core
    from pgvector.psycopg import register_vector

    ds = data.load(n=n)
    db = common.open_db(url)
    try:
        common.reset_schema(db)
        vx = vecs_core.create_client(db.url)
        col = vx.get_or_create_collection("p", dimension=ds.dim)
        col.upsert(ds.records())
        col.create_index(
            method="ivfflat",
            measure="cosine_distance",
            index_arguments=vecs_core.IndexArgsIVFFlat(n_lists=100),
        )
        conn = psycopg.connect(db.url, autocommit=True)
        register_vector(conn)
        conn.execute("SET ivfflat.probes = 1")
        cur = conn.cursor()
        sel = 'SELECT id FROM "vecs"."p" ORDER BY vec <=> %b LIMIT 10'
        setq = "SELECT set_config('ivfflat.probes', %s, true)"

        def one(q):
            cur.execute(sel, (q,), prepare=True)
            return cur.fetchall()

        def txn(q):
            with conn.transaction():
                cur.execute(setq, ("1",), prepare=True)
                cur.execute(sel, (q,), prepare=True)
                return cur.fetchall()

        def pipe(q):
            with conn.pipeline(), conn.transaction():
                cur.execute(setq, ("1",), prepare=True)
                cur.execute(sel, (q,), prepare=True)
                return cur.fetchall()

        res = measure(
            {
                "raw: 1 prepared statement": one,
                "raw: transaction + set_config + select": txn,
                "raw: pipeline + transaction + set_config + select": pipe,
                "vecs_core col.query(probes=1)": lambda q: col.query(data=q, probes=1),
            },
            ds.queries,
            ds.gt,
        )
        for k, v in res.items():
            print(f"{k}: {1000 / v['qps']:.3f} ms/query ({v['qps']:.0f} QPS)")
        conn.close()
        vx.disconnect()
    finally:
        db.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--url")
    p.add_argument("--overhead-only", action="store_true")
    a = p.parse_args()
    if a.overhead_only:
        overhead(a.url)
        return
    import psycopg
    import vecs_core
    from pgvector.psycopg import register_vector

    ds = data.load(n=a.n)
    db = common.open_db(a.url)
    try:
        common.reset_schema(db)
        vx = vecs_core.create_client(db.url)
        col = vx.get_or_create_collection("bench", dimension=ds.dim)
        col.upsert(ds.records())
        t = time.perf_counter()
        col.create_index(
            method="hnsw",
            measure="cosine_distance",
            maintenance_work_mem="1GB",
            index_arguments=vecs_core.IndexArgsHNSW(m=16, ef_construction=64),
        )
        print(f"HNSW build {time.perf_counter() - t:.1f}s")
        qs, gt, gtf = ds.queries[:300], ds.gt[:300], ds.gt_filtered[:300]
        raw = Raw(db)
        raw.set("hnsw.ef_search", 40)
        print(
            "ef40 interleaved:",
            measure(
                {"core": lambda q: col.query(data=q, limit=10, ef_search=40), "raw": raw}, qs, gt
            ),
        )
        pr = cProfile.Profile()
        pr.enable()
        for q in qs:
            col.query(data=q, limit=10, ef_search=40)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(15)

        flt = {"category": {"$eq": data.FILTER_CATEGORY}}
        exact = Raw(db, where="")
        exact.sql = (
            f"WITH c AS MATERIALIZED (SELECT id, vec FROM {TABLE} WHERE metadata @> "
            "'{\"category\": 7}') SELECT id FROM c ORDER BY vec <=> %b LIMIT 10"
        )
        iterative = Raw(db, where=" WHERE metadata @> '{\"category\": 7}'")
        iterative.conn.execute("SET hnsw.iterative_scan = relaxed_order")
        iterative.set("hnsw.ef_search", 40)
        print(
            "filtered:",
            measure(
                {
                    "core": lambda q: col.query(data=q, limit=10, filters=flt, ef_search=40),
                    "raw exact via GIN (materialized CTE)": exact,
                    "raw hnsw iterative relaxed ef40": iterative,
                },
                qs[:100],
                gtf[:100],
                warmup=5,
            ),
        )
        with psycopg.connect(db.url) as conn:
            register_vector(conn)
            conn.execute("SET hnsw.iterative_scan = relaxed_order")
            plan = conn.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM {TABLE} WHERE metadata @> "
                "'{\"category\": 7}' ORDER BY vec <=> %b LIMIT 10",
                (ds.queries[0],),
            ).fetchall()
            print("\n".join(r[0] for r in plan))

        lat_core, lat_raw = [], []
        with psycopg.connect(db.url) as conn:
            register_vector(conn)
            for k in range(20):
                recs = [(f"c{k}-{i}", ds.vectors[i], {"category": -1}) for i in range(100)]
                t = time.perf_counter()
                col.upsert(recs)
                lat_core.append(time.perf_counter() - t)
                t = time.perf_counter()
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {TABLE} (id, vec, metadata) VALUES (%s, %b, %s)",
                        [
                            (f"r{k}-{i}", ds.vectors[i], psycopg.types.json.Jsonb(m))
                            for i, (_, _, m) in enumerate(recs)
                        ],
                    )
                conn.commit()
                lat_raw.append(time.perf_counter() - t)
        lat_core.sort()
        lat_raw.sort()
        print(
            f"100-record upsert into HNSW-indexed table: vecs_core p50 {lat_core[10]:.3f}s "
            f"max {lat_core[-1]:.3f}s; raw executemany INSERT p50 {lat_raw[10]:.3f}s "
            f"max {lat_raw[-1]:.3f}s"
        )
        vx.disconnect()
    finally:
        db.close()


if __name__ == "__main__":
    main()
