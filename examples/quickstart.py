"""vecs-core quick start: an embedded PostgreSQL + pgvector, no setup.

Creates a collection, upserts records, builds an HNSW index and runs filtered similarity
queries. Run it twice: the data persists on disk between runs.
"""

from __future__ import annotations

import numpy as np

import vecs_core as vecs


def main() -> None:
    rng = np.random.default_rng(42)
    genres = ["drama", "comedy", "sci-fi", "documentary"]

    # No URL: starts (or joins) the embedded server; data lives in the user's data directory.
    with vecs.create_client() as vx:
        print(f"connected: pgvector {vx.vector_version}")
        movies = vx.get_or_create_collection(name="quickstart_movies", dimension=64)

        records = [
            (
                f"movie-{i:04d}",
                rng.normal(size=64).astype(np.float32),
                {"genre": genres[i % 4], "year": 1960 + i % 60, "rating": round(i % 10 / 2, 1)},
            )
            for i in range(5_000)
        ]
        movies.upsert(records)
        print(f"upserted {len(records)} records; the collection holds {len(movies)}")

        movies.create_index(
            method=vecs.IndexMethod.hnsw,
            measure=vecs.IndexMeasure.cosine_distance,
            index_arguments=vecs.IndexArgsHNSW(m=16, ef_construction=64),
        )
        print(f"index: {movies.index}")

        query = records[7][1] + rng.normal(scale=0.1, size=64).astype(np.float32)
        print("\nnearest 5, any genre:")
        for rid, distance, meta in movies.query(
            data=query, limit=5, include_value=True, include_metadata=True
        ):
            print(f"  {rid}  distance={distance:.4f}  {meta}")

        flt = {"genre": {"$eq": "sci-fi"}, "year": {"$gte": 1990, "$lt": 2010}}
        print(f"\nnearest 5 with filter {flt}:")
        for rid, distance, meta in movies.query(
            data=query, limit=5, filters=flt, include_value=True, include_metadata=True
        ):
            print(f"  {rid}  distance={distance:.4f}  {meta}")

        nineties = {"genre": "sci-fi", "year": {"$gte": 1990, "$lt": 2000}}
        print(f"\nsci-fi movies from the 90s: {movies.count(nineties)}")


if __name__ == "__main__":
    main()
