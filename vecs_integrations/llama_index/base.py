"""``VecsVectorStore``: a LlamaIndex vector store on vecs_core (PostgreSQL + pgvector)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

import vecs_core
from vecs_core import ArgError

from ._filters import EMPTY_KEYS_KEY, NODE_ID_KEY, Expr, and_, translate_filters

MAX_SEARCH_LIMIT = 1000
_PAGE = 1000
_SUPPORTED_MODES = ("default", "mmr", "text_search", "hybrid")


# -- node <-> record ------------------------------------------------------------------------------
def node_to_record(
    node: BaseNode, flat_metadata: bool = False
) -> tuple[str, Any, dict[str, Any], str]:
    """``(id, vector, metadata, text)`` for ``Collection.upsert``: LlamaIndex's own
    ``node_to_metadata_dict`` (the node as JSON in ``_node_content``, the user's metadata at the
    top level) plus the reserved ``_vecs_node_id`` and ``_vecs_empty_keys``; the text goes to
    the core's text column."""
    metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=flat_metadata)
    empty = sorted(k for k, v in metadata.items() if isinstance(v, list) and not v)
    metadata[NODE_ID_KEY] = node.node_id
    if empty:
        metadata[EMPTY_KEYS_KEY] = empty
    else:
        metadata.pop(EMPTY_KEYS_KEY, None)
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    return (node.node_id, node.get_embedding(), metadata, text or "")


def record_to_node(id_: str, metadata: dict[str, Any], text: str | None) -> BaseNode:
    """The node a record stores; records not written by LlamaIndex become plain TextNodes."""
    if "_node_content" in metadata:
        return metadata_dict_to_node(metadata, text=text)
    return TextNode(id_=id_, text=text or "", metadata=dict(metadata))


def mmr_order(
    query: Sequence[float], vectors: Sequence[Any], k: int, threshold: float
) -> list[int]:
    """Maximal marginal relevance: indices of ``vectors`` in selection order.

    Each step takes the candidate maximising ``threshold * sim(q, d) - (1 - threshold) *
    max(sim(d, s) for s already selected)``, cosine similarities throughout; ties go to the
    earlier candidate.
    """
    if not len(vectors) or k <= 0:
        return []
    m = np.asarray(np.stack([np.asarray(v, dtype=np.float64) for v in vectors]))
    q = np.asarray(query, dtype=np.float64)
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    relevance = m @ q
    pairwise = m @ m.T
    n = len(m)
    penalty = np.zeros(n)
    chosen: list[int] = []
    available = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        score = threshold * relevance - (1.0 - threshold) * penalty
        score[~available] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        penalty = pairwise[best] if len(chosen) == 1 else np.maximum(penalty, pairwise[best])
    return chosen


class VecsVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store on a vecs_core collection (PostgreSQL + pgvector).

    Args:
        collection_name: the vecs collection (a table in ``schema``), created on first use.
        dimension: embedding dimension.
        connection: a ``postgresql://`` URL; default ``$VECS_DATABASE_URL`` or the embedded
            PostgreSQL server.
        client / async_client: existing vecs_core clients to use (the store never closes
            them). Give ``async_client`` (or ``connection``) alongside ``client`` to use the
            async methods, and vice versa.
        measure: ``cosine_distance`` (default), ``l2_distance``, ``max_inner_product`` or
            ``l1_distance``; similarities are ``vecs_core.relevance_score`` (higher is better).
        schema: schema of the collection when the store creates its own client.
        warn_missing_index: let the core's "no covering index" warning through (hidden by
            default; build an index with ``store.collection.create_index()``).
        mmr_prefetch_factor: MMR picks among ``similarity_top_k * mmr_prefetch_factor``
            nearest candidates (at most 1000).
        language: PostgreSQL text search configuration for ``text_search``/``hybrid``.

    No I/O happens in the constructor: clients and the collection are created on first use.
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
    language: str = "english"

    _client: Optional[vecs_core.Client] = PrivateAttr(default=None)
    _aclient: Optional[vecs_core.AsyncClient] = PrivateAttr(default=None)
    _owns_client: bool = PrivateAttr(default=False)
    _owns_aclient: bool = PrivateAttr(default=False)
    _collection: Optional[vecs_core.Collection] = PrivateAttr(default=None)
    _acollection: Optional[vecs_core.AsyncCollection] = PrivateAttr(default=None)

    def __init__(
        self,
        collection_name: str,
        dimension: int,
        *,
        connection: Optional[str] = None,
        client: Optional[vecs_core.Client] = None,
        async_client: Optional[vecs_core.AsyncClient] = None,
        measure: str = "cosine_distance",
        schema: str = "vecs",
        warn_missing_index: bool = False,
        mmr_prefetch_factor: int = 4,
        language: str = "english",
        **kwargs: Any,
    ) -> None:
        try:
            measure = vecs_core.IndexMeasure(measure).value
        except ValueError:
            raise ArgError(
                f"unknown measure {measure!r}; expected one of "
                f"{', '.join(m.value for m in vecs_core.IndexMeasure)}"
            ) from None
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ArgError(f"dimension must be a positive int, got {dimension!r}")
        if mmr_prefetch_factor < 1:
            raise ArgError(f"mmr_prefetch_factor must be >= 1, got {mmr_prefetch_factor!r}")
        if client is not None:
            schema = str(client.schema)
        elif async_client is not None:
            schema = str(async_client.schema)
        super().__init__(  # type: ignore[call-arg]
            collection_name=collection_name,
            dimension=dimension,
            measure=measure,
            schema_name=schema,
            connection=connection,
            warn_missing_index=warn_missing_index,
            mmr_prefetch_factor=mmr_prefetch_factor,
            language=language,
            **kwargs,
        )
        self._client = client
        self._aclient = async_client

    @classmethod
    def class_name(cls) -> str:
        return "VecsVectorStore"

    # -- clients -----------------------------------------------------------------------------
    def _can_create(self, other: Any) -> bool:
        return self.connection is not None or other is None

    @property
    def client(self) -> vecs_core.Client:
        """The sync vecs_core client (created on first use; no I/O until a call)."""
        if self._client is None:
            if not self._can_create(self._aclient):
                raise ArgError(
                    "this store was given only an async_client; pass client= or connection= "
                    "to use the synchronous methods"
                )
            self._client = vecs_core.create_client(self.connection, schema=self.schema_name)
            self._owns_client = True
        return self._client

    @property
    def async_client(self) -> vecs_core.AsyncClient:
        """The async vecs_core client (created on first use; no I/O until a call)."""
        if self._aclient is None:
            if not self._can_create(self._client):
                raise ArgError(
                    "this store was given only a sync client; pass async_client= or "
                    "connection= to use the async methods"
                )
            self._aclient = vecs_core.create_async_client(self.connection, schema=self.schema_name)
            self._owns_aclient = True
        return self._aclient

    @property
    def collection(self) -> vecs_core.Collection:
        """The sync collection (opened, and created if needed, on first access)."""
        if self._collection is None:
            self._collection = self.client.get_or_create_collection(
                self.collection_name, dimension=self.dimension
            )
        return self._collection

    async def acollection(self) -> vecs_core.AsyncCollection:
        """The async collection (opened, and created if needed, on first call)."""
        if self._acollection is None:
            self._acollection = await self.async_client.get_or_create_collection(
                self.collection_name, dimension=self.dimension
            )
        return self._acollection

    def close(self) -> None:
        """Close the sync client if the store created it."""
        if self._owns_client and self._client is not None:
            self._client.disconnect()

    async def aclose(self) -> None:
        """Close the clients the store created."""
        if self._owns_aclient and self._aclient is not None:
            await self._aclient.aclose()
        self.close()

    # -- shared planning -----------------------------------------------------------------------
    @staticmethod
    def _restrict(
        filters: Optional[MetadataFilters],
        node_ids: Optional[Sequence[str]] = None,
        doc_ids: Optional[Sequence[str]] = None,
    ) -> Expr:
        """The core filter for ``filters`` within ``node_ids`` and ``doc_ids``. An empty (or
        None) id list means "no restriction": ``VectorIndexRetriever`` passes ``node_ids=[]`` for
        stores that keep the text."""
        parts: list[Expr] = [translate_filters(filters)]
        if node_ids:
            parts.append({NODE_ID_KEY: {"$in": list(node_ids)}})
        if doc_ids:
            parts.append({"ref_doc_id": {"$in": list(doc_ids)}})
        return and_(parts)

    def _plan_query(self, query: VectorStoreQuery, kwargs: dict[str, Any]) -> dict[str, Any]:
        mode = VectorStoreQueryMode(query.mode)
        k = query.similarity_top_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ArgError(f"similarity_top_k must be an int >= 0, got {k!r}")
        if k > MAX_SEARCH_LIMIT:
            raise ArgError(f"similarity_top_k must be at most {MAX_SEARCH_LIMIT}, got {k}")
        where = self._restrict(query.filters, query.node_ids, query.doc_ids)
        plan: dict[str, Any] = {"mode": mode, "k": k, "where": where}
        if mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            if query.query_embedding is None:
                raise ArgError(f"query mode {mode.value!r} needs query.query_embedding")
            plan["vector"] = query.query_embedding
            if mode == VectorStoreQueryMode.MMR:
                threshold = query.mmr_threshold
                if threshold is None:
                    threshold = kwargs.get("mmr_threshold")
                threshold = 0.5 if threshold is None else float(threshold)
                if not 0.0 <= threshold <= 1.0:
                    raise ArgError(f"mmr_threshold must be in [0, 1], got {threshold}")
                plan["threshold"] = threshold
                plan["fetch"] = min(MAX_SEARCH_LIMIT, max(k, k * self.mmr_prefetch_factor))
        elif mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.HYBRID):
            if not query.query_str:
                raise ArgError(f"query mode {mode.value!r} needs query.query_str")
            plan["text"] = query.query_str
            if mode == VectorStoreQueryMode.HYBRID:
                alpha = 0.5 if query.alpha is None else float(query.alpha)
                if not 0.0 <= alpha <= 1.0:
                    raise ArgError(f"alpha must be in [0, 1], got {alpha}")
                if query.query_embedding is None:
                    raise ArgError("query mode 'hybrid' needs query.query_embedding")
                plan["alpha"] = alpha
                plan["vector"] = query.query_embedding
        else:
            raise ArgError(
                f"VecsVectorStore does not support query mode {mode.value!r}; supported: "
                f"{', '.join(_SUPPORTED_MODES)}"
            )
        return plan

    @staticmethod
    def _require(collection: Any, method: str, mode: VectorStoreQueryMode) -> Any:
        fn = getattr(collection, method, None)
        if fn is None:
            raise ArgError(
                f"query mode {mode.value!r} needs Collection.{method}, which this vecs_core "
                "version does not have"
            )
        return fn

    def _search_call(self, collection: Any, plan: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The collection method and keyword arguments answering ``plan``."""
        mode: VectorStoreQueryMode = plan["mode"]
        where = plan["where"]
        filters = None if where is True else where
        if mode == VectorStoreQueryMode.DEFAULT:
            return collection.search, {
                "data": plan["vector"],
                "limit": plan["k"],
                "filters": filters,
                "measure": self.measure,
                "warn_unindexed": self.warn_missing_index,
            }
        if mode == VectorStoreQueryMode.MMR:
            return collection.search, {
                "data": plan["vector"],
                "limit": plan["fetch"],
                "filters": filters,
                "measure": self.measure,
                "include_vector": True,
                "warn_unindexed": self.warn_missing_index,
            }
        if mode == VectorStoreQueryMode.TEXT_SEARCH:
            fn = self._require(collection, "keyword_search", mode)
            return fn, {
                "text": plan["text"],
                "limit": plan["k"],
                "filters": filters,
                "language": self.language,
            }
        fn = self._require(collection, "hybrid_search", mode)
        return fn, {
            "text": plan["text"],
            "vector": plan["vector"],
            "limit": plan["k"],
            "filters": filters,
            "semantic_weight": plan["alpha"],
            "full_text_weight": 1.0 - plan["alpha"],
            "measure": self.measure,
            "language": self.language,
        }

    def _result(self, plan: dict[str, Any], hits: Sequence[Any]) -> VectorStoreQueryResult:
        mode: VectorStoreQueryMode = plan["mode"]
        if mode == VectorStoreQueryMode.MMR:
            vectors = [h.vector for h in hits]
            order = mmr_order(plan["vector"], vectors, plan["k"], plan["threshold"])
            hits = [hits[i] for i in order]
        nodes: list[BaseNode] = []
        sims: list[float] = []
        ids: list[str] = []
        for h in hits:
            nodes.append(record_to_node(h.id, h.metadata, h.text))
            ids.append(h.id)
            if mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
                sims.append(vecs_core.relevance_score(self.measure, h.distance))
            else:  # keyword rank (text_search) or fused RRF score (hybrid)
                sims.append(float(h.score) if h.score is not None else 0.0)
        return VectorStoreQueryResult(nodes=nodes, similarities=sims, ids=ids)

    @staticmethod
    def _empty() -> VectorStoreQueryResult:
        return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])

    # -- sync API --------------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert ``nodes`` by node id (re-adding a node replaces it)."""
        records = [node_to_record(n, self.flat_metadata) for n in nodes]
        if records:
            self.collection.upsert(records)
        return [r[0] for r in records]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of document ``ref_doc_id``."""
        self.collection.delete(filters={"ref_doc_id": ref_doc_id})

    def delete_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with ``node_ids`` that match ``filters`` (either may be omitted,
        not both: use :meth:`clear` to delete everything)."""
        where = self._delete_where(node_ids, filters)
        if where is False:
            return
        if where is True:
            self.collection.clear()
        elif isinstance(where, list):
            self.collection.delete(ids=where)
        else:
            self.collection.delete(filters=where)

    def _delete_where(
        self, node_ids: Optional[list[str]], filters: Optional[MetadataFilters]
    ) -> Any:
        if node_ids is None and filters is None:
            raise ArgError("delete_nodes needs node_ids and/or filters; use clear() to delete all")
        if node_ids is not None and not node_ids:
            return False  # an explicit empty id list deletes nothing
        if filters is None:
            return list(node_ids or [])
        return self._restrict(filters, node_ids)

    def get_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
    ) -> list[BaseNode]:
        """Nodes by id (in the order asked) and/or matching ``filters`` (in id order);
        every node when both are omitted."""
        if filters is None and node_ids is not None:
            items = self.collection.get(list(node_ids)) if node_ids else []
            return [record_to_node(i.id, i.metadata, i.text) for i in items]
        if node_ids is not None and not node_ids:
            return []
        where = self._restrict(filters, node_ids)
        if where is False:
            return []
        out: list[BaseNode] = []
        after: Optional[str] = None
        while True:
            page = self.collection.find(None if where is True else where, limit=_PAGE, after=after)
            out.extend(record_to_node(i.id, i.metadata, i.text) for i in page)
            if len(page) < _PAGE:
                return out
            after = page[-1].id

    def clear(self) -> None:
        """Delete every record of the collection."""
        self.collection.clear()

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Similarity (``default``), ``mmr``, ``text_search`` or ``hybrid`` query."""
        plan = self._plan_query(query, kwargs)
        if plan["where"] is False or plan["k"] == 0:
            return self._empty()
        fn, args = self._search_call(self.collection, plan)
        hits = fn(**args)
        return self._result(plan, hits)

    # -- async API (native, on vecs_core's async client) --------------------------------------
    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        records = [node_to_record(n, self.flat_metadata) for n in nodes]
        if records:
            await (await self.acollection()).upsert(records)
        return [r[0] for r in records]

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await (await self.acollection()).delete(filters={"ref_doc_id": ref_doc_id})

    async def adelete_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
        **delete_kwargs: Any,
    ) -> None:
        where = self._delete_where(node_ids, filters)
        if where is False:
            return
        col = await self.acollection()
        if where is True:
            await col.clear()
        elif isinstance(where, list):
            await col.delete(ids=where)
        else:
            await col.delete(filters=where)

    async def aget_nodes(
        self,
        node_ids: Optional[list[str]] = None,
        filters: Optional[MetadataFilters] = None,
    ) -> list[BaseNode]:
        col = await self.acollection()
        if filters is None and node_ids is not None:
            items = await col.get(list(node_ids)) if node_ids else []
            return [record_to_node(i.id, i.metadata, i.text) for i in items]
        if node_ids is not None and not node_ids:
            return []
        where = self._restrict(filters, node_ids)
        if where is False:
            return []
        out: list[BaseNode] = []
        after: Optional[str] = None
        while True:
            page = await col.find(None if where is True else where, limit=_PAGE, after=after)
            out.extend(record_to_node(i.id, i.metadata, i.text) for i in page)
            if len(page) < _PAGE:
                return out
            after = page[-1].id

    async def aclear(self) -> None:
        await (await self.acollection()).clear()

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        plan = self._plan_query(query, kwargs)
        if plan["where"] is False or plan["k"] == 0:
            return self._empty()
        fn, args = self._search_call(await self.acollection(), plan)
        hits = await fn(**args)
        return self._result(plan, hits)
