"""``vecs_core.adapter.markdown``: the markdown heading chunker step (a vecs module path)."""

from ._text import MarkdownChunker

__all__ = ["MarkdownChunker"]
