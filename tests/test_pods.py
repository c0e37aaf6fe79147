"""Pods: collections in their own databases (``pods=``), listed together, moved between
databases with a verified binary COPY behind a write fence. Pod databases are created on the
session's server; each test uses its own schema."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from shells import AsyncShell

import vecs_core
from vecs_core import ArgError, CollectionAlreadyExists, CollectionNotFound


@pytest.fixture(scope="module")
def pod_urls(database_url: str) -> Iterator[list[str]]:
    """Two extra databases on the session's server, as URLs."""
    names = [f"pod_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        try:
            for name in names:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege as exc:
            pytest.skip(f"pods need CREATE DATABASE on the test server: {exc}")
    urls = [make_conninfo(database_url, dbname=name) for name in names]
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield urls
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _tables(url: str, schema: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
            (schema,),
        ).fetchall()
    return [r[0] for r in rows]


def _digest(url: str, schema: str, table: str) -> tuple[int, str]:
    """Row count and a digest of every id, vector, metadata and text, in id order."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), md5(string_agg(id || ' ' || vec::text || ' ' || metadata::text"
                " || ' ' || coalesce(text, '<none>'), E'\\n' ORDER BY id)) FROM {}"
            ).format(sql.Identifier(schema, table))
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


@pytest.fixture
def pods_schema(pod_urls: list[str], database_url: str) -> Iterator[str]:
    name = f"p_{uuid.uuid4().hex[:10]}"
    yield name
    for url in [database_url, *pod_urls]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_two_databases_hold_two_collections(shell, database_url, pod_urls, pods_schema):
    images_url, docs_url = pod_urls
    pods = {"images": images_url, "docs": docs_url}
    loop = asyncio.new_event_loop()
    if shell == "sync":
        vx: Any = vecs_core.create_client(database_url, schema=pods_schema, pods=pods)
    else:
        aclient = vecs_core.create_async_client(database_url, schema=pods_schema, pods=pods)
        vx = AsyncShell(aclient, loop)
    try:
        images = vx.get_or_create_collection("images", dimension=3)
        docs = vx.get_or_create_collection("docs", dimension=3)
        home = vx.get_or_create_collection("home", dimension=3)
        images.upsert([("i1", [1, 0, 0], {"k": "image"})])
        docs.upsert([("d1", [0, 1, 0], {"k": "doc"}), ("d2", [0, 0, 1], {})])
        home.upsert([("h1", [1, 1, 1], {})])
        assert _tables(images_url, pods_schema) == ["images"]
        assert _tables(docs_url, pods_schema) == ["docs"]
        assert _tables(database_url, pods_schema) == ["home"]
        assert [c.name for c in vx.list_collections()] == ["docs", "home", "images"]
        assert [len(c) for c in vx.list_collections()] == [2, 1, 1]
        assert docs.fetch(["d1"])[0].metadata == {"k": "doc"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert images.query([1, 0, 0], limit=1) == ["i1"]
        vx.delete_collection("images")
        assert _tables(images_url, pods_schema) == []
        assert [c.name for c in vx.list_collections()] == ["docs", "home"]
    finally:
        if shell == "sync":
            vx.disconnect()
        else:
            loop.run_until_complete(aclient.disconnect())
        loop.close()


def test_a_callable_places_collections(database_url, pod_urls, pods_schema):
    asked: list[str] = []

    def where(name: str) -> str | None:
        asked.append(name)
        return pod_urls[0] if name.startswith("img_") else None

    with vecs_core.create_client(database_url, schema=pods_schema, pods=where) as vx:
        vx.get_or_create_collection("img_cats", dimension=2).upsert([("a", [1, 2], {})])
        vx.get_or_create_collection("notes", dimension=2)
        assert _tables(pod_urls[0], pods_schema) == ["img_cats"]
        assert _tables(database_url, pods_schema) == ["notes"]
        assert [c.name for c in vx.list_collections()] == ["img_cats", "notes"]
        assert asked.count("img_cats") == 1  # asked once per name
    with (
        vecs_core.create_client(database_url, schema=pods_schema, pods=lambda name: 42) as bad,
        pytest.raises(ArgError, match="must return a database URL or None"),
    ):
        bad.get_or_create_collection("x", dimension=2)


def _records(n: int, dim: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    for i in range(n):
        meta = {"i": i, "tag": f"t{i % 7}", "nested": {"x": [i, "ü"]}, "f": i / 3}
        if i % 10 == 0:
            yield (f"id{i:06d}", vectors[i], meta)  # no text
        else:
            yield (f"id{i:06d}", vectors[i], meta, f"document {i} — naïve text")


@pytest.fixture(scope="module")
def loaded(database_url: str, pod_urls: list[str]) -> Iterator[tuple[str, tuple[int, str]]]:
    """A schema whose collection ``docs`` holds 100,000 records (16 dimensions, metadata,
    text on 9 in 10) in the primary database, and their digest; the tests that move it put it
    back."""
    schema = f"p_{uuid.uuid4().hex[:10]}"
    with vecs_core.create_client(database_url, schema=schema) as vx:
        vx.get_or_create_collection("docs", dimension=16).upsert(_records(100_000, 16))
    digest = _digest(database_url, schema, "docs")
    assert digest[0] == 100_000
    yield schema, digest
    for url in [database_url, *pod_urls]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_move_round_trips_100000_records_exactly(database_url, pod_urls, loaded):
    schema, original = loaded
    with vecs_core.create_client(database_url, schema=schema) as vx:
        docs = vx.get_or_create_collection("docs")
        moved = vx.move_collection("docs", to=pod_urls[0])
        assert _tables(database_url, schema) == []
        assert _digest(pod_urls[0], schema, "docs") == original
        assert moved.count() == 100_000  # the client routes there now
        assert docs.get(["id000001"])[0].text == "document 1 — naïve text"
        assert [c.name for c in vx.list_collections()] == ["docs"]
        back = vx.move_collection("docs", to=database_url)
        assert _tables(pod_urls[0], schema) == []
        assert _digest(database_url, schema, "docs") == original
        assert back.count() == 100_000


def test_a_failure_in_the_middle_leaves_the_source_intact(database_url, pod_urls, loaded):
    """The target's backend is killed while COPY streams into it: the move raises, the
    source keeps every row and takes writes again (a writer held back by the fence goes
    through), the target holds nothing, and the client still routes to the source."""
    schema, original = loaded
    target = pod_urls[1]
    with vecs_core.create_client(database_url, schema=schema) as vx:
        docs = vx.get_or_create_collection("docs")
        assert _digest(database_url, schema, "docs") == original
        killed = threading.Event()
        writer_done = threading.Event()

        def writer() -> None:
            with vecs_core.create_client(database_url, schema=schema) as other:
                other.get_or_create_collection("docs").upsert([("late", np.ones(16), {})])
            writer_done.set()

        def killer() -> None:
            with psycopg.connect(target, autocommit=True) as conn:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    rows = conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND query LIKE 'COPY%FROM STDIN%' AND state = 'active'"
                    ).fetchall()
                    if rows:
                        threading.Thread(target=writer, daemon=True).start()
                        time.sleep(0.05)  # the writer queues behind the fence
                        conn.execute("SELECT pg_terminate_backend(%s)", (rows[0][0],))
                        killed.set()
                        return
                    time.sleep(0.002)

        thread = threading.Thread(target=killer)
        thread.start()
        with pytest.raises(vecs_core.Unreachable, match="nothing was changed"):
            vx.move_collection("docs", to=target)
        thread.join()
        assert killed.is_set(), "the COPY was not caught in flight"
        assert writer_done.wait(30), "the writer held back by the fence never finished"
        assert _tables(target, schema) == []
        count, _ = _digest(database_url, schema, "docs")
        assert count == 100_001
        docs.delete(ids=["late"])
        assert _digest(database_url, schema, "docs") == original
        assert docs.count() == 100_000  # still routed to the source
        docs.upsert([("after", np.ones(16), {})])  # and writable
        docs.delete(ids=["after"])


def test_move_rebuilds_indexes_and_refuses_what_it_cannot_move(database_url, pod_urls, pods_schema):
    loop = asyncio.new_event_loop()
    aclient = vecs_core.create_async_client(database_url, schema=pods_schema)
    vx = AsyncShell(aclient, loop)
    try:
        docs = vx.get_or_create_collection("docs", dimension=3)
        docs.upsert([(f"r{i}", [1, i, i % 3], {"n": i}, f"word{i} text") for i in range(60)])
        docs.create_index(
            method="hnsw", measure="l2_distance", index_arguments=vecs_core.IndexArgsHNSW(8, 32)
        )
        docs.index_metadata("n", "number")
        docs.enable_full_text("simple")
        with pytest.raises(ArgError, match="already lives"):
            vx.move_collection("docs", to=database_url)
        with pytest.raises(CollectionNotFound):
            vx.move_collection("nothing", to=pod_urls[0])
        # a view depends on the table: refused, nothing changed
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE VIEW {} AS SELECT id FROM {}").format(
                    sql.Identifier(pods_schema, "docs_view"), sql.Identifier(pods_schema, "docs")
                )
            )
        with pytest.raises(ArgError, match="depend on its table"):
            vx.move_collection("docs", to=pod_urls[0])
        assert _tables(pod_urls[0], pods_schema) == []
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP VIEW {}").format(sql.Identifier(pods_schema, "docs_view")))
        # the target already has a collection of that name
        with vecs_core.create_client(pod_urls[1], schema=pods_schema) as pod:
            pod.get_or_create_collection("docs", dimension=3)
        with pytest.raises(CollectionAlreadyExists):
            vx.move_collection("docs", to=pod_urls[1])
        assert docs.count() == 60
        stale = vecs_core.create_client(database_url, schema=pods_schema)
        stale_docs = stale.get_or_create_collection("docs")
        moved = vx.move_collection("docs", to=pod_urls[0])
        (index,) = moved.list_indexes()
        assert (index.method.value, index.measure.value) == ("hnsw", "l2_distance")
        assert "_m8_efc32_" in index.name and (index.m, index.ef_construction) == (8, 32)
        assert index.ef_search is None  # not tuned: nothing carried over
        assert [(m.key, m.type) for m in moved.list_metadata_indexes()] == [("n", "number")]
        assert moved.keyword_search("word7")[0].id == "r7"
        assert moved.query([1, 5, 2], limit=1, measure="l2_distance") == ["r5"]
        # a client that still maps the collection to the old home finds nothing there
        with stale, pytest.raises(CollectionNotFound):
            stale_docs.upsert([("x", [1, 2, 3], {})])
    finally:
        loop.run_until_complete(aclient.disconnect())
        loop.close()


@pytest.mark.parametrize(
    ("quantization", "measure"), [("binary", "cosine_distance"), ("halfvec", "l2_distance")]
)
def test_move_rebuilds_a_quantized_index_as_it_was(
    database_url, pod_urls, pods_schema, quantization, measure
):
    """The index comment, not the opclass, says what a quantized index is: the move reads it,
    so a binary index is rebuilt (its opclass, bit_hamming_ops, names no measure) and a
    half precision one keeps its quantization."""
    with vecs_core.create_client(database_url, schema=pods_schema) as vx:
        rng = np.random.default_rng(4)
        col = vx.get_or_create_collection("quant", dimension=16)
        col.upsert((f"q{i}", rng.normal(size=16), {}) for i in range(300))
        args = vecs_core.IndexArgsHNSW(8, 40, quantization=quantization, rerank=6)
        col.create_index(method="hnsw", measure=measure, index_arguments=args)
        tuned = col.tune(0.9, sample=20, measure=measure)
        (before,) = col.list_indexes()
        assert before.ef_search == tuned.value
        moved = vx.move_collection("quant", to=pod_urls[0])
        (index,) = moved.list_indexes()
        same = ("measure", "quantization", "kind", "rerank", "method", "m", "ef_construction")
        assert [getattr(index, f) for f in same] == [getattr(before, f) for f in same]
        # the rows are the same: the tuned default is carried over, with what it measured
        assert (index.ef_search, index.tuned) == (before.ef_search, before.tuned)
        assert index.tuned is not None and index.tuned["target_recall"] == 0.9
        assert index.measure.value == measure and "_m8_efc40_" in index.name
        # binary: reported as such; halfvec: an index over vec::halfvec of a vector collection
        assert index.quantization == "binary" if quantization == "binary" else index.halfvec
        q = rng.normal(size=16)
        assert moved.query(q, limit=5, measure=measure) == col.query(q, limit=5, measure=measure)
