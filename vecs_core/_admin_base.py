"""What a collection does besides records and search, without I/O: the request builders and
flows of its upkeep (vector and metadata indexes, tuning, prewarming, SQL functions and views),
shared by the shells' :class:`~vecs_core._async_admin.AsyncCollectionAdmin` and its generated
twin. The rest of a collection's rules are in ``_collection_base.py``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import _sqlapi
from ._collection_base import CollectionBase
from ._indexes import known_measure, plan_index
from ._metaindex import MetadataIndex, check_key
from ._plans import indexes, metadata
from ._plans.indexes import IndexBuildProgress, IndexTarget, VectorIndex
from ._plans.search import covering_index
from ._protocol import Flow, Job
from ._records import VectorParam, check_direction
from ._requests import IndexOptions, MetadataIndexOptions
from ._tune import TuneOptions, TuneResult, tune_flow
from .exc import ArgError


class AdminBase(CollectionBase):
    """Request builders and flows of a collection's upkeep; see ``Collection`` for the API."""

    # -- request builders: validate a call, raise before any I/O ---------------------------------
    def _index_request(self, **options: Any) -> IndexOptions:
        return IndexOptions.build(**options)

    def _tune_request(self, **options: Any) -> TuneOptions:
        return TuneOptions.build(**options)

    def _tune_queries(
        self, queries: Iterable[Any] | None, measure: Any
    ) -> list[VectorParam] | None:
        """Held-out query vectors for ``tune`` (through the adapter, as a search's), checked."""
        if queries is None:
            return None
        checked = [self._query_vector(q, False) for q in queries]
        for q in checked:
            check_direction(q.value, measure)
        if not checked:
            raise ArgError("tune(queries=...) needs at least one query vector (or None)")
        return checked

    def _metadata_index_request(self, **options: Any) -> MetadataIndexOptions:
        return MetadataIndexOptions.build(**options)

    # -- indexed metadata keys -------------------------------------------------------------------
    def _index_metadata_flow(self, options: MetadataIndexOptions) -> Flow[MetadataIndex]:
        target, o = self._index_target(), options
        try:
            made: MetadataIndex = yield Job(
                lambda: metadata.index_metadata_plan(target, o.key, o.type, o.build_settings),
                "outside",
            )
        finally:
            self._indexes = None
        yield from self._indexes_flow(refresh=True)
        return made

    def _list_metadata_indexes_flow(self) -> Flow[list[MetadataIndex]]:
        yield from self._indexes_flow(refresh=True)
        assert self._indexes is not None
        return list(self._indexes[1].metadata)

    def _drop_metadata_index_flow(self, key: object) -> Flow[list[str]]:
        name = check_key(key)
        try:
            dropped: list[str] = yield Job(
                lambda: metadata.drop_metadata_index_plan(self.schema, self.name, name),
                "outside",
            )
        finally:
            self._indexes = None
        yield from self._indexes_flow(refresh=True)
        return dropped

    def _index_target(self) -> IndexTarget:
        cap = self.client._build_memory_cap
        return IndexTarget(self.schema, self.name, self._target.table, self.dimension, cap)

    def _create_index_flow(self, request: IndexOptions) -> Flow[VectorIndex]:
        version = yield from self.client._version_flow()
        plan = plan_index(
            method=request.method,
            measure=request.measure,
            index_arguments=request.index_arguments,
            dimension=self.dimension,
            version=version,
            table=self._info.kind,
        )
        target, settings = self._index_target(), request.build_settings
        if settings and self.client._citus_version is not None:
            placed = yield from self.client._describe_flow(self.name)
            if placed.distributed:
                raise ArgError(
                    f"maintenance_work_mem and parallel_workers cannot reach the Citus workers "
                    f"that build the index of distributed collection {self.name!r} (a "
                    "concurrent build runs outside a transaction, where SET LOCAL cannot "
                    "propagate): set them on the workers (ALTER ROLE ... SET on the "
                    "coordinator is propagated) and call create_index without them"
                )
        try:
            built: VectorIndex = yield Job(
                lambda: indexes.create_index_plan(target, plan, request.replace, settings),
                "outside",
            )
        finally:
            self._indexes = None
        return built

    def _tune_flow(
        self, options: TuneOptions, queries: list[VectorParam] | None = None
    ) -> Flow[TuneResult]:
        return (yield from tune_flow(self, options, queries))

    def _progress_flow(self) -> Flow[IndexBuildProgress | None]:
        job = Job(lambda: indexes.progress_plan(self.schema, self.name), "statements")
        snapshot: IndexBuildProgress | None = yield job
        return snapshot

    def _prewarm_flow(self) -> Flow[int]:
        return int((yield Job(lambda: indexes.prewarm_plan(self.schema, self.name))))

    def _drop_index_flow(self) -> Flow[list[str]]:
        try:
            dropped: list[str] = yield Job(
                lambda: indexes.drop_index_plan(self.schema, self.name), "outside"
            )
        finally:
            self._indexes = None
        return dropped

    def _list_indexes_flow(self) -> Flow[list[VectorIndex]]:
        return (yield from self._indexes_flow(refresh=True))

    def _index_name_flow(self) -> Flow[str | None]:
        found = yield from self._indexes_flow(refresh=True)
        return next((ix.name for ix in found if ix.valid), None)

    def _is_indexed_flow(self, measure: object) -> Flow[bool]:
        wanted = known_measure(measure)  # vecs: an unknown measure is simply not indexed
        if wanted is None:
            return False
        found = yield from self._indexes_flow(refresh=True)
        return covering_index(found, wanted) is not None

    # -- SQL functions and views for PostgREST apps (see _sqlapi) --
    def _install_sql_functions_flow(self, **options: Any) -> Flow[list[str]]:
        return (yield from _sqlapi.install_flow(self, **options))

    def _drop_sql_functions_flow(self, **options: Any) -> Flow[list[str]]:
        return (yield from _sqlapi.drop_flow(self, **options))

    def _expose_view_flow(self, **options: Any) -> Flow[str]:
        return (yield from _sqlapi.expose_view_flow(self, **options))

    def _drop_view_flow(self, view: object) -> Flow[None]:
        return (yield from _sqlapi.drop_view_flow(view))
