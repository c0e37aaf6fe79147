"""Typed requests: every public call, validated once into a frozen object. Pure: no I/O.

A shell method builds a request (``CollectionBase._search_request(...)`` and friends), then runs
the flow that takes it, as httpx builds a ``Request`` and then sends it. A request holds only
checked values: its options, and its per-call values (the query vector checked for the
collection's vector kind, the filter compiled to SQL once as a
:class:`~vecs_core._filter_cache.CompiledFilter`, the search text ...).

Options are a frozen dataclass of their own whose fields each declare their check
(``opt(check=...)``). They are the request's cache key, as SQLAlchemy derives a statement's
cache key from the statement itself: a collection caches a search's shape (settings, columns,
statement) by ``SearchRequest.cache_key()`` = its options plus whether a filter is given, never
by a hand-kept list. Options are also interned by their raw values, so a caller repeating the
same options (the common case) skips the checks and hashes a cached value. Adding a search
option is one field on :class:`SearchOptions`, its parameter on the public method, and its use
in the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, field, fields
from itertools import chain
from typing import Any, ClassVar, Literal, TypeVar

from ._checks import check_encodable, safe_repr
from ._filter_cache import CompiledFilter
from ._indexes import (
    IndexArgsHNSW,
    IndexArgsIVFFlat,
    IndexMeasure,
    IndexMethod,
    parse_measure,
    parse_method,
)
from ._metaindex import MetaType, check_key, check_type
from ._records import Checked, VectorParam
from .exc import ArgError

MAX_LIMIT = 1000
"""The most results one search returns (``limit``), and the most candidates hybrid search ranks
on each side."""
MAX_EF_SEARCH = 1000  # pgvector's own bound for hnsw.ef_search
MAX_PROBES = 32768  # pgvector's bound for ivfflat.probes (and lists)
ITERATIVE_SCAN_MODES = ("off", "strict_order", "relaxed_order")

Form = Literal["ids", "tuples", "hits"]
"""What a search returns: vecs' bare ids or ``(id, distance?, vector?, metadata?)`` tuples
(``Collection.query``), or :class:`~vecs_core.Hit` records (``Collection.search``)."""

_UNSET = object()
Check = Callable[[str, Any], Any]


# -- checks: (name, value) -> checked value, or raise ArgError naming the argument ------------


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int in ``[low, high]``; else raise :class:`ArgError`."""
    if type(value) is int and low <= value and (high is None or value <= high):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgError(f"{name} must be an int, got {type(value).__name__} {safe_repr(value)}")
    bound = f"between {low} and {high}" if high is not None else f">= {low}"
    raise ArgError(f"{name} must be {bound}, got {value}")


def int_in(low: int, high: int | None = None) -> Check:
    return lambda name, value: check_int(name, value, low, high)


def optional(check: Check) -> Check:
    return lambda name, value: None if value is None else check(name, value)


def distance(name: str, value: object) -> float:
    """A distance bound: a finite number (``max_inner_product`` distances may be negative)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(f"{name} must be a number, got {type(value).__name__} {safe_repr(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ArgError(f"{name} must be a finite number, got {value!r}")
    return number


def metadata_key(name: str, value: object) -> str:
    return check_key(value)


def metadata_type(name: str, value: object) -> MetaType:
    return check_type(value)


def flag(name: str, value: object) -> bool:
    return bool(value)


def measure(name: str, value: object) -> IndexMeasure:
    return parse_measure(value)


def method(name: str, value: object) -> IndexMethod:
    return parse_method(value)


def one_of(*choices: str) -> Check:
    def check(name: str, value: object) -> str:
        if value not in choices:
            raise ArgError(f"{name} must be one of {', '.join(choices)}, got {safe_repr(value)}")
        return str(value)

    return check


def weight(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(
            f"{name} must be a number >= 0, got {type(value).__name__} {safe_repr(value)}"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ArgError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def check_text(name: str, value: object) -> str:
    """The text of a keyword or hybrid search."""
    if not isinstance(value, str) or not value.strip():
        raise ArgError(f"the search text must be a non-empty string, got {safe_repr(value)}")
    if "\x00" in value:
        raise ArgError(f"the search text contains a NUL character: {safe_repr(value)}")
    check_encodable([value], "the search text")
    return value


def language(name: str, value: object) -> str:
    """Shape check only; the name is checked against ``pg_ts_config`` by the flow."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ArgError(
            f"{name} must be the name of a text search configuration such as 'english', "
            f"got {safe_repr(value)}"
        )
    return value


def size_setting(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ArgError(f"{name} must be a size string like '1GB', got {value!r}")
    return value


def index_arguments(name: str, value: object) -> IndexArgsHNSW | IndexArgsIVFFlat | None:
    if value is not None and not isinstance(value, (IndexArgsHNSW, IndexArgsIVFFlat)):
        raise ArgError(
            f"{name} must be IndexArgsHNSW or IndexArgsIVFFlat, got {type(value).__name__}"
        )
    return value


def opt(*, check: Check | None = None, default: Any = MISSING) -> Any:
    """An options field and its check (see the module docstring)."""
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True, slots=True)
class Options:
    """Base of the options classes (frozen, slotted dataclasses made by :func:`options`), with
    a hash computed once: options are dictionary keys on the query hot path."""

    _checks: ClassVar[tuple[tuple[str, Check], ...]]
    _interned: ClassVar[dict[Any, Any]]
    _hash: int = field(init=False, repr=False, compare=False)

    @classmethod
    def build(cls: type[R], **values: Any) -> R:
        """The options for ``values``, checked (each field with its own check).

        The options are interned by their raw values *and* types (so ``10.0`` never passes for
        ``10``): the same raw options give the same object, without checking them again.

        Raises:
            ArgError: a value fails its check (the message names the argument).
        """
        try:
            key = (tuple(values.items()), tuple(map(type, values.values())))
            made: R | None = cls._interned.get(key)
        except TypeError:  # an unhashable value: checked (and refused or not interned)
            key, made = None, None
        if made is None:
            for name, check in cls._checks:
                if name in values:
                    values[name] = check(name, values[name])
            made = cls(**values)
            if key is not None:
                if len(cls._interned) >= 256:
                    cls._interned.clear()
                cls._interned[key] = made
        return made

    def __post_init__(self) -> None:
        values = tuple(getattr(self, f.name) for f in _own(self))
        try:
            digest = hash(values)
        except TypeError:  # an unhashable value of a field with no check: hash by identity
            digest = id(self)
        object.__setattr__(self, "_hash", digest)

    def __hash__(self) -> int:
        return self._hash


def _own(obj: Any) -> tuple[Any, ...]:
    return tuple(f for f in fields(obj) if f.name != "_hash")


R = TypeVar("R", bound=Options)


def options(cls: type[R]) -> type[R]:
    """Make ``cls`` (an :class:`Options` subclass) a frozen, slotted dataclass that keeps the
    cached hash, and collect its fields' checks."""
    made: Any = dataclass(frozen=True, slots=True)(cls)
    made.__hash__ = Options.__hash__  # dataclass would hash every field on every call
    made._checks = tuple(
        (f.name, f.metadata["check"]) for f in _own(made) if f.metadata.get("check") is not None
    )
    made._interned = {}
    return made  # type: ignore[no-any-return]


# -- search ---------------------------------------------------------------------------------------


@options
class SearchOptions(Options):
    """Everything about a vector search but its query vector and filter values."""

    limit: int = opt(check=int_in(1, MAX_LIMIT))
    measure: IndexMeasure = opt(check=measure)
    probes: int | None = opt(check=optional(int_in(1, MAX_PROBES)), default=None)
    ef_search: int | None = opt(check=optional(int_in(1, MAX_EF_SEARCH)), default=None)
    iterative_scan: str | None = opt(check=optional(one_of(*ITERATIVE_SCAN_MODES)), default=None)
    form: Form = opt(default="hits")
    include_value: bool = opt(check=flag, default=False)
    include_vector: bool = opt(check=flag, default=False)
    include_metadata: bool = opt(check=flag, default=True)
    warn_unindexed: bool = opt(check=flag, default=True)
    max_distance: float | None = opt(check=optional(distance), default=None)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A vector search (``Collection.search`` and ``Collection.query``)."""

    options: SearchOptions
    vector: VectorParam
    where: CompiledFilter | None

    def cache_key(self) -> tuple[SearchOptions, bool]:
        """What the search's shape depends on: the options, and whether there is a filter."""
        return (self.options, self.where is not None)


# -- text search ----------------------------------------------------------------------------------


@options
class KeywordOptions(Options):
    limit: int = opt(check=int_in(1, MAX_LIMIT))
    language: str | None = opt(check=optional(language), default=None)


@dataclass(frozen=True, slots=True)
class KeywordRequest:
    """A keyword search (``Collection.keyword_search``)."""

    options: KeywordOptions
    text: str
    where: CompiledFilter | None


@options
class HybridOptions(Options):
    limit: int = opt(check=int_in(1, MAX_LIMIT))
    full_text_weight: float = opt(check=weight)
    semantic_weight: float = opt(check=weight)
    rrf_k: int = opt(check=int_in(1))
    measure: IndexMeasure = opt(check=measure)
    language: str | None = opt(check=optional(language), default=None)
    max_distance: float | None = opt(check=optional(distance), default=None)
    semantic_candidates: int | None = opt(check=optional(int_in(1, MAX_LIMIT)), default=None)
    keyword_candidates: int | None = opt(check=optional(int_in(1, MAX_LIMIT)), default=None)

    @property
    def candidates(self) -> tuple[int, int]:
        """How many rows each side (semantic, keyword) ranks before fusion: as given, else
        ``min(4 * limit, 1000)``."""
        default = min(self.limit * 4, MAX_LIMIT)
        return (self.semantic_candidates or default, self.keyword_candidates or default)


@dataclass(frozen=True, slots=True)
class HybridRequest:
    """A hybrid search (``Collection.hybrid_search``)."""

    options: HybridOptions
    text: str
    vector: VectorParam
    where: CompiledFilter | None


# -- indexes and records --------------------------------------------------------------------------


@options
class IndexOptions(Options):
    """An index build (``Collection.create_index``); the method, measure and arguments are
    matched to the collection and the pgvector version by ``_indexes.plan_index``."""

    measure: IndexMeasure = opt(check=measure)
    method: IndexMethod = opt(check=method)
    index_arguments: IndexArgsHNSW | IndexArgsIVFFlat | None = opt(check=index_arguments)
    replace: bool = opt(check=flag)
    maintenance_work_mem: str | None = opt(check=size_setting, default=None)
    parallel_workers: int | None = opt(check=optional(int_in(0, 64)), default=None)
    statement_timeout: int | None = opt(check=optional(int_in(0)), default=None)

    @property
    def build_settings(self) -> dict[str, str]:
        """The settings the build runs with (session-level, reset afterwards)."""
        settings = {}
        if self.maintenance_work_mem is not None:
            settings["maintenance_work_mem"] = self.maintenance_work_mem
        if self.parallel_workers is not None:
            settings["max_parallel_maintenance_workers"] = str(self.parallel_workers)
        if self.statement_timeout is not None:  # a role's own timeout would cancel long builds
            settings["statement_timeout"] = str(self.statement_timeout)
        return settings


@options
class MetadataIndexOptions(Options):
    """An index on a metadata key (``Collection.index_metadata``)."""

    key: str = opt(check=metadata_key)
    type: MetaType = opt(check=metadata_type)
    statement_timeout: int | None = opt(check=optional(int_in(0)), default=None)

    @property
    def build_settings(self) -> dict[str, str]:
        if self.statement_timeout is None:
            return {}
        return {"statement_timeout": str(self.statement_timeout)}


@dataclass(frozen=True, slots=True)
class UpsertRequest:
    """An upsert: a small batch checked up front (one statement), or a stream of records checked
    as it is sent (binary COPY): its first records, buffered, and the rest of the input."""

    small: tuple[Checked, ...] | None
    head: tuple[Any, ...]
    rest: Iterator[Any]

    def records(self) -> Iterator[Any]:
        """The streamed records from the start (the buffered head again, then the rest, which
        is consumed only once)."""
        return chain(self.head, self.rest)


@options
class FindOptions(Options):
    limit: int = opt(check=int_in(1, 100_000))
    offset: int = opt(check=int_in(0))
    include_vector: bool = opt(check=flag)


@dataclass(frozen=True, slots=True)
class FindRequest:
    """A filtered listing (``Collection.find``)."""

    options: FindOptions
    where: CompiledFilter | None
    after: str | None


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    """A delete by ids or by filter (exactly one; ``clear()`` deletes everything)."""

    ids: tuple[str, ...] | None
    where: CompiledFilter | None
