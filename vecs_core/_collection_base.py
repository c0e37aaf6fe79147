"""What a collection does, without I/O: request builders and flows shared by the shells (its
upkeep - indexes, tuning, SQL functions - is in ``_admin_base.py``, keyword and hybrid search in
``_text_flows.py``).

A public method of ``Collection``/``AsyncCollection`` is two steps: build a typed request (the
``_*_request`` methods here validate every argument, check the query vector and compile the
filter, raising before anything is sent), then run the flow that takes it (the ``_*_flow``
methods, generators of :class:`~vecs_core._protocol.Job`). Streamed upserts are the exception to
"validated up front": their records are checked as they stream, inside the upsert's transaction,
so a bad record aborts the whole call and nothing of it is written.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, cast

from typing_extensions import Self

from . import _text_flows as text_flows
from ._checks import check_encodable, safe_repr
from ._filter_cache import CompiledFilter, compile_request_filter
from ._indexes import MEASURES
from ._metaindex import MetaType
from ._names import collection_repr
from ._plans import catalog, indexes, records
from ._plans.indexes import IndexSet, VectorIndex
from ._plans.search import (
    SearchShape,
    covering_index,
    exact_search_below,
    search_plan,
    search_shape,
)
from ._protocol import Flow, Job, Mode
from ._records import Encoder, VectorParam, check_direction, query_vector
from ._requests import (
    DeleteRequest,
    FindOptions,
    FindRequest,
    HybridOptions,
    HybridRequest,
    KeywordOptions,
    KeywordRequest,
    SearchOptions,
    SearchRequest,
    UpsertRequest,
    check_text,
)
from ._types import Hit, Item, Record
from ._zero_vectors import cosine_indexed, refuse_zero_vectors
from .adapter import Adapter, AdapterContext, NoOp
from .exc import ArgError, PermissionDenied

INDEX_CACHE_SECONDS = 30.0
MAX_SHAPES = 256
"""Search shapes a collection keeps (one per combination of query options it has seen)."""


def same_shapes(old: IndexSet, new: IndexSet) -> bool:
    """Whether search shapes made with ``old`` hold with ``new``: the same indexes, and the same
    exact/index threshold from the row estimate. Then a periodic refresh keeps them, and with
    them the branches filtered searches remember (see ``SearchShape``)."""
    return (
        old.vector == new.vector
        and old.metadata == new.metadata
        and exact_search_below(old.rows) == exact_search_below(new.rows)
    )


def check_ids(ids: object, what: str = "ids") -> list[str]:
    if isinstance(ids, (str, bytes)) or ids is None:
        raise ArgError(f"{what} must be a list of strings, not a single {type(ids).__name__}")
    try:
        out: list[str] = list(cast(Iterable[str], ids))
    except TypeError:
        raise ArgError(f"{what} must be an iterable of strings, got {type(ids).__name__}") from None
    for item in out:
        if not isinstance(item, str):
            raise ArgError(f"{what} must hold strings, got {type(item).__name__} {safe_repr(item)}")
    check_encodable(out, what)
    return out


class CollectionBase:
    """State, request builders and flows of a collection; see ``Collection`` for the API."""

    def __init__(
        self, client: Any, name: str, info: catalog.TableInfo, adapter: Adapter | None = None
    ) -> None:
        self.client = client
        self.name = name
        self._adapter = adapter
        self._indexes: tuple[float, IndexSet] | None = None
        self._meta_keys: dict[str, MetaType] = {}  # indexed metadata keys (valid indexes)
        self._ts_languages: frozenset[str] | None = None
        self._set_info(info)

    def _set_info(self, info: catalog.TableInfo) -> None:
        """Take the catalog's description of the table; what was derived from it is reset."""
        self._info = info
        self.dimension = info.dimension
        table = catalog.table_sql(self.schema, self.name)
        self._target = records.Target(table, info.dimension, info.has_text, info.kind)
        # search shapes by request key, valid as long as the indexes and this description
        self._shapes: dict[tuple[Any, ...], SearchShape] = {}

    @property
    def schema(self) -> str:
        return str(self.client.schema)

    @property
    def storage(self) -> str:
        """How the collection stores vectors: ``'vector'``, ``'halfvec'`` or ``'sparsevec'``."""
        return self._info.kind.name

    @property
    def adapter(self) -> Adapter:
        """The collection's adapter (a pass-through ``NoOp`` when none was given)."""
        return self._adapter or Adapter([NoOp(dimension=self.dimension)])

    def __repr__(self) -> str:
        return collection_repr(type(self).__name__, self.name, self.dimension)

    def session(
        self, settings: Mapping[str, object] | None = None, *, role: str | None = None
    ) -> Self:
        """A view of this collection whose calls run with ``settings`` (and ``role``), like
        :meth:`Client.session` (Row Level Security per request). The view shares this
        collection's catalog description, cached indexes and search shapes: making one per
        request costs no round trip. No schema change (a text column, a full-text index) ever
        runs lazily through a view with a ``role``: the owner sets those up first.

        Raises:
            ArgError: as :meth:`Client.session`.
        """
        view = copy.copy(self)
        view.client = self.client.session(settings, role=role)
        return view

    # -- request builders: validate a call, raise before any I/O ---------------------------------
    def _where(self, filters: Mapping[str, Any] | None) -> CompiledFilter | None:
        """The compiled filter, over the index expressions of indexed metadata keys (as last
        read from the catalog: a stale list changes only which indexes a filter can use)."""
        return compile_request_filter(filters, self._meta_keys)

    def _query_vector(self, data: Any, skip_adapter: bool) -> VectorParam:
        if data is None:
            raise ArgError(
                "query data must be a vector (or, with an adapter, its input), not None: pass "
                "data= (or its alias query_vector=)"
            )
        if self._adapter is not None and not skip_adapter:
            adapted = list(self._adapter([("", data, {})], AdapterContext.query))
            if len(adapted) != 1:
                raise ArgError(
                    f"the adapter produced {len(adapted)} query vectors; exactly one is needed"
                )
            data = adapted[0][1]
        kind = self._info.kind
        return VectorParam(query_vector(data, kind, self.dimension), kind)

    def _search_request(
        self,
        data: Any,
        *,
        filters: Mapping[str, Any] | None,
        skip_adapter: bool,
        query_vector: Any = None,
        **options: Any,
    ) -> SearchRequest:
        data = _alias("data", data, "query_vector", query_vector)
        checked = SearchOptions.build(**options)
        where = self._where(filters)
        vector = self._query_vector(data, skip_adapter)
        check_direction(vector.value, checked.measure)
        return SearchRequest(checked, vector, where)

    def _keyword_request(
        self, text: str, *, filters: Mapping[str, Any] | None, **options: Any
    ) -> KeywordRequest:
        checked = KeywordOptions.build(**options)
        return KeywordRequest(checked, check_text("text", text), self._where(filters))

    def _hybrid_request(
        self, text: str, vector: Any, *, filters: Mapping[str, Any] | None, **options: Any
    ) -> HybridRequest:
        if vector is None and self._adapter is None:
            raise ArgError(
                "hybrid_search needs a query vector: pass vector=..., or give the collection "
                "an adapter (e.g. TextEmbedding) that embeds the text"
            )
        checked = HybridOptions.build(**options)
        if checked.full_text_weight == 0 and checked.semantic_weight == 0:
            raise ArgError("full_text_weight and semantic_weight cannot both be 0")
        where = self._where(filters)
        text = check_text("text", text)
        qvec = self._query_vector(text if vector is None else vector, vector is not None)
        check_direction(qvec.value, checked.measure)
        return HybridRequest(checked, text, qvec, where)

    def _upsert_request(
        self, items: Iterable[Any] | None, skip_adapter: bool, vectors: Iterable[Any] | None = None
    ) -> UpsertRequest:
        items = _alias("records", items, "vectors", vectors)
        if items is None:
            raise ArgError("upsert needs records=[(id, vector, metadata), ...]")
        if isinstance(items, (str, bytes, Mapping)):
            raise ArgError("records must be an iterable of (id, vector, metadata) tuples")
        if self._adapter is not None and not skip_adapter:
            items = self._adapter(items, AdapterContext.upsert)
        rest = iter(items)
        head = tuple(islice(rest, records.SMALL_BATCH + 1))
        if len(head) <= records.SMALL_BATCH:
            encoder = Encoder(self._info.kind, self.dimension)
            checked = tuple(encoder.validate(i, r) for i, r in enumerate(head))
            return UpsertRequest(small=checked, head=(), rest=iter(()))
        return UpsertRequest(small=None, head=head, rest=rest)

    def _find_request(
        self, filters: Mapping[str, Any] | None, after: str | None, **options: Any
    ) -> FindRequest:
        if after is not None and not isinstance(after, str):
            raise ArgError(f"after must be an id (str) or None, got {safe_repr(after)}")
        check_encodable([after] if after else [], "after")
        return FindRequest(FindOptions.build(**options), self._where(filters), after)

    def _delete_request(
        self, ids: Iterable[str] | None, filters: Mapping[str, Any] | None
    ) -> DeleteRequest:
        if (ids is None) == (filters is None):
            raise ArgError("give exactly one of ids or filters to delete")
        if ids is not None:
            return DeleteRequest(ids=tuple(check_ids(ids)), where=None)
        where = self._where(filters)
        if where is None:
            raise ArgError(
                "delete(filters=...) needs a non-empty filter dict; an empty filter would "
                "delete every record: use clear() for that"
            )
        return DeleteRequest(ids=None, where=where)

    # -- writes ----------------------------------------------------------------------------------
    def _upsert_flow(self, request: UpsertRequest) -> Flow[None]:
        target = self._target
        small = request.small
        if small is not None:
            if not small:
                return None
            needs_column = any(c.text_bytes is not None for c in small) and not target.has_text
            if needs_column:
                self._owner_only("text column", "enable_text()")
            yield from refuse_zero_vectors(self, small)
            # one statement is atomic by itself; adding the text column first needs a transaction
            mode: Mode = "transaction" if needs_column else "statements"
            result = yield Job(lambda: records.small_upsert_plan(target, small), mode)
        else:
            if not target.has_text and "role" in self.client._settings:
                # the COPY path adds the column when text shows up mid-stream: not as a role
                target = dataclasses.replace(target, may_add_text=False)
            cosine = yield from cosine_indexed(self)  # zero vectors are refused then
            yield from self.client._version_flow()  # knows whether this is Citus
            # straight into an empty table (COPY) unless a session role or Citus is involved
            fresh = "role" not in self.client._settings and self.client._citus_version is None
            # a fresh iterator per attempt: a retry on a dead pooled connection (before any
            # step ran) must see the buffered records again
            result = yield Job(
                lambda: records.upsert_plan(target, request.records(), cosine, fresh)
            )
        if result.added_text_column:
            columns = self._info.columns | {catalog.TEXT_COLUMN}
            self._set_info(dataclasses.replace(self._info, columns=columns))
        return None

    def _enable_text_flow(self) -> Flow[None]:
        yield Job(lambda: catalog.add_text_column_plan(self.schema, self.name))
        yield from self._refresh_info_flow()

    def _refresh_info_flow(self) -> Flow[None]:
        info = yield Job(lambda: catalog.table_info_plan(self.schema, self.name), "statements")
        if info is not None:
            self._set_info(info)

    def _delete_flow(self, request: DeleteRequest) -> Flow[list[str]]:
        target = self._target
        ids = request.ids
        deleted = yield Job(lambda: records.delete_plan(target, ids, request.where))
        return list(deleted)

    def _clear_flow(self) -> Flow[int]:
        target = self._target
        return int((yield Job(lambda: records.clear_plan(target))))

    # -- reads -----------------------------------------------------------------------------------
    def _fetch_flow(self, ids: Iterable[str]) -> Flow[list[Record]]:
        wanted = check_ids(ids)
        target = self._target
        found: list[Record] = yield Job(
            lambda: records.fetch_plan(target, wanted), "statements", read=True
        )
        return found

    def _getitem_flow(self, key: object) -> Flow[Record]:
        if not isinstance(key, str):
            raise ArgError(f"collection[...] takes a string id, got {type(key).__name__}")
        found = yield from self._fetch_flow([key])
        if not found:
            raise KeyError(key)
        return found[0]

    def _get_flow(self, ids: Iterable[str], include_vector: bool) -> Flow[list[Item]]:
        wanted = check_ids(ids)
        target = self._target
        job = Job(lambda: records.get_plan(target, wanted, include_vector), "statements", read=True)
        found: list[Item] = yield job
        return found

    def _find_flow(self, request: FindRequest) -> Flow[list[Item]]:
        target, r, o = self._target, request, request.options
        job = Job(
            lambda: records.find_plan(
                target, r.where, o.limit, o.offset, r.after, o.include_vector
            ),
            "statements",
            read=True,
        )
        found: list[Item] = yield job
        return found

    def _count_flow(self, filters: Mapping[str, Any] | None) -> Flow[int]:
        where = self._where(filters)
        target = self._target
        return int((yield Job(lambda: records.count_plan(target, where), "statements", read=True)))

    # -- search ----------------------------------------------------------------------------------
    def _search_flow(self, request: SearchRequest) -> Flow[list[Any]]:
        indexes = self._fresh_indexes()  # without a generator for the common case (hot path)
        if indexes is None:
            indexes = yield from self._indexes_flow(refresh=True)
        key = request.cache_key()
        shape = self._shapes.get(key)
        options = request.options
        if shape is None:
            version = yield from self.client._version_flow()
            index = covering_index(indexes, options.measure)
            operator = MEASURES[options.measure].operator
            rows = self._indexes[1].rows if self._indexes is not None else -1.0
            shape = search_shape(self._target, request, index, operator, version, rows)
            if len(self._shapes) >= MAX_SHAPES:  # a caller cycling through many options
                self._shapes.clear()
            self._shapes[key] = shape
        if shape.unindexed and options.warn_unindexed:
            warnings.warn(
                UserWarning(
                    f"Query does not have a covering index for {options.measure.value}. "
                    "See Collection.create_index"
                ),
                stacklevel=5,  # the caller of Collection.query/search (through _do, run_flow)
            )
        target = self._target
        found: list[Any] = yield Job(
            lambda: search_plan(target, shape, request), "statements", read=True
        )
        return found

    # -- indexes ---------------------------------------------------------------------------------
    def _fresh_indexes(self) -> list[VectorIndex] | None:
        """The cached vector indexes, unless older than ``INDEX_CACHE_SECONDS``."""
        cached = self._indexes
        if cached is not None and time.monotonic() - cached[0] < INDEX_CACHE_SECONDS:
            return cached[1].vector
        return None

    def _indexes_flow(self, refresh: bool = False) -> Flow[list[VectorIndex]]:
        fresh = None if refresh else self._fresh_indexes()
        if fresh is not None:
            return fresh
        found: IndexSet = yield Job(
            lambda: indexes.all_indexes_plan(self.schema, self.name), "statements"
        )
        old, self._indexes = self._indexes, (time.monotonic(), found)
        self._meta_keys = {m.key: m.type for m in found.metadata if m.valid}
        if old is None or not same_shapes(old[1], found):
            self._shapes = {}  # search shapes (and their remembered branches) depend on these
        return found.vector

    # -- text search (keyword / hybrid; the flows are in _text_flows.py) --
    def _owner_only(self, what: str, fix: str) -> None:
        """Refuse DDL that a call would run lazily when it runs under a session role: a role
        restricted by Row Level Security must not own the collection's schema changes."""
        if "role" in self.client._settings:
            raise PermissionDenied(
                f"collection {self.name!r} has no {what} yet, and it is never added lazily "
                f"under a session role; have the collection's owner call {fix} first"
            )

    def _full_text_flow(self, language: str | None = None, force: bool = False) -> Flow[str]:
        return (yield from text_flows.full_text(self, language, force))

    def _keyword_search_flow(self, request: KeywordRequest) -> Flow[list[Hit]]:
        return (yield from text_flows.keyword_search(self, request))

    def _hybrid_search_flow(self, request: HybridRequest) -> Flow[list[Hit]]:
        return (yield from text_flows.hybrid_search(self, request))


def _alias(name: str, value: Any, alias: str, aliased: Any) -> Any:
    """``value``, or the same argument under the spelling of the Supabase guides (``alias``)."""
    if aliased is None:
        return value
    if value is not None:
        raise ArgError(f"pass {name}= or {alias}= (the same argument), not both")
    return aliased
