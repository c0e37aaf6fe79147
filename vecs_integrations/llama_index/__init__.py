"""LlamaIndex integration: :class:`VecsVectorStore`, a vector store on vecs_core.

Needs ``llama-index-core`` (``pip install 'vecs-core[llama-index]'``).
"""

from ._filters import to_vecs_filter, translate_filters
from .base import VecsVectorStore

__all__ = ["VecsVectorStore", "to_vecs_filter", "translate_filters"]
