"""A pod's collection as a foreign table in the primary database (postgres_fdw). Pure.

``Client.attach_foreign(name, pod_url)`` runs :func:`attach_plan` on the primary, in one
transaction:

- ``CREATE EXTENSION IF NOT EXISTS postgres_fdw`` (and ``vector``, whose types the table uses);
- a server for the pod (named after its host, port and database) with ``extensions 'vector'``,
  so that pgvector's operators may run on the pod: without it ``ORDER BY vec <=> $1 LIMIT k``
  is not sent there, and the primary pulls every row and sorts them itself;
  ``use_remote_estimate 'true'``, so the planner asks the pod for costs (an unanalysed foreign
  table is not sorted remotely either); and ``options '-c hnsw.ef_search=... ...'``, the search
  settings of the pod's sessions (a per-query ``SET`` on the primary does not reach the pod);
- a user mapping for the current role with the URL's user and password (replaced on each call);
- the foreign table, imported from the pod's own definition (``IMPORT FOREIGN SCHEMA ...
  LIMIT TO``), in ``schema`` on the primary, replacing a foreign table of that name.

Every option value comes from the parsed URL or a validated argument and is composed with
``sql.Literal``; option and object names with ``sql.Identifier``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from .._checks import safe_repr
from .._connect import describe, normalize_url
from .._names import validate_name
from .._protocol import Execute, Flow, Job, Plan
from .._requests import check_int
from ..exc import ArgError, CollectionNotFound, Unreachable, VecsError

SERVER_KEYS = ("host", "hostaddr", "port", "dbname", "sslmode", "sslrootcert", "connect_timeout")
"""URL parameters that become options of the foreign server."""
MAPPING_KEYS = ("user", "password")
"""URL parameters that become options of the user mapping."""
MANAGED = (*SERVER_KEYS, "extensions", "use_remote_estimate", "options")
ITERATIVE_SCANS = ("off", "strict_order", "relaxed_order")


@dataclass(frozen=True)
class ForeignTable:
    """A pod's collection as the primary sees it: ``schema.name``, served by ``server``."""

    schema: str
    name: str
    server: str


@dataclass(frozen=True, repr=False)
class AttachRequest:
    name: str
    schema: str
    remote_schema: str
    server: str
    server_options: tuple[tuple[str, str], ...]
    mapping_options: tuple[tuple[str, str], ...]  # holds the password: never shown
    where: str

    def __repr__(self) -> str:
        return f"AttachRequest({self.schema}.{self.name} -> {self.where})"


def attach_request(
    name: str,
    pod_url: str,
    *,
    schema: str,
    remote_schema: str,
    ef_search: int,
    probes: int,
    iterative_scan: str,
) -> AttachRequest:
    """Validate ``attach_foreign``'s arguments.

    Raises:
        ArgError: a bad name, schema, URL (or a URL parameter that a foreign server cannot
            take here), ef_search, probes or iterative_scan.
    """
    validate_name(name)
    validate_name(schema, what="schema name")
    if not isinstance(pod_url, str):
        raise ArgError(f"pod_url must be a database URL, got {type(pod_url).__name__}")
    info = conninfo_to_dict(normalize_url(pod_url))
    unknown = sorted(set(info) - {*SERVER_KEYS, *MAPPING_KEYS})
    if unknown:
        raise ArgError(
            f"pod_url has parameters that attach_foreign does not pass on ({', '.join(unknown)}); "
            f"it takes {', '.join(SERVER_KEYS + MAPPING_KEYS)}: set others with ALTER SERVER"
        )
    check_int("ef_search", ef_search, 1, 1000)
    check_int("probes", probes, 1, 32768)
    if iterative_scan not in ITERATIVE_SCANS:
        raise ArgError(
            f"iterative_scan must be one of {', '.join(ITERATIVE_SCANS)}, got "
            f"{safe_repr(iterative_scan)}"
        )
    for key, value in info.items():
        if "\x00" in str(value):
            raise ArgError(f"pod_url parameter {key!r} holds a NUL character")
    if not info.get("dbname"):
        raise ArgError("pod_url must name the pod's database (postgresql://host/dbname)")
    settings = (
        f"-c hnsw.ef_search={int(ef_search)} -c ivfflat.probes={int(probes)}"
        f" -c hnsw.iterative_scan={iterative_scan}"
    )
    server_options = [(k, str(info[k])) for k in SERVER_KEYS if info.get(k)]
    server_options += [
        ("extensions", "vector"),
        ("use_remote_estimate", "true"),
        ("options", settings),
    ]
    where = describe(normalize_url(pod_url))
    identity = "\x00".join(str(info.get(k) or "") for k in ("host", "hostaddr", "port", "dbname"))
    server = "vecs_pod_" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    mapping = tuple((k, str(info[k])) for k in MAPPING_KEYS if info.get(k))
    return AttachRequest(name, schema, remote_schema, server, tuple(server_options), mapping, where)


def _options(
    pairs: tuple[tuple[str, str], ...], verbs: dict[str, str] | None = None
) -> sql.Composable:
    parts = [
        sql.SQL("{}{} {}").format(
            sql.SQL(verbs[k] + " ") if verbs else sql.SQL(""), sql.Identifier(k), sql.Literal(v)
        )
        for k, v in pairs
    ]
    return sql.SQL(", ").join(parts)


def attach_flow(request: AttachRequest) -> Flow[ForeignTable]:
    table: ForeignTable = yield Job(lambda: attach_plan(request))
    return table


def attach_plan(request: AttachRequest) -> Plan[ForeignTable]:
    r = request
    row = yield Execute(
        sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgres_fdw')"
        ),
        {},
        fetch="one",
    )
    if not row[0]:
        raise VecsError(
            "postgres_fdw is not available on the primary server; install PostgreSQL's "
            "contrib package there (Supabase and most managed services have it)"
        )
    for extension in ("postgres_fdw", "vector"):
        yield Execute(
            sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)),
            {},
            fetch="none",
        )
    server = sql.Identifier(r.server)
    found = yield Execute(
        sql.SQL("SELECT srvoptions FROM pg_foreign_server WHERE srvname = {}").format(
            sql.Placeholder("s")
        ),
        {"s": r.server},
        fetch="one",
    )
    if found is None:
        yield Execute(
            sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({})").format(
                server, _options(r.server_options)
            ),
            {},
            fetch="none",
        )
    else:
        have = {o.partition("=")[0] for o in (found[0] or [])}
        verbs = {k: "SET" if k in have else "ADD" for k, _ in r.server_options}
        gone = [k for k in MANAGED if k in have and k not in verbs]
        changes = [_options(r.server_options, verbs)] + [
            sql.SQL("DROP {}").format(sql.Identifier(k)) for k in gone
        ]
        yield Execute(
            sql.SQL("ALTER SERVER {} OPTIONS ({})").format(server, sql.SQL(", ").join(changes)),
            {},
            fetch="none",
        )
    yield Execute(
        sql.SQL("DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER {}").format(server),
        {},
        fetch="none",
    )
    mapping = sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {}").format(server)
    if r.mapping_options:
        mapping += sql.SQL(" OPTIONS ({})").format(_options(r.mapping_options))
    yield Execute(mapping, {}, fetch="none")
    local = sql.Identifier(r.schema)
    yield Execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(local), {}, fetch="none")
    kind = yield Execute(
        sql.SQL(
            "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = {} AND c.relname = {}"
        ).format(sql.Placeholder("s"), sql.Placeholder("n")),
        {"s": r.schema, "n": r.name},
        fetch="one",
    )
    if kind is not None and kind[0] != "f":
        raise ArgError(
            f"{r.schema}.{r.name} already exists on the primary and is not a foreign table; "
            "attach the collection into another schema (schema=...)"
        )
    if kind is not None:
        yield Execute(
            sql.SQL("DROP FOREIGN TABLE {}").format(sql.Identifier(r.schema, r.name)),
            {},
            fetch="none",
        )
    try:
        yield Execute(
            sql.SQL(
                "IMPORT FOREIGN SCHEMA {} LIMIT TO ({}) FROM SERVER {} INTO {}"
                " OPTIONS (import_generated 'false')"
            ).format(sql.Identifier(r.remote_schema), sql.Identifier(r.name), server, local),
            {},
            fetch="none",
        )
    except psycopg.errors.FdwError as exc:
        raise _import_error(r, exc) from exc
    except psycopg.OperationalError as exc:
        raise Unreachable(
            f"the primary could not reach the pod at {r.where}: "
            f"{str(exc).strip().splitlines()[0]}. pod_url must be reachable from the primary "
            "server (not only from this client)"
        ) from exc
    except psycopg.errors.UndefinedObject as exc:
        raise ArgError(
            f"the pod's table uses a type the primary does not know: "
            f"{str(exc).strip().splitlines()[0]}. Install pgvector in the same schema on both "
            "databases"
        ) from exc
    made = yield Execute(
        sql.SQL(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = {} AND c.relname = {} AND c.relkind = 'f'"
        ).format(sql.Placeholder("s"), sql.Placeholder("n")),
        {"s": r.schema, "n": r.name},
        fetch="one",
    )
    if made is None:
        raise CollectionNotFound(
            f"no collection named {r.name!r} in schema {r.remote_schema!r} at {r.where}"
        )
    return ForeignTable(r.schema, r.name, r.server)


def _import_error(r: AttachRequest, exc: psycopg.Error) -> VecsError:
    message = str(exc).strip().splitlines()[0]
    if "is not present on foreign server" in message:
        return CollectionNotFound(
            f"no collection named {r.name!r} in schema {r.remote_schema!r} at {r.where}"
        )
    if "could not connect" in message or "connection" in message:
        return Unreachable(
            f"the primary could not reach the pod at {r.where}: {message}. pod_url must be "
            "reachable from the primary server (not only from this client)"
        )
    return VecsError(f"attaching {r.name!r} from {r.where} failed: {message}")
