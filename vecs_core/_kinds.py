"""Vector kinds: how a collection stores its vectors. One row per kind, like ``MEASURES``.

A kind is the pgvector type of the ``vec`` column (``vector``, ``halfvec`` or ``sparsevec``)
and everything that follows from it: the dimension limits for storage and for indexing, the
index methods it supports, how a Python value is checked and turned into pgvector's binary
format (query parameters and ``COPY`` rows), and how a stored value comes back. Pure: no I/O.

pgvector's binary formats (big-endian):

- ``vector``: ``uint16 dim, uint16 0, float32[dim]``
- ``halfvec``: ``uint16 dim, uint16 0, float16[dim]``
- ``sparsevec``: ``int32 dim, int32 nnz, int32 0, int32[nnz] indices (0-based), float32[nnz]``
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from psycopg import sql

from .exc import ArgError

if TYPE_CHECKING:
    from pgvector import SparseVector

KindName = Literal["vector", "halfvec", "sparsevec"]
Dense = npt.NDArray[np.float32]

HALF_MAX = 65504.0  # the largest finite float16
SPARSE_MAX_NNZ = 16_000  # pgvector: non-zero elements a sparsevec can hold
_DENSE_HEADER = struct.Struct(">HH")
_SPARSE_HEADER = struct.Struct(">iii")
_BE_F4, _BE_F2, _BE_I4 = np.dtype(">f4"), np.dtype(">f2"), np.dtype(">i4")
_F4 = np.dtype(np.float32)
_F4_MAX = float(np.finfo(np.float32).max)


class Sparse:
    """A checked sparse vector: sorted unique 0-based ``indices`` with their non-zero
    ``values``, and the full ``dimension``."""

    __slots__ = ("dimension", "indices", "values")

    def __init__(
        self, dimension: int, indices: npt.NDArray[np.int64], values: npt.NDArray[np.float32]
    ) -> None:
        self.dimension = dimension
        self.indices = indices
        self.values = values

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def norm_is_zero(self) -> bool:
        return self.nnz == 0


Prepared = Dense | Sparse
"""A vector checked for a kind, ready to encode."""


def is_zero(vector: Prepared) -> bool:
    """Whether ``vector`` is all zeros (no direction: its cosine distance to anything is NaN)."""
    if isinstance(vector, Sparse):
        return vector.nnz == 0 or not vector.values.any()
    # one C call (ndarray.any goes through a Python wrapper and a ufunc reduce): measured on a
    # query's hot path, between round trips, 0.113 -> 0.108 ms of client CPU per query
    return not np.count_nonzero(vector)


def as_dense(
    value: object, dimension: int | None, *, what: str, error: type[ArgError] = ArgError
) -> Dense:
    """Convert a list/tuple/ndarray of numbers to a finite 1-D float32 array of ``dimension``.

    Raises:
        ArgError: (``error``, e.g. :class:`~vecs_core.exc.RecordError` for a record) on a
            non-numeric value, a wrong shape or dimension, or NaN/infinity.
    """
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        hint = (
            "; this collection has no adapter to turn text into a vector: pass the query's "
            "vector, or open the collection with one, e.g. vx.get_or_create_collection(name, "
            "adapter=Adapter([TextEmbedding()])) (from vecs_core.adapter)"
            if isinstance(value, str)
            else ""
        )
        raise error(
            f"{what}: vector must be a sequence of numbers, got {type(value).__name__}{hint}"
        )
    try:
        raw = np.asarray(value)
        if raw.dtype.kind not in "fiub":  # refuse strings ("1.5"), objects, complex
            raise error(
                f"{what}: vector must contain only numbers, got elements of type {raw.dtype}"
            )
        arr = raw.astype(np.float32, copy=False)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ArgError):
            raise
        raise error(f"{what}: vector must contain only numbers ({exc})") from None
    except RuntimeWarning:  # float32 overflow, when warnings are errors; else inf, refused below
        raise error(f"{what}: vector contains NaN or infinity (or overflows float32)") from None
    if arr.ndim != 1:
        raise error(f"{what}: vector must be one-dimensional, got shape {arr.shape}")
    if dimension is not None and arr.shape[0] != dimension:
        raise error(f"{what}: expected a vector of dimension {dimension}, got {arr.shape[0]}")
    if arr.shape[0] == 0:
        raise error(f"{what}: vector is empty")
    if not np.isfinite(arr).all():
        raise error(f"{what}: vector contains NaN or infinity (or overflows float32)")
    return arr


def _as_half(value: object, dimension: int | None, *, what: str, error: type[ArgError]) -> Dense:
    arr = as_dense(value, dimension, what=what, error=error)
    if np.abs(arr).max() > HALF_MAX:
        raise error(
            f"{what}: a value exceeds the half-precision range (±{HALF_MAX:g}) of a halfvec "
            "collection; scale the vector or use storage='vector'"
        )
    return arr


def sparse_vector_class() -> type[SparseVector]:
    """pgvector-python's ``SparseVector``: ``pgvector.SparseVector`` since 0.4, in
    ``pgvector.utils`` before (vecs 0.4.5 and langchain-postgres pin 0.3, so a project moving
    from them may have it)."""
    try:
        from pgvector import SparseVector
    except ImportError:  # pragma: no cover - pgvector-python 0.3
        from pgvector.utils import SparseVector  # type: ignore[no-redef,unused-ignore]
    return SparseVector


def _as_sparse(value: object, dimension: int | None, *, what: str, error: type[ArgError]) -> Sparse:
    SparseVector = sparse_vector_class()

    if isinstance(value, SparseVector):
        if dimension is not None and value.dimensions() != dimension:
            raise error(
                f"{what}: expected a sparse vector of dimension {dimension}, got "
                f"{value.dimensions()}"
            )
        pairs: Sequence[tuple[object, object]] = list(zip(value.indices(), value.values()))
        dim = value.dimensions()
    elif isinstance(value, Mapping):
        pairs = list(value.items())
        dim = dimension if dimension is not None else 0
    else:
        dense = as_dense(value, dimension, what=what, error=error)
        nz = np.flatnonzero(dense)
        return Sparse(int(dense.shape[0]), nz.astype(np.int64), dense[nz])
    indices = np.empty(len(pairs), dtype=np.int64)
    numbers: list[float] = []
    for j, (index, number) in enumerate(pairs):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise error(
                f"{what}: sparse vector indices must be ints, got {type(index).__name__} {index!r}"
            )
        if not 0 <= index < dim:
            raise error(
                f"{what}: sparse vector index {index} is out of range for dimension {dim} "
                f"(indices are 0-based)"
            )
        if isinstance(number, (str, bytes)) or not isinstance(
            number, (int, float, np.integer, np.floating)
        ):
            raise error(
                f"{what}: sparse vector values must be numbers, got "
                f"{type(number).__name__} {number!r} at index {index}"
            )
        indices[j] = index
        numbers.append(float(number))
    wide = np.asarray(numbers, dtype=np.float64)
    if not (np.isfinite(wide).all() and (np.abs(wide) <= _F4_MAX).all()):
        raise error(f"{what}: sparse vector contains NaN or infinity (or overflows float32)")
    values = wide.astype(np.float32)
    order = np.argsort(indices, kind="stable")
    indices, values = indices[order], values[order]
    if indices.shape[0] > 1 and (np.diff(indices) == 0).any():
        raise error(f"{what}: sparse vector has a repeated index")
    keep = values != 0
    indices, values = indices[keep], values[keep]
    if indices.shape[0] > SPARSE_MAX_NNZ:
        raise error(
            f"{what}: sparse vector has {indices.shape[0]} non-zero elements; pgvector stores "
            f"at most {SPARSE_MAX_NNZ}"
        )
    return Sparse(dim, indices, values)


def _dense_bytes(dtype: np.dtype[Any]) -> Callable[[Prepared], bytes]:
    def encode(value: Prepared) -> bytes:
        assert not isinstance(value, Sparse)
        return _DENSE_HEADER.pack(value.shape[0], 0) + value.astype(dtype).tobytes()

    return encode


def _sparse_bytes(value: Prepared) -> bytes:
    assert isinstance(value, Sparse)
    return (
        _SPARSE_HEADER.pack(value.dimension, value.nnz, 0)
        + value.indices.astype(_BE_I4).tobytes()
        + value.values.astype(_BE_F4).tobytes()
    )


def _dense_from(dtype: np.dtype[Any]) -> Callable[[bytes], Dense]:
    def decode(data: bytes) -> Dense:
        dim, _ = _DENSE_HEADER.unpack_from(data)
        return np.frombuffer(data, dtype=dtype, count=dim, offset=4).astype(np.float32)

    return decode


def _sparse_from(data: bytes) -> SparseVector:
    decoded: SparseVector = sparse_vector_class().from_binary(data)
    return decoded


@dataclass(frozen=True)
class VectorKind:
    """One way to store vectors (see the module docstring)."""

    name: KindName
    max_dimension: int  # of the column type
    max_index_dimension: int | None  # what an index on the column itself covers (None: any)
    index_above: KindName | None  # the expression index kind past ``max_index_dimension``
    methods: tuple[str, ...]  # index methods that serve the kind
    min_version: tuple[int, ...]  # pgvector release that has the type
    max_index_nnz: int | None  # HNSW on sparsevec: non-zero elements per vector
    prepare: Callable[..., Prepared]  # (value, dimension, *, what, error) -> Prepared
    encode: Callable[[Prepared], bytes]
    decode: Callable[[bytes], Any]
    dense: bool
    wire_dtype: np.dtype[Any] | None  # big-endian element type of a dense kind

    def opclass(self, suffix: str) -> str:
        return f"{self.name}_{suffix}"

    def element_bytes(self) -> int:
        return 0 if self.wire_dtype is None else self.wire_dtype.itemsize


KINDS: dict[str, VectorKind] = {
    "vector": VectorKind(
        name="vector",
        max_dimension=16_000,
        max_index_dimension=2_000,
        index_above="halfvec",
        methods=("hnsw", "ivfflat"),
        min_version=(0,),
        max_index_nnz=None,
        prepare=as_dense,
        encode=_dense_bytes(_BE_F4),
        decode=_dense_from(_BE_F4),
        dense=True,
        wire_dtype=_BE_F4,
    ),
    "halfvec": VectorKind(
        name="halfvec",
        max_dimension=16_000,
        max_index_dimension=4_000,
        index_above=None,
        methods=("hnsw", "ivfflat"),
        min_version=(0, 7, 0),
        max_index_nnz=None,
        prepare=_as_half,
        encode=_dense_bytes(_BE_F2),
        decode=_dense_from(_BE_F2),
        dense=True,
        wire_dtype=_BE_F2,
    ),
    "sparsevec": VectorKind(
        name="sparsevec",
        max_dimension=1_000_000_000,
        max_index_dimension=None,
        index_above=None,
        methods=("hnsw",),
        min_version=(0, 7, 0),
        max_index_nnz=1_000,
        prepare=_as_sparse,
        encode=_sparse_bytes,
        decode=_sparse_from,
        dense=False,
        wire_dtype=None,
    ),
}
STORAGE_KINDS = tuple(KINDS)


def parse_kind(storage: object) -> VectorKind:
    """The kind named ``storage``.

    Raises:
        ArgError: an unknown kind.
    """
    kind = KINDS.get(storage) if isinstance(storage, str) else None
    if kind is None:
        raise ArgError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGE_KINDS)}")
    return kind


def kind_of_type(type_name: str) -> VectorKind | None:
    """The kind of a column whose type is ``type_name`` (from ``pg_type.typname``)."""
    return KINDS.get(type_name)


def index_kind(table: VectorKind, dimension: int) -> VectorKind | None:
    """The kind an index on a ``table``-kind column of ``dimension`` is built over: the column's
    own, or its half-precision cast past 2,000 dimensions; None when nothing can index it."""
    limit = table.max_index_dimension
    if limit is None or dimension <= limit:
        return table
    if table.index_above is not None:
        above = KINDS[table.index_above]
        if above.max_index_dimension is None or dimension <= above.max_index_dimension:
            return above
    return None


def column_expression(table: VectorKind, index: VectorKind, dimension: int) -> sql.Composable:
    """``vec``, or ``(vec::halfvec(d))`` when the index is over a cast of the column: the one
    expression both the index DDL and a search that wants that index use."""
    col = sql.Identifier("vec")
    if index.name == table.name:
        return col
    return sql.SQL("({}::{}({}))").format(col, sql.SQL(index.name), sql.Literal(dimension))


def param_expression(
    param: sql.Composable, table: VectorKind, index: VectorKind, dimension: int
) -> sql.Composable:
    """The query vector parameter typed as the column, cast like :func:`column_expression`."""
    typed = sql.SQL("{}::{}").format(param, sql.SQL(table.name))
    if index.name == table.name:
        return typed
    return sql.SQL("({}::{}({}))").format(typed, sql.SQL(index.name), sql.Literal(dimension))
