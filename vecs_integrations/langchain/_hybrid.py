"""Keyword and hybrid (keyword + vector, fused by reciprocal rank) search for the LangChain store,
on vecs_core's ``keyword_search`` and ``hybrid_search``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.documents import Document

import vecs_core

from .._shared import SessionSpec, check_k, check_kwargs, check_session, with_session
from ._base import StoreBase
from ._filters import translate_filter

#: Keyword arguments of :meth:`HybridSearch.hybrid_search` passed on to the core.
HYBRID_OPTIONS = (
    "full_text_weight",
    "semantic_weight",
    "rrf_k",
    "language",
    "max_distance",
    "semantic_candidates",
    "keyword_candidates",
)


class HybridSearch(StoreBase):
    """``keyword_search_with_score``, ``hybrid_search*`` and ``search_type="hybrid"``."""

    #: Always True: keyword and hybrid search are part of vecs_core's public API.
    supports_hybrid: ClassVar[bool] = True

    def _hybrid_args(
        self, k: object, filter: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
    ) -> tuple[dict[str, Any], SessionSpec | None]:
        """Core ``hybrid_search`` arguments and the per-call session, checked before any I/O
        (an unknown keyword argument raises)."""
        check_kwargs(kwargs, (*HYBRID_OPTIONS, "session"), "hybrid_search")
        args = {
            "limit": check_k(k),
            "filters": translate_filter(filter),
            "measure": self.measure,
            **{name: kwargs[name] for name in HYBRID_OPTIONS if name in kwargs},
        }
        return args, check_session(kwargs.get("session"))

    def _fused(self, hits: Sequence[vecs_core.Hit]) -> list[tuple[Document, float]]:
        return [(self._document(h.id, h.text, h.metadata), float(h.score or 0.0)) for h in hits]

    def keyword_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        language: str | None = None,
        session: Mapping[str, Any] | None = None,
    ) -> list[tuple[Document, float]]:
        """Full-text search only (vecs_core ``keyword_search``): documents whose text matches
        ``query`` (web-search syntax) with their rank (higher is better). No embedding call.
        ``language`` defaults to the collection's full-text language."""
        limit, where, spec = check_k(k), translate_filter(filter), check_session(session)
        if limit == 0:
            return []
        col = with_session(self._reading(), spec)
        return self._fused(col.keyword_search(query, limit=limit, filters=where, language=language))

    async def akeyword_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        language: str | None = None,
        session: Mapping[str, Any] | None = None,
    ) -> list[tuple[Document, float]]:
        limit, where, spec = check_k(k), translate_filter(filter), check_session(session)
        if limit == 0:
            return []
        col = with_session(await self._areading(), spec)
        hits = await col.keyword_search(query, limit=limit, filters=where, language=language)
        return self._fused(hits)

    def hybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Full-text + vector search fused by reciprocal rank (vecs_core ``hybrid_search``).

        Keyword arguments ``full_text_weight``, ``semantic_weight``, ``rrf_k``, ``language``,
        ``max_distance``, ``semantic_candidates`` and ``keyword_candidates`` are passed to the
        core, ``session`` is a per-call identity; any other raises. Scores are the fused RRF
        scores (higher is better).

        Raises:
            ArgError: a bad ``k`` or weight.
            FilterError: a malformed filter.
        """
        args, spec = self._hybrid_args(k, filter, kwargs)
        if args["limit"] == 0:
            return []
        embedding = self.embedding.embed_query(query)
        col = with_session(self._reading(), spec)
        return self._fused(col.hybrid_search(query, embedding, **args))

    async def ahybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        args, spec = self._hybrid_args(k, filter, kwargs)
        if args["limit"] == 0:
            return []
        embedding = await self.embedding.aembed_query(query)
        col = with_session(await self._areading(), spec)
        return self._fused(await col.hybrid_search(query, embedding, **args))

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
