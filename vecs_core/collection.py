"""``vecs_core.collection``: collections and index options (the module path vecs has for them).

Besides the classes (also exported by :mod:`vecs_core`), this module keeps the type names vecs
defines here, for annotations written against vecs, and ``INDEX_MEASURE_TO_OPS``.
"""

from __future__ import annotations

from typing import Any, Union

from ._async import AsyncCollection
from ._indexes import MEASURES, IndexArgsHNSW, IndexArgsIVFFlat, IndexMeasure, IndexMethod
from ._sync import Collection
from ._types import Metadata, Record

__all__ = [
    "INDEX_MEASURE_TO_OPS",
    "AsyncCollection",
    "Collection",
    "IndexArgsHNSW",
    "IndexArgsIVFFlat",
    "IndexMeasure",
    "IndexMethod",
    "Metadata",
    "MetadataValues",
    "Numeric",
    "Record",
]

MetadataValues = Union[str, int, float, bool, None, list[Any], dict[str, Any]]
"""A metadata value: any JSON value."""

Numeric = Union[int, float]
"""A vector element (numpy numbers work too; complex numbers are refused)."""

INDEX_MEASURE_TO_OPS: dict[IndexMeasure, str] = {
    measure: f"vector_{info.suffix}" for measure, info in MEASURES.items()
}
"""The pgvector operator class of each measure for ``vector`` columns (``vector_cosine_ops``...);
above 2,000 dimensions vecs_core indexes ``halfvec`` expressions with ``halfvec_*`` classes."""
