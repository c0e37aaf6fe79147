# WARNING: this file is generated from _apods.py by scripts/async_to_sync.py; edit the
# source and run that script (CI runs it with --check).
"""Pods (sync): one lazily opened pool per pod database, and moving a collection
between databases.

Generated from ``_apods.py`` (where the move is documented) by
``scripts/async_to_sync.py``; do not edit by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg

from ._client_base import translate
from ._connect import ConnectOptions, describe, normalize_url
from ._driver import PoolSource, run_plan
from ._names import validate_name
from ._plans import catalog, indexes, move, tune
from ._podmap import PodMap, PodsArg, same_database
from ._protocol import Flow, Job, Plan
from .exc import ArgError, CollectionNotFound, VecsError

T = TypeVar("T")

if TYPE_CHECKING:
    from ._sync import Collection
    from ._sync_client import Client


class Pods:
    """The pod map and one connection source per pod URL (each opened on first use)."""

    def __init__(self, options: ConnectOptions, pods: PodsArg) -> None:
        self.options = options
        self.map = PodMap(pods)
        self._sources: dict[str, PoolSource] = {}

    def source(self, url: str) -> PoolSource:
        found = self._sources.get(url)
        if found is None:
            found = self._sources.setdefault(
                url, PoolSource(dataclasses.replace(self.options, url=url))
            )
        return found

    def route(self, name: str | None) -> PoolSource | None:
        """The source of the pod holding collection ``name`` (None: the primary database)."""
        if name is None or self.map.empty:
            return None
        url = self.map.url_for(name)
        return None if url is None else self.source(url)

    def known(self) -> list[tuple[str, PoolSource]]:
        return [(url, self.source(url)) for url in self.map.urls()]

    def close(self) -> None:
        for source in list(self._sources.values()):
            source.close()


def _run(conn: psycopg.Connection[Any], plan: Plan[Any]) -> Any:
    return run_plan(conn, Job(lambda: plan), [0])


def move_table(source: Any, target: Any, schema: str, spec: move.MoveSpec, where: str) -> int:
    """Copy the collection of ``spec`` from ``source`` to ``target`` (connection sources)
    behind a write fence, check the counts, drop the source table; see ``_plans/move.py``.

    Raises:
        CollectionAlreadyExists: the target database already has the collection.
        VecsError: the counts differ (nothing changed), or the source could not be dropped
            after the target committed (two complete copies; the source stays in use).
    """
    name, columns = spec.info.name, spec.columns
    landed, copied = 0, False
    with source.connection() as sconn, target.connection() as tconn:
        try:
            with sconn.transaction():
                fenced = _run(sconn, move.fence_plan(schema, name))
                with tconn.transaction():
                    info = spec.info
                    _run(
                        tconn,
                        catalog.create_plan(
                            schema, name, info.dimension, info.kind, exist_ok=False
                        ),
                    )
                    if info.has_text:
                        _run(tconn, catalog.add_text_column_plan(schema, name))
                    scur, tcur = sconn.cursor(), tconn.cursor()
                    with tcur.copy(move.copy_in_sql(schema, name, columns), {}) as sink:
                        with scur.copy(move.copy_out_sql(schema, name, columns), {}) as out:
                            for chunk in out:
                                sink.write(chunk)
                    sent, received = scur.rowcount, tcur.rowcount
                    landed = _run(tconn, move.count_plan(schema, name))
                    if not fenced == sent == received == landed:
                        raise VecsError(
                            f"moving {name!r}: the row counts differ (source {fenced}, sent "
                            f"{sent}, received {received}, target {landed}); nothing was changed"
                        )
                    _run(sconn, move.drop_plan(schema, name))
                copied = True  # the target has committed; the source commits its DROP next
        except Exception as exc:
            if copied:
                raise VecsError(
                    f"moving {name!r}: the copy in {where} is complete, but the source table "
                    f"could not be dropped ({str(exc).strip().splitlines()[0]}); both copies "
                    f"exist and the client still uses the source. Delete the copy in {where} "
                    "before moving the collection again."
                ) from exc
            raise
    return int(landed)


def describe_move(client: Client, name: str) -> move.MoveSpec:
    """What collection ``name`` holds where it lives now (table, columns, indexes to rebuild).

    Raises:
        CollectionNotFound: no such collection.
        ArgError: columns outside the vecs layout.
    """
    schema = client.schema
    info = client._do(_plan_flow(lambda: catalog.table_info_plan(schema, name)), name)
    if info is None:
        raise CollectionNotFound(f"no collection named {name!r} in schema {schema!r}")
    columns = move.copied_columns(info)
    found = client._do(_plan_flow(lambda: indexes.all_indexes_plan(schema, name)), name)
    specs = move.vector_index_specs(found.vector, info)
    metadata = tuple(m for m in found.metadata if m.valid)
    return move.MoveSpec(info, columns, specs, metadata, info.full_text)


def _store_flow(schema: str, index: str, values: dict[str, Any]) -> Flow[None]:
    yield Job(lambda: tune.store_plan(schema, index, values))


def _plan_flow(plan: Callable[[], Plan[T]]) -> Flow[T]:
    result: T = yield Job(plan, "statements")
    return result


def list_everywhere(client: Client) -> list[Collection]:
    """``Client.list_collections``: the primary database's collections and every known pod's,
    each where the client routes it (a copy in another database is not listed)."""
    from ._sync_admin import run_flow

    homes = client._pods.map
    found = [c for c in client._do(client._list_flow()) if homes.belongs(c.name, None)]
    for url, source in client._pods.known():
        listed = run_flow(source, client._list_flow(), client._settings)
        found += [c for c in listed if homes.belongs(c.name, url)]
    return sorted(found, key=lambda c: c.name)


def move_collection(client: Client, name: str, to: str, build_indexes: bool) -> Collection:
    """``Client.move_collection``: copy, verify, switch, then rebuild the indexes."""
    validate_name(name)
    if not isinstance(to, str):
        raise ArgError(f"to= must be the URL of the target database, got {type(to).__name__}")
    to = normalize_url(to)
    pods = client._pods
    here = pods.map.url_for(name)
    primary_url = client._primary_url()  # None with an injected engine: unknown
    current = here or primary_url
    if current is not None and same_database(current, to):
        raise ArgError(f"collection {name!r} already lives in {describe(to)}")
    spec = describe_move(client, name)
    source = client._home(here)
    home = None if primary_url is not None and same_database(to, primary_url) else to
    target = client._home(home)
    try:
        move_table(source, target, client.schema, spec, describe(to))
    except psycopg.errors.DependentObjectsStillExist as exc:
        raise ArgError(
            f"collection {name!r} was not moved: other objects depend on its table "
            f"({str(exc).strip().splitlines()[0]}); drop or move them first"
        ) from exc
    except psycopg.Error as exc:  # before the target committed: both sides rolled back
        mapped = translate(exc, None)
        kind = type(mapped) if isinstance(mapped, VecsError) else VecsError
        raise kind(
            f"moving {name!r} to {describe(to)} failed and nothing was changed (the source "
            f"keeps every row): {mapped or str(exc).strip().splitlines()[0]}"
        ) from exc
    pods.map.move(name, home)
    moved = client.get_or_create_collection(name)
    if build_indexes:
        for vector in spec.vector_indexes:
            built = moved.create_index(vector.measure, vector.method, vector.args)
            defaults = vector.search_defaults
            if defaults is not None:  # the same rows: the tuned ef_search/probes still hold
                moved._do(_store_flow(client.schema, built.name, defaults))
                moved._indexes = None  # searches pick the default up
        for key in spec.metadata_indexes:
            moved.index_metadata(key.key, key.type)
        if spec.full_text is not None:
            moved.enable_full_text(spec.full_text)
    return moved
