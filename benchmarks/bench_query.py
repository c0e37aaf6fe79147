"""Query speed and recall: vecs_core vs raw psycopg 3 (the ceiling) vs vecs 0.4.5 vs
langchain-postgres, on HNSW and IVFFlat indexes; a filtered search; and a check that an index
build does not block writes.

All contenders except langchain-postgres query the *same* table and index (vecs 0.4.5 opens the
table vecs_core created: the layout is the same), so differences are client overhead only.
langchain-postgres uses its own tables (``langchain_pg_embedding``), loaded with the same data and
given the same HNSW index by hand (it does not create one).

Every measurement is single-client and sequential: 1,000 queries, one after another, after a
short warm-up; QPS = 1000 / wall time; recall@10 against exact numpy top-10 by cosine.

Run alone: ``python benchmarks/bench_query.py [--quick] [--url URL]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import common
import data
from common import SCHEMA, Timer

NAME = "bench"
TABLE = f'"{SCHEMA}"."{NAME}"'
EF_SEARCH = [10, 20, 40, 80, 160, 320]
PROBES = [1, 2, 5, 10, 20, 40]
HNSW_M, HNSW_EFC = 16, 64
IVF_LISTS = 100
BUILD_MEM = "1GB"  # maintenance_work_mem for the timed builds (the HNSW graph must fit in it)
WARMUP = 30
LC_TIMED = 10_000  # records loaded through langchain add_embeddings (timed)
LABELS = {
    "core": "vecs_core col.query",
    "raw": "raw psycopg3 (prepared)",
    "vecs": "vecs 0.4.5",
    "lc": "langchain-postgres PGVector",
}


PASSES = 3


def measure(fns, queries, gt, warmup=WARMUP, block=100, passes=PASSES):
    """Run each ``fn(q) -> ids`` over all queries, sequentially (one query at a time), ``passes``
    times (a single pass of ~1 s per contender swings by several percent on a shared machine).

    ``fns`` maps a label to a function. Contenders are interleaved in blocks of ``block`` queries
    (A's block, B's block, ... then the next block), so background load on a shared machine hits
    them alike, and the order rotates from block to block (B, C, ..., A next), so no contender is
    always the first to run a block's queries (the first run pulls the pages those queries visit
    into shared buffers and CPU caches). Each contender's time is the sum of its own blocks.
    Returns, per label, QPS, recall@10 and the number of results returned.
    """
    for fn in fns.values():
        for q in queries[:warmup]:
            fn(q)
    found = {k: [None] * len(queries) for k in fns}
    secs = dict.fromkeys(fns, 0.0)
    order = list(fns)
    blocks = [start for _ in range(passes) for start in range(0, len(queries), block)]
    for b, s in enumerate(blocks):
        part = queries[s : s + block]
        turn = b % len(order)
        for k in order[turn:] + order[:turn]:
            fn = fns[k]
            t0 = time.perf_counter()
            got = [fn(q) for q in part]
            secs[k] += time.perf_counter() - t0
            found[k][s : s + block] = got
    return {
        k: {
            "qps": round(passes * len(queries) / secs[k], 1),
            "recall": round(data.recall(found[k], gt), 4),
            "mean_results": round(sum(len(f) for f in found[k]) / len(found[k]), 2),
            "min_results": min(len(f) for f in found[k]),
        }
        for k in fns
    }


# -- contenders ------------------------------------------------------------------------------------
class Raw:
    """The ceiling: one psycopg 3 connection, knob SET once, a prepared statement, binary vector."""

    def __init__(self, db, table=TABLE, where=""):
        import psycopg
        from pgvector.psycopg import register_vector

        self.conn = psycopg.connect(db.url, autocommit=True)
        register_vector(self.conn)
        self.cur = self.conn.cursor()
        self.sql = f"SELECT id FROM {table}{where} ORDER BY vec <=> %b LIMIT 10"

    def set(self, knob, value):
        self.conn.execute(f"SET {knob} = {int(value)}")

    def __call__(self, q):
        self.cur.execute(self.sql, (q,), prepare=True)
        return [r[0] for r in self.cur.fetchall()]

    def close(self):
        self.conn.close()


class Fixed:
    """A langchain ``Embeddings`` stand-in: vectors are pre-computed, so it is never asked."""

    def embed_documents(self, texts):  # pragma: no cover - never called
        raise RuntimeError("pre-computed embeddings only")

    def embed_query(self, text):  # pragma: no cover - never called
        raise RuntimeError("pre-computed embeddings only")


def langchain_load(db, ds, progress=None):
    """Load the dataset into langchain-postgres' tables and build the same HNSW index by hand."""
    from langchain_postgres import PGVector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = PGVector(
            embeddings=Fixed(),
            connection=db.sqlalchemy_psycopg3_url,
            embedding_length=ds.dim,
            collection_name=NAME,
            pre_delete_collection=True,
            use_jsonb=True,
        )
    # its own insert path (add_embeddings, one multi-row INSERT per call) is timed on the first
    # LC_TIMED records only; the rest is bulk-loaded with COPY into its table (same rows) so the
    # benchmark stays short: what is compared for langchain-postgres is search.
    chunk = 5_000
    timed = min(LC_TIMED, ds.n)
    with Timer() as t_load:
        for s in range(0, timed, chunk):
            e = min(timed, s + chunk)
            store.add_embeddings(
                texts=[""] * (e - s),
                embeddings=ds.vectors[s:e].tolist(),
                metadatas=[data.metadata_for(i) for i in range(s, e)],
                ids=[data.id_for(i) for i in range(s, e)],
            )
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(db.url) as conn:
        register_vector(conn)
        cid = conn.execute(
            "SELECT uuid FROM langchain_pg_collection WHERE name = %s", (NAME,)
        ).fetchone()[0]
        with conn.cursor().copy(
            "COPY langchain_pg_embedding (id, collection_id, embedding, document, cmetadata) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["varchar", "uuid", "vector", "varchar", "jsonb"])
            for i in range(timed, ds.n):
                copy.write_row((data.id_for(i), cid, ds.vectors[i], "", data.metadata_for(i)))
    store._engine.dispose()
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"SET maintenance_work_mem = '{BUILD_MEM}'")
        with Timer() as t_ix:
            conn.execute(
                "CREATE INDEX lc_hnsw ON langchain_pg_embedding USING hnsw "
                f"(embedding vector_cosine_ops) WITH (m = {HNSW_M}, ef_construction = {HNSW_EFC})"
            )
        conn.execute("ANALYZE langchain_pg_embedding")
    return {
        "add_embeddings_records": timed,
        "load_seconds": round(t_load.seconds, 2),
        "load_records_per_s": round(timed / t_load.seconds, 1),
        "hnsw_build_seconds": round(t_ix.seconds, 2),
    }


def langchain_store(db, ds, ef):
    """A PGVector store whose connections run with ``hnsw.ef_search = ef``: langchain-postgres
    has no search-time knob, so it is set through libpq ``options`` on the engine."""
    from langchain_postgres import PGVector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = PGVector(
            embeddings=Fixed(),
            connection=db.sqlalchemy_psycopg3_url,
            embedding_length=ds.dim,
            collection_name=NAME,
            use_jsonb=True,
            create_extension=False,
            engine_args={"connect_args": {"options": f"-c hnsw.ef_search={ef}"}},
        )

    def fn(q):
        docs = store.similarity_search_by_vector(q.tolist(), k=10)
        return [d.id for d in docs]

    return store, fn


# -- the benchmark ---------------------------------------------------------------------------------
def run(db, ds, progress=None, with_langchain=True, with_vecs=True) -> dict:
    import vecs_core

    def tick(msg):
        if progress:
            progress.set_postfix_str(msg)

    def done():
        if progress:
            progress.update(1)

    out: dict = {"n": ds.n, "dimension": ds.dim, "queries": len(ds.queries)}
    queries, gt = ds.queries, ds.gt
    vx = vecs_core.create_client(db.url, schema=SCHEMA)
    col = vx.get_or_create_collection(NAME, dimension=ds.dim)
    tick("query: load")
    with Timer() as t:
        col.upsert(ds.records())
    out["load_seconds"] = round(t.seconds, 2)
    import psycopg

    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {TABLE}")
    done()

    # HNSW build ---------------------------------------------------------------------------------
    tick("query: HNSW build")
    with Timer() as t:
        col.create_index(
            method="hnsw",
            measure="cosine_distance",
            maintenance_work_mem=BUILD_MEM,
            index_arguments=vecs_core.IndexArgsHNSW(m=HNSW_M, ef_construction=HNSW_EFC),
        )
    out["hnsw"] = {
        "build_seconds": round(t.seconds, 2),
        "params": {"m": HNSW_M, "ef_construction": HNSW_EFC, "maintenance_work_mem": BUILD_MEM},
    }
    done()

    contenders = {"core": lambda ef: lambda q: col.query(data=q, limit=10, ef_search=ef)}
    raw = Raw(db)

    def raw_at(ef):
        raw.set("hnsw.ef_search", ef)
        return raw

    contenders["raw"] = raw_at
    vcol = None
    if with_vecs:
        try:
            import vecs

            vvx = vecs.create_client(db.psycopg2_url)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vcol = vvx.get_or_create_collection(name=NAME, dimension=ds.dim)
            contenders["vecs"] = lambda ef: (
                lambda q: vcol.query(data=q, limit=10, ef_search=ef, measure="cosine_distance")
            )
        except ImportError:
            vcol = None
    hnsw_rows: dict = {LABELS[k]: {} for k in contenders}
    for ef in EF_SEARCH:
        tick(f"query: HNSW ef_search={ef}")
        res = measure({LABELS[k]: make(ef) for k, make in contenders.items()}, queries, gt)
        for label, row in res.items():
            hnsw_rows[label][ef] = row
        done()
    out["hnsw"]["parameters_exposed"] = {
        LABELS["core"]: "ef_search=, probes=, iterative_scan= per call (kept per pooled "
        "connection with set_config, only changes sent)",
        LABELS["raw"]: "any GUC (SET hnsw.ef_search once per session)",
        LABELS["vecs"]: "ef_search=, probes= per call (defaults 40 / 10)",
        LABELS["lc"]: "none (k and filter only); ef_search set here via libpq options on the "
        "engine (-c hnsw.ef_search=N)",
    }

    if with_langchain:
        try:
            import langchain_postgres  # noqa: F401
        except ImportError:
            with_langchain = False
    if with_langchain:
        tick("query: langchain load + index")
        out["langchain"] = langchain_load(db, ds)
        done()
        hnsw_rows[LABELS["lc"]] = {}
        for ef in EF_SEARCH:
            tick(f"query: HNSW langchain ef_search={ef}")
            store, fn = langchain_store(db, ds, ef)
            hnsw_rows[LABELS["lc"]][ef] = measure({"lc": fn}, queries, gt, passes=1)["lc"]
            store._engine.dispose()
            done()
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS langchain_pg_embedding, langchain_pg_collection")
    out["hnsw"]["results"] = hnsw_rows
    r40 = {k: v[40]["qps"] for k, v in hnsw_rows.items()}
    out["hnsw"]["ratios_at_ef40"] = {
        "vecs_core/raw": round(r40[LABELS["core"]] / r40[LABELS["raw"]], 3)
    }
    if LABELS["vecs"] in r40:
        out["hnsw"]["ratios_at_ef40"]["vecs_core/vecs"] = round(
            r40[LABELS["core"]] / r40[LABELS["vecs"]], 2
        )
    if LABELS["lc"] in r40:
        out["hnsw"]["ratios_at_ef40"]["vecs_core/langchain"] = round(
            r40[LABELS["core"]] / r40[LABELS["lc"]], 2
        )

    # filtered HNSW search (1% of rows match) ----------------------------------------------------
    flt = {"category": {"$eq": data.FILTER_CATEGORY}}
    fns = {LABELS["core"]: lambda q: col.query(data=q, limit=10, filters=flt, ef_search=40)}
    if vcol is not None:
        fns[LABELS["vecs"]] = lambda q: vcol.query(
            data=q, limit=10, filters=flt, ef_search=40, measure="cosine_distance"
        )
    tick("query: filtered")
    filtered = measure(fns, queries, ds.gt_filtered)
    done()
    out["filtered"] = {"filter": flt, "selectivity": 0.01, "ef_search": 40, "results": filtered}

    # index build must not block writes ----------------------------------------------------------
    out["build_vs_writes"] = build_blocks_writes(db, ds, col)
    done()

    # IVFFlat ------------------------------------------------------------------------------------
    tick("query: IVFFlat build")
    with Timer() as t:
        col.create_index(
            method="ivfflat",
            measure="cosine_distance",
            maintenance_work_mem=BUILD_MEM,
            index_arguments=vecs_core.IndexArgsIVFFlat(n_lists=IVF_LISTS),
        )
    out["ivfflat"] = {
        "build_seconds": round(t.seconds, 2),
        "params": {"lists": IVF_LISTS, "maintenance_work_mem": BUILD_MEM},
    }
    done()

    def raw_probes(p):
        raw.set("ivfflat.probes", p)
        return raw

    ivf_contenders = {
        "core": lambda p: lambda q: col.query(data=q, limit=10, probes=p),
        "raw": raw_probes,
    }
    ivf_rows: dict = {LABELS[k]: {} for k in ivf_contenders}
    for p in PROBES:
        tick(f"query: IVFFlat probes={p}")
        makers = {LABELS[k]: make(p) for k, make in ivf_contenders.items()}
        res = measure(makers, queries, gt, passes=1)  # slow at high probes; no target here
        for label, row in res.items():
            ivf_rows[label][p] = row
        done()
    out["ivfflat"]["results"] = ivf_rows
    p10 = {k: v[10]["qps"] for k, v in ivf_rows.items()}
    out["ivfflat"]["ratios_at_probes10"] = {
        "vecs_core/raw": round(p10[LABELS["core"]] / p10[LABELS["raw"]], 3)
    }

    raw.close()
    if vcol is not None:
        vvx.disconnect()
    vx.delete_collection(NAME)
    vx.disconnect()
    return out


def build_blocks_writes(db, ds, col, batch=100):
    """Rebuild the HNSW index (``create_index``, ``replace=True``) in one thread while
    another upserts ``batch``-record batches in a loop through its own client; report the build
    time and the latency of every upsert."""
    import vecs_core

    writer = vecs_core.create_client(db.url, schema=SCHEMA)
    wcol = writer.get_or_create_collection(NAME, dimension=ds.dim)
    rng = np.random.default_rng(7)
    done_evt = threading.Event()
    lat: list[float] = []
    ids: list[str] = []
    error: list[BaseException] = []

    def write_loop():
        j = 0
        try:
            while not done_evt.is_set():
                rows = rng.integers(0, ds.n, size=batch)
                recs = [
                    (f"w{j + i}", ds.vectors[r], {"category": -1, "source": "writer"})
                    for i, r in enumerate(rows)
                ]
                t0 = time.perf_counter()
                wcol.upsert(recs)
                lat.append(time.perf_counter() - t0)
                ids.extend(r[0] for r in recs)
                j += batch
        except BaseException as exc:
            error.append(exc)

    th = threading.Thread(target=write_loop)
    # baseline latency with no build running
    base: list[float] = []
    for k in range(20):
        recs = [(f"b{k}-{i}", ds.vectors[i], {"category": -1}) for i in range(batch)]
        t0 = time.perf_counter()
        wcol.upsert(recs)
        base.append(time.perf_counter() - t0)
    wcol.delete(ids=[f"b{k}-{i}" for k in range(20) for i in range(batch)])
    th.start()
    time.sleep(0.5)
    with Timer() as t:
        col.create_index(
            method="hnsw",
            measure="cosine_distance",
            maintenance_work_mem=BUILD_MEM,
            index_arguments=vecs_core.IndexArgsHNSW(m=HNSW_M, ef_construction=HNSW_EFC),
        )
    done_evt.set()
    th.join()
    if error:
        raise error[0]
    if ids:
        wcol.delete(ids=ids)
    writer.disconnect()
    lat_sorted = sorted(lat)
    return {
        "build": f"HNSW rebuild (replace=True, maintenance_work_mem {BUILD_MEM})",
        "build_seconds": round(t.seconds, 2),
        "upserts_during_build": len(lat),
        "records_written": len(ids),
        "batch": batch,
        "max_latency_s": round(max(lat), 3) if lat else None,
        "p50_latency_s": round(statistics.median(lat), 4) if lat else None,
        "p99_latency_s": round(lat_sorted[int(0.99 * (len(lat) - 1))], 4) if lat else None,
        "baseline_p50_latency_s": round(statistics.median(base), 4),
        "baseline_max_latency_s": round(max(base), 4),
    }


def n_steps(with_langchain=True) -> int:
    n = 1 + 1 + len(EF_SEARCH) * (1 + with_langchain) + with_langchain
    return n + 1 + 1 + 1 + len(PROBES)


if __name__ == "__main__":
    import argparse
    import json

    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--url")
    p.add_argument("--no-langchain", action="store_true")
    a = p.parse_args()
    ds = data.load(n=10_000 if a.quick else 100_000)
    db = common.open_db(a.url)
    try:
        common.reset_schema(db)
        print(json.dumps(run(db, ds, with_langchain=not a.no_langchain), indent=2))
    finally:
        db.close()
