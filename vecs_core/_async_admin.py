"""The async collection's upkeep half: :class:`AsyncCollectionAdmin`, the base of
:class:`~vecs_core.AsyncCollection` (vector and metadata indexes, tuning, prewarming, and the SQL
functions and views apps call through PostgREST), and :func:`run_flow`, which runs every call's
flow.

The source of ``_sync_admin.py`` (``CollectionAdmin``, the base of ``Collection``); see
``_async.py`` for how ``scripts/async_to_sync.py`` generates the sync twins.
"""
# sync-docstring: The sync collection's upkeep half: :class:`CollectionAdmin`, the base of
# sync-docstring: :class:`~vecs_core.Collection`, and :func:`run_flow`.
# sync-docstring:
# sync-docstring: Generated from ``_async_admin.py`` by ``scripts/async_to_sync.py``; do not edit
# sync-docstring: by hand.

from __future__ import annotations

import asyncio  # async-only

# sync: import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import psycopg

from ._admin_base import AdminBase
from ._areplicas import run_routed
from ._client_base import translate
from ._indexes import IndexMeasure, IndexMethod
from ._metaindex import MetadataIndex
from ._plans.indexes import PROGRESS_INTERVAL, IndexBuildProgress, VectorIndex
from ._progress import BuildReporter, check_progress
from ._protocol import Flow
from ._routing import Consistency, check_consistency
from ._tune import TuneResult

if TYPE_CHECKING:
    from ._async_client import AsyncClient

T = TypeVar("T")


async def run_flow(
    source: Any,
    flow: Flow[T],
    settings: dict[str, str],
    collection: str | None = None,
    consistency: Consistency | None = None,
) -> T:
    """Run ``flow`` to its end: each job it yields on a pooled connection (of the primary, a
    pod, or a read replica: see ``_areplicas.py``), the result sent back in. Driver errors that
    mean something to the caller become vecs_core errors."""
    try:
        job = next(flow)
        while True:
            try:
                result = await run_routed(source, job, settings, consistency)
            except psycopg.Error as exc:
                mapped = translate(exc, collection)
                if mapped is None:
                    raise
                raise mapped from exc
            job = flow.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


class AsyncCollectionAdmin(AdminBase):
    """What :class:`~vecs_core.AsyncCollection` does besides records and search: its vector
    and metadata indexes, tuning, prewarming, and SQL functions and views for apps."""

    client: AsyncClient

    async def _do(self, flow: Flow[T], consistency: str | None = None) -> T:
        client = self.client
        mode = None if consistency is None else check_consistency(consistency)
        return await run_flow(client._route(self.name), flow, client._settings, self.name, mode)

    async def create_index(
        self,
        measure: IndexMeasure | str = IndexMeasure.cosine_distance,
        method: IndexMethod | str = IndexMethod.auto,
        index_arguments: Any = None,
        replace: bool = True,
        *,
        maintenance_work_mem: str | None = None,
        parallel_workers: int | None = None,
        progress: bool | Callable[[IndexBuildProgress], None] | None = None,
        statement_timeout: int | None = None,
    ) -> VectorIndex:
        """Build a vector index without blocking reads or writes (``CREATE INDEX CONCURRENTLY``),
        then drop the previous one. See docs/search.md.

        ``progress=True`` shows a progress bar per build phase, with an ETA; a callable is
        called about twice a second with an :class:`IndexBuildProgress` read from
        ``pg_stat_progress_create_index`` on a second pooled connection. Ctrl-C (or cancelling
        the task) cancels the build on the server, drops the half-built index and keeps the old
        one. ``statement_timeout`` (ms, 0 = none) overrides the role's timeout for the build (on
        Supabase, roles time out long builds).

        Raises:
            ArgError: bad arguments, or ``replace=False`` while an index exists.
            IndexBuildError: the build failed; the previous index is kept.
        """
        request = self._index_request(
            measure=measure,
            method=method,
            index_arguments=index_arguments,
            replace=replace,
            maintenance_work_mem=maintenance_work_mem,
            parallel_workers=parallel_workers,
            statement_timeout=statement_timeout,
        )
        flow = self._create_index_flow(request)
        check_progress(progress)
        if not progress:
            return await self._do(flow)
        report = BuildReporter(progress)
        # async-only: begin
        done = asyncio.Event()

        async def poll() -> None:
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), PROGRESS_INTERVAL)
                except asyncio.TimeoutError:
                    snapshot = await self._do(self._progress_flow())
                    if snapshot is not None and not done.is_set():
                        report(snapshot)

        poller = asyncio.ensure_future(poll())
        try:
            return await self._do(flow)
        finally:
            done.set()
            await poller
            report.close()
        # async-only: end
        # sync-only: begin
        # done = threading.Event()
        #
        # def poll() -> None:
        #     while not done.wait(PROGRESS_INTERVAL):
        #         snapshot = self._do(self._progress_flow())
        #         if snapshot is not None and not done.is_set():
        #             report(snapshot)
        #
        # poller = threading.Thread(target=poll, name="vecs-core-index-progress", daemon=True)
        # poller.start()
        # try:
        #     return self._do(flow)
        # finally:
        #     done.set()
        #     poller.join()
        #     report.close()
        # sync-only: end

    async def tune(
        self,
        target_recall: float = 0.95,
        *,
        sample: int = 100,
        limit: int = 10,
        measure: IndexMeasure | str = IndexMeasure.cosine_distance,
        store: bool = True,
        queries: Iterable[Any] | None = None,
    ) -> TuneResult:
        """Find the smallest ``ef_search`` (HNSW) or ``probes`` (IVFFlat) whose recall@``limit``
        reaches ``target_recall`` on this collection's data, and (``store=True``) make it the
        default of searches through the index, for every client. See docs/performance.md.

        ``queries`` (query vectors, or an adapter's input, e.g. from your logs) are the best
        sample; without them, ``sample`` stored vectors are the queries, which finds a value a
        little low (a stored vector is a node of the graph: measured recall 0.97 on stored
        vectors was 0.92 on held-out queries at the same ``ef_search``; ask for more). Exact
        neighbours are computed in the database (a scan of the table per query: seconds on
        100,000 rows). The default lives in the index's comment: rebuilding the index drops it
        (tune again); a search's own ``ef_search=``/``probes=`` still wins.

        Raises:
            ArgError: no index serves ``measure``, an empty collection, or bad arguments.
        """
        request = self._tune_request(
            target_recall=target_recall, sample=sample, limit=limit, measure=measure, store=store
        )
        held_out = self._tune_queries(queries, request.measure)
        return await self._do(self._tune_flow(request, held_out))

    async def index_metadata(
        self, key: str, type: str = "text", *, statement_timeout: int | None = None
    ) -> MetadataIndex:
        """Index metadata key ``key`` for filters: a btree over its values of ``type``
        (``"text"``, ``"number"``, ``"bool"`` or ``"timestamp"``: ISO 8601 strings, compared as
        strings), built without blocking reads or writes (``CREATE INDEX CONCURRENTLY``).

        Filters on the key then use the index for ranges (``$gt``, ``$gte``, ``$lt``,
        ``$lte``), ``$eq`` and ``$in`` on values of that type, and prefix ``$like`` (text), and
        the adaptive filtered search counts matches through it. What a filter matches does not
        change. Indexing the key as another type replaces its index once the new one is ready;
        the same type again is a no-op. ``statement_timeout`` (ms, 0 = none) overrides the
        role's timeout for the build.

        Raises:
            ArgError: a bad key (empty, starting with ``$``, too long) or type.
            IndexBuildError: the build failed.
        """
        request = self._metadata_index_request(
            key=key, type=type, statement_timeout=statement_timeout
        )
        return await self._do(self._index_metadata_flow(request))

    async def list_metadata_indexes(self) -> list[MetadataIndex]:
        """The collection's indexed metadata keys (see :meth:`index_metadata`)."""
        return await self._do(self._list_metadata_indexes_flow())

    async def drop_metadata_index(self, key: str) -> list[str]:
        """Drop the index of metadata key ``key``; return the dropped index names (none when the
        key was not indexed)."""
        return await self._do(self._drop_metadata_index_flow(key))

    async def prewarm(self) -> int:
        """Load the vector index and table into PostgreSQL's buffer cache (``pg_prewarm``) so
        the first queries after a restart are fast; returns the number of blocks read.

        Raises:
            VecsError: the server has no pg_prewarm extension.
        """
        return await self._do(self._prewarm_flow())

    async def drop_index(self) -> list[str]:
        """Drop the collection's vector index(es); return their names."""
        return await self._do(self._drop_index_flow())

    async def list_indexes(self) -> list[VectorIndex]:
        """Vector indexes on the collection, read from the catalog."""
        return await self._do(self._list_indexes_flow())

    async def is_indexed_for_measure(self, measure: IndexMeasure | str) -> bool:
        """True when a valid vector index serves ``measure`` (False for an unknown measure)."""
        return await self._do(self._is_indexed_flow(measure))

    # sync: @property
    async def index(self) -> str | None:
        """Name of the collection's valid vector index, or None (a property of ``Collection``,
        a coroutine method of ``AsyncCollection``)."""
        return await self._do(self._index_name_flow())

    # -- SQL functions and views for apps that call PostgREST (supabase-js .rpc()/.from()) --
    async def install_sql_functions(
        self,
        schema: str = "public",
        *,
        name: str | None = None,
        measure: IndexMeasure | str | None = None,
        hybrid: bool | None = None,
        langchain: bool | str = False,
    ) -> list[str]:
        """Create (or replace) SQL functions that search this collection, for apps that call
        ``supabase.rpc(...)``; return their signatures. See ``docs/sql-functions.md``.

        In ``schema``: ``match_<name>(query_embedding, match_threshold, match_count, filter jsonb
        default '{}')`` returning ``id, content, metadata, similarity, distance`` (nearest first;
        ``match_threshold`` keeps similarity > threshold, similarity being ``1 - distance`` for
        cosine and ``-distance`` otherwise; NULL keeps all), and, when the collection has full
        text (``enable_full_text()``), ``hybrid_<name>(query_text, query_embedding, match_count,
        full_text_weight = 1, semantic_weight = 1, rrf_k = 50, filter jsonb default '{}')``
        returning ``id, content, metadata, score, distance``. ``filter`` is the metadata filter
        language (the same operators and semantics as ``query``); both are ``SECURITY INVOKER``
        (Row Level Security holds) and use the collection's indexes. Idempotent.

        Args:
            schema: where the functions go (Supabase's API exposes ``public``).
            name: the ``<name>`` in the function names (default: the collection's name).
            measure: the distance measure (default: the one the collection's index serves, else
                cosine distance).
            hybrid: True requires the hybrid function (and full text), False skips it, None
                adds it when the collection has full text.
            langchain: True (or a function name) also creates LangChain's Supabase contract,
                ``match_documents(query_embedding, match_count default null, filter jsonb
                default '{}')`` returning ``id, content, metadata, similarity``, whose filter is
                JSONB containment (``metadata @> filter``) as in LangChain's guide.

        Raises:
            ArgError: a bad or too long name, a schema that does not exist, another function of
                the same name with other arguments, ``hybrid=True`` without full text.
        """
        flow = self._install_sql_functions_flow(
            schema=schema, name=name, measure=measure, hybrid=hybrid, langchain=langchain
        )
        return await self._do(flow)

    async def drop_sql_functions(
        self, schema: str = "public", *, name: str | None = None, langchain: bool | str = False
    ) -> list[str]:
        """Drop the functions :meth:`install_sql_functions` made (with the same ``schema``,
        ``name`` and ``langchain``); return the signatures dropped (none is an error)."""
        flow = self._drop_sql_functions_flow(schema=schema, name=name, langchain=langchain)
        return await self._do(flow)

    async def expose_view(
        self,
        view: str,
        columns: Mapping[str, str] | None = None,
        *,
        security_invoker: bool = True,
    ) -> str:
        """Create (or replace) a view of the collection for ``supabase.from(view)``, as the
        guide's "simple workloads" view: ``id``, ``embedding``, ``metadata``, ``content`` and
        one typed column per ``columns`` entry (metadata key -> type: ``text``, ``boolean``,
        ``integer``, ``bigint``, ``numeric``, ``double precision``, ``jsonb``, ``text[]``, and
        on PostgreSQL 16+ ``date``, ``timestamptz``, ``uuid``). A value of another JSON type,
        out of range or unparsable reads as NULL. ``view`` is ``"schema.name"`` (or ``"name"``
        in ``public``). ``security_invoker=True`` (PostgreSQL 15+) makes the view apply the
        caller's privileges and Row Level Security; False runs it as its owner. Returns the
        view's name.

        Raises:
            ArgError: an unknown type, a bad name, a column clashing with the base columns, a
                schema that does not exist, a replacement that changes existing columns.
        """
        flow = self._expose_view_flow(view=view, columns=columns, security_invoker=security_invoker)
        return await self._do(flow)

    async def drop_view(self, view: str) -> None:
        """Drop a view made by :meth:`expose_view` (no error if it does not exist)."""
        return await self._do(self._drop_view_flow(view))
