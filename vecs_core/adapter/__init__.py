"""Adapters transform records before upsert and query (vecs-compatible).

``Adapter([ParagraphChunker(skip_during_query=True), TextEmbedding(model="all-MiniLM-L6-v2")])``
lets a collection take raw text instead of vectors. The submodules ``base``, ``noop``, ``text`` and
``markdown`` are the module paths vecs has; each re-exports its part of this package.
"""

from ._base import Adapter, AdapterContext, AdapterStep, NoOp
from ._text import MarkdownChunker, ParagraphChunker, TextEmbedding, TextEmbeddingModel

__all__ = [
    "Adapter",
    "AdapterContext",
    "AdapterStep",
    "MarkdownChunker",
    "NoOp",
    "ParagraphChunker",
    "TextEmbedding",
    "TextEmbeddingModel",
]
