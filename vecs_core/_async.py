"""The asynchronous API: :class:`AsyncClient` and :class:`AsyncCollection`.

A mirror of ``_sync.py`` with ``await``: the same flows from the shared bases, run by the async
driver on psycopg's ``AsyncConnectionPool``. No thread bridges sync to async. Properties of the
sync API that do I/O (``vector_version``, ``index``, ``len()``) are coroutine methods here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg

from . import _collection_base as base
from ._adriver import AsyncEngineSource, AsyncPoolSource, run_async
from ._client_base import ClientBase, deprecated, translate
from ._connect import ConnectOptions, options_from
from ._index_plans import PROGRESS_INTERVAL, IndexBuildProgress, VectorIndex
from ._indexes import IndexMeasure, IndexMethod, known_measure
from ._search import covering_index
from ._types import Hit, Item, Record
from .adapter import Adapter


async def _run(
    source: Any, flow: base.Flow, settings: dict[str, str], collection: str | None = None
) -> Any:
    try:
        job = next(flow)
        while True:
            try:
                result = await run_async(source, job, settings)
            except psycopg.Error as exc:
                mapped = translate(exc, collection)
                if mapped is None:
                    raise
                raise mapped from exc
            job = flow.send(result)
    except StopIteration as stop:
        return stop.value


class AsyncCollection(base.CollectionBase):
    """Async twin of :class:`~vecs_core.Collection`; every method is a coroutine."""

    client: AsyncClient

    async def _do(self, flow: base.Flow) -> Any:
        return await _run(self.client._source, flow, self.client._settings, self.name)

    async def upsert(self, records: Iterable[Any], skip_adapter: bool = False) -> None:
        """See :meth:`Collection.upsert`."""
        return await self._do(self._upsert_flow(records, skip_adapter))  # type: ignore[no-any-return]

    async def fetch(self, ids: Iterable[str]) -> list[Record]:
        """See :meth:`Collection.fetch`."""
        return await self._do(self._fetch_flow(ids))  # type: ignore[no-any-return]

    async def get(self, ids: Iterable[str], *, include_vector: bool = False) -> list[Item]:
        """See :meth:`Collection.get`."""
        return await self._do(self._get_flow(ids, include_vector))  # type: ignore[no-any-return]

    async def find(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        after: str | None = None,
        include_vector: bool = False,
    ) -> list[Item]:
        """See :meth:`Collection.find`."""
        flow = self._find_flow(filters, limit, offset, after, include_vector)
        return await self._do(flow)  # type: ignore[no-any-return]

    async def count(self, filters: Mapping[str, Any] | None = None) -> int:
        """See :meth:`Collection.count`."""
        return await self._do(self._count_flow(filters))  # type: ignore[no-any-return]

    async def delete(
        self, ids: Iterable[str] | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[str]:
        """See :meth:`Collection.delete`."""
        return await self._do(self._delete_flow(ids, filters))  # type: ignore[no-any-return]

    async def clear(self) -> int:
        """See :meth:`Collection.clear`."""
        return await self._do(self._clear_flow())  # type: ignore[no-any-return]

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
    ) -> list[Hit]:
        """See :meth:`Collection.search`."""
        flow = self._search_flow(
            data,
            limit,
            filters,
            measure,
            include_vector,
            True,
            probes,
            ef_search,
            skip_adapter,
            iterative_scan,
            warn_unindexed,
        )
        return await self._do(flow)  # type: ignore[no-any-return]

    async def query(
        self,
        data: Any,
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
    ) -> list[Any]:
        """See :meth:`Collection.query`."""
        included = include_value or include_vector or include_metadata
        flow = self._search_flow(
            data,
            limit,
            filters,
            measure,
            include_vector,
            include_metadata,
            probes,
            ef_search,
            skip_adapter,
            iterative_scan,
            form="tuples" if included else "ids",
            include_value=include_value,
        )
        return await self._do(flow)  # type: ignore[no-any-return]

    async def create_index(
        self,
        measure: IndexMeasure | str = IndexMeasure.cosine_distance,
        method: IndexMethod | str = IndexMethod.auto,
        index_arguments: Any = None,
        replace: bool = True,
        *,
        maintenance_work_mem: str | None = None,
        parallel_workers: int | None = None,
        progress: Callable[[IndexBuildProgress], None] | None = None,
    ) -> VectorIndex:
        """See :meth:`Collection.create_index`."""
        flow = self._create_index_flow(
            measure, method, index_arguments, replace, maintenance_work_mem, parallel_workers
        )
        if progress is None:
            return await self._do(flow)  # type: ignore[no-any-return]
        done = asyncio.Event()

        async def poll() -> None:
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), PROGRESS_INTERVAL)
                except asyncio.TimeoutError:
                    snapshot = await self._do(self._progress_flow())
                    if snapshot is not None and not done.is_set():
                        progress(snapshot)

        poller = asyncio.ensure_future(poll())
        try:
            return await self._do(flow)  # type: ignore[no-any-return]
        finally:
            done.set()
            await poller

    async def prewarm(self) -> int:
        """See :meth:`Collection.prewarm`."""
        return await self._do(self._prewarm_flow())  # type: ignore[no-any-return]

    async def drop_index(self) -> list[str]:
        """See :meth:`Collection.drop_index`."""
        return await self._do(self._drop_index_flow())  # type: ignore[no-any-return]

    async def list_indexes(self) -> list[VectorIndex]:
        """See :meth:`Collection.list_indexes`."""
        return await self._do(self._indexes_flow(refresh=True))  # type: ignore[no-any-return]

    async def is_indexed_for_measure(self, measure: IndexMeasure | str) -> bool:
        """See :meth:`Collection.is_indexed_for_measure`."""
        wanted = known_measure(measure)
        return wanted is not None and covering_index(await self.list_indexes(), wanted) is not None

    async def enable_text(self) -> None:
        """See :meth:`Collection.enable_text`."""
        return await self._do(self._enable_text_flow())  # type: ignore[no-any-return]

    async def index(self) -> str | None:
        """Name of the collection's vector index, or None (a property on the sync API)."""
        found = await self.list_indexes()
        return found[0].name if found else None

    # -- text search (keyword / hybrid) --
    async def enable_full_text(self) -> None:
        """See :meth:`Collection.enable_full_text`."""
        return await self._do(self._full_text_flow(force=True))  # type: ignore[no-any-return]

    async def keyword_search(
        self,
        text: str,
        *,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        language: str = "english",
    ) -> list[Hit]:
        """See :meth:`Collection.keyword_search`."""
        flow = self._keyword_search_flow(text, limit, filters, language)
        return await self._do(flow)  # type: ignore[no-any-return]

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
        language: str = "english",
    ) -> list[Hit]:
        """See :meth:`Collection.hybrid_search`."""
        flow = self._hybrid_search_flow(
            text,
            vector,
            limit,
            filters,
            full_text_weight,
            semantic_weight,
            rrf_k,
            measure,
            language,
        )
        return await self._do(flow)  # type: ignore[no-any-return]


class AsyncClient(ClientBase):
    """Async twin of :class:`~vecs_core.Client`; create it with :func:`create_async_client`."""

    _collection_class = AsyncCollection

    def __init__(
        self,
        connection_string: str | ConnectOptions | None = None,
        schema: str = "vecs",
        engine: Any = None,
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

    async def _do(self, flow: base.Flow) -> Any:
        return await _run(self._source, flow, self._settings)

    async def get_or_create_collection(
        self, name: str, *, dimension: int | None = None, adapter: Adapter | None = None
    ) -> AsyncCollection:
        """See :meth:`Client.get_or_create_collection`."""
        return await self._do(self._create_flow(name, dimension, adapter, exist_ok=True))  # type: ignore[no-any-return]

    async def create_collection(self, name: str, dimension: int) -> AsyncCollection:
        """Deprecated: use :meth:`get_or_create_collection`."""
        deprecated(type(self).__name__, "create_collection")
        return await self._do(self._create_flow(name, dimension, None, exist_ok=False))  # type: ignore[no-any-return]

    async def get_collection(self, name: str) -> AsyncCollection:
        """Deprecated: use :meth:`get_or_create_collection`."""
        deprecated(type(self).__name__, "get_collection")
        return await self._do(self._get_flow(name))  # type: ignore[no-any-return]

    async def list_collections(self) -> list[AsyncCollection]:
        """See :meth:`Client.list_collections`."""
        return await self._do(self._list_flow())  # type: ignore[no-any-return]

    async def delete_collection(self, name: str) -> None:
        """See :meth:`Client.delete_collection`."""
        return await self._do(self._delete_flow(name))  # type: ignore[no-any-return]

    async def vector_version(self) -> str:
        """The pgvector version string (a property on the sync API; override it with
        :meth:`set_vector_version`)."""
        return await self._do(self._vector_version_flow())  # type: ignore[no-any-return]

    async def disconnect(self) -> None:
        """Close the connection pool; a later call reconnects."""
        await self._source.close()

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
) -> AsyncClient:
    """Create an :class:`AsyncClient`; arguments as :func:`vecs_core.create_client`
    (``engine`` is a SQLAlchemy ``AsyncEngine`` using ``postgresql+psycopg``)."""
    options = options_from(
        url,
        data_dir=data_dir,
        max_size=pool_size,
        prepare_threshold=prepare_threshold,
        statement_timeout_ms=statement_timeout,
        connect_timeout=connect_timeout,
        pool_timeout=pool_timeout,
        application_name=application_name,
    )
    return AsyncClient(options, schema=schema, engine=engine)
