"""Make source tables with the real peer packages, for ``test_migrate.py``.

Run by a Python that has ``langchain-postgres`` and ``llama-index-vector-stores-postgres``
(they pull their own dependencies, so they live in their own virtualenv, never the project's):

    python tests/peer_tables.py LAYOUT DATABASE_URL SCHEMA

``LAYOUT`` is ``langchain``, ``langchain-v2`` or ``llama-index``. The tables go into ``SCHEMA``
with the rows of :func:`rows`; the script prints nothing on success.
"""

from __future__ import annotations

import sys
from typing import Any


def rows() -> list[tuple[str, list[float], dict[str, Any], str]]:
    """The rows every layout stores: (id, embedding, metadata, text)."""
    return [
        (
            f"00000000-0000-4000-8000-{i:012d}",
            [float(i), 1.0, -0.5 * i],
            {"n": i, "tag": "odd" if i % 2 else "even", "tags": [] if i == 3 else ["t"]},
            f"text number {i}",
        )
        for i in range(1, 26)
    ]


class _Fixed:
    """An embedding model that returns the stored vectors (by text)."""

    def __init__(self) -> None:
        self.by_text = {text: vec for _, vec, _, text in rows()}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.by_text.get(t, [1.0, 0.0, 0.0]) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.by_text.get(text, [1.0, 0.0, 0.0])

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


def _sa_url(url: str, schema: str | None = None) -> str:
    sa = url.replace("postgresql://", "postgresql+psycopg://", 1)
    if schema is not None:
        sa += ("&" if "?" in sa else "?") + f"options=-csearch_path%3D{schema},public"
    return sa


def langchain(url: str, schema: str) -> None:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_postgres import PGVector

    class Fixed(_Fixed, Embeddings):
        pass

    store = PGVector(
        embeddings=Fixed(),
        collection_name="my_docs",
        connection=_sa_url(url, schema),
        use_jsonb=True,
    )
    data = rows()
    store.add_documents(
        [Document(page_content=text, metadata=md) for _, _, md, text in data],
        ids=[rid for rid, *_ in data],
    )
    other = PGVector(embeddings=Fixed(), collection_name="other", connection=_sa_url(url, schema))
    other.add_documents([Document(page_content="not mine", metadata={})], ids=["other-1"])


def langchain_v2(url: str, schema: str) -> None:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_postgres import Column, PGEngine, PGVectorStore

    class Fixed(_Fixed, Embeddings):
        pass

    engine = PGEngine.from_connection_string(url=_sa_url(url))
    engine.init_vectorstore_table(
        table_name="lc_store",
        vector_size=3,
        schema_name=schema,
        metadata_columns=[Column("tag", "TEXT"), Column("n", "INTEGER")],
    )
    store = PGVectorStore.create_sync(
        engine=engine,
        table_name="lc_store",
        schema_name=schema,
        embedding_service=Fixed(),
        metadata_columns=["tag", "n"],
    )
    data = rows()
    store.add_documents(
        [Document(page_content=text, metadata=md) for _, _, md, text in data],
        ids=[rid for rid, *_ in data],
    )


def llama_index(url: str, schema: str) -> None:
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.postgres import PGVectorStore

    store = PGVectorStore.from_params(
        connection_string=_sa_url(url),
        async_connection_string=_sa_url(url),
        table_name="li_store",
        schema_name=schema,
        embed_dim=3,
    )
    store.add(
        [
            TextNode(id_=f"node-{rid[-4:]}", text=text, metadata=md, embedding=vec)
            for rid, vec, md, text in rows()
        ]
    )


if __name__ == "__main__":
    layout, database_url, target_schema = sys.argv[1:4]
    {"langchain": langchain, "langchain-v2": langchain_v2, "llama-index": llama_index}[layout](
        database_url, target_schema
    )
