"""``vecs_core.adapter.text``: paragraph chunking and sentence-transformers embedding steps (a
vecs module path). Everything here is also exported by :mod:`vecs_core.adapter`."""

from ._text import ParagraphChunker, TextEmbedding, TextEmbeddingModel

__all__ = ["ParagraphChunker", "TextEmbedding", "TextEmbeddingModel"]
