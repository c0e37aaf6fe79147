"""Everything a collection does, as I/O-free *flows* shared by the sync and async shells.

A flow is a generator that yields :class:`~vecs_core._protocol.Job` objects and receives their
results; the shells (``Collection``, ``AsyncCollection``) run it with a driver. All validation
happens in the flow before its first job, so bad input never reaches the database.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Generator, Iterable, Mapping
from itertools import chain, islice
from typing import Any

from . import _catalog, _index_plans, _plans, _text_plans
from ._checks import check_encodable, safe_repr
from ._filters import check_filter_type, validate_filter
from ._index_plans import VectorIndex
from ._indexes import MEASURES, IndexMeasure, IndexMethod, parse_measure, plan_index
from ._names import collection_repr
from ._protocol import Job
from ._records import Encoder, VectorParam, check_direction, query_vector
from ._search import (
    Form,
    SearchShape,
    _search_settings,
    check_iterative_scan,
    covering_index,
    search_plan,
    search_shape,
)
from ._types import Hit, Record
from ._zero_vectors import cosine_indexed, refuse_zero_vectors
from .adapter import Adapter, AdapterContext, NoOp
from .exc import ArgError

Flow = Generator[Job, Any, Any]
MAX_LIMIT = 1000
INDEX_CACHE_SECONDS = 30.0
# a filtered search over an indexed collection is exact when fewer rows than this match
EXACT_SEARCH_BELOW = 2000
# search shapes a collection keeps (one per combination of query options it has seen)
MAX_SHAPES = 256


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int in ``[low, high]``; else raise :class:`ArgError`."""
    if type(value) is int and low <= value and (high is None or value <= high):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgError(f"{name} must be an int, got {type(value).__name__} {safe_repr(value)}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ArgError(f"{name} must be {bound}, got {value}")
    return value


def check_ids(ids: object, what: str = "ids") -> list[str]:
    if isinstance(ids, (str, bytes)) or ids is None:
        raise ArgError(f"{what} must be a list of strings, not a single {type(ids).__name__}")
    try:
        out: list[str] = list(ids)  # type: ignore[call-overload]
    except TypeError:
        raise ArgError(f"{what} must be an iterable of strings, got {type(ids).__name__}") from None
    for item in out:
        if not isinstance(item, str):
            raise ArgError(f"{what} must hold strings, got {type(item).__name__} {safe_repr(item)}")
    check_encodable(out, what)
    return out


class CollectionBase:
    """State and flows of a collection; see ``Collection`` for the documented API."""

    def __init__(
        self, client: Any, name: str, info: _catalog.TableInfo, adapter: Adapter | None = None
    ) -> None:
        self.client = client
        self.name = name
        self.dimension = info.dimension
        self._info = info
        self._adapter = adapter
        self._indexes: tuple[float, list[VectorIndex]] | None = None
        # search shapes by options, valid as long as ``_indexes`` (see ``_search_flow``)
        self._shapes: dict[tuple[Any, ...], tuple[SearchShape, bool]] = {}
        self._target_cache: tuple[tuple[str, bool], _plans.Target] | None = None

    @property
    def schema(self) -> str:
        return str(self.client.schema)

    @property
    def adapter(self) -> Adapter:
        """The collection's adapter (a pass-through ``NoOp`` when none was given)."""
        return self._adapter or Adapter([NoOp(dimension=self.dimension)])

    def __repr__(self) -> str:
        return collection_repr(type(self).__name__, self.name, self.dimension)

    def _target(self) -> _plans.Target:
        key = (self.schema, self._info.has_text)
        cached = self._target_cache
        if cached is None or cached[0] != key:
            table = _catalog.table_sql(self.schema, self.name)
            target = _plans.Target(table, self.dimension, self._info.has_text)
            cached = self._target_cache = (key, target)
        return cached[1]

    # -- writes ----------------------------------------------------------------------------------
    def _upsert_flow(self, records: Iterable[Any], skip_adapter: bool) -> Flow:
        if isinstance(records, (str, bytes, Mapping)):
            raise ArgError("records must be an iterable of (id, vector, metadata) tuples")
        if self._adapter is not None and not skip_adapter:
            records = self._adapter(records, AdapterContext.upsert)
        rest = iter(records)
        head = list(islice(rest, _plans.SMALL_BATCH + 1))
        if not head:
            return None
        target = self._target()
        if len(head) <= _plans.SMALL_BATCH:
            encoder = Encoder(self.dimension)
            checked = [encoder.validate(i, r) for i, r in enumerate(head)]
            yield from refuse_zero_vectors(self, checked)  # only with a cosine index
            needs_column = encoder.has_text and not target.has_text
            result = yield Job(
                lambda: _plans.small_upsert_plan(target, checked), transaction=needs_column
            )
        else:
            # a fresh chain per attempt: a retry on a dead pooled connection (before any step
            # ran) must see the buffered records again
            cosine = yield from cosine_indexed(self)  # then zero vectors are refused
            result = yield Job(lambda: _plans.upsert_plan(target, chain(head, rest), cosine))
        if result.added_text_column:
            self._info = _catalog.TableInfo(
                self._info.name, self._info.dimension, self._info.columns | {_catalog.TEXT_COLUMN}
            )
        return None

    def _enable_text_flow(self) -> Flow:
        yield Job(lambda: _catalog.add_text_column_plan(self.schema, self.name))
        info = yield Job(lambda: _catalog.table_info_plan(self.schema, self.name))
        if info is not None:
            self._info = info

    def _delete_flow(self, ids: Iterable[str] | None, filters: Mapping[str, Any] | None) -> Flow:
        if (ids is None) == (filters is None):
            raise ArgError("give exactly one of ids or filters to delete")
        if filters is not None:
            if not check_filter_type(filters):  # FilterError unless a dict
                raise ArgError(
                    "delete(filters=...) needs a non-empty filter dict; an empty filter would "
                    "delete every record: use clear() for that"
                )
            validate_filter(filters)
        wanted = None if ids is None else check_ids(ids)
        target = self._target()
        deleted = yield Job(lambda: _plans.delete_plan(target, wanted, filters))
        return deleted

    def _clear_flow(self) -> Flow:
        target = self._target()
        count = yield Job(lambda: _clear(target), transaction=True)
        return count

    # -- reads -----------------------------------------------------------------------------------
    def _fetch_flow(self, ids: Iterable[str]) -> Flow:
        wanted = check_ids(ids)
        target = self._target()
        return (yield Job(lambda: _plans.fetch_plan(target, wanted), transaction=False))

    def _getitem_flow(self, key: object) -> Flow:
        if not isinstance(key, str):
            raise ArgError(f"collection[...] takes a string id, got {type(key).__name__}")
        found: list[Record] = yield from self._fetch_flow([key])
        if not found:
            raise KeyError(key)
        return found[0]

    def _get_flow(self, ids: Iterable[str], include_vector: bool) -> Flow:
        wanted = check_ids(ids)
        target = self._target()
        job = Job(lambda: _plans.get_plan(target, wanted, include_vector), transaction=False)
        return (yield job)

    def _find_flow(
        self,
        filters: Mapping[str, Any] | None,
        limit: int,
        offset: int,
        after: str | None,
        include_vector: bool,
    ) -> Flow:
        validate_filter(filters)
        check_int("limit", limit, 1, 100_000)
        check_int("offset", offset, 0)
        if after is not None and not isinstance(after, str):
            raise ArgError(f"after must be an id (str) or None, got {safe_repr(after)}")
        check_encodable([after] if after else [], "after")
        target = self._target()
        job = Job(
            lambda: _plans.find_plan(target, filters, limit, offset, after, include_vector),
            transaction=False,
        )
        return (yield job)

    def _count_flow(self, filters: Mapping[str, Any] | None) -> Flow:
        validate_filter(filters)
        target = self._target()
        return (yield Job(lambda: _plans.count_plan(target, filters), transaction=False))

    # -- search ----------------------------------------------------------------------------------
    def _query_vector(self, data: Any, skip_adapter: bool) -> VectorParam:
        if data is None:
            raise ArgError("query data must be a vector (or, with an adapter, its input), not None")
        if self._adapter is not None and not skip_adapter:
            adapted = list(self._adapter([("", data, {})], AdapterContext.query))
            if len(adapted) != 1:
                raise ArgError(
                    f"the adapter produced {len(adapted)} query vectors; exactly one is needed"
                )
            data = adapted[0][1]
        return VectorParam(query_vector(data, self.dimension))

    def _search_flow(
        self,
        data: Any,
        limit: int,
        filters: Mapping[str, Any] | None,
        measure: IndexMeasure | str,
        include_vector: bool,
        include_metadata: bool,
        probes: int | None,
        ef_search: int | None,
        skip_adapter: bool,
        iterative_scan: str | None = None,
        warn_unindexed: bool = True,
        form: Form = "hits",
        include_value: bool = False,
    ) -> Flow:
        check_int("limit", limit, 1, MAX_LIMIT)
        check_iterative_scan(iterative_scan)
        imeasure = parse_measure(measure)
        if probes is not None:
            check_int("probes", probes, 1, 32768)
        if ef_search is not None:
            check_int("ef_search", ef_search, 1, 1000)
        validate_filter(filters)
        vector = self._query_vector(data, skip_adapter)
        check_direction(vector.array, imeasure)  # no zero vector with cosine distance
        indexes = self._fresh_indexes()  # without a generator for the common case (hot path)
        if indexes is None:
            indexes = yield from self._indexes_flow(refresh=True)
        target = self._target()
        filtered = bool(filters)
        # every part of the key is checked above (ints, an enum, a mode) or made a bool
        key = (
            target.key,
            target.has_text,
            limit,
            imeasure,
            probes,
            ef_search,
            iterative_scan,
            filtered,
            form,
            bool(include_value),
            bool(include_vector),
            bool(include_metadata),
        )
        cached = self._shapes.get(key)
        if cached is None:
            index = covering_index(indexes, imeasure)
            version = yield from self.client._version_flow()
            settings, relaxed = _search_settings(
                index, limit, probes, ef_search, filtered, version, iterative_scan
            )
            shape = search_shape(
                target,
                limit=limit,
                operator=MEASURES[imeasure].operator,
                halfvec=index is not None and index.halfvec,
                form=form,
                include_value=bool(include_value),
                include_vector=bool(include_vector),
                include_metadata=bool(include_metadata),
                settings=settings,
                relaxed=relaxed,
                exact_below=EXACT_SEARCH_BELOW if index is not None else None,
                filtered=filtered,
            )
            if len(self._shapes) >= MAX_SHAPES:  # a caller cycling through many options
                self._shapes.clear()
            cached = self._shapes[key] = (shape, index is None)
        shape, unindexed = cached
        if unindexed and warn_unindexed:
            warnings.warn(
                UserWarning(
                    f"Query does not have a covering index for {imeasure.value}. "
                    "See Collection.create_index"
                ),
                stacklevel=5,  # the caller of Collection.query/search (through _do, _run)
            )
        wanted = filters or None
        return (yield Job(lambda: search_plan(target, shape, vector, wanted), transaction=False))

    # -- indexes ---------------------------------------------------------------------------------
    def _fresh_indexes(self) -> list[VectorIndex] | None:
        """The cached vector indexes, unless older than ``INDEX_CACHE_SECONDS``."""
        cached = self._indexes
        if cached is not None and time.monotonic() - cached[0] < INDEX_CACHE_SECONDS:
            return cached[1]
        return None

    def _indexes_flow(self, refresh: bool = False) -> Flow:
        fresh = None if refresh else self._fresh_indexes()
        if fresh is not None:
            return fresh
        found = yield Job(
            lambda: _index_plans.indexes_plan(self.schema, self.name), transaction=False
        )
        self._indexes = (time.monotonic(), found)
        self._shapes = {}  # search shapes depend on the indexes
        return found

    def _create_index_flow(
        self,
        measure: IndexMeasure | str,
        method: IndexMethod | str,
        index_arguments: Any,
        replace: bool,
        maintenance_work_mem: str | None,
        parallel_workers: int | None,
    ) -> Flow:
        settings: dict[str, str] = {}
        if maintenance_work_mem is not None:
            if not isinstance(maintenance_work_mem, str) or not maintenance_work_mem.strip():
                raise ArgError(
                    f"maintenance_work_mem must be a size string like '1GB', got "
                    f"{maintenance_work_mem!r}"
                )
            settings["maintenance_work_mem"] = maintenance_work_mem
        if parallel_workers is not None:
            check_int("parallel_workers", parallel_workers, 0, 64)
            settings["max_parallel_maintenance_workers"] = str(parallel_workers)
        version = yield from self.client._version_flow()
        plan = plan_index(
            method=method,
            measure=measure,
            index_arguments=index_arguments,
            dimension=self.dimension,
            version=version,
        )
        table = _catalog.table_sql(self.schema, self.name)
        try:
            built = yield Job(
                lambda: _index_plans.create_index_plan(
                    self.schema, self.name, table, plan, self.dimension, replace, settings
                ),
                transaction=False,
                autocommit=True,
            )
        finally:
            self._indexes = None
        return built

    def _progress_flow(self) -> Flow:
        job = Job(lambda: _index_plans.progress_plan(self.schema, self.name), transaction=False)
        return (yield job)

    def _prewarm_flow(self) -> Flow:
        job = Job(lambda: _index_plans.prewarm_plan(self.schema, self.name))
        return (yield job)

    def _drop_index_flow(self) -> Flow:
        try:
            dropped = yield Job(
                lambda: _index_plans.drop_index_plan(self.schema, self.name),
                transaction=False,
                autocommit=True,
            )
        finally:
            self._indexes = None
        return dropped

    # -- text search (keyword / hybrid) --
    # The ``text`` column is made searchable by ``_full_text_flow``: explicitly through
    # ``enable_full_text()``, else automatically by the first keyword or hybrid search.
    _ts_languages: frozenset[str] | None = None

    def _full_text_flow(self, force: bool = False) -> Flow:
        if not force and _text_plans.FTS_COLUMN in self._info.columns:
            return None
        info = yield Job(lambda: _text_plans.enable_full_text_plan(self.schema, self.name))
        if info is not None:
            self._info = info
        return None

    def _language_flow(self, language: str) -> Flow:
        if language == _text_plans.FTS_LANGUAGE:
            return None
        known = self._ts_languages
        if known is None or language not in known:  # configurations can be created at any time
            known = yield Job(_text_plans.languages_plan, transaction=False)
            self._ts_languages = known
        if language not in known:
            raise _text_plans.unknown_language(language, known)
        return None

    def _keyword_search_flow(
        self, text: str, limit: int, filters: Mapping[str, Any] | None, language: str
    ) -> Flow:
        query = _text_plans.check_query_text(text)
        check_int("limit", limit, 1, MAX_LIMIT)
        validate_filter(filters)
        lang = _text_plans.check_language(language)
        yield from self._language_flow(lang)
        yield from self._full_text_flow()
        spec = _text_plans.KeywordSpec(query, lang, limit, filters or None)
        table = _catalog.table_sql(self.schema, self.name)
        hits: list[Hit] = yield Job(
            lambda: _text_plans.keyword_plan(table, spec), transaction=False
        )
        return hits

    def _hybrid_search_flow(
        self,
        text: str,
        vector: Any,
        limit: int,
        filters: Mapping[str, Any] | None,
        full_text_weight: float,
        semantic_weight: float,
        rrf_k: int,
        measure: IndexMeasure | str,
        language: str,
    ) -> Flow:
        query = _text_plans.check_query_text(text)
        check_int("limit", limit, 1, MAX_LIMIT)
        validate_filter(filters)
        kw = _text_plans.check_weight("full_text_weight", full_text_weight)
        sw = _text_plans.check_weight("semantic_weight", semantic_weight)
        if kw == 0 and sw == 0:
            raise ArgError("full_text_weight and semantic_weight cannot both be 0")
        check_int("rrf_k", rrf_k, 1)
        imeasure = parse_measure(measure)
        lang = _text_plans.check_language(language)
        if vector is None and self._adapter is None:
            raise ArgError(
                "hybrid_search needs a query vector: pass vector=..., or give the collection "
                "an adapter (e.g. TextEmbedding) that embeds the text"
            )
        qvec = self._query_vector(text if vector is None else vector, vector is not None)
        check_direction(qvec.array, imeasure)
        candidates = min(limit * 4, MAX_LIMIT)
        yield from self._language_flow(lang)
        yield from self._full_text_flow()
        indexes = yield from self._indexes_flow()
        index = covering_index(indexes, imeasure)
        version = yield from self.client._version_flow()
        settings, _ = _search_settings(index, candidates, None, None, bool(filters), version)
        spec = _text_plans.HybridSpec(
            text=query,
            language=lang,
            vector=qvec,
            limit=limit,
            candidates=candidates,
            filters=filters or None,
            operator=MEASURES[imeasure].operator,
            halfvec=index is not None and index.halfvec,
            dimension=self.dimension,
            full_text_weight=kw,
            semantic_weight=sw,
            rrf_k=rrf_k,
            settings=settings,
        )
        table = _catalog.table_sql(self.schema, self.name)
        hits: list[Hit] = yield Job(lambda: _text_plans.hybrid_plan(table, spec), transaction=False)
        return hits


def _clear(target: _plans.Target) -> Any:
    from psycopg import sql

    from ._protocol import Execute

    count = yield Execute(sql.SQL("DELETE FROM {}").format(target.table), fetch="rowcount")
    return count
