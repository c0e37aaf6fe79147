"""The effect of each sized setting of the embedded server, briefly, on a small set.

    python benchmarks/bench_settings.py [--rows 60000] [--dim 128]

- maintenance_work_mem: an HNSW build (one process) at 100 %, 80 % and 60 % of vecs-core's
  estimate of the graph (``_sizing.hnsw_graph_bytes``), with pgvector's notice when the graph
  stops fitting;
- max_parallel_maintenance_workers: the same build at the estimate with 0, 1 and 2 workers;
- shared_buffers: QPS of 300 unfiltered top-10 queries (ef_search 40, after a warm-up pass) on
  a server started with 128 MB and one started with the sized value.

The machine is shared: compare within a run. Writes ``benchmarks/results/settings.json``.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import psycopg

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import vecs_core
from vecs_core import _sizing, embedded


def load(path, rows, dim, settings=None):
    vx = vecs_core.create_client(data_dir=path, server_settings=settings)
    col = vx.get_or_create_collection("s", dimension=dim)
    data = np.random.default_rng(0).standard_normal((rows, dim), dtype=np.float32)
    col.upsert((str(i), v, {}) for i, v in enumerate(data))
    return vx, col


def build(url, memory_mb, workers):
    notices = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute(f"SET maintenance_work_mem = '{int(memory_mb)}MB'")
        conn.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")
        start = time.perf_counter()
        conn.execute("CREATE INDEX ix_s ON vecs.s USING hnsw (vec vector_cosine_ops)")
        took = time.perf_counter() - start
        conn.execute("DROP INDEX vecs.ix_s")
    return {
        "memory_mb": int(memory_mb),
        "workers": workers,
        "seconds": round(took, 1),
        "notices": notices,
    }


def qps(col, dim, n=300):
    queries = np.random.default_rng(1).standard_normal((n, dim), dtype=np.float32)
    for q in queries:  # warm-up pass
        col.query(q, limit=10, ef_search=40)
    start = time.perf_counter()
    for q in queries:
        col.query(q, limit=10, ef_search=40)
    return round(n / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    out: dict = {"rows": args.rows, "dim": args.dim, "load_start": os.getloadavg()}
    tmp = tempfile.mkdtemp(prefix="vecs-settings-")
    try:
        path = os.path.join(tmp, "sized")
        vx, col = load(path, args.rows, args.dim)
        url = embedded.url(path)
        need = _sizing.hnsw_graph_bytes(args.rows, 4 * args.dim, 16) / (1024 * 1024)
        out["maintenance_work_mem"] = [build(url, need * f, 0) for f in (1.0, 0.8, 0.6)]
        out["workers"] = [build(url, need, w) for w in (0, 1, 2)]
        col.create_index()
        sized = qps(col, args.dim)
        vx.disconnect()
        embedded.stop(path)
        small = os.path.join(tmp, "small")
        vx, col = load(small, args.rows, args.dim, {"shared_buffers": "128MB"})
        col.create_index()
        out["shared_buffers_qps"] = {
            "128MB": qps(col, args.dim),
            embedded.settings()["shared_buffers"]: sized,
        }
        vx.disconnect()
        embedded.stop(small)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    with open(os.path.join(os.path.dirname(__file__), "results", "settings.json"), "w") as fh:
        json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
