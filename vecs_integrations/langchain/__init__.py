"""LangChain integration: :class:`VecsVectorStore`, a ``langchain_core`` ``VectorStore`` on
vecs_core (PostgreSQL + pgvector), with native async and LangChain-style metadata filters.

Needs ``langchain-core`` (``pip install 'vecs-core[langchain]'``); importing this package without
it raises :class:`vecs_core.MissingDependency` with that command.

>>> from vecs_integrations.langchain import VecsVectorStore
>>> store = VecsVectorStore(embedding, "docs")          # embedded PostgreSQL by default
>>> store.add_texts(["hello"], [{"lang": "en"}])
>>> store.as_retriever(search_kwargs={"filter": {"lang": "en"}}).invoke("hi")
"""

from .._shared import mmr_select, require_framework

require_framework(
    "langchain_core",
    integration="vecs_integrations.langchain",
    distribution="langchain-core",
    extra="langchain",
)

from ._filters import translate_filter  # noqa: E402  (after the dependency check)
from ._retriever import VecsRetriever  # noqa: E402
from .vectorstores import VecsVectorStore  # noqa: E402

__all__ = ["VecsRetriever", "VecsVectorStore", "mmr_select", "translate_filter"]
