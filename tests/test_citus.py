"""Citus: settings that reach the shards, placement, tenant schemas, and what only a cluster shows.

The behaviour suites run on Citus too (tests marked ``citus``, see ``conftest.py``); this module
holds what is specific to a cluster: per-query settings applied on every shard (1,000 rows from
4 shards), the adaptive filtered search's global count, one round trip per search, placement
arguments and their errors, schema-per-tenant, and the pure helpers (no database).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError, CollectionNotFound
from vecs_core._citus import (
    Distribution,
    Placement,
    ShardPlacement,
    placement_kind,
    placement_request,
    set_local_statements,
)

N, DIM = 8000, 16


# -- pure helpers --------------------------------------------------------------------------------
def test_set_local_statements_quote_names_and_values():
    rendered = [s.as_string(None) for s in set_local_statements({"hnsw.ef_search": "1000"})]
    assert rendered == [
        "SET LOCAL citus.propagate_set_commands = 'local'",
        """SET LOCAL "hnsw"."ef_search" = '1000'""",
    ]
    (_, hostile) = set_local_statements({"app.user_id": "x'; DROP TABLE t; --"})
    assert hostile.as_string(None) == """SET LOCAL "app"."user_id" = 'x''; DROP TABLE t; --'"""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"distribution": "range"}, "distribution must be None, 'hash' or 'single_shard'"),
        ({"distribution": "hash", "shard_count": 0}, "shard_count must be between 1 and 64000"),
        ({"distribution": "hash", "shard_count": "4"}, "shard_count must be an int"),
        ({"shard_count": 4}, "shard_count applies to a distributed collection"),
        ({"colocate_with": "docs"}, "colocate_with applies to a distributed collection"),
        ({"distribution": "single_shard", "shard_count": 2}, "exactly one shard"),
        ({"distribution": "hash", "shard_count": 2, "colocate_with": "a"}, "not both"),
        ({"distribution": "hash", "colocate_with": ""}, "must not be empty"),
    ],
)
def test_placement_arguments_are_checked_before_any_io(kwargs, message):
    args = {"distribution": None, "shard_count": None, "colocate_with": None, **kwargs}
    with pytest.raises(ArgError, match=message):
        placement_request(**args)


def test_placement_kinds_and_description():
    assert placement_request(None, None, None) is None
    assert placement_request("hash", 8, None) == Placement("hash", 8, None)
    assert placement_kind(None, None, None, False) == "local"
    assert placement_kind("h", "s", 3, False) == "hash"
    assert placement_kind("n", "t", 2, False) == "reference"
    assert placement_kind("n", "s", 0, False) == "citus_local"
    assert placement_kind("n", "s", 5, False) == "single_shard"
    assert placement_kind("n", "s", 5, True) == "schema"
    shards = (
        ShardPlacement(1, "w2:5432"),
        ShardPlacement(2, "w1:5432"),
        ShardPlacement(3, "w2:5432"),
    )
    d = Distribution("docs", "hash", "id", 1, shards, "14.0-1")
    assert d.distributed and d.shard_count == 3 and d.nodes == ("w1:5432", "w2:5432")


# -- plain PostgreSQL: placement is refused, described as local ----------------------------------
def test_distribution_arguments_on_plain_postgres_raise(vx):
    with pytest.raises(ArgError, match="needs a Citus cluster"):
        vx.get_or_create_collection("docs", dimension=3, distribution="hash")
    with pytest.raises(ArgError, match="needs a Citus cluster"):
        vx.get_or_create_collection("docs", dimension=3, distribution="single_shard")
    assert vx.list_collections() == []  # nothing was created
    vx.get_or_create_collection("docs", dimension=3)
    with pytest.raises(ArgError, match="needs a Citus cluster"):
        vx.get_or_create_collection("docs", distribution="hash")
    found = vx.describe_distribution("docs")
    assert found == Distribution("docs", "local", None, None, (), None)
    assert not found.distributed and found.shard_count == 0
    with pytest.raises(CollectionNotFound):
        vx.describe_distribution("missing")


# -- on a cluster: settings reach every shard ----------------------------------------------------
def _collection(client: Any, name: str = "docs", **placement: Any) -> Any:
    """8,000 random records on 4 shards (2,000 each), an HNSW index; ``m`` (a third of the rows)
    and ``few`` (an eighth) are filter keys; ten records carry the text ``needle``."""
    placement = placement or {"distribution": "hash", "shard_count": 4}
    col = client.get_or_create_collection(name, dimension=DIM, **placement)
    rng = np.random.default_rng(7)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    col.upsert(
        (f"r{i:04d}", v, {"m": i % 3 == 0, "few": i % 8 == 0}, "needle" if i < 10 else "hay")
        for i, v in enumerate(data)
    )
    col.create_index(method="hnsw")
    return col, data


@pytest.mark.citus(only=True)
def test_search_settings_reach_every_shard(vx):
    """Without them each shard's HNSW scan stops at its own default (ef_search 40, no
    iterative scan, 1 IVFFlat probe) and 4 shards return 160 rows instead of 1,000."""
    col, data = _collection(vx)
    assert vx.describe_distribution("docs").shard_count == 4
    q = data[0] + np.float32(0.01)
    assert len(col.query(q, limit=1000, ef_search=1000)) == 1000
    assert len(col.query(q, limit=1000)) == 1000  # ef_search raised to the limit
    # filtered, index branch (2,667 rows match): relaxed iterative scan on every shard
    hits = col.search(q, limit=1000, filters={"m": True})
    assert len(hits) == 1000 and all(int(h.id[1:]) % 3 == 0 for h in hits)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    strict = col.search(q, limit=1000, filters={"m": True}, iterative_scan="strict_order")
    assert len(strict) == 1000
    # filtered, exact branch (1,000 rows match): all of them, nearest first
    few = col.query(q, limit=1000, filters={"few": True}, include_value=True)
    truth = sorted(range(0, N, 8), key=lambda i: _cosine(q, data[i]))
    assert [r[0] for r in few] == [f"r{i:04d}" for i in truth]
    # hybrid: 1,000 semantic candidates (limit 250 x 4) from the shards, 10 keyword matches
    fused = col.hybrid_search("needle", q, limit=250)
    assert len(fused) == 250 and {f"r{i:04d}" for i in range(10)} <= {h.id for h in fused}
    # IVFFlat: probes on every shard
    col.create_index(method="ivfflat", index_arguments=vecs_core.IndexArgsIVFFlat(n_lists=40))
    assert len(col.query(q, limit=1000, probes=40)) == 1000
    assert len(col.query(q, limit=1000, probes=40, filters={"m": True})) == 1000
    # SET LOCAL ends with its transaction: nothing is left on the pooled connections
    assert col._do(_current_setting("hnsw.ef_search")) == "40"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _current_setting(name: str) -> Any:
    from vecs_core._protocol import Execute, Job

    def plan() -> Any:
        row = yield Execute(sql.SQL("SELECT current_setting({})").format(name), fetch="one")
        return row[0]

    return (yield Job(plan, "statements"))


def _one_time_filters(node: Any, found: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """``(filter, ran)`` for every plan node gated by a one-time filter, anywhere in a
    (Citus) ``EXPLAIN (ANALYZE, FORMAT JSON)`` tree, subplans and remote plans included."""
    if isinstance(node, dict):
        if "One-Time Filter" in node:
            ran = any(child.get("Actual Loops", 0) > 0 for child in node.get("Plans", []))
            found.append((node["One-Time Filter"], ran))
        for value in node.values():
            _one_time_filters(value, found)
    elif isinstance(node, list):
        for value in node:
            _one_time_filters(value, found)
    return found


@pytest.mark.citus(only=True)
def test_adaptive_search_counts_matches_over_all_shards(client, sql_conn):
    """The exact/index choice of a filtered search counts the matching rows of the whole
    collection: 2,400 matches over 4 shards (600 each) take the index branch although each
    shard alone has fewer than 2,000; 1,600 matches take the exact branch."""
    from vecs_core._plans.search import search_plan
    from vecs_core._requests import SearchRequest

    col = client.get_or_create_collection("docs", dimension=DIM)
    rng = np.random.default_rng(3)
    col.upsert(
        (f"r{i}", rng.normal(size=DIM), {"a": i % 5 == 0, "b": i % 10 < 3}) for i in range(N)
    )
    col.create_index(method="hnsw")
    ran = {}
    for key in ("a", "b"):
        q = rng.normal(size=DIM)
        assert len(col.query(q, limit=10, filters={key: True})) == 10
        options, shape = next((k[0], s) for k, s in col._shapes.items() if k[1])
        col._shapes.clear()
        shape.branches.clear()  # the adaptive statement, not the branch it remembered
        request = SearchRequest(options, col._query_vector(q, False), col._where({key: True}))
        step = next(search_plan(col._target, shape, request))
        vecs_core._conn.configure(sql_conn)
        with sql_conn.transaction():
            for statement in set_local_statements(shape.settings):
                sql_conn.execute(statement)
            explain = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + step.query
            plan = sql_conn.execute(explain, step.params).fetchone()[0]
        gates = _one_time_filters(plan, [])
        assert len(gates) == 2, gates
        ran[key] = {"exact" if "<" in f and ">=" not in f else "index" for f, r in gates if r}
    assert ran == {"a": {"exact"}, "b": {"index"}}


@pytest.mark.citus(only=True)
def test_a_search_is_one_round_trip(citus_url, schema):
    """BEGIN, the SET LOCALs, the search and COMMIT go in one pipeline: one Sync."""
    with vecs_core.create_client(citus_url, schema=schema, pool_size=1) as vx:
        col, data = _collection(vx)
        for _ in range(6):  # past psycopg's prepare threshold: the prepared path
            col.query(data[1], limit=5, filters={"m": True}, ef_search=64)
        pool = vx._source.get()
        with tempfile.NamedTemporaryFile("r") as trace:
            with pool.connection() as conn:
                conn.pgconn.trace(os.open(trace.name, os.O_WRONLY))
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            assert len(col.query(data[1], limit=5, filters={"m": True}, ef_search=64)) == 5
            with pool.connection() as conn:
                conn.pgconn.untrace()
            sent = [line.split("\t") for line in trace.read().splitlines()]
        frontend = [parts[2] for parts in sent if len(parts) > 2 and parts[0] == "F"]
        assert frontend.count("Sync") == 1, frontend
        # BEGIN, SET LOCAL citus.propagate_set_commands, hnsw.ef_search, hnsw.iterative_scan,
        # hnsw.max_scan_tuples (the iterative scan's bound), the search, COMMIT
        assert frontend.count("Execute") == 7
        # a failing search rolls its transaction back: the one connection is fine afterwards
        bad = np.full(DIM, np.nan, dtype=np.float32)
        with pytest.raises(ArgError, match="NaN or infinity"):
            col.query(bad, limit=5, ef_search=64)
        with pytest.raises(ArgError, match="NaN or infinity"):
            col.hybrid_search("needle", bad, limit=5)
        assert len(col.query(data[1], limit=5, ef_search=64)) == 5


@pytest.mark.citus(only=True)
def test_settings_reach_the_shards_through_an_injected_engine(citus_url, schema):
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://",
        connect_args=psycopg.conninfo.conninfo_to_dict(citus_url),
        pool_size=1,
        max_overflow=0,
    )
    try:
        with vecs_core.create_client(engine=engine, schema=schema) as vx:
            col = vx.get_or_create_collection(
                "docs", dimension=4, distribution="hash", shard_count=4
            )
            rng = np.random.default_rng(1)
            col.upsert((f"r{i}", rng.normal(size=4), {}) for i in range(2000))
            col.create_index(method="hnsw")
            assert len(col.query(rng.normal(size=4), limit=500, ef_search=500)) == 500
        with engine.connect() as conn:  # the user's connection keeps its own settings
            got = conn.execute(sqlalchemy.text("SELECT current_setting('hnsw.ef_search')"))
            assert got.scalar() == "40"
    finally:
        engine.dispose()


# -- placement -------------------------------------------------------------------------------
@pytest.mark.citus(only=True)
def test_placement_and_its_description(vx, quiet):
    hashed = vx.get_or_create_collection("hashed", dimension=3, distribution="hash", shard_count=2)
    found = vx.describe_distribution("hashed")
    assert (found.placement, found.distribution_column, found.shard_count) == ("hash", "id", 2)
    assert len(found.nodes) == 2 and found.citus_version  # one shard on each worker
    pod = vx.get_or_create_collection("pod", dimension=3, distribution="single_shard")
    mate = vx.get_or_create_collection(
        "mate", dimension=3, distribution="single_shard", colocate_with="pod"
    )
    twin = vx.get_or_create_collection(
        "twin", dimension=3, distribution="hash", colocate_with="hashed"
    )
    pod_at, mate_at = vx.describe_distribution("pod"), vx.describe_distribution("mate")
    assert pod_at.placement == "single_shard" and pod_at.shard_count == 1
    assert pod_at.distribution_column is None
    assert mate_at.nodes == pod_at.nodes and mate_at.colocation_id == pod_at.colocation_id
    assert vx.describe_distribution("twin").colocation_id == found.colocation_id
    local = vx.get_or_create_collection("local", dimension=3, distribution=None)  # as it is
    assert vx.describe_distribution("local").placement == "local"
    for col in (hashed, pod, mate, twin, local):
        col.upsert([("a", [1, 0, 0], {"x": 1}), ("b", [0, 1, 0], {"x": 2})])
        assert col.query([1, 0, 0], limit=2, filters={"x": {"$gte": 1}}) == ["a", "b"]
    # reopening: with the same placement or none; anything else is refused
    assert vx.get_or_create_collection("hashed", distribution="hash").name == "hashed"
    assert vx.get_or_create_collection("pod", dimension=3, distribution=None).name == "pod"
    for name, kwargs, message in [
        ("hashed", {"distribution": "single_shard"}, "placed as 'hash'"),
        ("hashed", {"distribution": "hash", "shard_count": 8}, "has 2 shards"),
        ("local", {"distribution": "hash"}, "placed as 'local'"),
        ("mate", {"distribution": "single_shard", "colocate_with": "hashed"}, "placed as 'hash'"),
        ("new", {"distribution": "hash", "colocate_with": "missing"}, "no distributed"),
        ("new", {"distribution": "hash", "colocate_with": "local"}, "no distributed"),
        ("new", {"distribution": "single_shard", "colocate_with": "hashed"}, "another"),
    ]:
        with pytest.raises(ArgError, match=message):
            vx.get_or_create_collection(name, dimension=3, **kwargs)
    names = ["hashed", "local", "mate", "pod", "twin"]
    assert sorted(c.name for c in vx.list_collections()) == names
    vx.delete_collection("twin")
    with pytest.raises(CollectionNotFound):
        vx.describe_distribution("twin")


@pytest.mark.citus(only=True)
def test_index_build_settings_are_refused_on_a_distributed_collection(vx):
    col = vx.get_or_create_collection("docs", dimension=3)
    col.upsert([("a", [1, 0, 0], {})])
    with pytest.raises(ArgError, match="cannot reach the Citus workers"):
        col.create_index(maintenance_work_mem="256MB")
    with pytest.raises(ArgError, match="cannot reach the Citus workers"):
        col.create_index(parallel_workers=2)
    assert col.index is None
    local = vx.get_or_create_collection("local", dimension=3, distribution=None)
    local.upsert([("a", [1, 0, 0], {})])
    assert local.create_index(maintenance_work_mem="64MB").valid  # a coordinator-local table


# -- multi-tenant: one schema per tenant --------------------------------------------------------
def _tenant_url(url: str) -> str:
    """``url`` with schema-based sharding on for its sessions (or set it for the database:
    ``ALTER DATABASE ... SET citus.enable_schema_based_sharding = on``)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-c%20citus.enable_schema_based_sharding%3Don"


@pytest.mark.citus(only=True)
def test_schema_per_tenant(citus_url):
    tenants = [f"tenant_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    try:
        for n, tenant in enumerate(tenants):
            with vecs_core.create_client(_tenant_url(citus_url), schema=tenant) as vx:
                col = vx.get_or_create_collection("docs", dimension=3)
                col.upsert([(f"{tenant}-{i}", [1, i, n], {"tenant": tenant}) for i in range(5)])
                col.create_index()
                with pytest.raises(ArgError, match="distributed \\(tenant\\) schema"):
                    vx.get_or_create_collection("other", dimension=3, distribution="hash")
        placed = []
        for tenant in tenants:
            with vecs_core.create_client(citus_url, schema=tenant) as vx:
                col = vx.get_or_create_collection("docs")
                hits = col.search([1, 1, 0], limit=10)
                assert len(hits) == 5 and {h.metadata["tenant"] for h in hits} == {tenant}
                where = vx.describe_distribution("docs")
                assert where.placement == "schema" and where.shard_count == 1
                placed.append(where.nodes[0])
        assert len(set(placed)) == 2  # the tenants' schemas spread over both workers
    finally:
        with psycopg.connect(citus_url, autocommit=True) as conn:
            for tenant in tenants:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(tenant))
                )
