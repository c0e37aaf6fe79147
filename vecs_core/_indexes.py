"""Distance measures, index methods and index DDL: one table of truth. Pure: no I/O.

Which vector kinds an index can cover (and at what dimension) is data in ``_kinds.KINDS``;
this module combines a kind with a measure and a method into an :class:`IndexPlan` and its DDL.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from psycopg import sql

from ._checks import safe_repr
from ._kinds import KINDS, VectorKind, column_expression, index_kind
from .exc import ArgError


class IndexMeasure(str, Enum):
    """Distance measures (vecs-compatible names and values)."""

    cosine_distance = "cosine_distance"
    l2_distance = "l2_distance"
    max_inner_product = "max_inner_product"
    l1_distance = "l1_distance"

    def __str__(self) -> str:
        return self.value


class IndexMethod(str, Enum):
    """Vector index methods. ``auto`` picks HNSW when pgvector >= 0.5, else IVFFlat."""

    auto = "auto"
    hnsw = "hnsw"
    ivfflat = "ivfflat"

    def __str__(self) -> str:
        return self.value


QUANTIZATIONS = ("binary", "halfvec")


@dataclass(frozen=True)
class IndexArgsHNSW:
    """HNSW build parameters (pgvector defaults: ``m=16``, ``ef_construction=64``).

    ``quantization="binary"`` builds the graph over ``binary_quantize(vec)::bit(d)`` (one bit
    per dimension, Hamming distance: a 384-d index entry takes 48 bytes instead of 1,536), and a
    search re-ranks the ``limit * rerank`` nearest candidates by the exact distance, in the same
    statement. For embeddings whose dimensions are centred on zero (most text models).

    ``quantization="halfvec"`` builds the graph over ``vec::halfvec(d)`` for a ``vector``
    collection (float32 stays stored): half the index, a faster build (measured 1.6x at
    1,000,000 x 128) at the same recall; distances come at half precision, as from any half
    precision index. vecs (and any query on the bare column) cannot use such an index.
    """

    m: int = 16
    ef_construction: int = 64
    quantization: str | None = None
    rerank: int = 4


@dataclass(frozen=True)
class IndexArgsIVFFlat:
    """IVFFlat build parameters; ``n_lists=None`` derives it from the row count."""

    n_lists: int | None = None


@dataclass(frozen=True)
class MeasureInfo:
    operator: str
    suffix: str  # opclass suffix: vector_<suffix>, halfvec_<suffix>
    methods: tuple[str, ...]
    relevance: Callable[[float], float]
    similarity: Callable[[float], float]  # Hit.score of a vector search (higher is better)


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


MEASURES: dict[IndexMeasure, MeasureInfo] = {
    IndexMeasure.cosine_distance: MeasureInfo(
        "<=>",
        "cosine_ops",
        ("hnsw", "ivfflat"),
        lambda d: _clamp(1.0 - d / 2.0),
        lambda d: 1.0 - d,  # the cosine similarity
    ),
    IndexMeasure.l2_distance: MeasureInfo(
        "<->",
        "l2_ops",
        ("hnsw", "ivfflat"),
        lambda d: _clamp(1.0 - d / math.sqrt(2.0)),
        lambda d: 1.0 / (1.0 + d),
    ),
    IndexMeasure.max_inner_product: MeasureInfo(
        "<#>",
        "ip_ops",
        ("hnsw", "ivfflat"),
        lambda d: _clamp((1.0 - d) / 2.0),
        lambda d: -d,  # the inner product
    ),
    IndexMeasure.l1_distance: MeasureInfo(
        "<+>", "l1_ops", ("hnsw",), lambda d: 1.0 / (1.0 + d), lambda d: 1.0 / (1.0 + d)
    ),
}
_BY_SUFFIX = {info.suffix: measure for measure, info in MEASURES.items()}


def relevance_score(measure: IndexMeasure | str, distance: float) -> float:
    """Map a pgvector distance to a relevance score in [0, 1], higher is better.

    Exact for unit-length vectors (cosine: ``1 - d/2``, l2: ``1 - d/sqrt(2)``, inner product:
    ``(1 + <a,b>)/2``), clamped to [0, 1] otherwise; l1 uses ``1 / (1 + d)``.
    """
    return MEASURES[parse_measure(measure)].relevance(distance)


def similarity_score(measure: IndexMeasure | str, distance: float) -> float:
    """The ``Hit.score`` of a vector search hit: a similarity, higher is better.

    ``cosine_distance``: ``1 - d`` (the cosine similarity, in [-1, 1]); ``max_inner_product``:
    ``-d`` (the inner product itself); ``l2_distance`` and ``l1_distance``: ``1 / (1 + d)`` (in
    (0, 1]). ``d`` is pgvector's distance (``Hit.distance``).
    """
    return MEASURES[parse_measure(measure)].similarity(distance)


_MEASURE_BY_NAME = {m.value: m for m in IndexMeasure}


def parse_measure(measure: object) -> IndexMeasure:
    """``measure`` (an :class:`IndexMeasure` or its name) as an :class:`IndexMeasure`.

    Raises:
        ArgError: an unknown measure.
    """
    if type(measure) is IndexMeasure:
        return measure
    if type(measure) is str and measure in _MEASURE_BY_NAME:
        return _MEASURE_BY_NAME[measure]
    try:  # only strings can name one (the enum's own error would repr anything, however deep)
        if isinstance(measure, str):
            return IndexMeasure(measure)
    except ValueError:
        pass
    raise ArgError(
        f"unknown measure {safe_repr(measure)}; expected one of "
        f"{', '.join(m.value for m in IndexMeasure)}"
    )


def known_measure(measure: object) -> IndexMeasure | None:
    """``measure`` as an :class:`IndexMeasure`, or None when it names no measure (vecs'
    ``is_indexed_for_measure("invalid")`` is False, not an error)."""
    try:
        return parse_measure(measure)
    except ArgError:
        return None


def parse_method(method: object) -> IndexMethod:
    try:
        if isinstance(method, str):
            return IndexMethod(method)
    except ValueError:
        pass
    raise ArgError(
        f"unknown index method {safe_repr(method)}; expected one of "
        f"{', '.join(m.value for m in IndexMethod)}"
    )


def measure_from_opclass(opclass: str) -> tuple[VectorKind, IndexMeasure] | None:
    """``halfvec_cosine_ops`` -> (the halfvec kind, cosine_distance); None for other opclasses."""
    kind, _, suffix = opclass.partition("_")
    measure = _BY_SUFFIX.get(suffix)
    if kind not in KINDS or measure is None:
        return None
    return KINDS[kind], measure


def parse_version(version: str) -> tuple[int, ...]:
    """``'0.8.5'`` -> ``(0, 8, 5)``; tolerant of suffixes like ``0.5.0-dev``."""
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def default_n_lists(n_records: int) -> int:
    """vecs' rule: ``max(n/1000, 30)`` below a million rows, ``sqrt(n)`` above."""
    if n_records < 1_000_000:
        return int(max(n_records / 1000, 30))
    return int(math.sqrt(n_records))


@dataclass(frozen=True)
class IndexPlan:
    """A validated index: method, measure, the kind of the indexed column (``table``) and the
    kind the index is built over (``kind``: the column's own, or a cast of it), and arguments."""

    method: IndexMethod
    measure: IndexMeasure
    table: VectorKind
    kind: VectorKind
    args: IndexArgsHNSW | IndexArgsIVFFlat


def plan_index(
    *,
    method: object,
    measure: object,
    index_arguments: object,
    dimension: int,
    version: tuple[int, ...],
    table: VectorKind,
) -> IndexPlan:
    """Validate ``create_index`` arguments the way vecs does and choose method and storage.

    Raises:
        ArgError: bad method/measure, arguments that do not fit the method, HNSW on pgvector
            < 0.5, a measure the method cannot index, a method the collection's vector kind
            does not support, or too many dimensions.
    """
    imethod = parse_method(method)
    imeasure = parse_measure(measure)
    if index_arguments is not None:
        if not isinstance(index_arguments, (IndexArgsHNSW, IndexArgsIVFFlat)):
            raise ArgError(
                "index_arguments must be IndexArgsHNSW or IndexArgsIVFFlat, got "
                f"{type(index_arguments).__name__}"
            )
        if imethod == IndexMethod.auto:
            raise ArgError(
                "index_arguments are not allowed with IndexMethod.auto; "
                "name the method (hnsw or ivfflat) they are for"
            )
        wanted = IndexArgsHNSW if imethod == IndexMethod.hnsw else IndexArgsIVFFlat
        if not isinstance(index_arguments, wanted):
            raise ArgError(
                f"{type(index_arguments).__name__} build parameters were supplied but "
                f"{imethod.value} index was specified"
            )
    supports_hnsw = version >= (0, 5, 0)
    if imethod == IndexMethod.auto:
        imethod = IndexMethod.hnsw if supports_hnsw else IndexMethod.ivfflat
    if imethod.value not in table.methods:
        raise ArgError(
            f"{imethod.value} indexes cannot serve {table.name} collections; use "
            f"{' or '.join(table.methods)}"
        )
    if imethod == IndexMethod.hnsw and not supports_hnsw:
        raise ArgError(
            "HNSW is unavailable: pgvector >= 0.5.0 is required "
            f"(installed: {'.'.join(map(str, version))})"
        )
    if imethod.value not in MEASURES[imeasure].methods:
        raise ArgError(f"{imethod.value} indexes cannot serve {imeasure.value}; use hnsw")
    if imeasure == IndexMeasure.l1_distance and version < (0, 7, 0):
        raise ArgError("indexing l1_distance requires pgvector >= 0.7.0")
    kind = index_kind(table, dimension)
    if isinstance(index_arguments, IndexArgsHNSW) and index_arguments.quantization == "binary":
        # a bit index covers up to 64,000 dimensions: never a half-precision cast (the kind and
        # the quantization are checked with the arguments below)
        kind = table
    elif isinstance(index_arguments, IndexArgsHNSW) and index_arguments.quantization == "halfvec":
        half = KINDS["halfvec"]
        if table.name != "vector":
            raise ArgError(
                "quantization='halfvec' builds a half precision index over a vector "
                f"collection; this is a {table.name} collection (a halfvec collection is "
                "indexed at half precision already)"
            )
        if half.min_version > version:
            raise ArgError(
                "quantization='halfvec' needs pgvector >= "
                f"{'.'.join(map(str, half.min_version))} (installed: "
                f"{'.'.join(map(str, version))})"
            )
        max_half = half.max_index_dimension or 0
        kind = half if dimension <= max_half else None
    if kind is None:
        widest = max(k.max_index_dimension or 0 for k in KINDS.values())
        raise ArgError(
            f"cannot index {dimension} dimensions: pgvector indexes up to {widest} dimensions "
            "(at half precision); reduce the dimension"
        )
    if kind.min_version > version:
        raise ArgError(
            f"cannot index {dimension} dimensions: pgvector indexes {table.name} columns up to "
            f"{table.max_index_dimension}, and {kind.name} indexes need pgvector >= "
            f"{'.'.join(map(str, kind.min_version))}"
        )
    args = index_arguments
    if args is None:
        args = IndexArgsHNSW() if imethod == IndexMethod.hnsw else IndexArgsIVFFlat()
    if isinstance(args, IndexArgsHNSW):
        for name, value, low, high in (
            ("m", args.m, 2, 100),
            ("ef_construction", args.ef_construction, 4, 1000),
            ("rerank", args.rerank, 1, 100),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ArgError(
                    f"IndexArgsHNSW.{name} must be an int in [{low}, {high}], "
                    f"got {safe_repr(value)}"
                )
        if args.ef_construction < 2 * args.m:
            raise ArgError(
                f"IndexArgsHNSW.ef_construction ({args.ef_construction}) must be >= 2 * m "
                f"({args.m})"
            )
        if args.quantization is not None:
            if args.quantization not in QUANTIZATIONS:
                raise ArgError(
                    f"IndexArgsHNSW.quantization must be None, 'binary' or 'halfvec', got "
                    f"{safe_repr(args.quantization)}"
                )
            if args.quantization == "binary" and (not table.dense or version < (0, 7, 0)):
                raise ArgError(
                    "binary quantization needs a vector or halfvec collection and pgvector "
                    f">= 0.7.0 (this is a {table.name} collection, pgvector "
                    f"{'.'.join(map(str, version))})"
                )
    elif args.n_lists is not None and (
        isinstance(args.n_lists, bool)
        or not isinstance(args.n_lists, int)
        or not 1 <= args.n_lists <= 32768
    ):
        raise ArgError(
            f"IndexArgsIVFFlat.n_lists must be an int in [1, 32768], got {safe_repr(args.n_lists)}"
        )
    return IndexPlan(imethod, imeasure, table, kind, args)


def index_name(plan: IndexPlan, n_lists: int | None) -> str:
    """vecs-style names (``ix_vector_cosine_ops_hnsw_m16_efc64_ab12cd3``), so vecs sees them too.
    vecs_core itself finds indexes through the catalog, never by name."""
    ops = plan.kind.opclass(MEASURES[plan.measure].suffix)
    unique = uuid.uuid4().hex[:7]
    if isinstance(plan.args, IndexArgsHNSW):
        bq = "bq_" if plan.args.quantization == "binary" else ""
        return f"ix_{bq}{ops}_hnsw_m{plan.args.m}_efc{plan.args.ef_construction}_{unique}"
    return f"ix_{ops}_ivfflat_nl{n_lists}_{unique}"


def create_index_sql(
    table: sql.Composable, name: str, plan: IndexPlan, dimension: int, n_lists: int | None
) -> sql.Composed:
    opclass = sql.Identifier(plan.kind.opclass(MEASURES[plan.measure].suffix))
    column = column_expression(plan.table, plan.kind, dimension)
    if isinstance(plan.args, IndexArgsHNSW) and plan.args.quantization == "binary":
        opclass, column = sql.Identifier("bit_hamming_ops"), binary_expression(column, dimension)
    if isinstance(plan.args, IndexArgsHNSW):
        with_ = sql.SQL("m = {}, ef_construction = {}").format(
            sql.Literal(plan.args.m), sql.Literal(plan.args.ef_construction)
        )
    else:
        with_ = sql.SQL("lists = {}").format(sql.Literal(n_lists))
    return sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} USING {} ({} {}) WITH ({})").format(
        sql.Identifier(name),
        table,
        sql.SQL(plan.method.value),
        column,
        opclass,
        with_,
    )


def binary_expression(vector: sql.Composable, dimension: int) -> sql.Composable:
    """``(binary_quantize(<vector>)::bit(d))``: what a binary quantized index is built over (and
    what a search through it orders by, with the query vector in place of the column)."""
    return sql.SQL("(binary_quantize({})::bit({}))").format(vector, sql.Literal(dimension))


# -- what a vector index's comment records ----------------------------------------------------
INDEX_COMMENT_TAG = "vecs_core:vector-index"


@dataclass(frozen=True)
class IndexNote:
    """What vecs_core records in a vector index's comment (``COMMENT ON INDEX``), read back with
    the catalog so every client sees it: the measure and re-rank factor of a binary quantized
    index (its opclass, ``bit_hamming_ops``, names no measure), and the search defaults
    ``Collection.tune`` chose (``ef_search`` or ``probes``) with what they were tuned for."""

    measure: IndexMeasure | None = None
    kind: str | None = None  # the collection's vector kind (what a re-rank reads)
    quantization: str | None = None
    rerank: int | None = None
    ef_search: int | None = None
    probes: int | None = None
    tuned: dict[str, object] | None = None

    def to_comment(self) -> str:
        body: dict[str, object] = {"tag": INDEX_COMMENT_TAG}
        for key in ("kind", "quantization", "rerank", "ef_search", "probes", "tuned"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.measure is not None:
            body["measure"] = self.measure.value
        return json.dumps(body, sort_keys=True)


def note_from_comment(text: str | None) -> IndexNote:
    """The note in an index comment; an empty note for no comment or someone else's."""
    if not text or INDEX_COMMENT_TAG not in text:
        return IndexNote()
    try:
        body = json.loads(text)
    except ValueError:
        return IndexNote()
    if not isinstance(body, dict) or body.get("tag") != INDEX_COMMENT_TAG:
        return IndexNote()

    def count(key: str, high: int) -> int | None:
        value = body.get(key)
        ok = type(value) is int and 1 <= value <= high
        return value if ok else None

    quantization = body.get("quantization")
    tuned = body.get("tuned")
    kind = body.get("kind")
    return IndexNote(
        measure=known_measure(body.get("measure")),
        kind=kind if kind in KINDS else None,
        quantization=quantization if quantization in QUANTIZATIONS else None,
        rerank=count("rerank", 100),
        ef_search=count("ef_search", 1000),
        probes=count("probes", 32768),
        tuned=tuned if isinstance(tuned, dict) else None,
    )
