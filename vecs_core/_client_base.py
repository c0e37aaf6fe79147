"""Client state and flows shared by ``Client`` and ``AsyncClient``. No I/O here."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import psycopg
from typing_extensions import Self

from ._checks import safe_repr, utf8_encodable
from ._citus import Distribution, Placement, require_citus
from ._collection_base import CollectionBase
from ._connect import ConnectOptions, describe
from ._indexes import parse_version
from ._kinds import parse_kind
from ._names import validate_name
from ._plans import catalog, distribution
from ._protocol import Flow, Job
from ._requests import check_int
from .adapter import Adapter
from .exc import (
    ArgError,
    CollectionNotFound,
    MismatchedDimension,
    PermissionDenied,
    ReadOnly,
    StatementTimeout,
    Unreachable,
    VecsError,
)

_CUSTOM_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+$")


C = TypeVar("C", bound=CollectionBase)


class ClientBase(Generic[C]):
    """Connection options, schema, cached pgvector version and the collection-lifecycle flows
    (``C`` is the shell's collection class)."""

    _collection_class: type[C]
    _source: Any  # the shell's connection source (``_adriver``/``_driver``)

    def __init__(self, options: ConnectOptions, schema: str) -> None:
        self.schema = validate_name(schema, what="schema name")
        self._options = options
        self._version: tuple[int, ...] | None = None
        self._version_string: str | None = None
        self._settings: dict[str, str] = {}
        self._citus_version: str | None = None
        self._probed = False  # the catalog was read (pgvector and Citus versions)

    @property
    def _build_memory_cap(self) -> int | None:
        """On the embedded server (whose machine is ours), the most ``maintenance_work_mem``
        an index build may take; None for other servers (their own setting applies)."""
        if not self._options.embedded:
            return None
        from ._sizing import build_memory_cap, machine

        return build_memory_cap(machine()[0])

    def session(
        self, settings: Mapping[str, object] | None = None, *, role: str | None = None
    ) -> Self:
        """A view of this client whose every call runs with ``settings`` (and ``role``).

        Each transaction starts with ``set_config(name, value, true)`` for every setting (and
        ``role`` as ``SET LOCAL ROLE``), so PostgreSQL Row Level Security policies can read them
        with ``current_setting('app.user_id')``; nothing leaks to other users of the pooled
        connection. The view shares this client's pool: use it per request, drop it after.

        Raises:
            ArgError: a setting name that is not a dotted custom name (``app.user_id``), a value
                that is not a str/int/float/bool, or a bad role name.
        """
        merged = dict(self._settings)
        for name, value in (settings or {}).items():
            if not isinstance(name, str) or not _CUSTOM_SETTING.match(name):
                raise ArgError(
                    f"session setting names must look like 'app.user_id' (a prefix, a dot, a "
                    f"name), got {name!r}"
                )
            if isinstance(value, bool):
                value = "on" if value else "off"
            if (
                not isinstance(value, (str, int, float))
                or "\x00" in str(value)
                or not utf8_encodable(str(value))
            ):
                raise ArgError(f"session setting {name!r} needs a str/int/float/bool value")
            merged[name] = str(value)
        if role is not None:
            merged["role"] = validate_name(role, what="role name")
        view = copy.copy(self)
        view._settings = merged
        return view

    def __repr__(self) -> str:
        where = "embedded" if self._options.embedded else describe(self._options.url or "")
        return f"{type(self).__name__}({where}, schema={self.schema!r})"

    def set_vector_version(self, version: str | None) -> None:
        """Act as if the server had pgvector ``version`` (e.g. ``"0.4.1"``), or, with None, read
        it from the server again on the next call that needs it.

        vecs lets code assign ``client.vector_version``; the sync :class:`~vecs_core.Client`
        accepts that assignment too (it calls this method), and on the async client, where
        ``vector_version()`` is a coroutine, this method is the way. The version decides what
        ``create_index`` and search may use: below 0.5.0 ``method="auto"`` builds IVFFlat and
        ``method="hnsw"`` raises :class:`ArgError`; below 0.7.0 no l1 or half-precision indexes
        (nor ``halfvec``/``sparsevec`` collections); below 0.8.0 no iterative index scans. Set it
        before opening collections: a collection keeps the search settings it derived until its
        index cache refreshes.

        Raises:
            ArgError: ``version`` is not a version string like ``"0.4.1"``.
        """
        if version is None:
            self._version = self._version_string = None
            return
        parsed = parse_version(version) if isinstance(version, str) else ()
        if not parsed:
            raise ArgError(
                "vector_version must be a pgvector version string like '0.8.0', got "
                f"{safe_repr(version)}"
            )
        self._version_string, self._version = version, parsed

    def _version_flow(self) -> Flow[tuple[int, ...]]:
        """The pgvector version, read once per client together with the Citus version: on a
        Citus coordinator the client's connection source sends every setting so that it
        reaches the shards (see ``_citus.py``). Runs before any collection is opened."""
        if self._version is None or not self._probed:
            found, citus = yield Job(catalog.vector_version_plan, "statements")
            if found is None:
                raise VecsError(
                    "the pgvector extension is not available on this PostgreSQL server; "
                    "install pgvector (https://github.com/pgvector/pgvector#installation)"
                )
            self._citus_version = citus
            if citus is not None:
                self._source.propagate_settings = True
            self._probed = True
            if self._version is None:  # not set by set_vector_version
                self._version_string = str(found)
                self._version = parse_version(self._version_string)
        assert self._version is not None
        return self._version

    def _vector_version_flow(self) -> Flow[str]:
        yield from self._version_flow()
        return str(self._version_string)

    def _create_flow(
        self,
        name: str,
        dimension: int | None,
        adapter: Adapter | None,
        storage: str | None = None,
        *,
        exist_ok: bool,
        placement: Placement | None = None,
    ) -> Flow[C]:
        validate_name(name)
        kind = None if storage is None else parse_kind(storage)
        if adapter is not None and not isinstance(adapter, Adapter):
            raise ArgError(f"adapter must be a vecs_core.adapter.Adapter, got {adapter!r}")
        adapter_dim = adapter.exported_dimension if adapter is not None else None
        if dimension is not None:
            limit = (kind or parse_kind("vector")).max_dimension
            check_int("dimension", dimension, 1, limit)
        if dimension is not None and adapter_dim is not None and dimension != adapter_dim:
            raise MismatchedDimension(
                f"dimension={dimension} does not match the adapter's dimension {adapter_dim}"
            )
        dim = dimension if dimension is not None else adapter_dim
        yield from self._version_flow()
        citus = None
        if placement is not None:
            citus = require_citus(self._citus_version, placement.describe())
        if dim is None:
            info = yield Job(lambda: catalog.table_info_plan(self.schema, name), "statements")
            if info is None:
                raise ArgError(
                    f"collection {name!r} does not exist; give dimension= (or an adapter "
                    "that exports one) to create it"
                )
            if kind is not None and kind.name != info.kind.name:
                raise ArgError(
                    f"collection {name!r} stores {info.kind.name} vectors, but storage="
                    f"{kind.name!r} was requested"
                )
            if placement is not None and citus is not None:
                place, found_citus = placement, citus
                yield Job(
                    lambda: distribution.check_placement_plan(
                        self.schema, name, place, found_citus
                    ),
                    "statements",
                )
        else:
            if kind is not None and kind.min_version > (0,):
                version = yield from self._version_flow()
                if version < kind.min_version:
                    raise ArgError(
                        f"storage={kind.name!r} needs pgvector >= "
                        f"{'.'.join(map(str, kind.min_version))} (installed: "
                        f"{self._version_string})"
                    )
            info = yield Job(
                lambda: catalog.create_plan(
                    self.schema,
                    name,
                    dim,
                    kind,
                    exist_ok=exist_ok,
                    placement=placement,
                    citus_version=citus,
                )
            )
        return self._collection_class(self, name, info, adapter)

    def _get_flow(self, name: str) -> Flow[C]:
        validate_name(name)
        yield from self._version_flow()
        info = yield Job(lambda: catalog.table_info_plan(self.schema, name), "statements")
        if info is None:
            raise CollectionNotFound(f"no collection named {name!r} in schema {self.schema!r}")
        return self._collection_class(self, name, info, None)

    def _list_flow(self) -> Flow[list[C]]:
        yield from self._version_flow()
        infos = yield Job(lambda: catalog.list_plan(self.schema), "statements")
        return [self._collection_class(self, i.name, i, None) for i in infos]

    def _describe_flow(self, name: str) -> Flow[Distribution]:
        validate_name(name)
        yield from self._version_flow()
        citus = self._citus_version
        if citus is None:
            info = yield Job(lambda: catalog.table_info_plan(self.schema, name), "statements")
            found = None if info is None else distribution.local_distribution(name)
        else:
            version = require_citus(citus, "describe_distribution")
            job = Job(lambda: distribution.describe_plan(self.schema, name, version), "statements")
            found = yield job
        if found is None:
            raise CollectionNotFound(f"no collection named {name!r} in schema {self.schema!r}")
        return found

    def _delete_flow(self, name: str) -> Flow[None]:
        validate_name(name)
        yield Job(lambda: catalog.drop_plan(self.schema, name))


def deprecated(owner: str, name: str) -> None:
    """Warn that ``owner.name`` (vecs' ``create_collection``/``get_collection``) is deprecated."""
    import warnings

    warnings.warn(
        f"{owner}.{name} is deprecated; use {owner}.get_or_create_collection",
        DeprecationWarning,
        stacklevel=3,
    )


def translate(exc: psycopg.Error, collection: str | None) -> BaseException | None:
    """Give driver errors a meaning where we have one; ``None`` keeps the original."""
    if isinstance(exc, psycopg.errors.UndefinedTable) and collection is not None:
        return CollectionNotFound(f"collection {collection!r} does not exist (was it deleted?)")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return PermissionDenied(
            f"{str(exc).strip().splitlines()[0]} (check the role's privileges and RLS policies)"
        )
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return ReadOnly(
            f"{str(exc).strip().splitlines()[0]}: the server only reads (a hot standby, or "
            "default_transaction_read_only is on) and nothing was written; send writes to the "
            "primary (with several hosts in the URL, add target_session_attrs=read-write)"
        )
    if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc):
        return StatementTimeout(
            "the statement was cancelled by statement_timeout; raise the client's "
            "statement_timeout or narrow the call (nothing of it was committed)"
        )
    if isinstance(exc, (psycopg.DataError, psycopg.errors.ProgramLimitExceeded)):
        # a value the server refused (out of range, too long for a tsvector, ...); the
        # statement's transaction was rolled back
        return ArgError(
            f"the database refused a value: {str(exc).strip().splitlines()[0]} "
            "(the statement was rolled back)"
        )
    if isinstance(exc, psycopg.OperationalError) and _lost(exc):
        return Unreachable(
            f"lost the connection to the database: {str(exc).strip().splitlines()[0]}. "
            "The call did not complete; the next call reconnects."
        )
    return None


def _lost(exc: psycopg.Error) -> bool:
    return exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))
