"""Maximal marginal relevance search for the LangChain store (the selection itself is
:func:`vecs_integrations._shared.mmr_select`, shared with the LlamaIndex store)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.documents import Document

from .._shared import check_unit_interval, fetch_size, mmr_hits
from ._base import StoreBase


class MMRSearch(StoreBase):
    """The ``max_marginal_relevance_search*`` methods, sync and native async.

    Fetches the ``fetch_k`` nearest documents by the store's measure (within ``filter``), then
    picks ``k`` of them with :func:`~vecs_integrations._shared.mmr_select`: the most relevant
    first, then each maximising ``lambda_mult * sim(query) - (1 - lambda_mult) * max
    sim(picked)``, cosine similarities throughout. Results come in selection order.
    """

    def _mmr_args(
        self,
        k: object,
        fetch_k: object,
        lambda_mult: object,
        filter: Mapping[str, Any] | None,
        kwargs: Any,
    ) -> dict[str, Any]:
        """Search arguments for the candidates; every argument checked before any I/O."""
        check_unit_interval(lambda_mult, "lambda_mult")
        args = self._search_args(k, filter, kwargs, "max_marginal_relevance_search")
        fetch = fetch_size(args["limit"], fetch_k)
        args["limit"] = fetch if args["limit"] else 0  # k=0: no query at all
        return args

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
        args = self._mmr_args(k, fetch_k, lambda_mult, filter, kwargs)
        hits = self._hits(embedding, args, include_vector=True)
        return self._scored(mmr_hits(embedding, hits, k, lambda_mult))

    async def amax_marginal_relevance_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        args = self._mmr_args(k, fetch_k, lambda_mult, filter, kwargs)
        hits = await self._ahits(embedding, args, include_vector=True)
        return self._scored(mmr_hits(embedding, hits, k, lambda_mult))

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Documents chosen by maximal marginal relevance, in selection order (see the class
        docstring)."""
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
