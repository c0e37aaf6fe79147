"""Citus: what a distributed PostgreSQL cluster changes for a client. Pure: no I/O.

vecs_core builds no sharding of its own; on a Citus coordinator it uses what Citus has:

- **Settings that reach the shards.** A search's planner settings (``hnsw.ef_search``,
  ``ivfflat.probes``, the iterative scan modes) and a session's settings (RLS) must hold where
  the shards are scanned. Citus forwards neither session-level ``SET`` nor ``set_config()`` (a
  function call) to the workers; it forwards ``SET LOCAL`` inside a transaction block once
  ``citus.propagate_set_commands`` is ``'local'``. :func:`set_local_statements` builds those
  statements; the driver pipelines ``BEGIN``, them, the query and ``COMMIT`` in one round trip.
- **Placement** of a new collection (:class:`Placement`, checked once like any request):
  ``create_distributed_table`` by ``id`` (``"hash"``) or on one node (``"single_shard"``).
- **Description** of where a collection lives (:class:`Distribution`), read from Citus'
  metadata tables on the coordinator.

Citus is detected once per client, from ``pg_extension`` (see ``ClientBase._version_flow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from psycopg import sql

from ._indexes import parse_version
from ._names import validate_name
from ._requests import check_int
from .exc import ArgError

MIN_PLACEMENT_VERSION = (12, 0)
"""Single-shard tables and schema-based sharding (``pg_dist_schema``) came with Citus 12.0."""
MAX_SHARD_COUNT = 64000  # Citus' own bound for shard_count
DISTRIBUTIONS = ("hash", "single_shard")

PlacementKind = Literal["local", "hash", "single_shard", "schema", "reference", "citus_local"]
"""How a collection's table is placed:

- ``"local"``: an ordinary table (plain PostgreSQL, or not distributed on a Citus coordinator);
- ``"hash"``: distributed by ``id`` over ``shard_count`` shards spread over the workers;
- ``"single_shard"``: all rows in one shard on one node (a "pod" inside the cluster);
- ``"schema"``: in a distributed (tenant) schema: one shard, on the node of its schema;
- ``"reference"``: replicated to every node;
- ``"citus_local"``: a coordinator-local table added to Citus' metadata.
"""


# -- settings that reach the shards -------------------------------------------------------------

_PROPAGATE = sql.SQL("SET LOCAL citus.propagate_set_commands = 'local'")
BEGIN = sql.SQL("BEGIN")
COMMIT = sql.SQL("COMMIT")


def set_local_statements(settings: Mapping[str, str]) -> list[sql.Composed | sql.SQL]:
    """``SET LOCAL`` statements that Citus forwards to every worker taking part in the
    transaction: first ``citus.propagate_set_commands = 'local'``, then one per setting.

    ``SET`` is a utility statement and takes no bind parameters, so the value is composed as a
    quoted literal: the names are our own (``hnsw.ef_search`` ...) or a session's validated
    dotted names (``app.user_id``, ``role``), composed as identifiers; the values are checked
    ints and enum names from the typed requests, or a session's validated strings (no NUL), and
    ``sql.Literal`` quotes them, so no value can end the literal. Each setting is its own
    statement: Citus forwards the text of the statement it runs.
    """
    statements: list[sql.Composed | sql.SQL] = [_PROPAGATE]
    for name, value in settings.items():
        statements.append(
            sql.SQL("SET LOCAL {} = {}").format(
                sql.Identifier(*name.split(".")), sql.Literal(str(value))
            )
        )
    return statements


# -- placement of a new collection ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new collection goes on Citus (``get_or_create_collection(distribution=...)``)."""

    distribution: str  # one of DISTRIBUTIONS
    shard_count: int | None = None
    colocate_with: str | None = None

    def describe(self) -> str:
        parts = [f"distribution={self.distribution!r}"]
        if self.shard_count is not None:
            parts.append(f"shard_count={self.shard_count}")
        if self.colocate_with is not None:
            parts.append(f"colocate_with={self.colocate_with!r}")
        return ", ".join(parts)


def placement_request(
    distribution: object, shard_count: object, colocate_with: object
) -> Placement | None:
    """The checked placement of ``get_or_create_collection``, or None when none was asked for.

    Raises:
        ArgError: an unknown distribution, a bad shard count or name, ``shard_count`` or
            ``colocate_with`` without a distribution, ``shard_count`` with ``single_shard``, or
            ``shard_count`` together with ``colocate_with`` (a colocated table has the shard
            count of the table it is colocated with).
    """
    if distribution is None:
        if shard_count is not None or colocate_with is not None:
            given = "shard_count" if shard_count is not None else "colocate_with"
            raise ArgError(
                f"{given} applies to a distributed collection: give distribution='hash' "
                "(or 'single_shard' for colocate_with) as well"
            )
        return None
    if distribution not in DISTRIBUTIONS:
        raise ArgError(f"distribution must be None, 'hash' or 'single_shard', got {distribution!r}")
    if shard_count is not None:
        if distribution != "hash":
            raise ArgError(
                "shard_count applies to distribution='hash'; a 'single_shard' collection has "
                "exactly one shard"
            )
        check_int("shard_count", shard_count, 1, MAX_SHARD_COUNT)
    if colocate_with is not None:
        validate_name(colocate_with, what="colocate_with collection name")
        if shard_count is not None:
            raise ArgError(
                "give shard_count or colocate_with, not both: a colocated collection has the "
                f"shard count of {colocate_with!r}"
            )
    return Placement(str(distribution), shard_count, colocate_with)  # type: ignore[arg-type]


def require_citus(citus_version: str | None, what: str) -> str:
    """The Citus version string, when that version supports ``what``.

    Raises:
        ArgError: no Citus on the server, or a Citus older than 12.0.
    """
    if citus_version is None:
        raise ArgError(
            f"{what} needs a Citus cluster, but this server has no citus extension: leave it "
            "out on plain PostgreSQL, or connect to a Citus coordinator "
            "(see docs/scaling-citus.md)"
        )
    if parse_version(citus_version.split("-")[0]) < MIN_PLACEMENT_VERSION:  # e.g. '14.0-1'
        raise ArgError(f"{what} needs Citus >= 12.0 (installed: {citus_version})")
    return citus_version


# -- description ------------------------------------------------------------------------------


class ShardPlacement(NamedTuple):
    """One placement of one shard: the shard's id and the node (``host:port``) holding it."""

    shard_id: int
    node: str


@dataclass(frozen=True)
class Distribution:
    """Where a collection's rows live (``Client.describe_distribution``).

    ``placement`` is one of ``"local"``, ``"hash"``, ``"single_shard"``, ``"schema"``,
    ``"reference"``, ``"citus_local"`` (see :data:`PlacementKind`). ``shards`` lists every
    shard placement (a reference table has one per node; a local table none).
    ``colocation_id`` groups tables whose shards are placed together (Citus'
    ``pg_dist_colocation``); ``citus_version`` is None on plain PostgreSQL.
    """

    collection: str
    placement: PlacementKind
    distribution_column: str | None
    colocation_id: int | None
    shards: tuple[ShardPlacement, ...]
    citus_version: str | None

    @property
    def distributed(self) -> bool:
        """Whether the rows live in Citus shards (any placement but ``"local"``)."""
        return self.placement != "local"

    @property
    def shard_count(self) -> int:
        """Number of shards (0 for a local table)."""
        return len({s.shard_id for s in self.shards})

    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes (``host:port``) holding the collection's shards, sorted."""
        return tuple(sorted({s.node for s in self.shards}))


def placement_kind(
    partmethod: str | None, repmodel: str | None, colocation_id: int | None, tenant: bool
) -> PlacementKind:
    """Name a table's placement from its ``pg_dist_partition`` row (None: not in Citus)."""
    if partmethod is None:
        return "local"
    if partmethod != "n":
        return "hash"  # 'h' (and the legacy 'a'ppend/'r'ange methods, sharded by a column)
    if repmodel == "t":
        return "reference"
    if not colocation_id:
        return "citus_local"
    return "schema" if tenant else "single_shard"


def placement_mismatch(name: str, wanted: Placement, found: Distribution) -> ArgError | None:
    """The error for an existing collection placed otherwise than ``wanted``, or None."""
    problem = None
    if found.placement != wanted.distribution:
        problem = f"it is placed as {found.placement!r}"
    elif wanted.shard_count is not None and found.shard_count != wanted.shard_count:
        problem = f"it has {found.shard_count} shards"
    if problem is None:
        return None
    return ArgError(
        f"collection {name!r} exists and {problem}, but {wanted.describe()} was requested; "
        "open it without distribution= (see vx.describe_distribution), or move it with "
        "Citus' own functions (see docs/scaling-citus.md)"
    )
