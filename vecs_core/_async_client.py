"""The async client: :class:`AsyncClient` and :func:`create_async_client`.

The source of ``_sync_client.py`` (``Client``, ``create_client``); see ``_async.py`` for how
``scripts/async_to_sync.py`` generates the sync twins.
"""
# sync-docstring: The sync client: :class:`Client` and :func:`create_client`.
# sync-docstring:
# sync-docstring: Generated from ``_async_client.py`` by ``scripts/async_to_sync.py``; do not
# sync-docstring: edit by hand.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ._adriver import AsyncEngineSource, AsyncPoolSource
from ._apods import AsyncPods, list_everywhere
from ._apods import move_collection as _move_collection
from ._areplicas import make_router
from ._async import AsyncCollection
from ._async_admin import run_flow
from ._citus import Distribution, placement_request
from ._client_base import ClientBase, deprecated
from ._connect import ConnectOptions, options_from
from ._plans import fdw
from ._podmap import PodsArg
from ._protocol import Flow
from ._routing import ReadPolicy, ReadStats
from .adapter import Adapter

T = TypeVar("T")


class AsyncClient(ClientBase[AsyncCollection]):
    """Connects to PostgreSQL + pgvector and manages collections.

    Create it with :func:`create_async_client`. No I/O happens until the first call; the pool is
    opened lazily, closed by :meth:`disconnect` (or leaving a ``with`` block), reopened by the
    next call.
    """

    _collection_class = AsyncCollection

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
        self._source: Any = (
            AsyncEngineSource(engine) if engine is not None else AsyncPoolSource(options)
        )
        self._router = make_router(
            self._source,
            options,
            read_urls,
            ReadPolicy.build(consistency, max_replica_wait, max_replica_lag_bytes),
            engine=engine is not None,
        )
        self._pods = AsyncPods(options, pods)

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
        return None if isinstance(self._source, AsyncEngineSource) else self._options.resolve()

    async def _do(self, flow: Flow[T], name: str | None = None) -> T:
        return await run_flow(self._route(name), flow, self._settings)

    async def get_or_create_collection(
        self,
        name: str,
        *,
        dimension: int | None = None,
        adapter: Adapter | None = None,
        storage: str | None = None,
        distribution: str | None = None,
        shard_count: int | None = None,
        colocate_with: str | None = None,
    ) -> AsyncCollection:
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
        return await self._do(flow, name)

    async def create_collection(self, name: str, dimension: int) -> AsyncCollection:
        """Deprecated: use :meth:`get_or_create_collection`.

        Raises:
            CollectionAlreadyExists: a collection with that name exists.
        """
        deprecated(type(self).__name__, "create_collection")
        flow = self._create_flow(name, dimension, None, exist_ok=False)
        return await self._do(flow, name)

    async def get_collection(self, name: str) -> AsyncCollection:
        """Deprecated: use :meth:`get_or_create_collection`.

        Raises:
            CollectionNotFound: no collection with that name.
        """
        deprecated(type(self).__name__, "get_collection")
        return await self._do(self._get_flow(name), name)

    async def list_collections(self) -> list[AsyncCollection]:
        """All collections in the client's schema: in the primary database and, with ``pods=``,
        in every pod database the client knows (the mapping's, those a ``pods`` callable has
        named so far, and moves), each listed where the client routes it, sorted by name."""
        return await list_everywhere(self)

    async def move_collection(
        self, name: str, to: str, *, build_indexes: bool = True
    ) -> AsyncCollection:
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
        return await _move_collection(self, name, to, build_indexes)

    async def attach_foreign(
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
        return await self._do(fdw.attach_flow(request))

    def read_stats(self) -> ReadStats:
        """Where this client's reads went: answered by a standby or by the primary, how many
        waited for a standby to catch up and how many fell back to the primary (all zero
        without ``read_urls``)."""
        return self._router.stats() if self._router is not None else ReadStats()

    async def describe_distribution(self, name: str) -> Distribution:
        """How and where collection ``name`` is placed: ``placement`` (``"local"`` on plain
        PostgreSQL, ``"hash"``, ``"single_shard"``, ``"schema"`` ... on Citus), its shards and
        the nodes holding them (read from Citus' metadata on the coordinator).

        Raises:
            CollectionNotFound: no collection with that name.
        """
        return await self._do(self._describe_flow(name), name)

    async def delete_collection(self, name: str) -> None:
        """Drop collection ``name`` and its data (no error if it does not exist)."""
        return await self._do(self._delete_flow(name), name)

    # sync: @property
    async def vector_version(self) -> str:
        """The pgvector version string, e.g. ``'0.8.0'`` (a property of ``Client``, which can
        also be assigned as in vecs; a coroutine method of ``AsyncClient``). Override it on
        either with :meth:`set_vector_version`."""
        return await self._do(self._vector_version_flow())

    # sync-only: begin
    # @vector_version.setter
    # def vector_version(self, version: str | None) -> None:
    #     self.set_vector_version(version)
    # sync-only: end

    async def disconnect(self) -> None:
        """Close the connection pools (the primary's, read replicas', pods'); a later call
        reconnects."""
        await self._source.close()
        if self._router is not None:
            await self._router.close()
        await self._pods.close()

    aclose = disconnect

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()


def create_async_client(
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
) -> AsyncClient:
    """Create an :class:`AsyncClient`.

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
    return AsyncClient(
        options,
        schema=schema,
        engine=engine,
        read_urls=read_urls,
        consistency=consistency,
        max_replica_wait=max_replica_wait,
        max_replica_lag_bytes=max_replica_lag_bytes,
        pods=pods,
    )
