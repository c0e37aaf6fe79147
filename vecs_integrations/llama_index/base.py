"""``VecsVectorStore``: a LlamaIndex vector store on vecs_core (PostgreSQL + pgvector).

Nodes become records in ``_nodes``, filters are translated in ``_filters``, queries are planned
in ``_query``; this module holds the store and its sync and native async methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)

import vecs_core
from vecs_core import ArgError

from .._shared import ClientPair, CollectionPair, SessionSpec, check_session, with_session
from ._nodes import node_to_record, record_to_node
from ._query import (
    QueryPlan,
    SearchCall,
    arun,
    empty_result,
    plan_query,
    restrict,
    run,
    search_call,
    to_result,
)

_PAGE = 1000

#: What ``delete_nodes`` removes: ids, a core filter, or nothing (``False``).
DeleteTarget = Union[list[str], dict[str, Any], bool]


class VecsVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store on a vecs_core collection (PostgreSQL + pgvector).

    Args:
        collection_name: the vecs collection (a table in ``schema``), created on first use.
        dimension: embedding dimension.
        connection: a ``postgresql://`` URL for the clients the store creates.
        client: an existing :class:`vecs_core.Client` for the sync methods.
        async_client: an existing :class:`vecs_core.AsyncClient` for the async methods.
        measure: ``cosine_distance`` (default), ``l2_distance``, ``max_inner_product`` or
            ``l1_distance``; similarities follow LlamaIndex (cosine ``1 - d``, dot product, ``-d``).
        schema: the collection's schema; defaults to the passed-in client's, else ``"vecs"``.
        warn_missing_index: let the core's "no covering index" warning through (hidden by
            default; build an index with ``store.collection.create_index()``).
        mmr_prefetch_factor: MMR picks among ``similarity_top_k * mmr_prefetch_factor``
            nearest candidates (at most ``vecs_core.MAX_LIMIT``).
        language: PostgreSQL text search configuration for ``text_search``/``hybrid`` (None:
            the collection's full-text language, see ``Collection.enable_full_text``).
        storage: how a collection the store creates keeps vectors: ``"vector"`` (default),
            ``"halfvec"`` (half the size) or ``"sparsevec"``.

    Clients and their ownership (the same rule as the LangChain store): the store creates the
    clients it is not given, lazily (no I/O happens in the constructor), from ``connection``
    or, with neither ``connection`` nor clients, from ``$VECS_DATABASE_URL`` or the embedded
    PostgreSQL server. **A client the store created is closed by** :meth:`close` **(the sync
    one) and** :meth:`aclose` **(both); a client passed in is never closed by the store.**
    Given only ``client`` (or only ``async_client``) and no ``connection``, the other side's
    methods raise :class:`~vecs_core.ArgError`. Closing releases connections; a later call
    reconnects.

    Raises:
        ArgError: an unknown measure, a bad dimension or ``mmr_prefetch_factor``, a
            ``connection`` that is not a string, or clients and ``schema`` naming different
            schemas.
    """

    stores_text: bool = True
    flat_metadata: bool = False

    collection_name: str
    dimension: int
    measure: str = "cosine_distance"
    schema_name: str = "vecs"
    connection: Optional[str] = Field(default=None, repr=False, exclude=True)
    warn_missing_index: bool = False
    mmr_prefetch_factor: int = 4
    language: Optional[str] = None
    storage: Optional[str] = None

    _clients: ClientPair = PrivateAttr()
    _collections: CollectionPair = PrivateAttr()
    _session: Optional[SessionSpec] = PrivateAttr(default=None)

    def __init__(
        self,
        collection_name: str,
        dimension: int,
        *,
        connection: Optional[str] = None,
        client: Optional[vecs_core.Client] = None,
        async_client: Optional[vecs_core.AsyncClient] = None,
        measure: Union[vecs_core.IndexMeasure, str] = "cosine_distance",
        schema: Optional[str] = None,
        warn_missing_index: bool = False,
        mmr_prefetch_factor: int = 4,
        language: Optional[str] = None,
        storage: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        measure_name = vecs_core.parse_measure(measure).value
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ArgError(f"dimension must be a positive int, got {dimension!r}")
        factor = mmr_prefetch_factor
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ArgError(f"mmr_prefetch_factor must be an int >= 1, got {factor!r}")
        clients = ClientPair(
            connection=connection, client=client, async_client=async_client, schema=schema
        )
        fields: dict[str, Any] = {
            "collection_name": collection_name,
            "dimension": dimension,
            "measure": measure_name,
            "schema_name": clients.schema,
            "connection": connection,
            "warn_missing_index": warn_missing_index,
            "mmr_prefetch_factor": factor,
            "language": language,
            "storage": storage,
        }
        super().__init__(**fields, **kwargs)
        self._clients = clients
        self._collections = CollectionPair(clients, collection_name, dimension, storage)

    @classmethod
    def class_name(cls) -> str:
        return "VecsVectorStore"

    # -- clients and collection -----------------------------------------------------------------
    @property
    def client(self) -> vecs_core.Client:
        """The sync vecs_core client (created on first use unless one was passed in).

        Raises:
            ArgError: the store was given only an ``async_client``.
        """
        return self._clients.sync()

    @property
    def async_client(self) -> vecs_core.AsyncClient:
        """The async vecs_core client (created on first use unless one was passed in).

        Raises:
            ArgError: the store was given only a sync ``client``.
        """
        return self._clients.async_()

    @property
    def collection(self) -> vecs_core.Collection:
        """The sync collection (opened, and created if needed, on first access; seen through
        the store's session when it is a :meth:`for_session` view)."""
        return with_session(self._collections.sync(), self._session)

    async def acollection(self) -> vecs_core.AsyncCollection:
        """The async collection (opened, and created if needed, on first call)."""
        return with_session(await self._collections.async_(), self._session)

    def for_session(
        self, settings: Optional[Mapping[str, object]] = None, *, role: Optional[str] = None
    ) -> VecsVectorStore:
        """A view of this store whose every call (reads and writes) runs with ``settings`` and
        ``role``, for Row Level Security per request: e.g. ``store.for_session(
        {"request.jwt.claim.sub": user_id}, role="authenticated")``. It shares the store's
        clients and the collection's cached metadata, so making one per request costs no
        round trip (``vecs_core.Collection.session``). A per-query alternative is the query
        keyword ``session={"settings": ..., "role": ...}`` (e.g. through a retriever's
        ``vector_store_kwargs``).

        Raises:
            ArgError: bad settings or role (checked on first use).
        """
        view = self.model_copy()
        view._session = check_session({"settings": settings, "role": role})
        return view

    def close(self) -> None:
        """Close the sync client if the store created it (a client passed in is left open)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close every client the store created, async and sync (passed-in ones are left
        open)."""
        await self._clients.aclose()

    # -- planning shared by the sync and async methods ---------------------------------------------
    @staticmethod
    def _delete_target(
        node_ids: Optional[list[str]], filters: Optional[MetadataFilters]
    ) -> DeleteTarget:
        """Checks the arguments (the filter first) before any I/O."""
        where = restrict(filters, node_ids) if filters is not None else True
        if node_ids is None and filters is None:
            raise ArgError("delete_nodes needs node_ids and/or filters; use clear() to delete all")
        if node_ids is not None and not node_ids:
            return False  # an explicit empty id list deletes nothing
        if filters is None:
            return list(node_ids or [])
        return where

    @staticmethod
    def _find_where(
        node_ids: Optional[list[str]], filters: Optional[MetadataFilters]
    ) -> Union[list[str], dict[str, Any], bool]:
        """For ``get_nodes``: ids to fetch in order, or a filter to page through (``True``:
        everything, ``False``: nothing)."""
        where = restrict(filters, node_ids)
        if node_ids is not None and not node_ids:
            return False
        if filters is None and node_ids is not None:
            return list(node_ids)
        return where

    def _search(
        self, query: VectorStoreQuery, kwargs: dict[str, Any]
    ) -> tuple[QueryPlan, SearchCall]:
        plan = plan_query(query, kwargs, self.mmr_prefetch_factor, self.measure)
        call = search_call(
            plan,
            measure=self.measure,
            language=self.language,
            warn_unindexed=self.warn_missing_index,
        )
        return plan, call

    # -- sync API --------------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert ``nodes`` by node id (re-adding a node replaces it)."""
        records = [node_to_record(n, self.flat_metadata) for n in nodes]
        if records:
            self.collection.upsert(records)
        return [r[0] for r in records]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of document ``ref_doc_id``."""
        col = self._collections.existing()
        col = col if col is None else with_session(col, self._session)
        if col is not None:  # a missing collection has nothing to delete (and is not created)
            col.delete(filters={"ref_doc_id": ref_doc_id})

    def delete_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with ``node_ids`` that match ``filters`` (either may be omitted,
        not both: use :meth:`clear` to delete everything).

        Raises:
            ArgError: neither ``node_ids`` nor ``filters``.
            FilterError: a malformed filter (one that is not a ``MetadataFilters`` included).
        """
        where = self._delete_target(node_ids, filters)
        col = self._collections.existing()
        col = col if col is None else with_session(col, self._session)
        if col is None or where is False:
            return
        if where is True:
            col.clear()
        elif isinstance(where, list):
            col.delete(ids=where)
        elif isinstance(where, dict):
            col.delete(filters=where)

    def get_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
    ) -> list[BaseNode]:
        """Nodes by id (in the order asked) and/or matching ``filters`` (in id order);
        every node when both are omitted.

        Raises:
            FilterError: a malformed filter (one that is not a ``MetadataFilters`` included).
            CollectionNotFound: the collection does not exist (reads never create it).
        """
        where = self._find_where(node_ids, filters)
        if where is False:
            return []
        col = with_session(self._collections.read(), self._session)
        if isinstance(where, list):
            return [record_to_node(i.id, i.metadata, i.text) for i in col.get(where)]
        out: list[BaseNode] = []
        after: Optional[str] = None
        while True:
            page = col.find(None if where is True else where, limit=_PAGE, after=after)
            out.extend(record_to_node(i.id, i.metadata, i.text) for i in page)
            if len(page) < _PAGE:
                return out
            after = page[-1].id

    def clear(self) -> None:
        """Delete every record of the collection."""
        col = self._collections.existing()
        col = col if col is None else with_session(col, self._session)
        if col is not None:
            col.clear()

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Similarity (``default``), ``mmr``, ``text_search`` or ``hybrid`` query.

        Raises:
            ArgError: an unsupported mode or a bad query field (see ``_query.plan_query``).
            FilterError: a malformed filter (one that is not a ``MetadataFilters`` included).
            CollectionNotFound: the collection does not exist (reads never create it).
        """
        plan, call = self._search(query, kwargs)
        if plan.empty:
            return empty_result()
        collection = with_session(self._collections.read(), self._session, plan.session)
        return to_result(plan, run(collection, call), self.measure)

    # -- async API (native, on vecs_core's async client) --------------------------------------
    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        records = [node_to_record(n, self.flat_metadata) for n in nodes]
        if records:
            await (await self.acollection()).upsert(records)
        return [r[0] for r in records]

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        col = await self._collections.aexisting()
        col = col if col is None else with_session(col, self._session)
        if col is not None:
            await col.delete(filters={"ref_doc_id": ref_doc_id})

    async def adelete_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
        **delete_kwargs: Any,
    ) -> None:
        where = self._delete_target(node_ids, filters)
        if where is False:
            return
        col = await self._collections.aexisting()
        col = col if col is None else with_session(col, self._session)
        if col is None:
            return
        if where is True:
            await col.clear()
        elif isinstance(where, list):
            await col.delete(ids=where)
        elif isinstance(where, dict):
            await col.delete(filters=where)

    async def aget_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
    ) -> list[BaseNode]:
        where = self._find_where(node_ids, filters)
        if where is False:
            return []
        col = with_session(await self._collections.aread(), self._session)
        if isinstance(where, list):
            return [record_to_node(i.id, i.metadata, i.text) for i in await col.get(where)]
        out: list[BaseNode] = []
        after: Optional[str] = None
        while True:
            page = await col.find(None if where is True else where, limit=_PAGE, after=after)
            out.extend(record_to_node(i.id, i.metadata, i.text) for i in page)
            if len(page) < _PAGE:
                return out
            after = page[-1].id

    async def aclear(self) -> None:
        col = await self._collections.aexisting()
        col = col if col is None else with_session(col, self._session)
        if col is not None:
            await col.clear()

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        plan, call = self._search(query, kwargs)
        if plan.empty:
            return empty_result()
        collection = with_session(await self._collections.aread(), self._session, plan.session)
        return to_result(plan, await arun(collection, call), self.measure)
