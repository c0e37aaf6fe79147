"""Zero vectors and cosine distance, the parts that need the collection's indexes.

A zero vector has no direction. pgvector's cosine distance to it is NaN, and its HNSW and IVFFlat
cosine indexes skip it: such a record is stored but no index search can return it. So a zero
vector is refused (:class:`~vecs_core.exc.RecordError`) by ``upsert`` into a collection that has
a cosine index; without one it is stored (exact search still orders it, last, with a NaN
distance, and other measures are well defined for it). A zero *query* vector with cosine distance
is refused with :class:`~vecs_core.exc.ArgError` (``_records.check_direction``).

The indexes are the collection's cached view (refreshed every ``INDEX_CACHE_SECONDS`` and after
``create_index``/``drop_index`` through this client). The small-batch path looks them up only when
a record actually has a zero vector, so ordinary upserts pay no extra round trip.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from ._indexes import IndexMeasure
from ._kinds import is_zero
from ._records import Checked, zero_vector_error


def cosine_indexed(collection: Any) -> Generator[Any, Any, bool]:
    """Whether ``collection`` (a ``CollectionBase``) has a cosine index, valid or being built
    (a ``yield from`` flow step: it may look the indexes up)."""
    indexes = collection._fresh_indexes()
    if indexes is None:
        indexes = yield from collection._indexes_flow(refresh=True)
    return any(ix.measure is IndexMeasure.cosine_distance for ix in indexes)


def refuse_zero_vectors(collection: Any, checked: Sequence[Checked]) -> Generator[Any, Any, None]:
    """Raise :class:`RecordError` for the first zero vector in ``checked`` when the collection
    has a cosine index (a ``yield from`` flow step)."""
    zero = next((i for i, c in enumerate(checked) if is_zero(c.vector)), None)
    if zero is not None and (yield from cosine_indexed(collection)):
        raise zero_vector_error(f"record {zero} (id {checked[zero].id!r:.80})")
