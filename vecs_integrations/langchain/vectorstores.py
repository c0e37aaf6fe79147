"""``VecsVectorStore``: a LangChain ``VectorStore`` on vecs_core (PostgreSQL + pgvector).

Every operation has a native async twin running on :func:`vecs_core.create_async_client`
(no thread pool). The collection is created lazily on first use. MMR search lives in
``_mmr``, keyword and hybrid search in ``_hybrid``, the retriever in ``_retriever``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from typing_extensions import Self

import vecs_core
from vecs_core import ArgError

from .._shared import ClientPair, CollectionPair, with_session
from ._filters import translate_filter
from ._hybrid import HybridSearch
from ._mmr import MMRSearch
from ._retriever import VecsRetriever

DEFAULT_COLLECTION = "langchain"

Record = tuple[str, list[float], dict[str, Any], str]


class VecsVectorStore(HybridSearch, MMRSearch):
    """LangChain vector store backed by a vecs_core collection.

    Args:
        embedding: the LangChain :class:`~langchain_core.embeddings.Embeddings` model.
        collection_name: the vecs collection (a table in ``schema``).
        connection: a PostgreSQL URL for the clients the store creates.
        client: an existing :class:`vecs_core.Client` for the sync methods.
        async_client: an existing :class:`vecs_core.AsyncClient` for the async methods.
        measure: distance measure: ``cosine_distance`` (default), ``l2_distance``,
            ``max_inner_product`` or ``l1_distance``.
        dimension: vector dimension; when omitted it is taken from the first vectors the
            store sees (or by embedding a probe text).
        schema: the collection's schema; defaults to the passed-in client's, else ``"vecs"``.
        warn_unindexed: re-enable vecs_core's ``UserWarning`` for searches no vector index
            covers (silenced by default: most LangChain stores are small and an exact scan is
            what they want; build an index with :meth:`create_index` for large ones).
        probes: default IVFFlat ``probes`` passed to every search.
        ef_search: default HNSW ``ef_search`` passed to every search.
        storage: how a collection the store creates keeps vectors: ``"vector"`` (default),
            ``"halfvec"`` (half the size) or ``"sparsevec"`` (see
            :meth:`vecs_core.Client.get_or_create_collection`).

    Clients and their ownership (the same rule as the LlamaIndex store): the store creates
    the clients it is not given, lazily and without I/O in this constructor, from
    ``connection`` or, with neither ``connection`` nor clients, from ``$VECS_DATABASE_URL`` or
    the embedded PostgreSQL server (data kept on disk), like :func:`vecs_core.create_client`.
    **A client the store created is closed by** :meth:`close` **(the sync one) and**
    :meth:`aclose` **(both); a client passed in is never closed by the store.** Given only
    ``client`` (or only ``async_client``) and no ``connection``, the other side's methods raise
    :class:`~vecs_core.ArgError`. Closing releases connections; a later call reconnects.

    Raises:
        ArgError: an unknown measure, a bad dimension, a ``connection`` that is not a string,
            or clients and ``schema`` naming different schemas.
    """

    def __init__(
        self,
        embedding: Embeddings,
        collection_name: str = DEFAULT_COLLECTION,
        *,
        connection: str | None = None,
        client: vecs_core.Client | None = None,
        async_client: vecs_core.AsyncClient | None = None,
        measure: vecs_core.IndexMeasure | str = vecs_core.IndexMeasure.cosine_distance,
        dimension: int | None = None,
        schema: str | None = None,
        warn_unindexed: bool = False,
        probes: int | None = None,
        ef_search: int | None = None,
        storage: str | None = None,
    ) -> None:
        if dimension is not None and (
            isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1
        ):
            raise ArgError(f"dimension must be a positive int or None, got {dimension!r}")
        self.embedding = embedding
        self.collection_name = collection_name
        self.measure = vecs_core.parse_measure(measure)
        self.warn_unindexed = warn_unindexed
        self.probes = probes
        self.ef_search = ef_search
        self._clients = ClientPair(
            connection=connection, client=client, async_client=async_client, schema=schema
        )
        self._collections = CollectionPair(self._clients, collection_name, dimension, storage)

    # ------------------------------------------------------------------ writing
    @staticmethod
    def _prepare(
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        n = len(texts)
        if metadatas is not None and len(metadatas) != n:
            raise ArgError(f"got {len(metadatas)} metadatas for {n} texts; pass one per text")
        if ids is not None and len(ids) != n:
            raise ArgError(f"got {len(ids)} ids for {n} texts; pass one per text")
        out_ids = [
            str(given) if given is not None and given != "" else str(uuid.uuid4())
            for given in (ids if ids is not None else [None] * n)
        ]
        metas = [dict(m) if m else {} for m in (metadatas or [None] * n)]
        return out_ids, metas

    @staticmethod
    def _records(
        ids: list[str], vectors: list[list[float]], metas: list[dict[str, Any]], texts: list[str]
    ) -> list[Record]:
        if len(vectors) != len(ids):
            raise ArgError(
                f"the embedding model returned {len(vectors)} vectors for {len(ids)} texts"
            )
        return list(zip(ids, vectors, metas, texts))

    def _add(
        self,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
    ) -> list[str]:
        texts_ = list(texts)
        out_ids, metas = self._prepare(texts_, metadatas, ids)
        if not texts_:
            return []
        vectors = self.embedding.embed_documents(texts_)
        col = self._collection(len(vectors[0]) if vectors else None)
        col.upsert(self._records(out_ids, vectors, metas, texts_))
        return out_ids

    async def _aadd(
        self,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
    ) -> list[str]:
        texts_ = list(texts)
        out_ids, metas = self._prepare(texts_, metadatas, ids)
        if not texts_:
            return []
        vectors = await self.embedding.aembed_documents(texts_)
        col = await self._acollection(len(vectors[0]) if vectors else None)
        await col.upsert(self._records(out_ids, vectors, metas, texts_))
        return out_ids

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed ``texts`` and upsert them (an existing id is overwritten). Returns the ids.

        Raises:
            ArgError: ``metadatas`` or ``ids`` of another length than ``texts``.
        """
        return self._add(texts, metadatas, ids)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        return await self._aadd(texts, metadatas, ids)

    @staticmethod
    def _doc_ids(documents: Sequence[Document], kwargs: dict[str, Any]) -> list[str | None]:
        ids = kwargs.pop("ids", None)
        if ids is not None:
            if len(ids) != len(documents):
                raise ArgError(f"got {len(ids)} ids for {len(documents)} documents")
            return list(ids)
        return [doc.id for doc in documents]

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Upsert documents. Ids come from ``ids=``, else ``Document.id``, else a new uuid4.
        The documents themselves are not modified."""
        ids = self._doc_ids(documents, kwargs)
        return self._add([d.page_content for d in documents], [d.metadata for d in documents], ids)

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = self._doc_ids(documents, kwargs)
        texts = [d.page_content for d in documents]
        return await self._aadd(texts, [d.metadata for d in documents], ids)

    @staticmethod
    def _delete_target(
        ids: list[str] | None, filter: Mapping[str, Any] | None
    ) -> list[str] | dict[str, Any] | None:
        """Ids to delete, a core filter, or None for "everything"; checked before any I/O."""
        where = translate_filter(filter)
        if ids is not None and where is not None:
            raise ArgError("delete takes ids or filter, not both")
        if ids is not None:
            return [str(i) for i in ids]
        return where

    def delete(
        self,
        ids: list[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Delete by ``ids`` (missing ids are fine), or by metadata ``filter``; with neither,
        delete every document in the collection (LangChain's ``ids=None`` semantics).

        Raises:
            ArgError: both ``ids`` and a non-empty ``filter``.
            FilterError: a malformed filter (one that is not a dict included).
        """
        target = self._delete_target(ids, filter)
        col = self._collections.existing()
        col = col if col is None else with_session(col, self._session)
        if col is None:  # nothing to delete, and no table made for it
            return True
        if isinstance(target, list):
            if target:
                col.delete(ids=target)
        elif target is not None:
            col.delete(filters=target)
        else:
            col.clear()
        return True

    async def adelete(
        self,
        ids: list[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        target = self._delete_target(ids, filter)
        col = await self._collections.aexisting()
        col = col if col is None else with_session(col, self._session)
        if col is None:
            return True
        if isinstance(target, list):
            if target:
                await col.delete(ids=target)
        elif target is not None:
            await col.delete(filters=target)
        else:
            await col.clear()
        return True

    # ------------------------------------------------------------------ reading
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents for ``ids`` in the order asked; missing ids are skipped."""
        if not ids:
            return []
        items = self._reading().get([str(i) for i in ids])
        return [self._document(it.id, it.text, it.metadata) for it in items]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        if not ids:
            return []
        col = await self._areading()
        items = await col.get([str(i) for i in ids])
        return [self._document(it.id, it.text, it.metadata) for it in items]

    def similarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents nearest to ``embedding`` with their distance (smaller is nearer; for
        ``max_inner_product`` the negative inner product).

        Raises:
            ArgError: ``k`` not an int in 0..1000 (0 gives no documents).
            FilterError: a malformed filter (one that is not a dict included).
        """
        args = self._search_args(k, filter, kwargs)
        return self._scored(self._hits(embedding, args))

    async def asimilarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        args = self._search_args(k, filter, kwargs)
        return self._scored(await self._ahits(embedding, args))

    def similarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents nearest to ``query`` with their distance (see
        :meth:`similarity_search_with_score_by_vector`)."""
        embedding = self.embedding.embed_query(query)
        return self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)

    async def asimilarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        embedding = await self.embedding.aembed_query(query)
        return await self.asimilarity_search_with_score_by_vector(embedding, k, filter, **kwargs)

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        scored = self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [d for d, _ in scored]

    async def asimilarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        scored = await self.asimilarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [d for d, _ in scored]

    def similarity_search(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The ``k`` documents nearest to ``query``, optionally restricted by ``filter``."""
        return [d for d, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        scored = await self.asimilarity_search_with_score(query, k, filter, **kwargs)
        return [d for d, _ in scored]

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        **kwargs: Any,
    ) -> Self:
        """A store on ``collection_name`` holding ``texts`` (other keyword arguments go to the
        constructor: ``connection``, ``client``, ``measure``...)."""
        store = cls(embedding, collection_name, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        **kwargs: Any,
    ) -> Self:
        store = cls(embedding, collection_name, **kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    def as_retriever(self, **kwargs: Any) -> VecsRetriever:
        """A retriever; ``search_type`` is ``similarity`` (default),
        ``similarity_score_threshold``, ``mmr`` or ``hybrid``."""
        tags = kwargs.pop("tags", None) or [*self._get_retriever_tags()]
        return VecsRetriever(vectorstore=self, tags=tags, **kwargs)
