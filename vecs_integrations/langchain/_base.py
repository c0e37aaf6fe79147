"""Internals shared by the parts of the LangChain store: clients and collection, search calls,
result conversion. :class:`~vecs_integrations.langchain.VecsVectorStore` sets the attributes
declared here in its constructor; the search mixins (``_mmr``, ``_hybrid``) build on them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from typing_extensions import Self

import vecs_core

from .._shared import ClientPair, CollectionPair, check_k
from ._filters import translate_filter

#: Embedded once to learn the dimension of a new collection when nothing else tells it.
PROBE_TEXT = "dimension probe"


class StoreBase(VectorStore):
    """Clients, collection, lifecycle and the search call common to every search kind."""

    embedding: Embeddings
    collection_name: str
    measure: vecs_core.IndexMeasure
    warn_unindexed: bool
    probes: int | None
    ef_search: int | None
    _clients: ClientPair
    _collections: CollectionPair

    # ------------------------------------------------------------------ clients & collection
    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    @property
    def schema(self) -> str:
        """The schema holding the collection."""
        return self._clients.schema

    @property
    def client(self) -> vecs_core.Client:
        """The sync client (created on first use unless one was passed in).

        Raises:
            ArgError: the store was given only an ``async_client``.
        """
        return self._clients.sync()

    @property
    def async_client(self) -> vecs_core.AsyncClient:
        """The async client (created on first use unless one was passed in).

        Raises:
            ArgError: the store was given only a sync ``client``.
        """
        return self._clients.async_()

    def _probe(self) -> int:
        return len(self.embedding.embed_query(PROBE_TEXT))

    async def _aprobe(self) -> int:
        return len(await self.embedding.aembed_query(PROBE_TEXT))

    def _collection(self, dimension: int | None = None) -> vecs_core.Collection:
        """The collection, created if needed: for writes."""
        return self._collections.sync(dimension, self._probe)

    async def _acollection(self, dimension: int | None = None) -> vecs_core.AsyncCollection:
        return await self._collections.async_(dimension, self._aprobe)

    def _reading(self) -> vecs_core.Collection:
        """The collection for reads: never created here (a typo would leave a table behind).

        Raises:
            CollectionNotFound: no such collection (the message lists close names).
        """
        return self._collections.read()

    async def _areading(self) -> vecs_core.AsyncCollection:
        return await self._collections.aread()

    def close(self) -> None:
        """Close the sync client if the store created it (a client passed in is left open)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close every client the store created, async and sync (passed-in ones are left
        open)."""
        await self._clients.aclose()

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
        self._collections.drop()

    async def adelete_collection(self) -> None:
        await self._collections.adrop()

    def create_index(self, **kwargs: Any) -> vecs_core.VectorIndex:
        """Build a vector index for the store's measure (see ``Collection.create_index``)."""
        kwargs.setdefault("measure", self.measure)
        return self._collection().create_index(**kwargs)

    async def acreate_index(self, **kwargs: Any) -> vecs_core.VectorIndex:
        kwargs.setdefault("measure", self.measure)
        col = await self._acollection()
        return await col.create_index(**kwargs)

    # ------------------------------------------------------------------ searching
    def _search_args(
        self, k: object, filter: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Core ``search`` arguments; validates ``k`` and ``filter`` before any I/O."""
        return {
            "limit": check_k(k),
            "filters": translate_filter(filter),
            "measure": self.measure,
            "probes": kwargs.get("probes", self.probes),
            "ef_search": kwargs.get("ef_search", self.ef_search),
            "warn_unindexed": self.warn_unindexed,
        }

    def _hits(
        self,
        embedding: Sequence[float],
        args: dict[str, Any],
        include_vector: bool = False,
    ) -> list[vecs_core.Hit]:
        if args["limit"] == 0:
            return []
        col = self._reading()
        return col.search(list(embedding), include_vector=include_vector, **args)

    async def _ahits(
        self,
        embedding: Sequence[float],
        args: dict[str, Any],
        include_vector: bool = False,
    ) -> list[vecs_core.Hit]:
        if args["limit"] == 0:
            return []
        col = await self._areading()
        return await col.search(list(embedding), include_vector=include_vector, **args)

    @staticmethod
    def _document(id: str, text: str | None, metadata: Mapping[str, Any]) -> Document:
        return Document(id=id, page_content=text or "", metadata=dict(metadata))

    def _scored(self, hits: Sequence[vecs_core.Hit]) -> list[tuple[Document, float]]:
        """``(document, distance)`` pairs (smaller is nearer)."""
        return [(self._document(h.id, h.text, h.metadata), float(h.distance or 0.0)) for h in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Distance -> relevance, LangChain's convention for the store's measure (as PGVector):
        cosine ``1 - d``, l2 ``1 - d / sqrt(2)``, max inner product LangChain's
        ``_max_inner_product_relevance_score_fn`` on pgvector's negative inner product; l1, which
        LangChain has no convention for, ``1 / (1 + d)``."""
        measure = vecs_core.parse_measure(self.measure)
        if measure is vecs_core.IndexMeasure.cosine_distance:
            return self._cosine_relevance_score_fn
        if measure is vecs_core.IndexMeasure.l2_distance:
            return self._euclidean_relevance_score_fn
        if measure is vecs_core.IndexMeasure.max_inner_product:
            return self._max_inner_product_relevance_score_fn
        return functools.partial(vecs_core.similarity_score, measure)
