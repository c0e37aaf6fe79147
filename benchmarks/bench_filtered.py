"""Filtered search at 0.1%, 1%, 10% and 50% selectivity: vecs_core's adaptive search against
the hand-written queries, and the exact/index crossover measured.

    python benchmarks/bench_filtered.py                 # 100,000 x 384
    python benchmarks/bench_filtered.py --n 1000000 --dim 128

One collection: metadata ``{"category": i % 100, "r": i % 1000}``, an HNSW index (m 16,
ef_construction 64) and a btree on ``r`` (``index_metadata("r", "number")``). For each filter,
full rows (id, distance, metadata), top 10, 1 client, systems interleaved in blocks of 50
queries, 3 passes, median:

- ``vecs_core``: ``col.search(q, limit=10, filters=...)`` (the adaptive statement);
- ``raw exact``: the hand-written exact query over the rows the filter matches (the metadata
  index finds them; ``OFFSET 0`` keeps the planner off the vector index), the same predicate;
- ``raw index``: the HNSW index with ``hnsw.iterative_scan = relaxed_order`` (ef_search 40),
  re-sorted.

The crossover: for each filter, the matching row count and which raw query is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import common
import data

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = "filt"
FILTERS = {
    "0.1% (r == 7, btree)": ({"r": 7}, lambda i: i % 1000 == 7),
    "1% (category == 7, GIN)": ({"category": 7}, lambda i: i % 100 == 7),
    "1% (r < 10, btree)": ({"r": {"$lt": 10}}, lambda i: i % 1000 < 10),
    "10% (r < 100, btree)": ({"r": {"$lt": 100}}, lambda i: i % 1000 < 100),
    "50% (r < 500, btree)": ({"r": {"$lt": 500}}, lambda i: i % 1000 < 500),
}


def truth(ds, pred, queries, k=10):
    rows = np.array([i for i in range(ds.n) if pred(i)])
    sims = queries @ ds.vectors[rows].T
    top = np.argsort(-sims, axis=1)[:, :k]
    return rows[top], len(rows)


def interleave(fns, queries, passes=3, block=50):
    for fn in fns.values():
        for q in queries[:10]:
            fn(q)
    per = {k: [] for k in fns}
    found = {k: [None] * len(queries) for k in fns}
    order, b = list(fns), 0
    for _ in range(passes):
        secs = dict.fromkeys(fns, 0.0)
        for s in range(0, len(queries), block):
            turn = b % len(order)
            b += 1
            for k in order[turn:] + order[:turn]:
                t = time.perf_counter()
                got = [fns[k](q) for q in queries[s : s + block]]
                secs[k] += time.perf_counter() - t
                found[k][s : s + block] = got
        for k in fns:
            per[k].append(len(queries) / secs[k])
    return {k: (statistics.median(v), found[k]) for k, v in per.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--url")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    a = p.parse_args()
    warnings.simplefilter("ignore")
    import psycopg
    import vecs_core
    from pgvector.psycopg import register_vector
    from psycopg import sql

    ds = data.load(n=a.n, dim=a.dim)
    qs = ds.queries[: a.queries]
    db = common.open_db(a.url, shared_buffers=None, settings=__import__("peers").PG_SETTINGS)
    res = {"machine": common.machine_info(), "server": db.info, "n": ds.n, "dim": ds.dim}
    try:
        common.reset_schema(db, SCHEMA)
        vx = vecs_core.create_client(db.url, schema=SCHEMA)
        col = vx.get_or_create_collection("f", dimension=ds.dim)
        col.upsert(
            (data.id_for(i), ds.vectors[i], {"category": i % 100, "r": i % 1000})
            for i in range(ds.n)
        )
        col.create_index(
            method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=16, ef_construction=64)
        )
        col.index_metadata("r", "number")
        conn = psycopg.connect(db.url, autocommit=True)
        register_vector(conn)
        conn.execute(f'VACUUM ANALYZE "{SCHEMA}"."f"')
        cur = conn.cursor()
        iconn = psycopg.connect(db.url, autocommit=True)
        register_vector(iconn)
        icur = iconn.cursor()
        icur.execute("SET hnsw.iterative_scan = relaxed_order")
        icur.execute("SET hnsw.ef_search = 40")
        table = sql.Identifier(SCHEMA, "f")
        rows = {}
        for label, (flt, pred) in FILTERS.items():
            gt, matched = truth(ds, pred, qs)
            where = col._where(flt)
            cond = where.condition.as_string(conn)
            params = dict(where.params)
            exact_sql = sql.SQL(
                "SELECT * FROM (SELECT id, vec <=> %(q)s AS distance, metadata FROM {} WHERE "
                + cond.replace("%", "%%").replace("%%(", "%(")
                + " OFFSET 0) s ORDER BY distance LIMIT 10"
            ).format(table)
            index_sql = sql.SQL(
                "SELECT * FROM (SELECT id, vec <=> %(q)s AS distance, metadata FROM {} WHERE "
                + cond.replace("%", "%%").replace("%%(", "%(")
                + " ORDER BY vec <=> %(q)s LIMIT 10) s ORDER BY distance + 0"
            ).format(table)

            def raw_exact(q, s=exact_sql, params=params):
                cur.execute(s, {**params, "q": q}, prepare=True)
                return [r[0] for r in cur.fetchall()]

            def raw_index(q, s=index_sql, params=params):
                icur.execute(s, {**params, "q": q}, prepare=True)
                return [r[0] for r in icur.fetchall()]

            def core(q, flt=flt):
                return [h.id for h in col.search(q, limit=10, filters=flt)]

            got = interleave(
                {
                    "vecs_core": core,
                    "raw exact": raw_exact,
                    "raw index": raw_index,
                },
                qs,
            )
            row = {"matching_rows": matched}
            for k, (qps, found) in got.items():
                row[k] = {"qps": round(qps, 1), "recall": round(data.recall(found, gt), 4)}
            best = max(row["raw exact"]["qps"], row["raw index"]["qps"])
            row["vecs_core/best raw"] = round(row["vecs_core"]["qps"] / best, 3)
            row["faster raw"] = (
                "exact" if row["raw exact"]["qps"] >= row["raw index"]["qps"] else "index"
            )
            rows[label] = row
            print(label, json.dumps(row), f"load {os.getloadavg()[0]:.2f}", flush=True)
        res["filters"] = rows
        vx.disconnect()
    finally:
        db.close()
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, f"filtered-{ds.n}x{ds.dim}.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
