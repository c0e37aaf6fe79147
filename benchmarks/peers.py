"""vecs_core against the embedded vector stores a user could pick instead, on every line.

    python benchmarks/peers.py                      # 100,000 x 384 (about 25 min on 2 cores)
    python benchmarks/peers.py --n 1000000 --dim 128 --load-repeats 1
    python benchmarks/peers.py --quick              # 10,000 x 384 smoke run
    python benchmarks/peers.py --systems vecs_core,raw,lancedb_hnsw
    python benchmarks/peers.py --data text          # real sentence embeddings (text_corpus.py)

Systems (a peer whose package is missing is reported as skipped):

- ``vecs_core``: a collection (``vector`` storage, HNSW m 16 / ef_construction 64, vecs'
  defaults), ``vecs_core_hq`` (the read-heavy configuration: ``vector`` storage, a half
  precision HNSW index built with more care, ``quantization="halfvec"``, ef_construction 128),
  ``vecs_core_halfvec`` (``halfvec``
  storage, HNSW) and ``vecs_core_bq`` (``halfvec`` storage, an HNSW index over the binary
  quantized vectors, re-ranked exactly), ``vecs_core_ivf`` (an IVFFlat index, searched at
  ``probes``), on an embedded PostgreSQL 18 + pgvector;
- ``raw``: hand-written psycopg 3 on the same server: binary ``COPY`` into its own table (the
  ingest ceiling), prepared ``SELECT`` on vecs_core's table (the query ceiling), and a
  hand-written exact filtered query over the rows the metadata index matches;
- ``chroma``: ``chromadb.PersistentClient`` (HNSW built while adding);
- ``lancedb_hnsw`` / ``lancedb_ivfpq``: LanceDB with an ``IVF_HNSW_SQ`` / ``IVF_PQ`` index;
- ``qdrant``: ``QdrantClient(path=...)``, Qdrant's *local mode*, which is a brute-force numpy
  search (no HNSW; the Qdrant server is not embedded);
- ``sqlite_vec``: sqlite-vec's ``vec0`` table (brute force, through apsw).

Lines: ingest records/s (no vector index where the system allows), index build, time to first
indexed query, recall@10 vs QPS at several ef/nprobe points, filtered top-10 at 1% with full rows
(id, distance, metadata), disk bytes, peak client RSS, concurrency (1, 2, 4, 8 threads and
asyncio). Loads run in a fresh process per system (for RSS), repeated ``--load-repeats`` times
with the systems interleaved; the query phases open every store in one process, interleave the
systems in blocks of 100 queries in a rotating order, three passes, and report the median pass.
Outputs ``benchmarks/results/peers-<n>x<dim>.{json,md}`` and plots.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from vecs_core import _sizing

import common
import data
import text_corpus

HERE = os.path.dirname(os.path.abspath(__file__))
K = 10
FILTER_CATEGORY = data.FILTER_CATEGORY
SCHEMA = "peers"
HNSW_M, HNSW_EFC = 16, 64
BQ_RERANK = 4
HQ_EFC = 128  # vecs_core_hq: a graph built with more care, at half precision
# what a vecs_core user gets: the embedded server's settings sized from this machine (RAM and
# cores, vecs_core._sizing; their effects are measured in bench_settings.py and
# bench_server_memory.py). PostgreSQL's own defaults: shared_buffers 128MB,
# maintenance_work_mem 64MB.
PG_SETTINGS = _sizing.sized_settings(*_sizing.machine())


meta = data.metadata_for  # the records' metadata (the 1% filter is category == 7)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def reset_peak_rss() -> None:
    """Reset the process's peak RSS (``VmHWM``): Linux keeps the parent's peak across exec, and
    loading the dataset has a transient peak of its own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def du(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


# -- systems ----------------------------------------------------------------------------------
class System:
    """One contender. ``load`` runs in a worker process; the rest in the query process."""

    name = ""
    knob = ""
    knobs: list = [None]
    slow = False  # brute force: measured on fewer queries
    threads = True  # measured under concurrency
    max_loads = 99  # load repeats (a slow load is repeated fewer times; the report says so)

    def __init__(self, root: str, url: str | None, ds: data.Dataset) -> None:
        self.root, self.url, self.ds = root, url, ds
        self.dir = os.path.join(root, self.name)

    def available(self) -> str | None:  # a reason to skip, or None
        return None

    def load(self) -> dict:
        raise NotImplementedError

    def open(self) -> None:
        pass

    def set_knob(self, value) -> None:
        pass

    def search(self, q) -> list[str]:
        raise NotImplementedError

    def filtered(self, q) -> list[tuple]:
        raise NotImplementedError

    def disk(self) -> dict:
        return {"data": du(self.dir), "index": 0}

    def close(self) -> None:
        pass


def _checkpoint(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def copy_records(conn, table: str, ds) -> None:
    """Hand-written binary ``COPY`` of every record into ``table`` (``id varchar, vec vector,
    metadata jsonb``), in the connection's open transaction: raw psycopg's ingest."""
    from psycopg.types.json import Jsonb

    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} (id, vec, metadata) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["varchar", "vector", "jsonb"])
            for i in range(ds.n):
                cp.write_row((data.id_for(i), ds.vectors[i], Jsonb(meta(i))))


def raw_ingest(conn, tbl: str, ds) -> float:
    """A fresh table ``tbl`` in vecs' layout (dropped first), every record sent by one binary
    ``COPY`` (:func:`copy_records`) and committed: raw psycopg's ingest. Returns the seconds of
    the ``COPY`` and commit; ``conn`` (autocommit) is left in autocommit."""
    from pgvector.psycopg import register_vector

    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    conn.execute(f"DROP TABLE IF EXISTS {tbl}")
    conn.execute(
        f"CREATE TABLE {tbl} (id character varying NOT NULL PRIMARY KEY, "
        f"vec vector({ds.dim}) NOT NULL, metadata jsonb NOT NULL DEFAULT '{{}}')"
    )
    conn.execute(f"CREATE INDEX ON {tbl} USING gin (metadata jsonb_path_ops)")
    conn.execute("CHECKPOINT")
    register_vector(conn)
    conn.autocommit = False
    t = time.perf_counter()
    copy_records(conn, tbl, ds)
    conn.commit()
    seconds = time.perf_counter() - t
    conn.autocommit = True
    return seconds


def warm_server(url: str, ds) -> float:
    """An untimed raw load (:func:`raw_ingest`) into a scratch table, dropped afterwards: a
    fresh server creates its WAL segment files during its first big load (later loads recycle
    them), which made whichever system loaded first slower (at 1M x 128: vecs_core 9.4 s,
    then vecs_core_hq, the same ingest path, 6.2 s). Returns its seconds."""
    import psycopg

    t = time.perf_counter()
    table = f'"{SCHEMA}"."warm_up"'
    with psycopg.connect(url, autocommit=True) as conn:
        raw_ingest(conn, table, ds)
        conn.execute(f"DROP TABLE {table}")
        conn.execute("CHECKPOINT")
    return time.perf_counter() - t


def _import(module: str) -> str | None:
    try:
        __import__(module)
    except ImportError as exc:
        return f"not installed ({exc}); pip install -e '.[peers]'"
    return None


class VecsCore(System):
    name = "vecs_core"
    storage = "vector"
    quantization = None
    method = "hnsw"
    knob = "ef_search"
    knobs = [10, 20, 40, 80, 160, 320]

    def _client(self):
        import vecs_core

        return vecs_core.create_client(self.url, schema=SCHEMA, pool_size=10)

    def _index_args(self):
        import vecs_core

        if self.quantization == "halfvec":
            return vecs_core.IndexArgsHNSW(m=HNSW_M, ef_construction=HQ_EFC, quantization="halfvec")
        if self.quantization:
            return vecs_core.IndexArgsHNSW(
                m=HNSW_M,
                ef_construction=HNSW_EFC,
                quantization=self.quantization,
                rerank=BQ_RERANK,
            )
        return vecs_core.IndexArgsHNSW(m=HNSW_M, ef_construction=HNSW_EFC)

    def ingest(self, vx, name: str):
        """A fresh collection ``name`` (dropped first), every record upserted in one call;
        returns ``(collection, seconds)``."""
        vx.delete_collection(name)
        col = vx.get_or_create_collection(name, dimension=self.ds.dim, storage=self.storage)
        _checkpoint(self.url)  # as before the raw load: no checkpoint left over from the drop
        ds = self.ds
        t = time.perf_counter()
        col.upsert((data.id_for(i), ds.vectors[i], meta(i)) for i in range(ds.n))
        return col, time.perf_counter() - t

    def load(self) -> dict:
        vx = self._client()
        col, ingest = self.ingest(vx, self.name)
        ds = self.ds
        t = time.perf_counter()
        col.create_index(
            method=self.method, measure="cosine_distance", index_arguments=self._index_args()
        )
        build = time.perf_counter() - t
        t = time.perf_counter()
        col.query(data=ds.queries[0], limit=K)
        first = time.perf_counter() - t
        vx.disconnect()
        return {"ingest_s": ingest, "build_s": build, "first_query_s": first}

    def open(self) -> None:
        self.vx = self._client()
        self.col = self.vx.get_or_create_collection(self.name)
        self.value = None  # the query argument named by .knob
        self.flt = {"category": FILTER_CATEGORY}

    def set_knob(self, value) -> None:
        self.value = value

    def search(self, q) -> list[str]:
        return self.col.query(data=q, limit=K, **{self.knob: self.value})

    def filtered(self, q) -> list[tuple]:
        return self.col.search(q, limit=K, filters=self.flt)

    def disk(self) -> dict:
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute(
                "SELECT pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s"
                " AND c.relname = %s",
                (SCHEMA, self.name),
            ).fetchone()
        return {"data": int(row[0]), "index": int(row[1])}

    def close(self) -> None:
        self.vx.disconnect()

    # asyncio concurrency
    async def aopen(self):
        import vecs_core

        self.avx = vecs_core.create_async_client(self.url, schema=SCHEMA, pool_size=10)
        self.acol = await self.avx.get_or_create_collection(self.name)

    async def asearch(self, q) -> list[str]:
        return await self.acol.query(data=q, limit=K, **{self.knob: self.value})

    async def aclose(self):
        await self.avx.disconnect()


class VecsCoreHalf(VecsCore):
    name = "vecs_core_halfvec"
    storage = "halfvec"
    threads = False


class VecsCoreHQ(VecsCore):
    name = "vecs_core_hq"
    quantization = "halfvec"
    threads = False


class VecsCoreBQ(VecsCore):
    name = "vecs_core_bq"
    storage = "halfvec"
    quantization = "binary"
    knobs = [40, 80, 160, 320, 640]
    threads = False


class VecsCoreIVF(VecsCore):
    """An IVFFlat index, lists by vecs' rule (100 at 100k rows, 1,000 at 1M), searched at
    ``probes``. This set's 500 well-separated clusters suit it; on the real-text corpus it needs
    many more probes for the same recall (docs/performance.md)."""

    name = "vecs_core_ivf"
    method = "ivfflat"
    knob = "probes"
    knobs = [1, 2, 3, 4, 8, 16]
    threads = False

    def _index_args(self):
        import vecs_core

        return vecs_core.IndexArgsIVFFlat()


class Raw(System):
    """Hand-written psycopg: the ceiling on the same server."""

    name = "raw"
    knob = "ef_search"
    knobs = [10, 20, 40, 80, 160, 320]
    table = f'"{SCHEMA}"."vecs_core"'

    def load(self) -> dict:
        import psycopg

        ds = self.ds
        tbl = f'"{SCHEMA}"."raw_load"'
        with psycopg.connect(self.url, autocommit=True) as conn:
            ingest = raw_ingest(conn, tbl, ds)
            t = time.perf_counter()
            conn.execute(
                f"CREATE INDEX ON {tbl} USING hnsw (vec vector_cosine_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EFC})"
            )
            build = time.perf_counter() - t
            t = time.perf_counter()
            conn.execute(f"SELECT id FROM {tbl} ORDER BY vec <=> %s LIMIT 10", (ds.queries[0],))
            first = time.perf_counter() - t
            conn.execute(f"DROP TABLE {tbl}")
        return {"ingest_s": ingest, "build_s": build, "first_query_s": first}

    def _connect(self):
        import psycopg
        from pgvector.psycopg import register_vector

        conn = psycopg.connect(self.url, autocommit=True)
        register_vector(conn)
        return conn

    def open(self) -> None:
        self.conn = self._connect()
        self.cur = self.conn.cursor()
        self.ef = 40
        self.sql = f"SELECT id FROM {self.table} ORDER BY vec <=> %b LIMIT 10"
        # the hand-written exact filtered query: the rows the metadata index matches, sorted by
        # distance (OFFSET 0 keeps the planner off the vector index), full rows
        self.fsql = (
            f"SELECT * FROM (SELECT id, vec <=> %b AS distance, metadata FROM {self.table}"
            " WHERE metadata @> %s OFFSET 0) s ORDER BY distance LIMIT 10"
        )
        self.fparam = json.dumps({"category": FILTER_CATEGORY})

    def set_knob(self, value) -> None:
        self.ef = value
        self.conn.execute(f"SET hnsw.ef_search = {int(value)}")

    def search(self, q) -> list[str]:
        self.cur.execute(self.sql, (q,), prepare=True)
        return [r[0] for r in self.cur.fetchall()]

    def filtered(self, q) -> list[tuple]:
        self.cur.execute(self.fsql, (q, self.fparam), prepare=True)
        return self.cur.fetchall()

    def disk(self) -> dict:
        return {"data": 0, "index": 0}  # vecs_core's table

    def close(self) -> None:
        self.conn.close()

    def thread_local(self):
        conn = self._connect()
        conn.execute(f"SET hnsw.ef_search = {int(self.ef)}")
        cur = conn.cursor()

        def fn(q):
            cur.execute(self.sql, (q,), prepare=True)
            return [r[0] for r in cur.fetchall()]

        return fn, conn.close

    async def aopen(self):
        import psycopg
        from pgvector.psycopg import register_vector_async

        self.aconns = []
        self.afree: asyncio.Queue = asyncio.Queue()
        for _ in range(8):
            c = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            await register_vector_async(c)
            await c.execute(f"SET hnsw.ef_search = {int(self.ef)}")
            self.aconns.append(c)
            self.afree.put_nowait(c)

    async def asearch(self, q) -> list[str]:
        c = await self.afree.get()
        try:
            cur = await c.execute(self.sql, (q,), prepare=True)
            return [r[0] for r in await cur.fetchall()]
        finally:
            self.afree.put_nowait(c)

    async def aclose(self):
        for c in self.aconns:
            await c.close()


class Chroma(System):
    max_loads = 1
    name = "chroma"
    knob = "ef_search"
    knobs = [10, 20, 40, 80, 160, 320]

    def available(self):
        return _import("chromadb")

    def _collection(self, create: bool):
        import chromadb

        self.client = chromadb.PersistentClient(path=self.dir)
        if create:
            # Chroma's defaults (M 16, ef_construction 100), cosine like the others
            return self.client.create_collection(
                "bench", configuration={"hnsw": {"space": "cosine"}}
            )
        return self.client.get_collection("bench")

    def load(self) -> dict:
        shutil.rmtree(self.dir, ignore_errors=True)
        col = self._collection(True)
        ds = self.ds
        batch = min(5000, self.client.get_max_batch_size())
        t = time.perf_counter()
        for s in range(0, ds.n, batch):
            e = min(ds.n, s + batch)
            col.add(
                ids=[data.id_for(i) for i in range(s, e)],
                embeddings=ds.vectors[s:e],
                metadatas=[meta(i) for i in range(s, e)],
            )
        ingest = time.perf_counter() - t
        t = time.perf_counter()
        col.query(query_embeddings=ds.queries[:1], n_results=K, include=[])
        first = time.perf_counter() - t
        return {
            "ingest_s": ingest,
            "build_s": 0.0,
            "first_query_s": first,
            "note": "builds its HNSW index while adding (ingest includes the build)",
        }

    def open(self) -> None:
        self.col = self._collection(False)

    def set_knob(self, value) -> None:
        # a changed ef_search reaches the loaded index only when the store is opened again
        self.col.modify(configuration={"hnsw": {"ef_search": int(value)}})
        self.client.clear_system_cache()
        self.col = self._collection(False)

    def search(self, q) -> list[str]:
        return self.col.query(query_embeddings=q[None, :], n_results=K, include=[])["ids"][0]

    def filtered(self, q) -> list[tuple]:
        r = self.col.query(
            query_embeddings=q[None, :],
            n_results=K,
            where={"category": FILTER_CATEGORY},
            include=["metadatas", "distances"],
        )
        return list(zip(r["ids"][0], r["distances"][0], r["metadatas"][0]))

    def disk(self) -> dict:
        return {"data": du(self.dir), "index": 0, "note": "data + index in one directory"}


class LanceHNSW(System):
    max_loads = 1
    name = "lancedb_hnsw"
    index_type = "IVF_HNSW_SQ"
    knob = "ef"
    knobs = [10, 20, 40, 80, 160, 320]

    def available(self):
        return _import("lancedb")

    def load(self) -> dict:
        import lancedb
        import pyarrow as pa

        shutil.rmtree(self.dir, ignore_errors=True)
        ds = self.ds
        db = lancedb.connect(self.dir)
        t = time.perf_counter()
        tbl = None
        step = 100_000
        for s in range(0, ds.n, step):
            e = min(ds.n, s + step)
            ids = [data.id_for(i) for i in range(s, e)]
            vec = pa.FixedSizeListArray.from_arrays(pa.array(ds.vectors[s:e].ravel()), ds.dim)
            rows = np.arange(s, e)
            batch = pa.table(
                {
                    "id": ids,
                    "vector": vec,
                    "category": rows % 100,
                    "source": [f"s{i % 7}" for i in range(s, e)],
                    "year": 1990 + rows % 30,
                }
            )
            if tbl is None:
                tbl = db.create_table("bench", data=batch)
            else:
                tbl.add(batch)
        ingest = time.perf_counter() - t
        t = time.perf_counter()
        self._index(tbl)
        build = time.perf_counter() - t
        t = time.perf_counter()
        tbl.search(ds.queries[0]).distance_type("cosine").limit(K).to_list()
        first = time.perf_counter() - t
        return {"ingest_s": ingest, "build_s": build, "first_query_s": first}

    def _index(self, tbl) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tbl.create_index(metric="cosine", index_type=self.index_type)

    def open(self) -> None:
        import lancedb

        self.tbl = lancedb.connect(self.dir).open_table("bench")
        self.value = self.knobs[len(self.knobs) // 2]

    def set_knob(self, value) -> None:
        self.value = value

    def _query(self, q):
        return self.tbl.search(q).distance_type("cosine").limit(K).ef(self.value)

    def search(self, q) -> list[str]:
        return self._query(q).select(["id"]).to_arrow()["id"].to_pylist()

    def filtered(self, q) -> list[tuple]:
        t = (
            self._query(q)
            .where(f"category = {FILTER_CATEGORY}", prefilter=True)
            .select(["id", "category", "source", "year"])
            .to_arrow()
        )
        return list(
            zip(*(t[c].to_pylist() for c in ("id", "_distance", "category", "source", "year")))
        )

    def disk(self) -> dict:
        idx = os.path.join(self.dir, "bench.lance", "_indices")
        return {"data": du(self.dir) - du(idx), "index": du(idx)}


class LanceIVFPQ(LanceHNSW):
    name = "lancedb_ivfpq"
    index_type = "IVF_PQ"
    knob = "nprobes"
    knobs = [5, 10, 20, 40, 80]
    threads = False

    def _query(self, q):
        # refine_factor: re-rank PQ candidates with the full vectors (else recall stays < 0.9)
        return (
            self.tbl.search(q).distance_type("cosine").limit(K).nprobes(self.value).refine_factor(5)
        )


class Qdrant(System):
    max_loads = 1
    name = "qdrant"
    knob = "brute force"
    slow = True
    threads = False

    def available(self):
        return _import("qdrant_client")

    def load(self) -> dict:
        from qdrant_client import QdrantClient, models

        shutil.rmtree(self.dir, ignore_errors=True)
        ds = self.ds
        qc = QdrantClient(path=self.dir)
        qc.create_collection(
            collection_name="bench",
            vectors_config=models.VectorParams(size=ds.dim, distance=models.Distance.COSINE),
        )
        t = time.perf_counter()
        step = 2000
        for s in range(0, ds.n, step):
            e = min(ds.n, s + step)
            qc.upsert(
                collection_name="bench",
                points=models.Batch(
                    ids=list(range(s, e)),
                    vectors=ds.vectors[s:e].tolist(),
                    payloads=[{"id": data.id_for(i), **meta(i)} for i in range(s, e)],
                ),
            )
        ingest = time.perf_counter() - t
        t = time.perf_counter()
        qc.query_points(collection_name="bench", query=ds.queries[0].tolist(), limit=K)
        first = time.perf_counter() - t
        qc.close()
        return {
            "ingest_s": ingest,
            "build_s": 0.0,
            "first_query_s": first,
            "note": "local mode: brute force, no index",
        }

    def open(self) -> None:
        from qdrant_client import QdrantClient, models

        self.qc = QdrantClient(path=self.dir)
        self.flt = models.Filter(
            must=[
                models.FieldCondition(
                    key="category", match=models.MatchValue(value=FILTER_CATEGORY)
                )
            ]
        )

    def search(self, q) -> list[str]:
        r = self.qc.query_points(collection_name="bench", query=q, limit=K, with_payload=False)
        return [data.id_for(p.id) for p in r.points]

    def filtered(self, q) -> list[tuple]:
        r = self.qc.query_points(collection_name="bench", query=q, limit=K, query_filter=self.flt)
        return [(data.id_for(p.id), p.score, p.payload) for p in r.points]

    def close(self) -> None:
        self.qc.close()


class SqliteVec(System):
    name = "sqlite_vec"
    knob = "brute force"
    slow = True
    threads = False

    def available(self):
        return _import("sqlite_vec") or _import("apsw")

    def _connect(self):
        import apsw
        import sqlite_vec

        os.makedirs(self.dir, exist_ok=True)
        con = apsw.Connection(os.path.join(self.dir, "bench.db"))
        con.enable_load_extension(True)
        con.load_extension(sqlite_vec.loadable_path())
        return con

    def load(self) -> dict:
        shutil.rmtree(self.dir, ignore_errors=True)
        con = self._connect()
        ds = self.ds
        con.execute(
            f"CREATE VIRTUAL TABLE v USING vec0(id text primary key, embedding float[{ds.dim}] "
            "distance_metric=cosine, category integer, +metadata text)"
        )
        t = time.perf_counter()
        with con:
            con.executemany(
                "INSERT INTO v (id, embedding, category, metadata) VALUES (?, ?, ?, ?)",
                (
                    (data.id_for(i), ds.vectors[i].tobytes(), i % 100, json.dumps(meta(i)))
                    for i in range(ds.n)
                ),
            )
        ingest = time.perf_counter() - t
        t = time.perf_counter()
        list(
            con.execute(
                "SELECT id FROM v WHERE embedding MATCH ? AND k = 10", (ds.queries[0].tobytes(),)
            )
        )
        first = time.perf_counter() - t
        con.close()
        return {
            "ingest_s": ingest,
            "build_s": 0.0,
            "first_query_s": first,
            "note": "vec0: brute force, no index",
        }

    def open(self) -> None:
        self.con = self._connect()

    def search(self, q) -> list[str]:
        return [
            r[0]
            for r in self.con.execute(
                "SELECT id FROM v WHERE embedding MATCH ? AND k = 10", (q.tobytes(),)
            )
        ]

    def filtered(self, q) -> list[tuple]:
        return list(
            self.con.execute(
                "SELECT id, distance, metadata FROM v WHERE embedding MATCH ? AND k = 10 "
                "AND category = ?",
                (q.tobytes(), FILTER_CATEGORY),
            )
        )

    def close(self) -> None:
        self.con.close()


SYSTEMS = {
    c.name: c
    for c in (
        VecsCore,
        VecsCoreHQ,
        VecsCoreHalf,
        VecsCoreBQ,
        VecsCoreIVF,
        Raw,
        Chroma,
        LanceHNSW,
        LanceIVFPQ,
        Qdrant,
        SqliteVec,
    )
}
PG_SYSTEMS = (
    "vecs_core",
    "vecs_core_hq",
    "vecs_core_halfvec",
    "vecs_core_bq",
    "vecs_core_ivf",
    "raw",
)


# -- measurement ------------------------------------------------------------------------------
def interleaved(fns: dict, queries, passes: int = 3, block: int = 100, warmup: int = 20) -> dict:
    """``fns``: label -> (fn, n_queries). Blocks of ``block`` queries, systems in a rotating
    order, ``passes`` passes; per label the median QPS over passes and the results of the
    last pass."""
    for fn, n in fns.values():
        for q in queries[: min(warmup, n)]:
            fn(q)
    order = list(fns)
    found = {k: [None] * n for k, (_, n) in fns.items()}
    per_pass = {k: [] for k in fns}
    b = 0
    for _ in range(passes):
        secs = dict.fromkeys(fns, 0.0)
        for s in range(0, len(queries), block):
            turn = b % len(order)
            b += 1
            for k in order[turn:] + order[:turn]:
                fn, n = fns[k]
                if s >= n:
                    continue
                part = queries[s : min(s + block, n)]
                t0 = time.perf_counter()
                got = [fn(q) for q in part]
                secs[k] += time.perf_counter() - t0
                found[k][s : s + len(part)] = got
        for k, (_, n) in fns.items():
            per_pass[k].append(n / secs[k])
    return {k: (statistics.median(v), v, found[k]) for k, v in per_pass.items()}


def recall(found: list[list[str]], gt) -> float:
    return round(data.recall(found, gt[: len(found)]), 4)


def row_ids(rows: list[tuple]) -> list[str]:
    return [r[0] for r in rows]


# -- phases -----------------------------------------------------------------------------------
def dataset(a) -> data.Dataset:
    if a.data == "text":
        return text_corpus.load(a.n)
    return data.load(n=a.n, dim=a.dim)


def worker(args) -> None:
    """Load one system (a fresh process: its peak RSS is the system's)."""
    warnings.simplefilter("ignore")
    ds = dataset(args)
    reset_peak_rss()
    base = rss_mb()
    sys_ = SYSTEMS[args.worker](args.root, args.url, ds)
    out = sys_.load()
    out["peak_rss_mb"] = round(peak_rss_mb() - base, 1)  # above the dataset itself
    print("RESULT " + json.dumps(out))


def run_load(name: str, a, url: str | None) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        name,
        "--n",
        str(a.n),
        "--dim",
        str(a.dim),
        "--data",
        a.data,
        "--root",
        a.root,
    ]
    if url:
        cmd += ["--url", url]
    # write back what earlier loads left dirty in the page cache (LanceDB's files, Chroma's
    # SQLite, the last drop), so that write-back does not land inside this load's timing
    os.sync()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.load_timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": a.load_timeout}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{name} load failed:\n{proc.stderr[-3000:]}")


def ingest_pairs(systems: dict, pairs: int) -> dict:
    """Fresh ingest only (no index), vecs_core's upsert against raw binary ``COPY`` into the
    same layout, ``pairs`` times in turn on the same server, which goes first alternating: the
    issue's ingest line, measured apart from the loads' index builds and other systems' I/O.
    Each pair gives one ratio (raw seconds / vecs_core seconds: above 1 is faster than raw)."""
    import psycopg

    core, raw = systems["vecs_core"], systems["raw"]
    vx = core._client()
    tbl = f'"{SCHEMA}"."raw_pair"'
    out: dict = {"vecs_core_s": [], "raw_s": []}
    try:
        with psycopg.connect(raw.url, autocommit=True) as conn:
            for i in range(pairs):
                for who in ("vecs_core", "raw") if i % 2 == 0 else ("raw", "vecs_core"):
                    os.sync()
                    # each table is dropped once timed: a loaded table left behind would get
                    # autovacuum's first VACUUM during the other side's load
                    if who == "raw":
                        seconds = raw_ingest(conn, tbl, raw.ds)
                        conn.execute(f"DROP TABLE {tbl}")
                    else:
                        seconds = core.ingest(vx, "vecs_core_pair")[1]
                        vx.delete_collection("vecs_core_pair")
                    out[f"{who}_s"].append(round(seconds, 3))
                print(
                    f"  ingest pair {i + 1}/{pairs}: vecs_core {out['vecs_core_s'][-1]} s, "
                    f"raw {out['raw_s'][-1]} s",
                    flush=True,
                )
    finally:
        vx.disconnect()
    ratios = [r / v for v, r in zip(out["vecs_core_s"], out["raw_s"])]
    out["ratios"] = [round(x, 3) for x in ratios]
    out["ratio_median"] = round(statistics.median(ratios), 3)
    out["ratio_of_medians"] = round(
        statistics.median(out["raw_s"]) / statistics.median(out["vecs_core_s"]), 3
    )
    return out


def concurrency(systems: dict, ds, n_queries: int, knobs: dict) -> dict:
    out: dict = {}
    qs = ds.queries[:n_queries]
    for name, s in systems.items():
        if not s.threads:
            continue
        s.set_knob(knobs[name])
        row = {}
        for threads in (1, 2, 4, 8):
            vals = []
            for _ in range(3):
                chunks = [qs[i::threads] for i in range(threads)]
                fns = []
                for _ in range(threads):
                    if hasattr(s, "thread_local"):
                        fns.append(s.thread_local())
                    else:
                        fns.append((s.search, None))
                barrier = threading.Barrier(threads + 1)

                def go(fn, chunk, barrier=barrier):
                    barrier.wait()
                    for q in chunk:
                        fn(q)

                ths = [
                    threading.Thread(target=go, args=(fns[i][0], chunks[i])) for i in range(threads)
                ]
                for th in ths:
                    th.start()
                barrier.wait()
                t = time.perf_counter()
                for th in ths:
                    th.join()
                vals.append(len(qs) / (time.perf_counter() - t))
                for _, close in fns:
                    if close:
                        close()
            row[f"threads_{threads}"] = round(statistics.median(vals), 1)
        if hasattr(s, "aopen"):

            async def run_async(tasks: int, s=s) -> float:
                await s.aopen()
                sem = asyncio.Semaphore(tasks)

                async def one(q, s=s, sem=sem):
                    async with sem:
                        await s.asearch(q)

                for q in qs[:20]:
                    await s.asearch(q)
                t = time.perf_counter()
                await asyncio.gather(*(one(q) for q in qs))
                dt = time.perf_counter() - t
                await s.aclose()
                return len(qs) / dt

            for tasks in (1, 8):
                vals = [asyncio.run(run_async(tasks)) for _ in range(3)]
                row[f"asyncio_{tasks}"] = round(statistics.median(vals), 1)
        out[name] = row
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--quick", action="store_true", help="10,000 x 384, 200 queries")
    p.add_argument(
        "--data",
        choices=("synthetic", "text"),
        default="synthetic",
        help="synthetic clusters (data.py), or docstring paragraphs embedded with "
        "all-MiniLM-L6-v2 (text_corpus.py; 384 dimensions, built once with the text extra)",
    )
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--slow-queries", type=int, default=200, help="queries for brute-force peers")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--load-repeats", type=int, default=3)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument(
        "--ingest-pairs",
        type=int,
        default=5,
        help="fresh ingest only, vecs_core and raw COPY in turn, this many times (0: none)",
    )
    p.add_argument("--load-timeout", type=int, default=1800, help="seconds per load, else skipped")
    p.add_argument("--url", help="PostgreSQL URL (default: an embedded server)")
    p.add_argument("--pg-defaults", action="store_true", help="embedded server as shipped")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        worker(a)
        return 0
    if a.quick:
        a.n, a.dim, a.queries, a.slow_queries = 10_000, 384, 200, 100
    warnings.simplefilter("ignore")
    t_start = time.perf_counter()
    ds = dataset(a)
    n_q = min(a.queries, len(ds.queries))
    res: dict = {
        "machine": common.machine_info(),
        "n": ds.n,
        "dim": ds.dim,
        "data": text_corpus.describe(ds.n) if a.data == "text" else "synthetic clusters (data.py)",
        "queries": n_q,
        "k": K,
        "skipped": {},
        "load": {},
        "curves": {},
        "filtered": {},
    }
    a.root = tempfile.mkdtemp(prefix="vecs-peers-")
    wanted = [s for s in a.systems.split(",") if s]
    settings = None if a.pg_defaults else PG_SETTINGS
    db = (
        common.open_db(a.url, shared_buffers=None, settings=settings)
        if any(s in PG_SYSTEMS for s in wanted)
        else None
    )
    res["database"] = db.info if db else None
    url = db.url if db else None
    systems: dict = {}
    try:
        for name in wanted:
            s = SYSTEMS[name](a.root, url, ds)
            why = s.available()
            if why:
                res["skipped"][name] = why
                print(f"skipped {name}: {why}", flush=True)
            else:
                systems[name] = s
        if url:
            res["warm_up_s"] = round(warm_server(url, ds), 1)
            print(f"warm-up load into the server: {res['warm_up_s']} s", flush=True)
        # loads: a fresh process per system, repeats interleaved; the last one is kept
        order = [n for n in systems if n != "raw"] + (["raw"] if "raw" in systems else [])
        if "raw" in systems and "vecs_core" not in systems:
            raise SystemExit("raw queries vecs_core's table: include vecs_core")
        runs: dict = {n: [] for n in order}
        for rep in range(a.load_repeats):
            shift = rep % len(order)  # each repeat starts with another system
            for name in order[shift:] + order[:shift]:
                if rep >= systems[name].max_loads and runs[name]:
                    continue
                print(f"load {name} ({rep + 1}/{a.load_repeats}) ...", flush=True)
                if name in res["skipped"]:
                    continue
                r = run_load(name, a, url)
                if "timeout" in r:
                    res["skipped"][name] = (
                        f"did not finish loading {ds.n:,} records in {a.load_timeout} s"
                    )
                    print(f"  skipped: {res['skipped'][name]}", flush=True)
                    continue
                runs[name].append(r)
                print(f"  {json.dumps(r)}  load {os.getloadavg()[0]:.2f}", flush=True)
        for name in [n for n in systems if n in res["skipped"]]:
            del systems[name]
            runs.pop(name, None)
        for name, rs in runs.items():
            med = {
                k: statistics.median(r[k] for r in rs)
                for k in ("ingest_s", "build_s", "first_query_s", "peak_rss_mb")
            }
            med["ingest_records_per_s"] = ds.n / med["ingest_s"]
            med["time_to_first_indexed_query_s"] = (
                med["ingest_s"] + med["build_s"] + med["first_query_s"]
            )
            med["runs"] = rs
            med["note"] = rs[0].get("note")
            med["load_runs"] = len(rs)
            res["load"][name] = med
        if url:  # before the pairs: nothing left for autovacuum to do during them
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        if a.ingest_pairs and "vecs_core" in systems and "raw" in systems:
            print(f"ingest pairs ({a.ingest_pairs}) ...", flush=True)
            res["ingest_pairs"] = ingest_pairs(systems, a.ingest_pairs)
        for name, s in systems.items():
            s.open()
            res["load"][name]["disk"] = s.disk()
        # recall vs QPS: aligned by knob position, systems interleaved
        width = max(len(s.knobs) for s in systems.values())
        qs = ds.queries[:n_q]
        for j in range(width):
            fns = {}
            for name, s in systems.items():
                if j < len(s.knobs):
                    s.set_knob(s.knobs[j])
                    fns[name] = (s.search, a.slow_queries if s.slow else n_q)
            print(f"curves point {j + 1}/{width} ...", flush=True)
            out = interleaved(fns, qs, passes=a.passes)
            for name, (qps, passes, found) in out.items():
                s = systems[name]
                res["curves"].setdefault(name, []).append(
                    {
                        s.knob: s.knobs[j],
                        "qps": round(qps, 1),
                        "passes": [round(x, 1) for x in passes],
                        "recall": recall(found, ds.gt),
                        "queries": len(found),
                    }
                )
        # filtered 1%, full rows, each system at its default search setting
        for name, s in systems.items():
            s.set_knob(s.knobs[len(s.knobs) // 2] if s.knobs[0] is not None else None)
            if name.startswith("vecs_core"):
                s.set_knob(None)  # the collection's default (tuned or 40)
        fns = {name: (s.filtered, a.slow_queries if s.slow else n_q) for name, s in systems.items()}
        print("filtered ...", flush=True)
        out = interleaved(fns, qs, passes=a.passes)
        for name, (qps, passes, found) in out.items():
            res["filtered"][name] = {
                "qps": round(qps, 1),
                "passes": [round(x, 1) for x in passes],
                "recall": recall([row_ids(r) for r in found], ds.gt_filtered),
                "full_results": sum(len(r) == K for r in found) / len(found),
                "row": repr(found[0][0])[:160] if found[0] else None,
            }
        # concurrency at each system's first knob reaching recall >= 0.95
        knobs = {}
        for name, pts in res["curves"].items():
            ok = [pt for pt in pts if pt["recall"] >= 0.95]
            pick = ok[0] if ok else pts[-1]
            knobs[name] = pick[systems[name].knob]
        print("concurrency ...", flush=True)
        res["concurrency"] = concurrency(systems, ds, min(n_q, 400), knobs)
        res["concurrency_knobs"] = knobs
        for s in systems.values():
            s.close()
    finally:
        if db:
            db.close()
        shutil.rmtree(a.root, ignore_errors=True)
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["total_seconds"] = round(time.perf_counter() - t_start, 1)
    os.makedirs(a.out, exist_ok=True)
    tag = f"{ds.n}x{ds.dim}" if a.data == "synthetic" else f"text-{ds.n}x{ds.dim}"
    with open(os.path.join(a.out, f"peers-{tag}.json"), "w") as f:
        json.dump(res, f, indent=2, default=str)
    plots(res, a.out, tag)
    md = markdown(res)
    with open(os.path.join(a.out, f"peers-{tag}.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return 0


# -- report -----------------------------------------------------------------------------------
def best_at(points: list[dict], target: float = 0.95) -> dict | None:
    ok = [p for p in points if p["recall"] >= target]
    return max(ok, key=lambda p: p["qps"]) if ok else None


def markdown(res: dict) -> str:
    m, db = res["machine"], res.get("database") or {}
    lines = [
        f"{res['n']:,} x {res['dim']}, cosine, {res['queries']} queries, top-{res['k']}; "
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB; load average at start "
        f"{m['loadavg_start']}, end {m['loadavg_end']}; {m['date']}; {res['total_seconds']:.0f} s.",
        "",
    ]
    corpus = res.get("data")
    if isinstance(corpus, dict):
        lines += [
            f"Data: {corpus['source']}, embedded with {corpus['model']} ({corpus['paragraphs_found']:,} "
            f"paragraphs found, sha1 {corpus['sha1'][:12]} of the ones used), e.g. "
            f"{corpus['examples'][0][:120]!r}.",
            "",
        ]
    if db:
        lines += [
            f"PostgreSQL {db.get('postgresql')}, pgvector {db.get('pgvector')}: shared_buffers "
            f"{db.get('shared_buffers')}, effective_cache_size {db.get('effective_cache_size')}, "
            f"maintenance_work_mem {db.get('maintenance_work_mem')}, "
            f"max_parallel_maintenance_workers {db.get('max_parallel_maintenance_workers')}, "
            f"work_mem {db.get('work_mem')}.",
            "",
        ]
    for name, why in res["skipped"].items():
        lines.append(f"- skipped {name}: {why}")
    lines += [
        "| system | ingest rec/s | index build s | first indexed query s (ingest+build+1st) | "
        "data MB | index MB | peak client RSS MB | loads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["load"].items():
        d = r.get("disk", {})
        lines.append(
            f"| {name} | {r['ingest_records_per_s']:,.0f} | {r['build_s']:.1f} | "
            f"{r['time_to_first_indexed_query_s']:.1f} | {d.get('data', 0) / 1e6:.0f} | "
            f"{d.get('index', 0) / 1e6:.0f} | {r['peak_rss_mb']:.0f} | {r['load_runs']} |"
        )
    pairs = res.get("ingest_pairs")
    if pairs:
        n = res["n"]
        core, raw = statistics.median(pairs["vecs_core_s"]), statistics.median(pairs["raw_s"])
        lines += [
            "",
            f"Fresh ingest alone, vecs_core's upsert and raw binary `COPY` in turn on the same "
            f"server ({len(pairs['ratios'])} pairs, which goes first alternating, no index "
            f"build between): vecs_core {core:.2f} s ({n / core:,.0f} rec/s), raw {raw:.2f} s "
            f"({n / raw:,.0f} rec/s); per pair raw/vecs_core "
            f"{', '.join(f'{x:.2f}' for x in pairs['ratios'])}: **{pairs['ratio_median']:.2f}x** "
            f"raw `COPY` (median of the pairs; {pairs['ratio_of_medians']:.2f}x of the medians).",
        ]
    lines += ["", "Recall@10 vs QPS (1 client, median of passes):", ""]
    lines += [
        "| system | knob | points (knob: QPS / recall) | best QPS at recall >= 0.95 |",
        "|---|---|---|---:|",
    ]
    for name, pts in res["curves"].items():
        knob = [k for k in pts[0] if k not in ("qps", "passes", "recall", "queries")][0]
        cells = "; ".join(f"{p[knob]}: {p['qps']:,.0f} / {p['recall']:.3f}" for p in pts)
        b = best_at(pts)
        lines.append(
            f"| {name} | {knob} | {cells} | {b['qps']:,.0f} ({b['recall']:.3f})"
            if b
            else f"| {name} | {knob} | {cells} | - |"
        )
    lines += [
        "",
        "Filtered top-10, `category == 7` (1%), full rows (id, distance, metadata):",
        "",
        "| system | QPS | recall@10 | full results |",
        "|---|---:|---:|---:|",
    ]
    for name, r in res["filtered"].items():
        lines.append(f"| {name} | {r['qps']:,.0f} | {r['recall']:.3f} | {r['full_results']:.0%} |")
    c = res.get("concurrency") or {}
    if c:
        cols = sorted(
            {k for row in c.values() for k in row},
            key=lambda k: (k.split("_")[0], int(k.split("_")[1])),
        )
        lines += [
            "",
            "Concurrency (QPS, each system at its first knob with recall >= 0.95: "
            + ", ".join(f"{k} {v}" for k, v in res["concurrency_knobs"].items())
            + "):",
            "",
            "| system | " + " | ".join(cols) + " |",
            "|---|" + "---:|" * len(cols),
        ]
        for name, row in c.items():
            lines.append(
                f"| {name} | "
                + " | ".join(f"{row.get(k, 0):,.0f}" if k in row else "-" for k in cols)
                + " |"
            )
    return "\n".join(lines)


def plots(res: dict, out: str, tag: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, pts in res["curves"].items():
        knob = [k for k in pts[0] if k not in ("qps", "passes", "recall", "queries")][0]
        xs, ys = [p["recall"] for p in pts], [p["qps"] for p in pts]
        ax.plot(xs, ys, marker="o", label=name)
        for p, x, y in zip(pts, xs, ys):
            if p[knob] is not None:
                ax.annotate(
                    str(p[knob]), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6
                )
    ax.axvline(0.95, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries / s (1 client)")
    ax.set_yscale("log")
    corpus = " (real text, all-MiniLM-L6-v2)" if isinstance(res.get("data"), dict) else ""
    ax.set_title(f"Unfiltered top-10, {res['n']:,} x {res['dim']}{corpus}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"peers-recall-qps-{tag}.png"), dpi=120)
    plt.close(fig)

    names = list(res["load"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 1.5))
    ing = [res["load"][n]["ingest_records_per_s"] for n in names]
    ttf = [res["load"][n]["time_to_first_indexed_query_s"] for n in names]
    for ax, vals, title, fmt in (
        (axes[0], ing, "ingest, records/s", "{:,.0f}"),
        (axes[1], ttf, "time to first indexed query, s", "{:.1f}"),
    ):
        bars = ax.barh(names, vals)
        for b, v in zip(bars, vals):
            ax.text(v, b.get_y() + b.get_height() / 2, " " + fmt.format(v), va="center", fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, max(vals) * 1.3)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"peers-load-{tag}.png"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
