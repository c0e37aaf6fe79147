"""LlamaIndex integration: :class:`VecsVectorStore`, a vector store on vecs_core.

Needs ``llama-index-core`` (``pip install 'vecs-core[llama-index]'``); importing this package
without it raises :class:`vecs_core.MissingDependency` with that command.
"""

from .._shared import require_framework

require_framework(
    "llama_index.core",
    integration="vecs_integrations.llama_index",
    distribution="llama-index-core",
    extra="llama-index",
)

from ._filters import to_vecs_filter, translate_filters  # noqa: E402  (after the dependency check)
from .base import VecsVectorStore  # noqa: E402

__all__ = ["VecsVectorStore", "to_vecs_filter", "translate_filters"]
