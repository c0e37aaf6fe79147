"""Internals shared by the parts of the LangChain store: clients and collection, search calls,
result conversion. :class:`~vecs_integrations.langchain.VecsVectorStore` sets the attributes
declared here in its constructor; the search mixins (``_mmr``, ``_hybrid``) build on them."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from typing_extensions import Self

import vecs_core

from .._shared import (
    ClientPair,
    CollectionPair,
    SessionSpec,
    check_k,
    check_kwargs,
    check_session,
    distance_for_relevance,
    with_session,
)
from ._filters import translate_filter

#: Keyword arguments every vector search takes (LangChain passes them through ``**kwargs``).
SEARCH_KWARGS = ("probes", "ef_search", "session", "max_distance")

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
    _session: SessionSpec | None = None

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
        col = self._collections.sync(dimension, self._probe)
        return with_session(col, self._session)

    async def _acollection(self, dimension: int | None = None) -> vecs_core.AsyncCollection:
        col = await self._collections.async_(dimension, self._aprobe)
        return with_session(col, self._session)

    def for_session(
        self, settings: Mapping[str, object] | None = None, *, role: str | None = None
    ) -> Self:
        """A view of this store whose every call (reads and writes) runs with ``settings``
        and ``role``, for Row Level Security per request: e.g. ``store.for_session(
        {"request.jwt.claim.sub": user_id}, role="authenticated")``. It shares the store's
        clients and the collection's cached metadata, so making one per request costs no
        round trip (see ``vecs_core.Collection.session``). Schema changes never run lazily
        through it: the collection's owner sets up text search first.

        Raises:
            ArgError: bad settings or role (checked on first use).
        """
        spec = check_session({"settings": settings, "role": role})
        view = copy.copy(self)
        view._session = spec
        return view

    def _reading(self) -> vecs_core.Collection:
        """The collection for reads: never created here (a typo would leave a table behind).

        Raises:
            CollectionNotFound: no such collection (the message lists close names).
        """
        return with_session(self._collections.read(), self._session)

    async def _areading(self) -> vecs_core.AsyncCollection:
        return with_session(await self._collections.aread(), self._session)

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
        self,
        k: object,
        filter: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
        method: str = "similarity_search",
        allowed: Sequence[str] = SEARCH_KWARGS,
    ) -> dict[str, Any]:
        """Core ``search`` arguments, every one checked before any I/O: ``k``, ``filter``, and
        the keyword arguments (an unknown one raises, never dropped): ``probes``,
        ``ef_search``, ``max_distance``, and ``session`` (a per-call identity)."""
        check_kwargs(kwargs, allowed, method)
        return {
            "limit": check_k(k),
            "filters": translate_filter(filter),
            "measure": self.measure,
            "probes": kwargs.get("probes", self.probes),
            "ef_search": kwargs.get("ef_search", self.ef_search),
            "max_distance": kwargs.get("max_distance"),
            "warn_unindexed": self.warn_unindexed,
            "session": check_session(kwargs.get("session")),
        }

    def _hits(
        self,
        embedding: Sequence[float],
        args: dict[str, Any],
        include_vector: bool = False,
    ) -> list[vecs_core.Hit]:
        args = dict(args)
        session = args.pop("session", None)
        if args["limit"] == 0:
            return []
        col = with_session(self._reading(), session)
        hits: list[vecs_core.Hit] = col.search(
            list(embedding), include_vector=include_vector, **args
        )
        return hits

    async def _ahits(
        self,
        embedding: Sequence[float],
        args: dict[str, Any],
        include_vector: bool = False,
    ) -> list[vecs_core.Hit]:
        args = dict(args)
        session = args.pop("session", None)
        if args["limit"] == 0:
            return []
        col = with_session(await self._areading(), session)
        hits: list[vecs_core.Hit] = await col.search(
            list(embedding), include_vector=include_vector, **args
        )
        return hits

    def _threshold(self, kwargs: dict[str, Any]) -> float | None:
        """Turn LangChain's ``score_threshold`` (a relevance, higher is better) into the core's
        ``max_distance`` through the store's relevance function, so PostgreSQL applies it."""
        threshold = kwargs.pop("score_threshold", None)
        if threshold is None:
            return None
        if vecs_core.parse_measure(self.measure) is vecs_core.IndexMeasure.max_inner_product:
            # LangChain's inner-product relevance is not monotonic in the distance (it jumps
            # at 0): no single distance bound expresses it, so the threshold is applied after
            return float(threshold)
        cut = distance_for_relevance(self._select_relevance_score_fn(), threshold)
        if cut is not None:
            kwargs["max_distance"] = cut
        return float(threshold)

    def similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents nearest to ``query`` with their relevance in [0, 1] (higher is better).
        ``score_threshold`` keeps only those at least that relevant, evaluated by PostgreSQL
        (as a distance bound) rather than after fetching ``k`` documents."""
        threshold = self._threshold(kwargs)
        filter = kwargs.pop("filter", None)
        embedding = self.embedding.embed_query(query)
        args = self._search_args(k, filter, kwargs, "similarity_search_with_relevance_scores")
        return self._relevant(self._scored(self._hits(embedding, args)), threshold)

    async def asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        threshold = self._threshold(kwargs)
        filter = kwargs.pop("filter", None)
        embedding = await self.embedding.aembed_query(query)
        args = self._search_args(k, filter, kwargs, "asimilarity_search_with_relevance_scores")
        return self._relevant(self._scored(await self._ahits(embedding, args)), threshold)

    def _relevant(
        self, scored: list[tuple[Document, float]], threshold: float | None
    ) -> list[tuple[Document, float]]:
        relevance = self._select_relevance_score_fn()
        out = [(doc, relevance(distance)) for doc, distance in scored]
        if threshold is not None:
            out = [(doc, score) for doc, score in out if score >= threshold]
        return out

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
