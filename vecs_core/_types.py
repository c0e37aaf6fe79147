"""Result records returned by collections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from pgvector import SparseVector

Metadata = dict[str, Any]
Vector = Union[npt.NDArray[np.float32], "SparseVector"]
"""A stored vector as returned: a float32 array (``vector`` and ``halfvec`` collections) or a
``pgvector.SparseVector`` (``sparsevec`` collections)."""


class Record(NamedTuple):
    """A stored record as returned by ``fetch`` and ``col[id]`` (vecs-compatible 3-tuple)."""

    id: str
    vector: Vector
    metadata: Metadata


class Item(NamedTuple):
    """A stored record with its document text, from ``get`` and ``find``.

    ``vector`` is None unless it was asked for (``include_vector=True``).
    """

    id: str
    metadata: Metadata
    text: str | None
    vector: Vector | None


class Hit(NamedTuple):
    """One search result, best first.

    ``distance`` is pgvector's distance for vector search (smaller is nearer; for
    ``max_inner_product`` it is the negative inner product) and None for keyword search. ``score``
    is always higher-is-better: for vector search the measure's similarity
    (:func:`vecs_core.similarity_score`: ``1 - d`` for cosine, the inner product for
    ``max_inner_product``, ``1 / (1 + d)`` for l2 and l1), the ``ts_rank_cd`` rank for keyword
    search, the fused RRF score for hybrid search.
    """

    id: str
    distance: float | None
    metadata: Metadata
    text: str | None
    vector: Vector | None = None
    score: float | None = None
