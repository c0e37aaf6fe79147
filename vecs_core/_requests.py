"""Typed requests: every public call, validated once into a frozen object. Pure: no I/O.

A shell method builds a request (``CollectionBase._search_request(...)`` and friends), then runs
the flow that takes it, as httpx builds a ``Request`` and then sends it. A request holds only
checked values: its options, the query vector checked for the collection's vector kind, and the
filter compiled to SQL once (:class:`~vecs_core._filters.CompiledFilter`).

Each field declares its own check and its part in the request's cache key, which is derived from
the fields themselves (as SQLAlchemy derives a statement's cache key from the statement): a
search shape cached by a collection depends on the key, never on a hand-kept list of options.
A field is part of the key by value unless declared ``key=False`` (per-call values such as the
query vector) or ``key="present"`` (only whether it is given, such as the filter). Adding a
search option is one field here, its parameter on the public method, and its use in the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, field, fields
from itertools import chain
from operator import attrgetter
from typing import Any, ClassVar, Literal, TypeVar

from ._filters import CompiledFilter
from ._indexes import IndexArgsHNSW, IndexArgsIVFFlat, IndexMeasure, parse_measure
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

KeyRule = Literal["value", "present", False]
Check = Callable[[str, Any], Any]
R = TypeVar("R", bound="Request")


# -- checks: (name, value) -> checked value, or raise ArgError naming the argument ------------


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int in ``[low, high]``; else raise :class:`ArgError`."""
    if type(value) is int and low <= value and (high is None or value <= high):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    bound = f"between {low} and {high}" if high is not None else f">= {low}"
    raise ArgError(f"{name} must be {bound}, got {value}")


def int_in(low: int, high: int | None = None) -> Check:
    return lambda name, value: check_int(name, value, low, high)


def optional(check: Check) -> Check:
    return lambda name, value: None if value is None else check(name, value)


def flag(name: str, value: object) -> bool:
    return bool(value)


def measure(name: str, value: object) -> IndexMeasure:
    return parse_measure(value)


def one_of(*choices: str) -> Check:
    def check(name: str, value: object) -> str:
        if value not in choices:
            raise ArgError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def weight(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(f"{name} must be a number >= 0, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ArgError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def text(name: str, value: object) -> str:
    """The text of a keyword or hybrid search."""
    if not isinstance(value, str) or not value.strip():
        raise ArgError(f"the search text must be a non-empty string, got {value!r:.80}")
    if "\x00" in value:
        raise ArgError(f"the search text contains a NUL character: {value!r:.80}")
    return value


def language(name: str, value: object) -> str:
    """Shape check only; the name is checked against ``pg_ts_config`` by the flow."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ArgError(
            f"{name} must be the name of a text search configuration such as 'english', "
            f"got {value!r}"
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


def opt(*, check: Check | None = None, key: KeyRule = "value", default: Any = MISSING) -> Any:
    """A request field: its check and its part in the cache key (see the module docstring)."""
    return field(default=default, metadata={"check": check, "key": key})


# -- the requests --------------------------------------------------------------------------------


class Request:
    """Base of the request classes (frozen, slotted dataclasses); :func:`keyed` fills in the
    class-level parts."""

    __slots__ = ()
    _checks: ClassVar[tuple[tuple[str, Check], ...]]
    _key_values: ClassVar[attrgetter[Any]]
    _key_present: ClassVar[tuple[str, ...]]

    @classmethod
    def build(cls: type[R], **values: Any) -> R:
        """Check every value that has a check, then make the (frozen) request.

        Raises:
            ArgError: a value fails its check (the message names the argument).
        """
        for name, check in cls._checks:
            if name in values:
                values[name] = check(name, values[name])
        return cls(**values)

    def cache_key(self) -> tuple[Any, ...]:
        """The request minus its per-call values (see the module docstring)."""
        present = tuple(getattr(self, n) is not None for n in self._key_present)
        return (type(self), self._key_values(self), present)


def keyed(cls: type[R]) -> type[R]:
    """Derive the checks and the cache key of a request dataclass from its fields."""
    made: Any = cls
    spec = fields(made)
    made._checks = tuple(
        (f.name, f.metadata["check"]) for f in spec if f.metadata.get("check") is not None
    )
    by_value = [f.name for f in spec if f.metadata.get("key", "value") == "value"]
    # attrgetter is not a descriptor: read through an instance it stays unbound
    made._key_values = attrgetter(*by_value) if by_value else attrgetter("__class__")
    made._key_present = tuple(f.name for f in spec if f.metadata.get("key") == "present")
    return cls


@keyed
@dataclass(frozen=True, slots=True)
class SearchRequest(Request):
    """A vector search (``Collection.search`` and ``Collection.query``)."""

    vector: VectorParam = opt(key=False)
    where: CompiledFilter | None = opt(key="present")
    limit: int = opt(check=int_in(1, MAX_LIMIT))
    measure: IndexMeasure = opt(check=measure)
    probes: int | None = opt(check=optional(int_in(1, MAX_PROBES)), default=None)
    ef_search: int | None = opt(check=optional(int_in(1, MAX_EF_SEARCH)), default=None)
    iterative_scan: str | None = opt(check=optional(one_of(*ITERATIVE_SCAN_MODES)), default=None)
    form: Form = opt(default="hits")
    include_value: bool = opt(check=flag, default=False)
    include_vector: bool = opt(check=flag, default=False)
    include_metadata: bool = opt(check=flag, default=True)
    warn_unindexed: bool = opt(check=flag, key=False, default=True)


@keyed
@dataclass(frozen=True, slots=True)
class KeywordRequest(Request):
    """A keyword search (``Collection.keyword_search``)."""

    text: str = opt(check=text, key=False)
    where: CompiledFilter | None = opt(key=False)
    limit: int = opt(check=int_in(1, MAX_LIMIT), key=False)
    language: str = opt(check=language, key=False)


@keyed
@dataclass(frozen=True, slots=True)
class HybridRequest(Request):
    """A hybrid search (``Collection.hybrid_search``)."""

    text: str = opt(check=text, key=False)
    vector: VectorParam = opt(key=False)
    where: CompiledFilter | None = opt(key="present")
    limit: int = opt(check=int_in(1, MAX_LIMIT))
    full_text_weight: float = opt(check=weight, key=False)
    semantic_weight: float = opt(check=weight, key=False)
    rrf_k: int = opt(check=int_in(1), key=False)
    measure: IndexMeasure = opt(check=measure)
    language: str = opt(check=language, key=False)

    @property
    def candidates(self) -> int:
        """How many rows each side ranks before fusion."""
        return min(self.limit * 4, MAX_LIMIT)


@keyed
@dataclass(frozen=True, slots=True)
class IndexRequest(Request):
    """An index build (``Collection.create_index``); the method, measure and arguments are
    matched to the collection and the pgvector version by ``_indexes.plan_index``."""

    measure: IndexMeasure = opt(check=measure)
    method: object = opt()
    index_arguments: IndexArgsHNSW | IndexArgsIVFFlat | None = opt(check=index_arguments)
    replace: bool = opt(check=flag)
    maintenance_work_mem: str | None = opt(check=size_setting, default=None)
    parallel_workers: int | None = opt(check=optional(int_in(0, 64)), default=None)

    @property
    def build_settings(self) -> dict[str, str]:
        """The settings the build runs with (session-level, reset afterwards)."""
        settings = {}
        if self.maintenance_work_mem is not None:
            settings["maintenance_work_mem"] = self.maintenance_work_mem
        if self.parallel_workers is not None:
            settings["max_parallel_maintenance_workers"] = str(self.parallel_workers)
        return settings


@keyed
@dataclass(frozen=True, slots=True)
class UpsertRequest(Request):
    """An upsert: a small batch checked up front (one statement), or a stream of records checked
    as it is sent (binary COPY): its first records, buffered, and the rest of the input."""

    small: tuple[Checked, ...] | None = opt(key=False)
    head: tuple[Any, ...] = opt(key=False)
    rest: Iterator[Any] = opt(key=False)

    def records(self) -> Iterator[Any]:
        """The streamed records from the start (the buffered head again, then the rest, which
        is consumed only once)."""
        return chain(self.head, self.rest)


@keyed
@dataclass(frozen=True, slots=True)
class FindRequest(Request):
    """A filtered listing (``Collection.find``)."""

    where: CompiledFilter | None = opt(key=False)
    limit: int = opt(check=int_in(1, 100_000), key=False)
    offset: int = opt(check=int_in(0), key=False)
    after: str | None = opt(key=False)
    include_vector: bool = opt(check=flag, key=False)


@keyed
@dataclass(frozen=True, slots=True)
class DeleteRequest(Request):
    """A delete by ids or by filter (exactly one; ``clear()`` deletes everything)."""

    ids: tuple[str, ...] | None = opt(key=False)
    where: CompiledFilter | None = opt(key=False)
