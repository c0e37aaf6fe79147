"""A LlamaIndex ``VectorStoreQuery`` planned into one vecs_core search call, and the hits turned
back into a ``VectorStoreQueryResult``. Everything is checked while planning, before any I/O; the
sync and async stores differ only in how they run the :class:`SearchCall`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

import vecs_core
from vecs_core import ArgError

from .._shared import (
    SessionSpec,
    check_k,
    check_kwargs,
    check_session,
    check_unit_interval,
    distance_for_relevance,
    fetch_size,
    mmr_hits,
)
from ._filters import NODE_ID_KEY, Expr, and_, translate_filters
from ._nodes import record_to_node

SUPPORTED_MODES = (
    VectorStoreQueryMode.DEFAULT,
    VectorStoreQueryMode.MMR,
    VectorStoreQueryMode.TEXT_SEARCH,
    VectorStoreQueryMode.SPARSE,  # keyword search, as LlamaIndex's PostgreSQL store answers it
    VectorStoreQueryMode.HYBRID,
)
#: Keyword arguments ``query``/``aquery`` take (e.g. from a retriever's ``vector_store_kwargs``).
QUERY_KWARGS = (
    "mmr_threshold",
    "session",
    "similarity_cutoff",
    "hnsw_ef_search",
    "ivfflat_probes",
)
_VECTOR_MODES = (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR)


def restrict(
    filters: MetadataFilters | None,
    node_ids: Sequence[str] | None = None,
    doc_ids: Sequence[str] | None = None,
) -> Expr:
    """The core filter for ``filters`` within ``node_ids`` and ``doc_ids``. An empty (or None)
    id list means "no restriction": ``VectorIndexRetriever`` passes ``node_ids=[]`` for stores
    that keep the text.

    Raises:
        FilterError: ``filters`` is not a ``MetadataFilters``, or cannot be translated.
    """
    parts: list[Expr] = [translate_filters(filters)]
    if node_ids:
        parts.append({NODE_ID_KEY: {"$in": list(node_ids)}})
    if doc_ids:
        parts.append({"ref_doc_id": {"$in": list(doc_ids)}})
    return and_(parts)


@dataclass(frozen=True)
class QueryPlan:
    """A checked query: the mode, ``k``, the filter and what the mode needs."""

    mode: VectorStoreQueryMode
    k: int
    where: Expr
    vector: list[float] | None = None
    text: str = ""
    #: MMR: how many nearest candidates to fetch, and the relevance weight (lambda).
    fetch: int = 0
    threshold: float = 0.5
    #: hybrid: the semantic weight (the keyword side gets ``1 - alpha``).
    alpha: float = 0.5
    #: hybrid: candidates per side (semantic: ``k``; keyword: ``sparse_top_k``) and the fused
    #: result size (``hybrid_top_k``, else ``k``).
    keyword_k: int | None = None
    fused_k: int | None = None
    #: per-query knobs: a distance bound from ``similarity_cutoff``, HNSW/IVFFlat settings
    max_distance: float | None = None
    ef_search: int | None = None
    probes: int | None = None
    session: SessionSpec | None = None

    @property
    def empty(self) -> bool:
        """True when no row can match (``k`` is 0 or the filter is a contradiction)."""
        return self.k == 0 or self.where is False

    @property
    def filters(self) -> dict[str, Any] | None:
        return None if isinstance(self.where, bool) else self.where


def _mode(value: object) -> VectorStoreQueryMode:
    try:
        mode = VectorStoreQueryMode(value)
    except ValueError:
        mode = None
    if mode is None or mode not in SUPPORTED_MODES:
        raise ArgError(
            f"VecsVectorStore does not support query mode {value!r}; supported: "
            f"{', '.join(m.value for m in SUPPORTED_MODES)}"
        )
    return mode


def _needs(value: Any, mode: VectorStoreQueryMode, field: str) -> Any:
    if value is None or value == "":
        raise ArgError(f"query mode {mode.value!r} needs query.{field}")
    return value


def _knobs(kwargs: Mapping[str, Any], measure: str) -> dict[str, Any]:
    """The per-query keyword arguments, checked (an unknown one raises, never dropped)."""
    check_kwargs(kwargs, QUERY_KWARGS, "query")
    cutoff = kwargs.get("similarity_cutoff")
    max_distance = None
    if cutoff is not None:  # a similarity (as the results report it) -> a distance bound
        max_distance = distance_for_relevance(lambda d: llama_similarity(measure, d), cutoff)
    return {
        "max_distance": max_distance,
        "ef_search": kwargs.get("hnsw_ef_search"),
        "probes": kwargs.get("ivfflat_probes"),
        "session": check_session(kwargs.get("session")),
    }


def _optional_k(value: object, name: str) -> int | None:
    return None if value is None else check_k(value, name)


def plan_query(
    query: VectorStoreQuery,
    kwargs: Mapping[str, Any],
    prefetch_factor: int,
    measure: str = "cosine_distance",
) -> QueryPlan:
    """Check ``query`` and the query keyword arguments, and plan them.

    Raises:
        ArgError: an unsupported mode, a bad ``similarity_top_k``, ``sparse_top_k``,
            ``hybrid_top_k``, ``mmr_threshold`` or ``alpha``, a missing embedding or query
            string for the mode, or an unknown keyword argument.
        FilterError: a malformed filter (one that is not a ``MetadataFilters`` included).
    """
    mode = _mode(query.mode)
    knobs = _knobs(kwargs, measure)
    k = check_k(query.similarity_top_k, "similarity_top_k")
    where = restrict(query.filters, query.node_ids, query.doc_ids)
    if mode == VectorStoreQueryMode.DEFAULT:
        vector = _needs(query.query_embedding, mode, "query_embedding")
        return QueryPlan(mode, k, where, vector=vector, **knobs)
    if mode == VectorStoreQueryMode.MMR:
        vector = _needs(query.query_embedding, mode, "query_embedding")
        threshold = query.mmr_threshold
        if threshold is None:
            threshold = kwargs.get("mmr_threshold")
        threshold = 0.5 if threshold is None else check_unit_interval(threshold, "mmr_threshold")
        fetch = fetch_size(k, k * prefetch_factor)
        return QueryPlan(mode, k, where, vector=vector, fetch=fetch, threshold=threshold, **knobs)
    text = _needs(query.query_str, mode, "query_str")
    if mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE):
        sparse_k = _optional_k(query.sparse_top_k, "sparse_top_k")
        keyword_only = {**knobs, "max_distance": None}
        return QueryPlan(
            VectorStoreQueryMode.TEXT_SEARCH, sparse_k or k, where, text=text, **keyword_only
        )
    alpha = 0.5 if query.alpha is None else check_unit_interval(query.alpha, "alpha")
    vector = _needs(query.query_embedding, mode, "query_embedding")
    return QueryPlan(
        mode,
        k,
        where,
        vector=vector,
        text=text,
        alpha=alpha,
        keyword_k=_optional_k(query.sparse_top_k, "sparse_top_k"),
        fused_k=_optional_k(query.hybrid_top_k, "hybrid_top_k"),
        **knobs,
    )


@dataclass(frozen=True)
class SearchCall:
    """One collection method and its keyword arguments."""

    method: Literal["search", "keyword_search", "hybrid_search"]
    kwargs: dict[str, Any]


def search_call(
    plan: QueryPlan, *, measure: str, language: str | None, warn_unindexed: bool
) -> SearchCall:
    """The collection call answering ``plan``."""
    if plan.mode in _VECTOR_MODES:
        mmr = plan.mode == VectorStoreQueryMode.MMR
        return SearchCall(
            "search",
            {
                "data": plan.vector,
                "limit": plan.fetch if mmr else plan.k,
                "filters": plan.filters,
                "measure": measure,
                "include_vector": mmr,
                "warn_unindexed": warn_unindexed,
                "max_distance": plan.max_distance,
                "ef_search": plan.ef_search,
                "probes": plan.probes,
            },
        )
    common = {"text": plan.text, "limit": plan.k, "filters": plan.filters, "language": language}
    if plan.mode == VectorStoreQueryMode.TEXT_SEARCH:
        return SearchCall("keyword_search", common)
    return SearchCall(
        "hybrid_search",
        {
            **common,
            "limit": plan.fused_k or plan.k,
            "vector": plan.vector,
            "semantic_weight": plan.alpha,
            "full_text_weight": 1.0 - plan.alpha,
            "measure": measure,
            "max_distance": plan.max_distance,
            # LlamaIndex's sizes when the query gives them (dense: similarity_top_k, sparse:
            # sparse_top_k, fused: hybrid_top_k); else the core's 4 x limit per side
            **(
                {"semantic_candidates": plan.k, "keyword_candidates": plan.keyword_k or plan.k}
                if plan.keyword_k is not None or plan.fused_k is not None
                else {}
            ),
        },
    )


def run(collection: vecs_core.Collection, call: SearchCall) -> list[vecs_core.Hit]:
    """Run ``call`` on a sync collection."""
    if call.method == "search":
        return collection.search(**call.kwargs)
    if call.method == "keyword_search":
        return collection.keyword_search(**call.kwargs)
    return collection.hybrid_search(**call.kwargs)


async def arun(collection: vecs_core.AsyncCollection, call: SearchCall) -> list[vecs_core.Hit]:
    """Run ``call`` on an async collection."""
    if call.method == "search":
        return await collection.search(**call.kwargs)
    if call.method == "keyword_search":
        return await collection.keyword_search(**call.kwargs)
    return await collection.hybrid_search(**call.kwargs)


def to_result(
    plan: QueryPlan, hits: Sequence[vecs_core.Hit], measure: str
) -> VectorStoreQueryResult:
    """``hits`` as a query result: MMR applied (selection order), similarities higher-is-better,
    LlamaIndex's convention (its ``SimilarityMode``) for vector modes: the cosine similarity
    ``1 - d``, the dot product ``-d`` (pgvector's ``<#>`` is its negative), and ``-d`` for the
    euclidean (and l1) distance; the keyword rank or the fused RRF score otherwise."""
    if plan.mode == VectorStoreQueryMode.MMR and plan.vector is not None:
        hits = mmr_hits(plan.vector, hits, plan.k, plan.threshold)
    nodes: list[BaseNode] = []
    sims: list[float] = []
    ids: list[str] = []
    for h in hits:
        nodes.append(record_to_node(h.id, h.metadata, h.text))
        ids.append(h.id)
        if plan.mode in _VECTOR_MODES and h.distance is not None:
            sims.append(llama_similarity(measure, h.distance))
        else:  # keyword rank or fused RRF score (vector hits always carry a distance)
            sims.append(float(h.score) if h.score is not None else 0.0)
    return VectorStoreQueryResult(nodes=nodes, similarities=sims, ids=ids)


def llama_similarity(measure: str, distance: float) -> float:
    """LlamaIndex's similarity for a pgvector distance (see :func:`to_result`)."""
    if vecs_core.parse_measure(measure) is vecs_core.IndexMeasure.cosine_distance:
        return 1.0 - distance
    return -distance


def empty_result() -> VectorStoreQueryResult:
    return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
