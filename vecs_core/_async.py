"""The async API's collection: :class:`AsyncCollection` (records and search; its indexes,
tuning and SQL functions are in its base, ``_async_admin.py``). The client is in
``_async_client.py``.

These async modules are the source of the sync API: ``scripts/async_to_sync.py`` generates
``_sync.py``, ``_sync_admin.py`` and ``_sync_client.py`` from them (``Collection``,
``CollectionAdmin``, ``Client``), and CI checks that the generated files are current. Lines
that differ are marked: ``# async-only`` lines (and ``# async-only: begin``/``end`` blocks) are
dropped, ``# sync: <code>`` comments become ``<code>`` (and ``# sync-only: begin``/``end``
blocks are uncommented). The sync API has properties where this one has coroutine methods
(``vector_version``, ``index``) and adds ``len()`` and ``collection[id]``.

Every public method builds a typed request from its arguments (raising before any I/O), then
runs the flow that takes it; all rules live in the shared bases (``_collection_base.py``,
``_client_base.py``) and the plans.
"""
# sync-docstring: The sync API's collection: :class:`Collection` (records and search; its
# sync-docstring: indexes, tuning and SQL functions are in its base, ``_sync_admin.py``).
# sync-docstring:
# sync-docstring: Generated from ``_async.py`` (the async API, where the rules of the twins are
# sync-docstring: documented) by ``scripts/async_to_sync.py``; do not edit by hand.

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._async_admin import AsyncCollectionAdmin
from ._indexes import IndexMeasure
from ._progress import UpsertProgress, tracked_records
from ._types import Hit, Item, Record


class AsyncCollection(AsyncCollectionAdmin):
    """A named set of ``(id, vector, metadata)`` records in one PostgreSQL table.

    Get one from :meth:`AsyncClient.get_or_create_collection`; the constructor does no I/O.
    """

    async def upsert(
        self,
        records: Iterable[Any] | None = None,
        skip_adapter: bool = False,
        *,
        vectors: Iterable[Any] | None = None,
        progress: bool | Callable[[UpsertProgress], None] | None = None,
    ) -> None:
        """Insert or update records ``(id, vector, metadata)`` or ``(id, vector, metadata, text)``
        (``vectors=`` is accepted for ``records=``, as the Supabase guides spell it).

        Atomic per call (all records or none); the last record wins when an id repeats; any
        iterable works, including generators of millions of records (streamed in bounded memory).
        Vectors may be lists, tuples or numpy arrays (for a ``sparsevec`` collection also
        ``{index: value}`` dicts or ``pgvector.SparseVector``). Empty input is a no-op.

        ``progress=True`` shows a progress bar (records read, rate, and an ETA when the input
        has a ``len()``); a callable receives :class:`UpsertProgress` snapshots twice a second.

        Raises:
            RecordError: a malformed id, vector (wrong dimension, NaN/inf) or metadata (not a
                JSON object, NUL characters, non-JSON values); nothing is written.
        """
        source = records if records is not None else vectors
        with tracked_records(source, progress) as tracked:
            if records is not None:
                request = self._upsert_request(tracked, skip_adapter, vectors)
            else:
                request = self._upsert_request(None, skip_adapter, tracked)
            return await self._do(self._upsert_flow(request))

    async def fetch(self, ids: Iterable[str], *, consistency: str | None = None) -> list[Record]:
        """Records ``(id, vector, metadata)`` for ``ids``, in order asked; missing ids skipped.

        ``consistency`` (every read takes it) overrides the client's for this call on a client
        with read replicas: ``"session"``, ``"eventual"`` or ``"strong"`` (see
        ``create_client``)."""
        return await self._do(self._fetch_flow(ids), consistency)

    async def get(
        self, ids: Iterable[str], *, include_vector: bool = False, consistency: str | None = None
    ) -> list[Item]:
        """Records with their document text, in the order asked; missing ids skipped."""
        return await self._do(self._get_flow(ids, include_vector), consistency)

    async def find(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        after: str | None = None,
        include_vector: bool = False,
        consistency: str | None = None,
    ) -> list[Item]:
        """Records matching ``filters`` in id order. Page with ``offset`` or, faster on large
        collections, with ``after=<last id of the previous page>``."""
        request = self._find_request(
            filters, limit=limit, offset=offset, after=after, include_vector=include_vector
        )
        return await self._do(self._find_flow(request), consistency)

    async def count(
        self, filters: Mapping[str, Any] | None = None, *, consistency: str | None = None
    ) -> int:
        """Number of records matching ``filters`` (all records when None)."""
        return await self._do(self._count_flow(filters), consistency)

    async def delete(
        self, ids: Iterable[str] | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Delete by ``ids`` or by ``filters`` (exactly one) and return the deleted ids.

        Raises:
            ArgError: both or neither given, or an empty filter (use :meth:`clear`).
            FilterError: a malformed filter, or a filter that is not a dict.
        """
        request = self._delete_request(ids, filters)
        return await self._do(self._delete_flow(request))

    async def clear(self) -> int:
        """Delete every record; return how many were deleted."""
        return await self._do(self._clear_flow())

    async def search(
        self,
        data: Any,
        *,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        measure: IndexMeasure | str = IndexMeasure.cosine_distance,
        include_vector: bool = False,
        probes: int | None = None,
        ef_search: int | None = None,
        skip_adapter: bool = False,
        iterative_scan: str | None = None,
        warn_unindexed: bool = True,
        max_distance: float | None = None,
        consistency: str | None = None,
    ) -> list[Hit]:
        """Nearest records to ``data`` as :class:`Hit` tuples (id, distance, metadata, text...),
        nearest first. Same arguments as :meth:`query`; ``warn_unindexed=False`` silences the
        missing-index warning for this call only (for callers that search small, unindexed
        collections on purpose)."""
        request = self._search_request(
            data,
            filters=filters,
            skip_adapter=skip_adapter,
            limit=limit,
            measure=measure,
            include_vector=include_vector,
            probes=probes,
            ef_search=ef_search,
            iterative_scan=iterative_scan,
            warn_unindexed=warn_unindexed,
            max_distance=max_distance,
            form="hits",
        )
        return await self._do(self._search_flow(request), consistency)

    async def query(
        self,
        data: Any = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        measure: IndexMeasure | str = IndexMeasure.cosine_distance,
        include_value: bool = False,
        include_metadata: bool = False,
        include_vector: bool = False,
        *,
        probes: int | None = None,
        ef_search: int | None = None,
        skip_adapter: bool = False,
        iterative_scan: str | None = None,
        max_distance: float | None = None,
        query_vector: Any = None,
        consistency: str | None = None,
    ) -> list[Any]:
        """vecs-compatible similarity search (``query_vector=`` is accepted for ``data=``, as
        the Supabase guides spell it).

        Returns ids (nothing included) or tuples ``(id, distance?, vector?, metadata?)``, nearest
        first. Warns ``UserWarning`` when no index covers ``measure``.

        ``ef_search`` (HNSW, raised to ``limit`` when smaller) and ``probes`` (IVFFlat, default
        10) apply to this query only. ``iterative_scan`` (pgvector >= 0.8): None picks
        ``relaxed_order`` when filters are given, else leaves it off; or force ``"off"``,
        ``"strict_order"`` (HNSW) or ``"relaxed_order"``.

        ``max_distance`` keeps only records at most that far (pgvector's distance for
        ``measure``; for ``cosine_distance`` a similarity threshold ``t`` is ``1 - t``), cut by
        PostgreSQL after the nearest ``limit`` are found: fewer than ``limit`` records come
        back when fewer are that near, at the cost of a plain search.

        Raises:
            ArgError: limit outside 1..1000, unknown measure, bad probes/ef_search/max_distance,
                bad vector.
            FilterError: a malformed filter.
        """
        included = include_value or include_vector or include_metadata
        request = self._search_request(
            data,
            filters=filters,
            skip_adapter=skip_adapter,
            limit=limit,
            measure=measure,
            include_value=include_value,
            include_metadata=include_metadata,
            include_vector=include_vector,
            probes=probes,
            ef_search=ef_search,
            iterative_scan=iterative_scan,
            max_distance=max_distance,
            query_vector=query_vector,
            form="tuples" if included else "ids",
        )
        return await self._do(self._search_flow(request), consistency)

    async def enable_text(self) -> None:
        """Add the document-text column now (it is added automatically on the first upsert of
        a record that carries text)."""
        return await self._do(self._enable_text_flow())

    # sync-only: begin
    # def __len__(self) -> int:
    #     return self.count()
    #
    # def __getitem__(self, key: str) -> Record:
    #     return self._do(self._getitem_flow(key))
    # sync-only: end

    # -- text search (keyword / hybrid) --
    async def enable_full_text(self, language: str | None = None) -> str:
        """Make the document text searchable by keyword in ``language`` (any text search
        configuration of the server: ``'english'``, ``'french'``, ``'simple'`` ...; None keeps
        the collection's current one, else ``'english'``); return that language.

        Adds the ``text`` column if missing and builds a GIN index over ``to_tsvector(language,
        text)`` without blocking reads or writes (``CREATE INDEX CONCURRENTLY``); a new language
        replaces the old index once the new one is ready. Idempotent. The first
        :meth:`keyword_search` or :meth:`hybrid_search` does this (in english) when it was never
        done, except under a session role: there the owner must call it first.

        Raises:
            ArgError: an unknown text search configuration.
            IndexBuildError: the index build failed; the previous index is kept.
        """
        return await self._do(self._full_text_flow(language, force=True))

    async def keyword_search(
        self,
        text: str,
        *,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        language: str | None = None,
        consistency: str | None = None,
    ) -> list[Hit]:
        """Records whose document text matches ``text`` (web-search syntax: words, ``"quoted
        phrases"``, ``or``, ``-excluded``), best first, as :class:`Hit` tuples with
        ``distance=None`` and ``score`` = ``ts_rank_cd`` rank.

        ``language`` (a text search configuration) defaults to the collection's full-text
        language (see :meth:`enable_full_text`), which its index serves; another one is
        computed row by row (correct but slower).

        Raises:
            ArgError: empty text, limit outside 1..1000, unknown language.
            FilterError: a malformed filter.
        """
        request = self._keyword_request(text, filters=filters, limit=limit, language=language)
        return await self._do(self._keyword_search_flow(request), consistency)

    async def hybrid_search(
        self,
        text: str,
        vector: Any = None,
        *,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        full_text_weight: float = 1.0,
        semantic_weight: float = 1.0,
        rrf_k: int = 50,
        measure: IndexMeasure | str = IndexMeasure.cosine_distance,
        language: str | None = None,
        max_distance: float | None = None,
        semantic_candidates: int | None = None,
        keyword_candidates: int | None = None,
        consistency: str | None = None,
    ) -> list[Hit]:
        """Keyword and vector search fused with Reciprocal Rank Fusion, in one statement.

        Each side ranks up to ``min(4 * limit, 1000)`` candidates (or ``semantic_candidates``
        and ``keyword_candidates``, each at most 1000); a record scores
        ``semantic_weight / (rrf_k + semantic_rank) + full_text_weight / (rrf_k + keyword_rank)``
        (0 for a side it is missing from). ``vector`` defaults to the collection's adapter
        applied to ``text``. Hits carry ``score`` (fused) and ``distance`` (the vector distance
        when the record was a semantic candidate, else None). ``max_distance`` drops semantic
        candidates farther than that (keyword matches still count).

        Raises:
            ArgError: no vector and no adapter, bad limit/weights/rrf_k/measure/language.
            FilterError: a malformed filter.
        """
        request = self._hybrid_request(
            text,
            vector,
            filters=filters,
            limit=limit,
            full_text_weight=full_text_weight,
            semantic_weight=semantic_weight,
            rrf_k=rrf_k,
            measure=measure,
            language=language,
            max_distance=max_distance,
            semantic_candidates=semantic_candidates,
            keyword_candidates=keyword_candidates,
        )
        return await self._do(self._hybrid_search_flow(request), consistency)
