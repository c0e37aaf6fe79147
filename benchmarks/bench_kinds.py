"""Vector kinds side by side: recall, QPS and bytes for ``vector``, ``halfvec``, ``sparsevec``.

    python benchmarks/bench_kinds.py            # 20,000 records (the issue's bar), ~3 min
    python benchmarks/bench_kinds.py --n 5000   # smoke run

Per kind, on the same records: load with ``upsert``, build HNSW (``BUILD``: m=16,
ef_construction=64 for the dense kinds, m=32, ef_construction=128 for sparse vectors),
then 500 queries at the default ``ef_search`` (40), unfiltered and with a 1%-selective filter
(``{"category": 7}``), against exact numpy ground truth computed on the values the kind stores
(float16-rounded for halfvec). Reports recall@10, the share of searches that returned the full
``limit``, QPS (1 client, sequential) and table + index bytes.

Data: ``vector`` and ``halfvec`` use the dense 384-d set of ``data.py`` (cosine). ``sparsevec``
uses a sparse set in the shape of learned sparse text embeddings (SPLADE-like): a 30,000-term
vocabulary, 60-120 non-zero weights per record drawn mostly from its topic's terms, queries of
10-30 terms, L2-normalised so that cosine distance ranks like the inner product such embeddings
are searched by. (Unnormalised inner product on this data puts a few heavy records near every
query, which HNSW, built for metrics, handles badly: recall@10 0.80 at ef_search 40 on 20,000
records.) Recall is tie-aware (see :func:`recall_at_k`): sparse records often share a
similarity, 0 included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 30_000
# HNSW build per kind: the dense kinds at pgvector's defaults; the sparse graph needs more links
# for the same recall (m=16, ef_construction=64 gave recall@10 0.80 on 20,000 records; m=32,
# ef_construction=128 gives 0.92), measured with this script
BUILD = {"vector": (16, 64), "halfvec": (16, 64), "sparsevec": (32, 128)}
FILTER = {"category": data.FILTER_CATEGORY}


def sparse_set(n: int, n_queries: int, seed: int = 7) -> tuple[list[dict], list[dict]]:
    """SPLADE-like sparse records and queries: ``{term: weight}`` dicts."""
    rng = np.random.default_rng(seed)
    topics = [rng.choice(VOCAB, size=400, replace=False) for _ in range(50)]

    def draw(terms: tuple[int, int]) -> dict:
        topic = topics[rng.integers(len(topics))]
        k = int(rng.integers(*terms))
        own = rng.choice(topic, size=int(k * 0.8), replace=False)
        noise = rng.integers(0, VOCAB, size=k - own.size)
        weights = rng.gamma(2.0, 0.5, size=k).astype(np.float32)
        weights /= np.linalg.norm(weights)  # unit length: cosine = inner product
        return {int(t): float(w) for t, w in zip(np.concatenate([own, noise]), weights)}

    return [draw((60, 120)) for _ in range(n)], [draw((10, 30)) for _ in range(n_queries)]


def sparse_matrix(rows: list[dict]) -> np.ndarray:
    out = np.zeros((len(rows), VOCAB), dtype=np.float32)
    for i, row in enumerate(rows):
        out[i, list(row)] = list(row.values())
    return out


def recall_at_k(
    found: list[list[str]], vectors: np.ndarray, queries: np.ndarray, allowed: np.ndarray, k=10
) -> float:
    """Recall@k against exact similarities (dot products of what the kind stores; unit dense
    vectors, so cosine for them), tie-aware: a returned record counts when its true similarity
    reaches the k-th best (sparse records often tie, e.g. at 0)."""
    sims = queries @ vectors[allowed].T
    kth = -np.sort(-sims, axis=1)[:, k - 1]
    score = dict(zip(allowed, range(len(allowed))))
    hits = 0
    for qi, ids in enumerate(found):
        hits += sum(sims[qi, score[int(i)]] >= kth[qi] - 1e-6 for i in ids[:k])
    return hits / (k * len(found))


def run_kind(db: common.Db, kind: str, n: int, n_queries: int) -> dict:
    import vecs_core

    common.reset_schema(db, "kinds")
    vx = vecs_core.create_client(db.url, schema="kinds")
    if kind == "sparsevec":
        docs, qs = sparse_set(n, n_queries)
        stored, queries = sparse_matrix(docs), sparse_matrix(qs)
        vectors: list = docs
        query_inputs: list = qs
        measure, dim = "cosine_distance", VOCAB
    else:
        ds = data.load(n=n, n_queries=n_queries)
        stored = (
            ds.vectors.astype(np.float16).astype(np.float32) if kind == "halfvec" else ds.vectors
        )
        queries = ds.queries
        if kind == "halfvec":
            queries = queries.astype(np.float16).astype(np.float32)
        vectors, query_inputs = list(ds.vectors), list(ds.queries)
        measure, dim = "cosine_distance", ds.dim
    col = vx.get_or_create_collection("bench", dimension=dim, storage=kind)
    t = time.perf_counter()
    col.upsert((data.id_for(i), v, data.metadata_for(i)) for i, v in enumerate(vectors))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    col.create_index(
        method="hnsw",
        measure=measure,
        index_arguments=vecs_core.IndexArgsHNSW(m=BUILD[kind][0], ef_construction=BUILD[kind][1]),
        maintenance_work_mem="1GB",
    )
    build_s = time.perf_counter() - t
    rows = np.arange(n)
    out = {
        "n": n,
        "dim": dim,
        "measure": measure,
        "hnsw": {"m": BUILD[kind][0], "ef_construction": BUILD[kind][1]},
        "load_s": load_s,
        "build_s": build_s,
    }
    for label, filters, allowed in (
        ("unfiltered", None, rows),
        ("filtered_1pct", FILTER, rows[rows % 100 == data.FILTER_CATEGORY]),
    ):
        for q in query_inputs[:20]:  # warm-up
            col.query(data=q, limit=10, filters=filters, measure=measure)
        found, full = [], 0
        t = time.perf_counter()
        for q in query_inputs:
            ids = col.query(data=q, limit=10, filters=filters, measure=measure)
            found.append(ids)
            full += len(ids) == 10
        seconds = time.perf_counter() - t
        out[label] = {
            "recall": round(recall_at_k(found, stored, queries, allowed), 4),
            "full_limit": full / len(query_inputs),
            "qps": round(len(query_inputs) / seconds, 1),
        }
    with vx._source.get().connection() as conn:  # sizes straight from the catalog
        out["table_bytes"], out["index_bytes"] = conn.execute(
            "SELECT pg_table_size('kinds.bench'), pg_indexes_size('kinds.bench')"
        ).fetchone()
    vx.disconnect()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--url", default=None)
    parser.add_argument("--kinds", default="vector,halfvec,sparsevec")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    db = common.open_db(args.url)
    try:
        results = {kind: run_kind(db, kind, args.n, args.queries) for kind in args.kinds.split(",")}
    finally:
        db.close()
    ratio = float("nan")
    if "vector" in results and "halfvec" in results:
        v, h = results["vector"], results["halfvec"]
        ratio = (h["table_bytes"] + h["index_bytes"]) / (v["table_bytes"] + v["index_bytes"])
    report = {
        "machine": common.machine_info(),
        "server": db.info,
        "kinds": results,
        "halfvec_bytes_vs_vector": round(ratio, 3),
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "kinds.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("| kind | recall@10 | full limit | QPS | recall@10, 1% filter | full limit | QPS |"
          " table MB | index MB | load s | build s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, r in results.items():
        u, f = r["unfiltered"], r["filtered_1pct"]
        print(
            f"| {kind} | {u['recall']:.3f} | {u['full_limit']:.0%} | {u['qps']:.0f} "
            f"| {f['recall']:.3f} | {f['full_limit']:.0%} | {f['qps']:.0f} "
            f"| {r['table_bytes'] / 1e6:.1f} | {r['index_bytes'] / 1e6:.1f} "
            f"| {r['load_s']:.1f} | {r['build_s']:.1f} |"
        )
    print(f"\nhalfvec table+index bytes / vector: {ratio:.2f}")


if __name__ == "__main__":
    main()
