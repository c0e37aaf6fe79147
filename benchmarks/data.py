"""Seeded synthetic, embedding-like benchmark data with exact ground truth.

Vectors are drawn around ``n_clusters`` random unit centres plus a shared low-rank component and a
little isotropic noise (so the intrinsic dimension is much lower than ``dim``, as with real text
embeddings), then L2-normalised to float32. Queries come from the same distribution (same
centres, fresh draws). Ground truth is the exact top-k by cosine similarity (= dot product of
unit vectors), computed with batched numpy matmuls and cached in ``benchmarks/.cache/``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

CACHE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache")
FILTER_CATEGORY = 7  # {"category": {"$eq": 7}} matches 1% of rows


def metadata_for(i: int) -> dict:
    return {"category": i % 100, "source": f"s{i % 7}", "year": 1990 + i % 30}


def id_for(i: int) -> str:
    return str(i)


@dataclass
class Dataset:
    vectors: np.ndarray  # (n, dim) float32, unit norm
    queries: np.ndarray  # (q, dim) float32, unit norm
    gt: np.ndarray  # (q, k) int64 row indices of exact top-k by cosine
    gt_filtered: np.ndarray  # (q, k) exact top-k among rows with category == FILTER_CATEGORY
    seed: int

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def records(self, start: int = 0, stop: int | None = None, prefix: str = ""):
        """Yield ``(id, vector, metadata)`` tuples (vectors as float32 numpy rows)."""
        stop = self.n if stop is None else stop
        vecs = self.vectors
        for i in range(start, stop):
            yield (prefix + id_for(i), vecs[i], metadata_for(i))


def _draw(rng, centres, basis, n, chunk=20_000):
    n_clusters, dim = centres.shape
    rank = basis.shape[0]
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        labels = rng.integers(0, n_clusters, size=m)
        low = rng.standard_normal((m, rank), dtype=np.float32) @ basis  # shared low-rank part
        iso = rng.standard_normal((m, dim), dtype=np.float32) * (0.25 / np.sqrt(dim))
        x = centres[labels] + 0.7 * low + iso
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s : s + m] = x
    return out


def exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int = 10, batch: int = 100):
    """Exact top-k row indices by dot product (cosine for unit vectors), best first."""
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for s in range(0, queries.shape[0], batch):
        sims = queries[s : s + batch] @ vectors.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
        out[s : s + batch] = np.take_along_axis(part, order, axis=1)
    return out


def load(
    n: int = 100_000,
    dim: int = 384,
    n_queries: int = 1_000,
    k: int = 10,
    n_clusters: int = 500,
    rank: int = 48,
    seed: int = 42,
) -> Dataset:
    key = hashlib.sha1(repr((n, dim, n_queries, k, n_clusters, rank, seed, 2)).encode()).hexdigest()
    path = os.path.join(CACHE_DIR, f"data-{n}-{dim}-{key[:10]}.npz")
    if os.path.exists(path):
        z = np.load(path)
        return Dataset(z["vectors"], z["queries"], z["gt"], z["gt_filtered"], seed)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    # z @ basis with z ~ N(0, I_rank) has expected squared norm 1
    basis = rng.standard_normal((rank, dim), dtype=np.float32) / np.float32(np.sqrt(rank * dim))
    vectors = _draw(rng, centres, basis, n)
    queries = _draw(rng, centres, basis, n_queries)
    ds = with_truth(vectors, queries, seed, k)
    save(path, vectors=ds.vectors, queries=ds.queries, gt=ds.gt, gt_filtered=ds.gt_filtered)
    return ds


def with_truth(vectors: np.ndarray, queries: np.ndarray, seed: int, k: int = 10) -> Dataset:
    """A dataset with its exact ground truth: the top-k of every query, over all rows and over
    the rows the 1% filter matches (``category == FILTER_CATEGORY``, i.e. ``i % 100``)."""
    gt = exact_topk(vectors, queries, k)
    rows = np.arange(vectors.shape[0])
    sel = rows[rows % 100 == FILTER_CATEGORY]
    gt_filtered = sel[exact_topk(vectors[sel], queries, k)]
    return Dataset(vectors, queries, gt, gt_filtered, seed)


def save(path: str, **arrays) -> None:
    """Write an ``.npz`` cache file atomically (a crash leaves no half-written cache)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def recall(found_ids, gt_rows) -> float:
    """Mean recall@k: ``found_ids`` is a list (per query) of id lists, ``gt_rows`` the indices."""
    total = 0.0
    for ids, truth in zip(found_ids, gt_rows):
        want = {id_for(int(t)) for t in truth}
        total += len(want.intersection(ids)) / len(want)
    return total / len(gt_rows)


if __name__ == "__main__":
    import time

    t = time.perf_counter()
    d = load()
    print(f"{d.n} x {d.dim}, {len(d.queries)} queries, {time.perf_counter() - t:.1f}s")
    top = np.einsum("qd,qkd->qk", d.queries, d.vectors[d.gt])
    print("mean top-1 / top-10 cosine:", top[:, 0].mean(), top[:, 9].mean())
    rnd = d.queries[:100] @ d.vectors[:1000].T
    print("mean random-pair cosine:", rnd.mean(), "p99:", np.percentile(rnd, 99))
