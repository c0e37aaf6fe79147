"""``VecsRetriever``: LangChain's ``VectorStoreRetriever`` plus ``search_type="hybrid"``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever


class VecsRetriever(VectorStoreRetriever):
    """``VectorStoreRetriever`` that also accepts ``search_type="hybrid"`` (answered by the
    store's ``search(query, "hybrid", ...)``)."""

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
            return self.vectorstore.search(query, "hybrid", **(self.search_kwargs | kwargs))
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        **kwargs: Any,
    ) -> list[Document]:
        if self.search_type == "hybrid":
            kwargs = self.search_kwargs | kwargs
            return await self.vectorstore.asearch(query, "hybrid", **kwargs)
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)
