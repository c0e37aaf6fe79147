"""``vecs_core.adapter.noop``: the pass-through step (a vecs module path)."""

from ._base import NoOp

__all__ = ["NoOp"]
