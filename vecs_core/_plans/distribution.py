"""Plans for Citus placement: distribute a new collection, check and describe a placement.

Pure: no I/O. They read Citus' metadata tables on the coordinator (``pg_dist_partition``,
``pg_dist_shard``, ``pg_dist_placement``, ``pg_dist_node``, ``pg_dist_schema``), which exist
only where the citus extension is installed: the flows run them only after detecting it.
"""

from __future__ import annotations

from psycopg import sql

from .._citus import (
    Distribution,
    Placement,
    ShardPlacement,
    placement_kind,
    placement_mismatch,
)
from .._protocol import Execute, Plan
from ..exc import ArgError, CollectionNotFound

_S, _N = sql.Placeholder("s"), sql.Placeholder("n")

_DESCRIBE = sql.SQL(
    """SELECT p.partmethod::text, p.repmodel::text, p.colocationid,
  CASE WHEN p.partmethod <> 'n' THEN column_to_column_name(p.logicalrelid, p.partkey) END,
  EXISTS (SELECT 1 FROM pg_dist_schema d WHERE d.schemaid = c.relnamespace),
  sh.shardid, nd.nodename::text || ':' || nd.nodeport
FROM pg_class c
JOIN pg_namespace ns ON ns.oid = c.relnamespace
LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
LEFT JOIN pg_dist_shard sh ON sh.logicalrelid = c.oid
LEFT JOIN pg_dist_placement pl ON pl.shardid = sh.shardid
LEFT JOIN pg_dist_node nd ON nd.groupid = pl.groupid AND nd.noderole = 'primary'
WHERE ns.nspname = {s} AND c.relname = {n} AND c.relkind IN ('r', 'p')
ORDER BY sh.shardid, nd.nodename, nd.nodeport"""
).format(s=_S, n=_N)


def local_distribution(name: str) -> Distribution:
    """The description of a collection on plain PostgreSQL."""
    return Distribution(name, "local", None, None, (), None)


def describe_plan(schema: str, name: str, citus_version: str) -> Plan[Distribution | None]:
    """Where collection ``name`` lives on a Citus coordinator (None: no such table)."""
    rows = yield Execute(_DESCRIBE, {"s": schema, "n": name})
    if not rows:
        return None
    partmethod, repmodel, colocation_id, column, tenant = rows[0][:5]
    shards = tuple(ShardPlacement(int(r[5]), str(r[6])) for r in rows if r[5] is not None)
    return Distribution(
        collection=name,
        placement=placement_kind(partmethod, repmodel, colocation_id, bool(tenant)),
        distribution_column=column,
        colocation_id=int(colocation_id) if colocation_id else None,
        shards=shards,
        citus_version=citus_version,
    )


def _tenant_schema(schema: str, placement: Placement) -> Plan[None]:
    row = yield Execute(
        sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM pg_dist_schema d"
            " JOIN pg_namespace ns ON ns.oid = d.schemaid WHERE ns.nspname = {})"
        ).format(_S),
        {"s": schema},
        fetch="one",
    )
    if row[0]:
        raise ArgError(
            f"schema {schema!r} is a distributed (tenant) schema: Citus places its collections "
            f"with the schema, on one node; leave {placement.describe()} out"
        )


def _colocation(schema: str, placement: Placement, citus_version: str) -> Plan[Distribution]:
    """The collection a new one is to be colocated with, checked to be placed the same way."""
    other = placement.colocate_with
    assert other is not None
    found = yield from describe_plan(schema, other, citus_version)
    if found is None or not found.distributed:
        raise ArgError(
            f"colocate_with={other!r}: no distributed collection of that name in schema {schema!r}"
        )
    if found.placement != placement.distribution:
        raise ArgError(
            f"colocate_with={other!r} is placed as {found.placement!r}; a "
            f"{placement.distribution!r} collection can only be colocated with another "
            f"{placement.distribution!r} collection"
        )
    return found


def distribute_plan(schema: str, name: str, placement: Placement, citus_version: str) -> Plan[None]:
    """Distribute the collection's table, just created in this transaction (so it is empty and
    the shards are created at once): ``create_distributed_table`` by ``id`` for ``"hash"``,
    without a distribution column for ``"single_shard"`` (its own colocation group unless
    ``colocate_with`` names one, so that single-shard collections spread over the nodes)."""
    yield from _tenant_schema(schema, placement)
    if placement.colocate_with is not None:
        yield from _colocation(schema, placement, citus_version)
    params: dict[str, object] = {"s": schema, "n": name}
    table = sql.SQL("format('%%I.%%I', {}::text, {}::text)::regclass").format(_S, _N)
    column = sql.SQL("'id'") if placement.distribution == "hash" else sql.SQL("NULL::text")
    args = [table, column]
    if placement.colocate_with is not None:
        params["c"] = placement.colocate_with
        args.append(
            sql.SQL("colocate_with => format('%%I.%%I', {}::text, {}::text)").format(
                _S, sql.Placeholder("c")
            )
        )
    elif placement.distribution == "single_shard":
        args.append(sql.SQL("colocate_with => 'none'"))
    if placement.shard_count is not None:
        params["k"] = placement.shard_count
        args.append(sql.SQL("shard_count => {}::int").format(sql.Placeholder("k")))
    yield Execute(
        sql.SQL("SELECT create_distributed_table({})").format(sql.SQL(", ").join(args)),
        params,
        fetch="none",
    )


def check_placement_plan(
    schema: str, name: str, placement: Placement, citus_version: str
) -> Plan[None]:
    """Refuse to open an existing collection with a placement it does not have."""
    found = yield from describe_plan(schema, name, citus_version)
    if found is None:
        raise CollectionNotFound(f"no collection named {name!r} in schema {schema!r}")
    mismatch = placement_mismatch(name, placement, found)
    if mismatch is not None:
        raise mismatch
    if placement.colocate_with is not None:
        other = yield from _colocation(schema, placement, citus_version)
        if other.colocation_id != found.colocation_id:
            raise ArgError(
                f"collection {name!r} exists and is not colocated with "
                f"{placement.colocate_with!r}; open it without colocate_with="
            )
