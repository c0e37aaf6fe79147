"""Validation and binary encoding of records and query vectors. Pure: no I/O.

Vectors travel in pgvector's binary formats (see ``_kinds``), both as query parameters (through
:class:`VectorParam`) and inside binary ``COPY`` streams, so the hot paths never format or parse
text. Records are checked on the client before anything is sent; a query vector given as a
float32 array is left to pgvector to check (see :func:`query_vector`).
"""

from __future__ import annotations

import json
import json.encoder
import math
import struct
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, NamedTuple

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

from ._checks import MAX_METADATA_DEPTH, NestingError, safe_repr, scan_json
from ._indexes import IndexMeasure
from ._kinds import Prepared, VectorKind, is_zero
from ._protocol import Execute, Plan
from .exc import ArgError, RecordError

MAX_ID_BYTES = 2048
_LEN = struct.Struct(">i")
_F4 = np.dtype(np.float32)


def query_vector(value: object, kind: VectorKind, dimension: int) -> Prepared:
    """Check a query vector for a collection of ``kind``, with a fast path for the common case,
    a float32 array of the right shape (an embedding model's output) searching a ``vector``
    collection: no numpy call at all, which matters on a query's hot path. NaN and infinity are
    then refused by pgvector as the statement reads its parameter (see :func:`query_step`),
    before anything runs.

    Raises:
        ArgError: as :func:`~vecs_core._kinds.as_dense` (or the kind's own check).
    """
    if (
        type(value) is np.ndarray
        and kind.name == "vector"
        and value.dtype is _F4
        and value.ndim == 1
        and value.shape[0] == dimension
    ):
        return value
    return kind.prepare(value, dimension, what="query vector", error=ArgError)


def check_direction(vector: Prepared, measure: IndexMeasure) -> None:
    """Refuse a zero query vector for cosine distance: it has no direction, so its distance to
    every record is NaN and the order of the results would be arbitrary.

    Raises:
        ArgError: ``measure`` is cosine distance and ``vector`` is all zeros.
    """
    if measure is IndexMeasure.cosine_distance and is_zero(vector):
        raise ArgError(
            "query vector: a zero vector has no direction, so its cosine distance to every "
            "record is undefined (NaN); query with a non-zero vector, or with another measure "
            "(l2_distance, max_inner_product, l1_distance)"
        )


def zero_vector_error(what: str) -> RecordError:
    """The error for a zero vector upserted into a collection with a cosine index."""
    return RecordError(
        f"{what}: a zero vector has no direction, and the collection's cosine_distance index "
        "skips such vectors, so no search through it could find this record; store a non-zero "
        "vector, or index the collection for another measure (e.g. l2_distance)"
    )


def query_step(step: Execute) -> Plan[Any]:
    """Run ``step``, a statement with a query vector parameter (``yield from`` in a plan), and
    raise :class:`ArgError` when pgvector refuses that vector for NaN or infinity."""
    try:
        return (yield step)
    except psycopg.errors.DataException as exc:
        message = str(exc)
        if message.startswith(("NaN not allowed in", "infinite value not allowed in")):
            raise ArgError("query vector: vector contains NaN or infinity") from exc
        raise


class VectorParam:
    """A query vector sent as a binary parameter of unknown type; the statement casts it to the
    column's type (``%(q)s::vector``), so the server reads it in that type's binary format."""

    __slots__ = ("encode", "value")

    def __init__(self, value: Prepared, kind: VectorKind) -> None:
        self.value = value
        self.encode = kind.encode


class VectorParamDumper(Dumper):
    format = Format.BINARY
    oid = 0  # unknown: the server takes the type from the cast in the statement

    def dump(self, obj: Any) -> bytes:
        encoded: bytes = obj.encode(obj.value)
        return encoded


# -- metadata ------------------------------------------------------------------------------------


def _to_json_value(value: object) -> object:
    """Convert numpy scalars/arrays to plain JSON values; refuse anything else non-JSON."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _check_json(value: object, path: str) -> None:
    """Refuse non-string keys, NUL characters and non-finite floats anywhere in ``value``."""
    if isinstance(value, str):
        if "\x00" in value:
            raise RecordError(f"{path}: strings cannot contain NUL (\\u0000) in PostgreSQL jsonb")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RecordError(f"{path}: {value!r} is not valid JSON; use null or a finite number")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise RecordError(
                    f"{path}: metadata keys must be strings, got {type(k).__name__} {safe_repr(k)}"
                )
            _check_json(k, path)
            _check_json(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]")
    elif isinstance(value, np.ndarray):
        _check_json(value.tolist(), path)


_FLAT = frozenset({str, int, float, bool, type(None)})
_JSON = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, default=_to_json_value, separators=(",", ":")
)
_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
# The same encoding for flat metadata (one level of JSON scalars: no nesting, no cycles, no
# default conversions), made once: JSONEncoder.encode builds this C encoder on every call,
# which was more than half of the time of encoding a flat dict (1.7 us against 0.7 us).
_FLAT_JSON = (
    _C_ENCODER(
        None, _to_json_value, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    if _C_ENCODER is not None
    else None
)


def encode_metadata(metadata: object, *, what: str) -> bytes:
    """Return the UTF-8 JSON text of ``metadata`` (a dict of JSON values, or None for ``{}``).

    numpy scalars and arrays are converted to plain numbers and lists; datetime, Decimal, bytes,
    sets and other objects are refused, since JSON has no faithful form for them.
    """
    if metadata is None:
        return b"{}"
    if not isinstance(metadata, Mapping):
        raise RecordError(
            f"{what}: metadata must be a dict (JSON object), got {type(metadata).__name__}"
        )
    flat = type(metadata) is dict and all(
        type(k) is str and type(v) in _FLAT for k, v in metadata.items()
    )  # the common case (one level of scalars): nothing to walk
    try:  # before json.dumps, which recurses: refuse deep or circular metadata without recursion
        str_keys = flat or scan_json(metadata, MAX_METADATA_DEPTH)
    except NestingError as exc:
        raise RecordError(f"{what}: metadata {exc}") from None
    try:
        text = "".join(_FLAT_JSON(metadata, 0)) if flat and _FLAT_JSON else _JSON.encode(metadata)
    except TypeError as exc:
        raise RecordError(
            f"{what}: metadata holds a value of type {exc.args[0]!s} that is not JSON; convert it "
            "first (e.g. datetime -> .isoformat(), Decimal -> str or float)"
        ) from None
    except ValueError as exc:
        if "Circular" in str(exc):
            raise RecordError(f"{what}: metadata contains a circular reference") from None
        if "digits" in str(exc):  # int -> str beyond sys.get_int_max_str_digits()
            raise RecordError(
                f"{what}: metadata holds an integer too large to write as JSON ({exc}); "
                "store it as a string"
            ) from None
        raise RecordError(
            f"{what}: metadata holds NaN or infinity, which JSON cannot store"
        ) from None
    # json.dumps silently turns int/float/bool/None keys into strings and escapes NUL: walk the
    # structure (at most MAX_METADATA_DEPTH levels, checked above) only when one can be present.
    if not str_keys or "\\u0000" in text:
        _check_json(metadata, f"{what} metadata")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError(
            f"{what}: metadata holds a string with a lone surrogate "
            f"({text[exc.start : exc.end]!r}), which is not valid Unicode and cannot be stored; "
            "decode your data with errors='replace' or fix its source"
        ) from None


def check_id(record_id: object, *, what: str) -> bytes:
    if not isinstance(record_id, str):
        raise RecordError(
            f"{what}: id must be a str, got {type(record_id).__name__} {safe_repr(record_id)}"
        )
    if not record_id:
        raise RecordError(f"{what}: id must not be empty")
    if "\x00" in record_id:
        raise RecordError(f"{what}: id {safe_repr(record_id)} contains a NUL character")
    try:
        raw = record_id.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(
            f"{what}: id {safe_repr(record_id)} holds a lone surrogate, which is not valid Unicode"
        ) from None
    if len(raw) > MAX_ID_BYTES:
        raise RecordError(f"{what}: id is {len(raw)} bytes; the limit is {MAX_ID_BYTES}")
    return raw


def check_text(text: object, *, what: str) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise RecordError(f"{what}: text must be a str or None, got {type(text).__name__}")
    if "\x00" in text:
        raise RecordError(f"{what}: text contains a NUL character, which PostgreSQL cannot store")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError(
            f"{what}: text holds a lone surrogate ({text[exc.start : exc.end]!r}), which is not "
            "valid Unicode and cannot be stored"
        ) from None


# -- binary COPY stream --------------------------------------------------------------------------

COPY_CHUNK_ROWS = 256
"""Records per COPY chunk: one numpy conversion, then one write. Small enough (~150 kB at 384
dimensions) that the socket always holds the previous chunk while the next one is encoded,
measured at 1M x 128: 256 rows 110-123k records/s, 2,000 rows 101-116k."""
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
_ROW_HEAD = struct.Struct(">hiqi")  # 5 fields, len(ord)=8, ord, len(id)
_TABLE_ROW_HEAD = struct.Struct(">hi")  # 3 or 4 fields, len(id)
_STAGED_ID_AT = _ROW_HEAD.size - 4  # a staged row's id field starts after the count and ord
_NULL = _LEN.pack(-1)


def table_row_of_staged(has_text: bool) -> tuple[bytes, int, int]:
    """How a staged row becomes the table's row, as ``(count, skip, cut)``: write ``count``
    (the table row's field count), then the staged row's bytes after its first ``skip`` and
    before its last ``cut`` (``ord`` goes; without a text column so does the NULL text, which
    such a load's rows all have)."""
    return struct.pack(">h", 3 + has_text), _STAGED_ID_AT, 0 if has_text else len(_NULL)


_STR = frozenset({str})


def _fast_parts(record: tuple[Any, ...]) -> tuple[bytes, bytes, bytes | None] | None:
    """Id bytes, metadata JSON and text bytes of the common record (a str id, flat metadata of
    JSON scalars or None, no text or str text), checked as :func:`check_id`,
    :func:`encode_metadata` and :func:`check_text` would; None for anything else, or anything
    they would refuse, so that the general path checks it and names the problem. About 2x
    faster than that path on a bulk load's hot loop (a whole 384-d record: 4.6 us -> 3.4 us):
    no error labels are formatted, and the metadata is checked with C-level set operations."""
    rid, meta = record[0], record[2]
    text = record[3] if len(record) == 4 else None
    if type(rid) is not str or not rid or "\x00" in rid or _FLAT_JSON is None:
        return None
    if text is not None and (type(text) is not str or "\x00" in text):
        return None
    try:
        if meta is None:
            meta_bytes = b"{}"
        elif (
            type(meta) is dict
            and _STR.issuperset(map(type, meta))
            and _FLAT.issuperset(map(type, meta.values()))
        ):
            json_text = "".join(_FLAT_JSON(meta, 0))
            if "\\u0000" in json_text:
                return None
            meta_bytes = json_text.encode("utf-8")
        else:
            return None
        rid_bytes = rid.encode("utf-8")
        text_bytes = None if text is None else text.encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        return None  # a lone surrogate, NaN, an integer too long to write: named by the slow path
    if len(rid_bytes) > MAX_ID_BYTES:
        return None
    return rid_bytes, meta_bytes, text_bytes


class Checked(NamedTuple):
    """A validated record: id, vector, metadata as JSON bytes, optional text bytes."""

    id: str
    id_bytes: bytes
    vector: Prepared
    metadata_json: bytes
    text_bytes: bytes | None


class Encoder:
    """Validate records and turn them into binary COPY rows for ``(ord, id, vec, metadata, text)``
    (a staging table), or with ``table_text`` set for the collection's own columns: ``(id, vec,
    metadata)`` (False) or ``(id, vec, metadata, text)`` (True).

    Rows are produced lazily in chunks, so a generator of millions of records is streamed in
    bounded memory. ``has_text`` tells afterwards whether any record carried document text.
    """

    def __init__(
        self,
        kind: VectorKind,
        dimension: int,
        chunk_rows: int = COPY_CHUNK_ROWS,
        *,
        refuse_zero: bool = False,
        table_text: bool | None = None,
    ) -> None:
        self.kind = kind
        self.table_text = table_text
        self.dimension = dimension
        self.chunk_rows = chunk_rows
        self.refuse_zero = refuse_zero  # the collection has a cosine index (see zero_vector_error)
        self.count = 0
        self.has_text = False

    def _shape(self, index: int, record: object) -> tuple[Any, ...]:
        what = f"record {index}"
        if isinstance(record, Mapping) or not isinstance(record, (tuple, list)):
            raise RecordError(
                f"{what}: expected a tuple (id, vector, metadata[, text]), got "
                f"{type(record).__name__}"
            )
        if len(record) not in (3, 4):
            raise RecordError(
                f"{what}: expected (id, vector, metadata) or (id, vector, metadata, text), "
                f"got {len(record)} items"
            )
        return tuple(record)

    def _parts(self, index: int, record: tuple[Any, ...]) -> tuple[bytes, str, bytes, bytes | None]:
        """Id bytes, the ``what`` label for messages, metadata JSON and text of a shaped record."""
        rid = check_id(record[0], what=f"record {index}")
        what = self._what(index, record)
        meta = encode_metadata(record[2], what=what)
        text = check_text(record[3], what=what) if len(record) == 4 else None
        if text is not None:
            self.has_text = True
        return rid, what, meta, text

    @staticmethod
    def _what(index: int, record: tuple[Any, ...]) -> str:
        return f"record {index} (id {record[0]!r})"

    def _vector(self, value: object, what: str) -> Prepared:
        vec = self.kind.prepare(value, self.dimension, what=what, error=RecordError)
        if self.refuse_zero and is_zero(vec):
            raise zero_vector_error(what)
        return vec

    def validate(self, index: int, record: object) -> Checked:
        """Check one record; return its parts ready to send. Raises :class:`RecordError`."""
        shaped = self._shape(index, record)
        rid, what, meta, text = self._parts(index, shaped)
        return Checked(shaped[0], rid, self._vector(shaped[1], what), meta, text)

    def _batch_vectors(self, batch: list[tuple[int, tuple[Any, ...]]]) -> bytes | None:
        """All vectors of ``batch`` as one buffer of big-endian elements, or None when the kind
        is not dense or any vector is not a clean finite number sequence of the right dimension
        (then each record is checked alone, so the error names it)."""
        dtype = self.kind.wire_dtype
        if dtype is None:
            return None
        try:
            raw = np.asarray([record[1] for _, record in batch])
            if raw.dtype.kind not in "fiub" or raw.shape != (len(batch), self.dimension):
                return None
            if self.kind.name == "halfvec" and raw.size and np.abs(raw).max() > 65504.0:
                return None  # out of half-precision range: the per-record check names it
            wire = raw.astype(dtype)
        except (TypeError, ValueError, RuntimeWarning):
            return None
        if not np.isfinite(wire).all():
            return None
        if self.refuse_zero and not wire.any(axis=1).all():
            return None  # a zero vector: the per-record path names it
        return wire.tobytes()

    def _rows(self, batch: list[tuple[int, object]]) -> list[bytes]:
        """The chunk's rows as a list of byte strings to join (not one per row: the fields of
        every row, in order)."""
        shaped = [
            (
                index,
                record
                if type(record) is tuple and 3 <= len(record) <= 4
                else self._shape(index, record),
            )
            for index, record in batch
        ]
        vectors = self._batch_vectors(shaped)
        width = self.kind.element_bytes() * self.dimension
        if vectors is not None:  # a dense kind: every row has the same field header
            vec_len = _LEN.pack(4 + width) + struct.pack(">HH", self.dimension, 0)
        encode = self.kind.encode
        staged, with_text = self.table_text is None, self.table_text is not False
        out: list[bytes] = []
        add = out.extend
        for j, (index, record) in enumerate(shaped):
            parts = _fast_parts(record)  # the common record, checked without a label
            if parts is None:
                rid, what, meta, text = self._parts(index, record)
            else:
                rid, meta, text = parts
                what = ""
                if text is not None:
                    self.has_text = True
            if vectors is None:
                vec = encode(self._vector(record[1], what or self._what(index, record)))
                vec_field = _LEN.pack(len(vec)) + vec
            else:
                vec_field = vec_len + vectors[j * width : (j + 1) * width]
            if staged:
                head = _ROW_HEAD.pack(5, 8, index, len(rid))
            else:
                head = _TABLE_ROW_HEAD.pack(3 + with_text, len(rid))
            add((head, rid, vec_field, _LEN.pack(len(meta) + 1), b"\x01", meta))
            if with_text:
                out.append(_NULL if text is None else _LEN.pack(len(text)) + text)
        return out

    def staged_rows(self, batch: list[tuple[int, object]]) -> list[bytes]:
        """The staging table's row for each record of ``batch``, one byte string per record
        (counted, as :meth:`chunks` counts), from an encoder of the staging format (no
        ``table_text``)."""
        fields = self._rows(batch)  # 7 per record: head, id, vector, metadata (3), text
        self.count += len(batch)
        return [b"".join(fields[i : i + 7]) for i in range(0, len(fields), 7)]

    def chunks(self, records: Iterator[tuple[int, object]], header: bool = True) -> Iterable[bytes]:
        """Yield the COPY stream in chunks of ``chunk_rows`` records: the header (unless
        ``header`` is False: rows sent before these carried it), the rows, the trailer. Dense
        vectors are converted a chunk at a time (one numpy call), the rest per record."""
        head = COPY_HEADER if header else b""
        while batch := list(islice(records, self.chunk_rows)):
            self.count += len(batch)
            yield head + b"".join(self._rows(batch))
            head = b""
        yield head + COPY_TRAILER
