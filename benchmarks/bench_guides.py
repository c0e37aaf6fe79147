"""What the guides ask for, measured: distance thresholds, indexed metadata keys, per-request
identity through the adapters.

    python benchmarks/bench_guides.py                      # all three, ~10 min on 2 cores
    python benchmarks/bench_guides.py --only threshold     # or metadata, session
    python benchmarks/bench_guides.py --rows 1000000       # metadata-index rows (default 1M)

- **threshold**: 100,000 x 384 (``data.py``), HNSW m=16/efc=64, ef_search 40, limit 10. Latency of
  a plain search, and of ``max_distance`` bounds that 10, 3 and 0 rows meet, against the same
  bound written inside the index scan (``WHERE distance <= t ORDER BY distance LIMIT 10`` with an
  iterative scan), the worst case the design avoids.
- **metadata**: N rows x 32 dims with ``{"price": i}``, HNSW; a limit-10 search filtered by a
  1%-selective price range, before and after ``index_metadata("price", "number")``; and the same
  range on an exact (unindexed) collection.
- **session**: a LangChain store on 10,000 documents with Row Level Security (a policy on a
  session setting): per query, a reused store, ``store.for_session(...)`` made per request, and a
  new store made per request (the old way: a catalog round trip to open the collection).

Writes ``benchmarks/results/guides.json`` and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data

HERE = os.path.dirname(os.path.abspath(__file__))


def _lat(fn: Any, n: int) -> dict[str, float]:
    for _ in range(min(20, n)):
        fn(0)
    times = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
        "mean_ms": round(statistics.fmean(times), 3),
    }


def bench_threshold(db: common.Db) -> dict[str, Any]:
    import psycopg
    import vecs_core

    ds = data.load()
    common.reset_schema(db, "guides")
    vx = vecs_core.create_client(db.url, schema="guides")
    col = vx.get_or_create_collection("docs", dimension=ds.dim)
    col.upsert(ds.records())
    col.create_index(method="hnsw", maintenance_work_mem="1GB")
    queries = ds.queries[:300]
    nearest = [col.search(q, limit=11, ef_search=100) for q in queries]
    out: dict[str, Any] = {"plain": _lat(lambda i: col.search(queries[i % 300], limit=10), 600)}
    for label, rank in (("10 within", 10), ("3 within", 3), ("0 within", 0)):
        # a bound between the rank-th and (rank+1)-th nearest of each query
        bounds = [
            (hits[rank - 1].distance + hits[rank].distance) / 2 if rank else hits[0].distance / 2
            for hits in nearest
        ]
        counts: list[int] = []

        def search(i: int, bounds: list[float] = bounds, counts: list[int] = counts) -> None:
            hits = col.search(queries[i % 300], limit=10, max_distance=bounds[i % 300])
            counts.append(len(hits))

        out[f"max_distance, {label}"] = _lat(search, 600) | {"mean_rows": statistics.fmean(counts)}
        conn = psycopg.connect(db.url, autocommit=True)
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        from pgvector.psycopg import register_vector

        register_vector(conn)

        def inside(i: int, bounds: list[float] = bounds, conn: Any = conn) -> None:
            conn.execute(
                "SELECT id FROM guides.docs WHERE (vec <=> %s) <= %s ORDER BY vec <=> %s LIMIT 10",
                (queries[i % 300], bounds[i % 300], queries[i % 300]),
            ).fetchall()

        out[f"bound inside the scan, {label}"] = _lat(inside, 100)
        conn.close()
    vx.disconnect()
    return out


def bench_metadata(db: common.Db, rows: int) -> dict[str, Any]:
    import psycopg
    import vecs_core

    common.reset_schema(db, "guides")
    vx = vecs_core.create_client(db.url, schema="guides")
    rng = np.random.default_rng(11)
    col = vx.get_or_create_collection("items", dimension=32)
    exact = vx.get_or_create_collection("items_exact", dimension=32)
    t = time.perf_counter()
    vectors = rng.normal(size=(rows, 32)).astype(np.float32)
    for c in (col, exact):
        c.upsert((f"r{i}", vectors[i], {"price": i, "cat": i % 100}) for i in range(rows))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    col.create_index(method="hnsw", maintenance_work_mem="1GB")
    build_s = time.perf_counter() - t
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("ANALYZE guides.items; ANALYZE guides.items_exact")
    span = rows // 100  # 1% of the rows
    starts = rng.integers(0, rows - span, size=200)
    qs = rng.normal(size=(200, 32)).astype(np.float32)

    def run(c: Any) -> Any:
        def one(i: int) -> None:
            lo = int(starts[i % 200])
            hits = c.search(
                qs[i % 200], limit=10, filters={"price": {"$gte": lo, "$lt": lo + span}}
            )
            assert len(hits) == 10

        return one

    out: dict[str, Any] = {
        "rows": rows,
        "load_s": round(load_s, 1),
        "hnsw_build_s": round(build_s, 1),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["hnsw, no metadata index"] = _lat(run(col), 60)
        out["exact, no metadata index"] = _lat(run(exact), 20)
        t = time.perf_counter()
        col.index_metadata("price", "number")
        exact.index_metadata("price", "number")
        out["index_metadata build_s (both)"] = round(time.perf_counter() - t, 1)
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("ANALYZE guides.items; ANALYZE guides.items_exact")
        out["hnsw, metadata index"] = _lat(run(col), 300)
        out["exact, metadata index"] = _lat(run(exact), 300)
    vx.disconnect()
    return out


def bench_session(db: common.Db) -> dict[str, Any]:
    import psycopg
    from langchain_core.embeddings import Embeddings
    from vecs_integrations.langchain import VecsVectorStore

    class Hashed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [self.embed_query(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            rng = np.random.default_rng(abs(hash(text)) % 2**32)
            return rng.normal(size=64).tolist()

    common.reset_schema(db, "guides")
    store = VecsVectorStore(Hashed(), "docs", connection=db.url, schema="guides")
    store.add_texts(
        [f"document {i}" for i in range(10_000)], [{"owner": f"u{i % 50}"} for i in range(10_000)]
    )
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN CREATE ROLE bench_user NOLOGIN; EXCEPTION WHEN duplicate_object THEN"
            " NULL; END $$"
        )
        conn.execute("GRANT USAGE ON SCHEMA guides TO bench_user")
        conn.execute("GRANT SELECT ON guides.docs TO bench_user")
        conn.execute("ALTER TABLE guides.docs ENABLE ROW LEVEL SECURITY")
        conn.execute(
            "CREATE POLICY mine ON guides.docs FOR SELECT TO bench_user"
            " USING (metadata ->> 'owner' = current_setting('app.user', true))"
        )
    query = "document 17"
    user = {"app.user": "u17"}
    reused = store.for_session(user, role="bench_user")

    def per_request_view(i: int) -> None:
        store.for_session({"app.user": f"u{i % 50}"}, role="bench_user").similarity_search(query)

    def per_request_store(i: int) -> None:
        fresh = VecsVectorStore(Hashed(), "docs", client=store.client)
        fresh.for_session({"app.user": f"u{i % 50}"}, role="bench_user").similarity_search(query)

    out = {
        "reused store view": _lat(lambda i: reused.similarity_search(query), 1000),
        "for_session() per request": _lat(per_request_view, 1000),
        "new store per request": _lat(per_request_store, 300),
    }
    out["ratio for_session / reused (p50)"] = round(
        out["for_session() per request"]["p50_ms"] / out["reused store view"]["p50_ms"], 3
    )
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["threshold", "metadata", "session"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    db = common.open_db(args.url)
    results: dict[str, Any] = {"machine": common.machine_info(), "server": db.info}
    try:
        if args.only in (None, "threshold"):
            results["threshold"] = bench_threshold(db)
        if args.only in (None, "session"):
            results["session"] = bench_session(db)
        if args.only in (None, "metadata"):
            results["metadata"] = bench_metadata(db, args.rows)
    finally:
        db.close()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "guides.json")
    previous = json.load(open(path)) if os.path.exists(path) else {}
    previous.update(results)
    with open(path, "w") as f:
        json.dump(previous, f, indent=2)
    for section in ("threshold", "session", "metadata"):
        if section not in results:
            continue
        print(
            f"\n### {section}\n\n| case | p50 ms | p99 ms | mean ms | notes |\n|---|---|---|---|---|"
        )
        for case, value in results[section].items():
            if isinstance(value, dict):
                notes = ", ".join(f"{k} {v:.1f}" for k, v in value.items() if "ms" not in k)
                print(
                    f"| {case} | {value['p50_ms']} | {value['p99_ms']} | {value['mean_ms']} "
                    f"| {notes} |"
                )
            else:
                print(f"| {case} | | | | {value} |")


if __name__ == "__main__":
    main()
