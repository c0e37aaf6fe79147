"""LangChain adapter benchmark: ``add_documents`` of 20,000 documents with pre-computed embeddings
and ``similarity_search_by_vector`` latency, vecs_integrations.langchain vs langchain-postgres.

    python benchmarks/bench_langchain_adapter.py [--n 20000] [--queries 300] [--url URL]

Both stores get the same documents and an ``Embeddings`` that looks vectors up in a dict (so
embedding costs nothing and is the same for both); searches are exact (no vector index), on each
store's own tables, sequential, interleaved in blocks of 50 queries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import data


class Lookup:
    """An ``Embeddings`` whose vectors were computed beforehand (text -> vector)."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--url")
    a = p.parse_args(argv)
    from langchain_core.documents import Document
    from vecs_integrations.langchain import VecsVectorStore

    ds = data.load(n=max(a.n, 10_000))
    texts = [f"document {i}" for i in range(a.n)]
    table = {t: ds.vectors[i].tolist() for i, t in enumerate(texts)}
    docs = [
        Document(page_content=t, metadata=data.metadata_for(i), id=data.id_for(i))
        for i, t in enumerate(texts)
    ]
    queries = [q.tolist() for q in ds.queries[: a.queries]]
    db = common.open_db(a.url)
    out: dict[str, dict[str, float]] = {}
    try:
        common.reset_schema(db)
        stores = {
            "vecs_core VecsVectorStore": VecsVectorStore(
                Lookup(table), "lc_adapter_bench", connection=db.url, dimension=ds.dim
            )
        }
        try:
            from langchain_postgres import PGVector

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stores["langchain-postgres PGVector"] = PGVector(
                    embeddings=Lookup(table),
                    connection=db.sqlalchemy_psycopg3_url,
                    embedding_length=ds.dim,
                    collection_name="lc_adapter_bench",
                    pre_delete_collection=True,
                    use_jsonb=True,
                )
        except ImportError:
            print("langchain-postgres is not installed: measuring vecs_core only")
        for name, store in stores.items():
            t = time.perf_counter()
            for s in range(0, a.n, 5_000):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    store.add_documents(docs[s : s + 5_000])
            secs = time.perf_counter() - t
            out[name] = {"add_documents_per_s": round(a.n / secs, 1)}
        spent = dict.fromkeys(stores, 0.0)
        for store in stores.values():  # warm-up
            for q in queries[:20]:
                store.similarity_search_by_vector(q, k=10)
        for s in range(0, len(queries), 50):
            for name, store in stores.items():
                t = time.perf_counter()
                for q in queries[s : s + 50]:
                    assert len(store.similarity_search_by_vector(q, k=10)) == 10
                spent[name] += time.perf_counter() - t
        for name in stores:
            out[name]["search_ms"] = round(1000 * spent[name] / len(queries), 3)
    finally:
        db.close()
    print(f"\n{a.n:,} documents x {ds.dim} dims, {len(queries)} exact searches (k=10)\n")
    print("| store | add_documents (docs/s) | similarity_search_by_vector (ms) |")
    print("|---|---:|---:|")
    for name, r in out.items():
        print(f"| {name} | {r['add_documents_per_s']:,.0f} | {r['search_ms']:.2f} |")
    path = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results", "langchain_adapter.json"
    )
    with open(path, "w") as f:
        json.dump({"n": a.n, "queries": len(queries), "results": out}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
