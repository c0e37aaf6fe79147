# WARNING: this file is generated from _async.py by scripts/async_to_sync.py; edit the
# source and run that script (CI runs it with --check).
"""The sync API: :class:`Client` and :class:`Collection`.

Generated from ``_async.py`` (the async API, where the rules of the twins are
documented) by ``scripts/async_to_sync.py``; do not edit by hand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import psycopg

from ._citus import Distribution, placement_request
from ._client_base import ClientBase, deprecated, translate
from ._collection_base import CollectionBase
from ._connect import ConnectOptions, options_from
from ._driver import EngineSource, PoolSource
from ._indexes import IndexMeasure, IndexMethod
from ._metaindex import MetadataIndex
from ._plans import fdw
from ._plans.indexes import PROGRESS_INTERVAL, IndexBuildProgress, VectorIndex
from ._podmap import PodsArg
from ._pods import Pods, list_everywhere
from ._pods import move_collection as _move_collection
from ._progress import BuildReporter, UpsertProgress, check_progress, tracked_records
from ._protocol import Flow
from ._replicas import make_router, run_routed
from ._routing import Consistency, ReadPolicy, ReadStats, check_consistency
from ._tune import TuneResult
from ._types import Hit, Item, Record
from .adapter import Adapter

T = TypeVar("T")


def run_flow(
    source: Any,
    flow: Flow[T],
    settings: dict[str, str],
    collection: str | None = None,
    consistency: Consistency | None = None,
) -> T:
    """Run ``flow`` to its end: each job it yields on a pooled connection (of the primary, a
    pod, or a read replica: see ``_replicas.py``), the result sent back in. Driver errors that
    mean something to the caller become vecs_core errors."""
    try:
        job = next(flow)
        while True:
            try:
                result = run_routed(source, job, settings, consistency)
            except psycopg.Error as exc:
                mapped = translate(exc, collection)
                if mapped is None:
                    raise
                raise mapped from exc
            job = flow.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


class Collection(CollectionBase):
    """A named set of ``(id, vector, metadata)`` records in one PostgreSQL table.

    Get one from :meth:`Client.get_or_create_collection`; the constructor does no I/O.
    """

    client: Client

    def _do(self, flow: Flow[T], consistency: str | None = None) -> T:
        client = self.client
        mode = None if consistency is None else check_consistency(consistency)
        return run_flow(client._route(self.name), flow, client._settings, self.name, mode)

    def upsert(
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
            return self._do(self._upsert_flow(request))

    def fetch(self, ids: Iterable[str], *, consistency: str | None = None) -> list[Record]:
        """Records ``(id, vector, metadata)`` for ``ids``, in order asked; missing ids skipped.

        ``consistency`` (every read takes it) overrides the client's for this call on a client
        with read replicas: ``"session"``, ``"eventual"`` or ``"strong"`` (see
        ``create_client``)."""
        return self._do(self._fetch_flow(ids), consistency)

    def get(
        self, ids: Iterable[str], *, include_vector: bool = False, consistency: str | None = None
    ) -> list[Item]:
        """Records with their document text, in the order asked; missing ids skipped."""
        return self._do(self._get_flow(ids, include_vector), consistency)

    def find(
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
        return self._do(self._find_flow(request), consistency)

    def count(
        self, filters: Mapping[str, Any] | None = None, *, consistency: str | None = None
    ) -> int:
        """Number of records matching ``filters`` (all records when None)."""
        return self._do(self._count_flow(filters), consistency)

    def delete(
        self, ids: Iterable[str] | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Delete by ``ids`` or by ``filters`` (exactly one) and return the deleted ids.

        Raises:
            ArgError: both or neither given, or an empty filter (use :meth:`clear`).
            FilterError: a malformed filter, or a filter that is not a dict.
        """
        request = self._delete_request(ids, filters)
        return self._do(self._delete_flow(request))

    def clear(self) -> int:
        """Delete every record; return how many were deleted."""
        return self._do(self._clear_flow())

    def search(
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
        return self._do(self._search_flow(request), consistency)

    def query(
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
        return self._do(self._search_flow(request), consistency)

    def create_index(
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
            return self._do(flow)
        report = BuildReporter(progress)
        done = threading.Event()

        def poll() -> None:
            while not done.wait(PROGRESS_INTERVAL):
                snapshot = self._do(self._progress_flow())
                if snapshot is not None and not done.is_set():
                    report(snapshot)

        poller = threading.Thread(target=poll, name="vecs-core-index-progress", daemon=True)
        poller.start()
        try:
            return self._do(flow)
        finally:
            done.set()
            poller.join()
            report.close()

    def tune(
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
        return self._do(self._tune_flow(request, held_out))

    def index_metadata(
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
        return self._do(self._index_metadata_flow(request))

    def list_metadata_indexes(self) -> list[MetadataIndex]:
        """The collection's indexed metadata keys (see :meth:`index_metadata`)."""
        return self._do(self._list_metadata_indexes_flow())

    def drop_metadata_index(self, key: str) -> list[str]:
        """Drop the index of metadata key ``key``; return the dropped index names (none when the
        key was not indexed)."""
        return self._do(self._drop_metadata_index_flow(key))

    def prewarm(self) -> int:
        """Load the vector index and table into PostgreSQL's buffer cache (``pg_prewarm``) so
        the first queries after a restart are fast; returns the number of blocks read.

        Raises:
            VecsError: the server has no pg_prewarm extension.
        """
        return self._do(self._prewarm_flow())

    def drop_index(self) -> list[str]:
        """Drop the collection's vector index(es); return their names."""
        return self._do(self._drop_index_flow())

    def list_indexes(self) -> list[VectorIndex]:
        """Vector indexes on the collection, read from the catalog."""
        return self._do(self._list_indexes_flow())

    def is_indexed_for_measure(self, measure: IndexMeasure | str) -> bool:
        """True when a valid vector index serves ``measure`` (False for an unknown measure)."""
        return self._do(self._is_indexed_flow(measure))

    def enable_text(self) -> None:
        """Add the document-text column now (it is added automatically on the first upsert of
        a record that carries text)."""
        return self._do(self._enable_text_flow())

    @property
    def index(self) -> str | None:
        """Name of the collection's valid vector index, or None (a property of ``Collection``,
        a coroutine method of ``Collection``)."""
        return self._do(self._index_name_flow())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key: str) -> Record:
        return self._do(self._getitem_flow(key))

    # -- text search (keyword / hybrid) --
    def enable_full_text(self, language: str | None = None) -> str:
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
        return self._do(self._full_text_flow(language, force=True))

    def keyword_search(
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
        return self._do(self._keyword_search_flow(request), consistency)

    def hybrid_search(
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
        return self._do(self._hybrid_search_flow(request), consistency)

    # -- SQL functions and views for apps that call PostgREST (supabase-js .rpc()/.from()) --
    def install_sql_functions(
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
        return self._do(flow)

    def drop_sql_functions(
        self, schema: str = "public", *, name: str | None = None, langchain: bool | str = False
    ) -> list[str]:
        """Drop the functions :meth:`install_sql_functions` made (with the same ``schema``,
        ``name`` and ``langchain``); return the signatures dropped (none is an error)."""
        flow = self._drop_sql_functions_flow(schema=schema, name=name, langchain=langchain)
        return self._do(flow)

    def expose_view(
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
        return self._do(flow)

    def drop_view(self, view: str) -> None:
        """Drop a view made by :meth:`expose_view` (no error if it does not exist)."""
        return self._do(self._drop_view_flow(view))


class Client(ClientBase[Collection]):
    """Connects to PostgreSQL + pgvector and manages collections.

    Create it with :func:`create_client`. No I/O happens until the first call; the pool is
    opened lazily, closed by :meth:`disconnect` (or leaving a ``with`` block), reopened by the
    next call.
    """

    _collection_class = Collection

    def __init__(
        self,
        connection_string: str | ConnectOptions | None = None,
        schema: str = "vecs",
        engine: Any = None,
        *,
        read_urls: list[str] | None = None,
        consistency: str = "session",
        max_replica_wait: float = 0.05,
        max_replica_lag_bytes: int | None = None,
        pods: PodsArg = None,
    ) -> None:
        options = (
            connection_string
            if isinstance(connection_string, ConnectOptions)
            else options_from(connection_string)
        )
        super().__init__(options, schema)
        self._source: Any = EngineSource(engine) if engine is not None else PoolSource(options)
        self._router = make_router(
            self._source,
            options,
            read_urls,
            ReadPolicy.build(consistency, max_replica_wait, max_replica_lag_bytes),
            engine=engine is not None,
        )
        self._pods = Pods(options, pods)

    def _route(self, name: str | None = None) -> Any:
        """Where the jobs of a call about collection ``name`` run: its pod's pool, else the
        router (with read replicas) or the primary's source."""
        pod = self._pods.route(name)
        if pod is not None:
            return pod
        return self._router if self._router is not None else self._source

    def _home(self, url: str | None) -> Any:
        """The connection source of a database: a pod's (``url``) or the primary's (None)."""
        return self._source if url is None else self._pods.source(url)

    def _primary_url(self) -> str | None:
        """The primary's URL (None with an injected engine, whose URL is not ours to read)."""
        return None if isinstance(self._source, EngineSource) else self._options.resolve()

    def _do(self, flow: Flow[T], name: str | None = None) -> T:
        return run_flow(self._route(name), flow, self._settings)

    def get_or_create_collection(
        self,
        name: str,
        *,
        dimension: int | None = None,
        adapter: Adapter | None = None,
        storage: str | None = None,
        distribution: str | None = None,
        shard_count: int | None = None,
        colocate_with: str | None = None,
    ) -> Collection:
        """Open collection ``name``, creating it (and the schema and pgvector extension) if needed.

        ``storage`` chooses how a new collection stores vectors: ``"vector"`` (float32, the
        default, as vecs), ``"halfvec"`` (float16: half the table and index size, indexable up
        to 4,000 dimensions) or ``"sparsevec"`` (sparse vectors given as ``{index: value}``
        dicts or ``pgvector.SparseVector``; HNSW indexes them up to 1,000 non-zero elements).
        An existing collection keeps the kind it was created with (None accepts any).

        On a Citus coordinator, ``distribution`` places a new collection: ``"hash"`` shards it
        by ``id`` over the workers (``shard_count`` shards, default Citus'
        ``citus.shard_count``), ``"single_shard"`` keeps it whole on one node;
        ``colocate_with`` names a collection to place it with. An existing collection must
        already be placed that way. See ``docs/scaling-citus.md``.

        Raises:
            MismatchedDimension: ``dimension`` differs from the stored table or the adapter.
            ArgError: a bad name, dimension or storage, a storage that differs from the stored
                table's, or neither dimension nor adapter for a new collection; a
                distribution argument on plain PostgreSQL, in a distributed (tenant) schema,
                or that an existing collection does not match.
        """
        placement = placement_request(distribution, shard_count, colocate_with)
        flow = self._create_flow(
            name, dimension, adapter, storage, exist_ok=True, placement=placement
        )
        return self._do(flow, name)

    def create_collection(self, name: str, dimension: int) -> Collection:
        """Deprecated: use :meth:`get_or_create_collection`.

        Raises:
            CollectionAlreadyExists: a collection with that name exists.
        """
        deprecated(type(self).__name__, "create_collection")
        flow = self._create_flow(name, dimension, None, exist_ok=False)
        return self._do(flow, name)

    def get_collection(self, name: str) -> Collection:
        """Deprecated: use :meth:`get_or_create_collection`.

        Raises:
            CollectionNotFound: no collection with that name.
        """
        deprecated(type(self).__name__, "get_collection")
        return self._do(self._get_flow(name), name)

    def list_collections(self) -> list[Collection]:
        """All collections in the client's schema: in the primary database and, with ``pods=``,
        in every pod database the client knows (the mapping's, those a ``pods`` callable has
        named so far, and moves), each listed where the client routes it, sorted by name."""
        return list_everywhere(self)

    def move_collection(self, name: str, to: str, *, build_indexes: bool = True) -> Collection:
        """Move collection ``name`` to the database at ``to`` (a pod, or the primary's URL)
        and route it there from now on; return it, opened at its new home.

        Binary ``COPY`` behind a write fence (reads go on), four row counts compared, the
        source dropped, then the indexes built at the new home (``build_indexes``). A failure
        before the target commits changes nothing. See ``docs/scaling.md``.

        Raises:
            ArgError: a bad name or URL, a target where the collection already lives, columns
                outside the vecs layout, or objects (views) that depend on the table.
            CollectionNotFound: no such collection.
            CollectionAlreadyExists: the target database has a collection of that name.
            VecsError: the row counts differ (nothing changed), or the two commits were split
                by a failure (both copies exist; the message says what to do).
        """
        return _move_collection(self, name, to, build_indexes)

    def attach_foreign(
        self,
        name: str,
        pod_url: str,
        *,
        schema: str = "public",
        ef_search: int = 100,
        probes: int = 10,
        iterative_scan: str = "strict_order",
    ) -> fdw.ForeignTable:
        """Make collection ``name`` of the pod at ``pod_url`` a foreign table ``schema.name`` in
        the primary database (postgres_fdw), so SQL on the primary can query it.

        Creates (or updates) a postgres_fdw server for the pod with ``extensions 'vector'``
        (so ``ORDER BY vec <=> ... LIMIT k`` runs on the pod, with its index),
        ``use_remote_estimate 'true'`` and the pod sessions' search settings (``ef_search``,
        ``probes``, ``iterative_scan`` for HNSW) in its ``options``; a user mapping for the
        current role with the URL's user and password; and the foreign table, imported from the
        pod's definition. ``pod_url`` is the pod as the primary server reaches it. See
        ``docs/scaling.md`` for the filters that run on the pod.

        Raises:
            ArgError: bad arguments, a URL parameter a foreign server cannot take, or a table
                of that name on the primary that is not a foreign table.
            CollectionNotFound: the pod has no such collection in the client's schema.
            Unreachable: the primary could not connect to the pod.
            VecsError: postgres_fdw is not available on the primary.
        """
        request = fdw.attach_request(
            name,
            pod_url,
            schema=schema,
            remote_schema=self.schema,
            ef_search=ef_search,
            probes=probes,
            iterative_scan=iterative_scan,
        )
        return self._do(fdw.attach_flow(request))

    def read_stats(self) -> ReadStats:
        """Where this client's reads went: answered by a standby or by the primary, how many
        waited for a standby to catch up and how many fell back to the primary (all zero
        without ``read_urls``)."""
        return self._router.stats() if self._router is not None else ReadStats()

    def describe_distribution(self, name: str) -> Distribution:
        """How and where collection ``name`` is placed: ``placement`` (``"local"`` on plain
        PostgreSQL, ``"hash"``, ``"single_shard"``, ``"schema"`` ... on Citus), its shards and
        the nodes holding them (read from Citus' metadata on the coordinator).

        Raises:
            CollectionNotFound: no collection with that name.
        """
        return self._do(self._describe_flow(name), name)

    def delete_collection(self, name: str) -> None:
        """Drop collection ``name`` and its data (no error if it does not exist)."""
        return self._do(self._delete_flow(name), name)

    @property
    def vector_version(self) -> str:
        """The pgvector version string, e.g. ``'0.8.0'`` (a property of ``Client``, which can
        also be assigned as in vecs; a coroutine method of ``Client``). Override it on
        either with :meth:`set_vector_version`."""
        return self._do(self._vector_version_flow())

    @vector_version.setter
    def vector_version(self, version: str | None) -> None:
        self.set_vector_version(version)

    def disconnect(self) -> None:
        """Close the connection pools (the primary's, read replicas', pods'); a later call
        reconnects."""
        self._source.close()
        if self._router is not None:
            self._router.close()
        self._pods.close()

    close = disconnect

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()


def create_client(
    url: str | None = None,
    *,
    schema: str = "vecs",
    engine: Any = None,
    pool_size: int = 10,
    prepare_threshold: int | None = 5,
    statement_timeout: int | None = None,
    connect_timeout: int = 10,
    pool_timeout: float = 30.0,
    data_dir: str | None = None,
    application_name: str = "vecs-core",
    server_settings: Mapping[str, object] | None = None,
    read_urls: list[str] | None = None,
    consistency: str = "session",
    max_replica_wait: float = 0.05,
    max_replica_lag_bytes: int | None = None,
    pods: PodsArg = None,
) -> Client:
    """Create an :class:`Client`.

    Args:
        url: ``postgresql://user:pw@host:5432/db`` (also ``postgres://`` and
            ``postgresql+psycopg://``). Defaults to ``$VECS_DATABASE_URL``, else the embedded
            PostgreSQL + pgvector server, started on first use with its data kept on disk.
        schema: schema holding the collection tables (``vecs`` like Supabase vecs).
        engine: an existing SQLAlchemy engine using the psycopg driver (``postgresql+psycopg``)
            to borrow connections from (it is never disposed by the client).
        pool_size: maximum pooled connections.
        prepare_threshold: psycopg's server-side prepared statement threshold; pass ``None``
            behind a transaction-mode pooler (PgBouncer, Supabase's pooler on port 6543).
        statement_timeout: per-statement timeout in milliseconds.
        connect_timeout: seconds to wait for a new connection to open (libpq's
            ``connect_timeout``, an int >= 1; values below 2 count as 2). Also bounds how long a
            call takes to report an unreachable server: see ``pool_timeout``.
        pool_timeout: seconds a call waits for a free pooled connection when all ``pool_size``
            are busy. A call that waits longer than a second first checks that the server
            answers, so a stopped server raises ``Unreachable`` at once (within
            ``connect_timeout`` for a host that does not answer at all), not after
            ``pool_timeout``; the pool is then reopened by the next call.
        data_dir: data directory of the embedded server (default: ``$VECS_DATA_DIR`` or the
            user's data directory).
        application_name: shown in ``pg_stat_activity`` for the client's connections (on
            the embedded server followed by `` pid=<process id>``).
        server_settings: PostgreSQL settings for the embedded server when this client starts
            it, over the machine-sized defaults and ``$VECS_SERVER_SETTINGS`` (e.g.
            ``{"shared_buffers": "4GB"}``); see :mod:`vecs_core.embedded`.
        read_urls: URLs of read replicas (hot standbys streaming from ``url``; each may be a
            multi-host libpq URL). Reads (search, query, fetch, get, find, count, keyword
            and hybrid search) go to them; writes, DDL, index builds and catalog lookups go
            to ``url``. See ``docs/scaling.md``.
        consistency: what reads promise by default (each read takes ``consistency=`` too):
            ``"session"`` - a read sees every write this client made (a replica answers once
            it has replayed them, else the primary after ``max_replica_wait``);
            ``"eventual"`` - any replica that answers, however far behind;
            ``"strong"`` - the primary.
        max_replica_wait: seconds a session read waits for a replica to catch up before it
            asks the primary.
        max_replica_lag_bytes: skip replicas further behind the primary than this many WAL
            bytes (None: no bound).
        pods: where collections live: ``{"images": url, ...}`` or a callable ``name -> url |
            None``; a collection not named there lives in ``url``'s database. Each pod has its
            own pool, opened on first use.
    """
    options = options_from(
        url,
        data_dir=data_dir,
        max_size=pool_size,
        prepare_threshold=prepare_threshold,
        statement_timeout_ms=statement_timeout,
        connect_timeout=connect_timeout,
        pool_timeout=pool_timeout,
        application_name=application_name,
        server_settings=server_settings,
    )
    return Client(
        options,
        schema=schema,
        engine=engine,
        read_urls=read_urls,
        consistency=consistency,
        max_replica_wait=max_replica_wait,
        max_replica_lag_bytes=max_replica_lag_bytes,
        pods=pods,
    )
