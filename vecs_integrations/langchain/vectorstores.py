"""``VecsVectorStore``: a LangChain ``VectorStore`` on vecs_core (PostgreSQL + pgvector).

Every operation has a native async twin running on :func:`vecs_core.create_async_client`
(no thread pool). The collection is created lazily on first use.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore, VectorStoreRetriever
from typing_extensions import Self

import vecs_core
from vecs_core.exc import ArgError

from ._filters import translate_filter
from ._mmr import mmr_select

DEFAULT_COLLECTION = "langchain"
_PROBE_TEXT = "dimension probe"
#: The core's largest ``limit`` per search.
MAX_FETCH = 1000


class VecsVectorStore(VectorStore):
    """LangChain vector store backed by a vecs_core collection.

    Args:
        embedding: the LangChain :class:`~langchain_core.embeddings.Embeddings` model.
        collection_name: the vecs collection (a table in ``schema``).
        connection: a PostgreSQL URL. Both a sync and an async client are created from it
            (lazily) and closed by :meth:`close` / :meth:`aclose`.
        client: an existing :class:`vecs_core.Client` for the sync methods (not closed by the
            store).
        async_client: an existing :class:`vecs_core.AsyncClient` for the async methods.
        measure: distance measure: ``cosine_distance`` (default), ``l2_distance``,
            ``max_inner_product`` or ``l1_distance``.
        dimension: vector dimension; when omitted it is taken from the first vectors the
            store sees (or by embedding a probe text).
        schema: schema for clients the store creates itself (ignored for ``client`` /
            ``async_client``, which carry their own).
        warn_unindexed: re-enable vecs_core's ``UserWarning`` for searches no vector index
            covers (silenced by default: most LangChain stores are small and an exact scan is
            what they want; build an index with :meth:`create_index` for large ones).
        probes, ef_search: default index tuning passed to every search.

    With neither ``connection`` nor clients, the store uses ``$VECS_DATABASE_URL`` or the
    embedded PostgreSQL server (data kept on disk), like :func:`vecs_core.create_client`.
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
        schema: str = "vecs",
        warn_unindexed: bool = False,
        probes: int | None = None,
        ef_search: int | None = None,
    ) -> None:
        if connection is not None and (client is not None or async_client is not None):
            raise ValueError("pass either connection= or client=/async_client=, not both")
        if connection is not None and not isinstance(connection, str):
            raise TypeError(f"connection must be a URL string, got {type(connection).__name__}")
        self.embedding = embedding
        self.collection_name = collection_name
        self.measure = vecs_core.IndexMeasure(measure)
        self.schema = schema
        self.warn_unindexed = warn_unindexed
        self.probes = probes
        self.ef_search = ef_search
        self._dimension = dimension
        self._connection = connection
        # With a sync client only (or an async client only), the other side is unavailable;
        # with neither, both are created from ``connection`` (or the default database).
        self._own_clients = client is None and async_client is None
        self._client = client
        self._async_client = async_client
        self._owns_sync = False
        self._owns_async = False
        self._col: vecs_core.Collection | None = None
        self._acol: vecs_core.AsyncCollection | None = None

    # ------------------------------------------------------------------ clients & collection
    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    @property
    def client(self) -> vecs_core.Client:
        """The sync client (created on first use when the store owns its clients)."""
        if self._client is None:
            if not self._own_clients:
                raise ValueError(
                    "this VecsVectorStore was given only an async_client; pass client= (or "
                    "connection=) to use the sync methods"
                )
            self._client = vecs_core.create_client(self._connection, schema=self.schema)
            self._owns_sync = True
        return self._client

    @property
    def async_client(self) -> vecs_core.AsyncClient:
        """The async client (created on first use when the store owns its clients)."""
        if self._async_client is None:
            if not self._own_clients:
                raise ValueError(
                    "this VecsVectorStore was given only a sync client; pass async_client= (or "
                    "connection=) to use the async methods"
                )
            self._async_client = vecs_core.create_async_client(self._connection, schema=self.schema)
            self._owns_async = True
        return self._async_client

    def _collection(self, dimension: int | None = None) -> vecs_core.Collection:
        if self._col is None:
            dim = self._dimension or dimension
            try:
                col = self.client.get_or_create_collection(self.collection_name, dimension=dim)
            except ArgError:
                if dim is not None:
                    raise
                # A new collection needs a dimension: embed a probe text.
                dim = len(self.embedding.embed_query(_PROBE_TEXT))
                col = self.client.get_or_create_collection(self.collection_name, dimension=dim)
            self._col = col
        return self._col

    async def _acollection(self, dimension: int | None = None) -> vecs_core.AsyncCollection:
        if self._acol is None:
            dim = self._dimension or dimension
            aclient = self.async_client
            try:
                col = await aclient.get_or_create_collection(self.collection_name, dimension=dim)
            except ArgError:
                if dim is not None:
                    raise
                dim = len(await self.embedding.aembed_query(_PROBE_TEXT))
                col = await aclient.get_or_create_collection(self.collection_name, dimension=dim)
            self._acol = col
        return self._acol

    def close(self) -> None:
        """Close the sync client if the store created it."""
        if self._owns_sync and self._client is not None:
            self._client.disconnect()

    async def aclose(self) -> None:
        """Close the async client if the store created it."""
        if self._owns_async and self._async_client is not None:
            await self._async_client.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def delete_collection(self) -> None:
        """Drop the collection and all its documents (it is recreated on next use)."""
        self.client.delete_collection(self.collection_name)
        self._col = None
        self._acol = None

    async def adelete_collection(self) -> None:
        await self.async_client.delete_collection(self.collection_name)
        self._col = None
        self._acol = None

    def create_index(self, **kwargs: Any) -> vecs_core.VectorIndex:
        """Build a vector index for the store's measure (see ``Collection.create_index``)."""
        kwargs.setdefault("measure", self.measure)
        return self._collection().create_index(**kwargs)

    async def acreate_index(self, **kwargs: Any) -> vecs_core.VectorIndex:
        kwargs.setdefault("measure", self.measure)
        col = await self._acollection()
        return await col.create_index(**kwargs)

    # ------------------------------------------------------------------ writing
    @staticmethod
    def _prepare(
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        n = len(texts)
        if metadatas is not None and len(metadatas) != n:
            raise ValueError(f"got {len(metadatas)} metadatas for {n} texts")
        if ids is not None and len(ids) != n:
            raise ValueError(f"got {len(ids)} ids for {n} texts")
        out_ids = [
            str(given) if given is not None and given != "" else str(uuid.uuid4())
            for given in (ids if ids is not None else [None] * n)
        ]
        metas = [dict(m) if m else {} for m in (metadatas or [None] * n)]
        return out_ids, metas

    @staticmethod
    def _records(
        ids: list[str],
        vectors: list[list[float]],
        metas: list[dict[str, Any]],
        texts: Sequence[str],
    ) -> list[tuple[str, list[float], dict[str, Any], str]]:
        if len(vectors) != len(ids):
            raise ValueError(
                f"the embedding model returned {len(vectors)} vectors for {len(ids)} texts"
            )
        return list(zip(ids, vectors, metas, texts))

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed ``texts`` and upsert them (an existing id is overwritten). Returns the ids."""
        texts_ = list(texts)
        out_ids, metas = self._prepare(texts_, metadatas, ids)
        if not texts_:
            return []
        vectors = self.embedding.embed_documents(texts_)
        col = self._collection(len(vectors[0]) if vectors else None)
        col.upsert(self._records(out_ids, vectors, metas, texts_))
        return out_ids

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts_ = list(texts)
        out_ids, metas = self._prepare(texts_, metadatas, ids)
        if not texts_:
            return []
        vectors = await self.embedding.aembed_documents(texts_)
        col = await self._acollection(len(vectors[0]) if vectors else None)
        await col.upsert(self._records(out_ids, vectors, metas, texts_))
        return out_ids

    @staticmethod
    def _doc_ids(documents: Sequence[Document], kwargs: dict[str, Any]) -> list[str | None]:
        ids = kwargs.pop("ids", None)
        if ids is not None:
            if len(ids) != len(documents):
                raise ValueError(f"got {len(ids)} ids for {len(documents)} documents")
            return list(ids)
        return [doc.id for doc in documents]

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Upsert documents. Ids come from ``ids=``, else ``Document.id``, else a new uuid4.
        The documents themselves are not modified."""
        ids = self._doc_ids(documents, kwargs)
        return self.add_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids=ids,  # type: ignore[arg-type]
        )

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = self._doc_ids(documents, kwargs)
        return await self.aadd_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids=ids,  # type: ignore[arg-type]
        )

    def delete(
        self,
        ids: list[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Delete by ``ids`` (missing ids are fine), or by metadata ``filter``; with neither,
        delete every document in the collection (LangChain's ``ids=None`` semantics)."""
        col = self._collection()
        if ids is not None:
            if ids:
                col.delete(ids=[str(i) for i in ids])
        elif filter:
            col.delete(filters=translate_filter(filter))
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
        col = await self._acollection()
        if ids is not None:
            if ids:
                await col.delete(ids=[str(i) for i in ids])
        elif filter:
            await col.delete(filters=translate_filter(filter))
        else:
            await col.clear()
        return True

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _document(id: str, text: str | None, metadata: Mapping[str, Any]) -> Document:
        return Document(id=id, page_content=text or "", metadata=dict(metadata))

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents for ``ids`` in the order asked; missing ids are skipped."""
        if not ids:
            return []
        items = self._collection().get([str(i) for i in ids])
        return [self._document(it.id, it.text, it.metadata) for it in items]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        if not ids:
            return []
        col = await self._acollection()
        items = await col.get([str(i) for i in ids])
        return [self._document(it.id, it.text, it.metadata) for it in items]

    def _search_kwargs(
        self, k: int, filter: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "limit": k,
            "filters": translate_filter(filter),
            "measure": self.measure,
            "probes": kwargs.get("probes", self.probes),
            "ef_search": kwargs.get("ef_search", self.ef_search),
        }

    def _hits(
        self,
        embedding: Sequence[float],
        k: int,
        filter: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
        include_vector: bool = False,
    ) -> list[vecs_core.Hit]:
        args = self._search_kwargs(k, filter, kwargs)
        if k <= 0:
            return []
        col = self._collection(len(embedding))
        return col.search(
            list(embedding),
            include_vector=include_vector,
            warn_unindexed=self.warn_unindexed,
            **args,
        )

    async def _ahits(
        self,
        embedding: Sequence[float],
        k: int,
        filter: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
        include_vector: bool = False,
    ) -> list[vecs_core.Hit]:
        args = self._search_kwargs(k, filter, kwargs)
        if k <= 0:
            return []
        col = await self._acollection(len(embedding))
        return await col.search(
            list(embedding),
            include_vector=include_vector,
            warn_unindexed=self.warn_unindexed,
            **args,
        )

    def _scored(self, hits: list[vecs_core.Hit]) -> list[tuple[Document, float]]:
        return [
            (
                self._document(h.id, h.text, h.metadata),
                float(h.distance if h.distance is not None else 0.0),
            )
            for h in hits
        ]

    def similarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents nearest to ``embedding`` with their distance (smaller is nearer; for
        ``max_inner_product`` the negative inner product)."""
        return self._scored(self._hits(embedding, k, filter, kwargs))

    async def asimilarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        return self._scored(await self._ahits(embedding, k, filter, kwargs))

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
        return [
            d
            for d, _ in self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        ]

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

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Distance -> relevance in [0, 1] for the store's measure (vecs_core.relevance_score)."""
        return functools.partial(vecs_core.relevance_score, self.measure)

    # ------------------------------------------------------------------ MMR
    def _mmr(
        self,
        embedding: Sequence[float],
        hits: list[vecs_core.Hit],
        k: int,
        lambda_mult: float,
    ) -> list[tuple[Document, float]]:
        if not hits:
            return []
        vectors = np.stack([np.asarray(h.vector, dtype=np.float64) for h in hits])
        order = mmr_select(embedding, vectors, k, lambda_mult)
        return self._scored([hits[i] for i in order])

    @staticmethod
    def _fetch_k(k: int, fetch_k: int) -> int:
        return min(max(k, fetch_k), MAX_FETCH)

    def max_marginal_relevance_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """MMR over the ``fetch_k`` nearest documents; ``(document, distance)`` pairs in
        selection order."""
        if k <= 0:
            return []
        hits = self._hits(embedding, self._fetch_k(k, fetch_k), filter, kwargs, include_vector=True)
        return self._mmr(embedding, hits, k, lambda_mult)

    async def amax_marginal_relevance_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        if k <= 0:
            return []
        hits = await self._ahits(
            embedding, self._fetch_k(k, fetch_k), filter, kwargs, include_vector=True
        )
        return self._mmr(embedding, hits, k, lambda_mult)

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Documents chosen by maximal marginal relevance, in selection order.

        Fetches the ``fetch_k`` nearest documents (within ``filter``), then repeatedly picks
        the one maximising ``lambda_mult * sim(query) - (1 - lambda_mult) * max sim(picked)``.
        """
        scored = self.max_marginal_relevance_search_with_score_by_vector(
            embedding, k, fetch_k, lambda_mult, filter, **kwargs
        )
        return [d for d, _ in scored]

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        scored = await self.amax_marginal_relevance_search_with_score_by_vector(
            embedding, k, fetch_k, lambda_mult, filter, **kwargs
        )
        return [d for d, _ in scored]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        embedding = self.embedding.embed_query(query)
        return self.max_marginal_relevance_search_by_vector(
            embedding, k, fetch_k, lambda_mult, filter, **kwargs
        )

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        embedding = await self.embedding.aembed_query(query)
        return await self.amax_marginal_relevance_search_by_vector(
            embedding, k, fetch_k, lambda_mult, filter, **kwargs
        )

    # ------------------------------------------------------------------ hybrid
    @property
    def supports_hybrid(self) -> bool:
        """True when the installed vecs_core has ``hybrid_search`` and ``keyword_search``."""
        return all(
            hasattr(cls, name)
            for cls in (vecs_core.Collection, vecs_core.AsyncCollection)
            for name in ("hybrid_search", "keyword_search")
        )

    def _check_hybrid(self) -> None:
        if not self.supports_hybrid:
            raise NotImplementedError("this vecs_core version has no Collection.hybrid_search")

    def _hybrid_args(
        self, k: int, filter: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        args: dict[str, Any] = {
            "limit": k,
            "filters": translate_filter(filter),
            "measure": self.measure,
        }
        for name in ("full_text_weight", "semantic_weight", "rrf_k", "language"):
            if name in kwargs:
                args[name] = kwargs[name]
        return args

    def _fused(self, hits: list[vecs_core.Hit]) -> list[tuple[Document, float]]:
        return [(self._document(h.id, h.text, h.metadata), float(h.score or 0.0)) for h in hits]

    def keyword_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        language: str = "english",
    ) -> list[tuple[Document, float]]:
        """Full-text search only (vecs_core ``keyword_search``): documents whose text matches
        ``query`` (web-search syntax) with their rank (higher is better). No embedding call."""
        self._check_hybrid()
        if k <= 0:
            return []
        col = self._collection()
        hits = col.keyword_search(
            query, limit=k, filters=translate_filter(filter), language=language
        )
        return self._fused(hits)

    async def akeyword_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        language: str = "english",
    ) -> list[tuple[Document, float]]:
        self._check_hybrid()
        if k <= 0:
            return []
        col = await self._acollection()
        hits = await col.keyword_search(
            query, limit=k, filters=translate_filter(filter), language=language
        )
        return self._fused(hits)

    def hybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Full-text + vector search fused by reciprocal rank (vecs_core ``hybrid_search``).

        Keyword arguments ``full_text_weight``, ``semantic_weight``, ``rrf_k`` and
        ``language`` are passed to the core. Scores are the fused RRF scores (higher is better).
        """
        self._check_hybrid()
        if k <= 0:
            return []
        embedding = self.embedding.embed_query(query)
        col = self._collection(len(embedding))
        hits = col.hybrid_search(query, embedding, **self._hybrid_args(k, filter, kwargs))
        return self._fused(hits)

    async def ahybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        self._check_hybrid()
        if k <= 0:
            return []
        embedding = await self.embedding.aembed_query(query)
        col = await self._acollection(len(embedding))
        hits = await col.hybrid_search(query, embedding, **self._hybrid_args(k, filter, kwargs))
        return self._fused(hits)

    def hybrid_search(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Documents from :meth:`hybrid_search_with_score`, best first."""
        return [d for d, _ in self.hybrid_search_with_score(query, k, filter, **kwargs)]

    async def ahybrid_search(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        scored = await self.ahybrid_search_with_score(query, k, filter, **kwargs)
        return [d for d, _ in scored]

    def search(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """LangChain's ``search`` plus ``search_type="hybrid"``."""
        if search_type == "hybrid":
            return self.hybrid_search(query, **kwargs)
        return super().search(query, search_type, **kwargs)

    async def asearch(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        if search_type == "hybrid":
            return await self.ahybrid_search(query, **kwargs)
        return await super().asearch(query, search_type, **kwargs)

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

    # ------------------------------------------------------------------ retriever
    def as_retriever(self, **kwargs: Any) -> VecsRetriever:
        """A retriever; ``search_type`` is ``similarity`` (default),
        ``similarity_score_threshold``, ``mmr`` or ``hybrid``."""
        tags = kwargs.pop("tags", None) or [*self._get_retriever_tags()]
        return VecsRetriever(vectorstore=self, tags=tags, **kwargs)


class VecsRetriever(VectorStoreRetriever):
    """``VectorStoreRetriever`` that also accepts ``search_type="hybrid"``."""

    allowed_search_types: ClassVar[Collection[str]] = (
        "similarity",
        "similarity_score_threshold",
        "mmr",
        "hybrid",
    )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type == "hybrid":
            store: VecsVectorStore = self.vectorstore  # type: ignore[assignment]
            return store.hybrid_search(query, **(self.search_kwargs | kwargs))
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        **kwargs: Any,
    ) -> list[Document]:
        if self.search_type == "hybrid":
            store: VecsVectorStore = self.vectorstore  # type: ignore[assignment]
            return await store.ahybrid_search(query, **(self.search_kwargs | kwargs))
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)
