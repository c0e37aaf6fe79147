"""LangChain integration: :class:`VecsVectorStore`, a ``langchain_core`` ``VectorStore`` on
vecs_core (PostgreSQL + pgvector), with native async and LangChain-style metadata filters.

>>> from vecs_integrations.langchain import VecsVectorStore
>>> store = VecsVectorStore(embedding, "docs")          # embedded PostgreSQL by default
>>> store.add_texts(["hello"], [{"lang": "en"}])
>>> store.as_retriever(search_kwargs={"filter": {"lang": "en"}}).invoke("hi")
"""

from ._filters import translate_filter
from ._mmr import mmr_select
from .vectorstores import VecsRetriever, VecsVectorStore

__all__ = ["VecsRetriever", "VecsVectorStore", "mmr_select", "translate_filter"]
