"""HNSW build parameters against recall per millisecond: which ``m`` / ``ef_construction`` (and
which default ``ef_search``) give recall >= 0.95 fastest, and what each costs to build.

    python benchmarks/bench_hnsw_params.py [--url URL] [--n 100000]

One collection (``vector``, cosine), rebuilt per parameter pair with ``maintenance_work_mem``
2GB; per build, 300 queries at ef_search 10..160, 3 passes, median QPS, recall@10 vs exact.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = [(16, 64), (16, 128), (24, 64), (32, 128)]
EF = [10, 20, 40, 80, 160]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    a = p.parse_args()
    warnings.simplefilter("ignore")
    import vecs_core

    ds = data.load(n=a.n)
    qs, gt = ds.queries[: a.queries], ds.gt[: a.queries]
    db = common.open_db(a.url, shared_buffers="2GB")
    res: dict = {"machine": common.machine_info(), "server": db.info, "n": ds.n, "builds": []}
    try:
        vx = vecs_core.create_client(db.url, schema="params")
        col = vx.get_or_create_collection("p", dimension=ds.dim)
        if col.count() != ds.n:
            col.upsert((data.id_for(i), ds.vectors[i], {}) for i in range(ds.n))
        for m, efc in PAIRS:
            t = time.perf_counter()
            col.create_index(
                method="hnsw",
                index_arguments=vecs_core.IndexArgsHNSW(m=m, ef_construction=efc),
                maintenance_work_mem="2GB",
            )
            build = time.perf_counter() - t
            row: dict = {"m": m, "ef_construction": efc, "build_s": round(build, 1), "ef": {}}
            for ef in EF:
                for q in qs[:20]:
                    col.query(data=q, ef_search=ef)
                passes, found = [], []
                for _ in range(3):
                    t = time.perf_counter()
                    found = [col.query(data=q, ef_search=ef) for q in qs]
                    passes.append(len(qs) / (time.perf_counter() - t))
                row["ef"][ef] = {
                    "qps": round(statistics.median(passes), 1),
                    "recall": round(data.recall(found, gt), 4),
                }
            ok = [(ef, r) for ef, r in row["ef"].items() if r["recall"] >= 0.95]
            row["first_ef_at_0.95"] = ok[0][0] if ok else None
            row["qps_at_0.95"] = ok[0][1]["qps"] if ok else None
            row["load"] = round(os.getloadavg()[0], 2)
            res["builds"].append(row)
            print(json.dumps(row), flush=True)
        vx.disconnect()
    finally:
        db.close()
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, f"hnsw-params-{ds.n}.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
