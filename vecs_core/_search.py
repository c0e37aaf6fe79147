"""Per-query search settings and vecs-compatible result shaping. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._index_plans import VectorIndex
from ._indexes import IndexMethod, parse_measure
from ._types import Hit
from .exc import ArgError

ITERATIVE_SCAN_MODES = ("off", "strict_order", "relaxed_order")


def check_iterative_scan(mode: object) -> str | None:
    if mode is not None and mode not in ITERATIVE_SCAN_MODES:
        raise ArgError(
            f"iterative_scan must be None (automatic) or one of "
            f"{', '.join(ITERATIVE_SCAN_MODES)}, got {mode!r}"
        )
    return mode if mode is None else str(mode)


def _search_settings(
    index: VectorIndex | None,
    limit: int,
    probes: int | None,
    ef_search: int | None,
    filtered: bool,
    version: tuple[int, ...],
    iterative_scan: str | None = None,
) -> tuple[dict[str, str], bool]:
    """The complete planner settings a search needs for ``index``: HNSW ``ef_search`` (default
    40, raised to ``limit`` so an index scan can return ``limit`` rows), IVFFlat ``probes``
    (vecs' default 10), and on pgvector >= 0.8 the iterative scan mode (by default
    ``relaxed_order`` for filtered queries, so a selective filter still returns ``limit`` rows;
    ``iterative_scan`` overrides it). Every value is given, defaults included, so the driver can
    keep them on a pooled connection and send only what changed (see ``_driver``)."""
    settings: dict[str, str] = {}
    relaxed = False
    if iterative_scan is not None and iterative_scan != "off" and version < (0, 8, 0):
        raise ArgError(
            f"iterative_scan={iterative_scan!r} needs pgvector >= 0.8.0 "
            f"(installed: {'.'.join(map(str, version))})"
        )
    if index is None:
        return settings, relaxed
    if index.method == IndexMethod.hnsw:
        settings["hnsw.ef_search"] = str(max(ef_search or 40, limit))
    else:
        settings["ivfflat.probes"] = str(probes or 10)
    mode = iterative_scan
    if mode is None:
        mode = "relaxed_order" if filtered and version >= (0, 8, 0) else "off"
    if mode == "strict_order" and index.method == IndexMethod.ivfflat:
        raise ArgError("IVFFlat supports iterative_scan 'relaxed_order' or 'off', not strict")
    if version >= (0, 8, 0):
        settings[f"{index.method.value}.iterative_scan"] = mode
        relaxed = mode == "relaxed_order"
    return settings, relaxed


def covering_index(indexes: Sequence[VectorIndex], measure: object) -> VectorIndex | None:
    """The valid vector index that serves ``measure``, if any.

    Raises:
        ArgError: an unknown measure.
    """
    wanted = parse_measure(measure)
    return next((ix for ix in indexes if ix.measure == wanted and ix.valid), None)


def query_shape(
    hits: Sequence[Hit], include_value: bool, include_vector: bool, include_metadata: bool
) -> list[Any]:
    """vecs' result shape: ids alone, or tuples ``(id, distance?, vector?, metadata?)``."""
    if not (include_value or include_vector or include_metadata):
        return [h.id for h in hits]
    out = []
    for h in hits:
        row: list[Any] = [h.id]
        if include_value:
            row.append(h.distance)
        if include_vector:
            row.append(h.vector)
        if include_metadata:
            row.append(h.metadata)
        out.append(tuple(row))
    return out
