"""Read replicas on a real primary + hot standby pair (``pg_cluster.replicas``): where reads
go in each consistency mode, read-your-writes, a dead or lagging standby, failover, and writes
that reach a standby."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from pg_cluster import Pair, build_pair, remove
from shells import AsyncShell

import vecs_core
from vecs_core import ArgError, ReadOnly
from vecs_core._routing import LONG_PAGE_HEADER, SHORT_PAGE_HEADER, insert_token

MakeClient = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """``make_client(url, **options)``: a client through the sync or the async shell (a fresh
    schema each), closed after the test."""
    made: list[Any] = []
    loop = asyncio.new_event_loop() if request.param == "async" else None
    schema = f"r_{uuid.uuid4().hex[:10]}"

    def make(url: str, **options: Any) -> Any:
        options.setdefault("schema", schema)
        options.setdefault("pool_size", 4)
        if loop is None:
            client = vecs_core.create_client(url, **options)
            made.append(client.disconnect)
            return client
        aclient = vecs_core.create_async_client(url, **options)
        made.append(lambda: loop.run_until_complete(aclient.disconnect()))
        return AsyncShell(aclient, loop)

    yield make
    for close in made:
        close()
    if loop is not None:
        loop.close()


@pytest.fixture
def pair(replicas: Pair) -> Iterator[Pair]:
    """The session's pair, with the standby running and replaying when the test ends."""
    yield replicas
    try:
        replicas.standby.query("SELECT pg_wal_replay_resume()")
    except psycopg.OperationalError:
        replicas.standby.start()
    replicas.wait()


def _table_reads(server: Any, schema: str, table: str) -> int:
    """Scans of a table counted by ``server`` itself (index and sequential)."""
    rows = server.query(
        "SELECT coalesce(sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)), 0)::bigint "
        f"FROM pg_stat_user_tables WHERE schemaname = '{schema}' AND relname = '{table}'"
    )
    return int(rows[0][0])


def test_session_reads_see_every_write_and_are_served_by_the_standby(pair, make_client):
    """500 write -> read pairs: each read sees its write (0 stale), and every read was answered
    by the standby (pg_is_in_recovery() on the answering connection, and the standby's own
    scan counters), since it always caught up within max_replica_wait."""
    vx = make_client(pair.primary.url(), read_urls=[pair.standby.url()], max_replica_wait=5.0)
    docs = vx.get_or_create_collection("docs", dimension=3)
    docs.upsert([(f"seed{i}", [1.0, float(i), 0.0], {"v": -1}) for i in range(20)])
    pair.wait()
    schema = vx.schema
    before = _table_reads(pair.standby, schema, "docs")
    stale = 0
    reads = ("fetch", "count", "find", "query")
    for i in range(500):
        docs.upsert([("x", [1.0, 2.0, float(i)], {"v": i})])
        kind = reads[i % len(reads)]
        if kind == "fetch":
            seen = docs.fetch(["x"])[0].metadata["v"]
        elif kind == "count":
            seen = i if docs.count({"v": i}) == 1 else None
        elif kind == "find":
            seen = docs.find({"v": {"$gte": 0}})[0].metadata["v"]
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hits = docs.query([1.0, 2.0, float(i)], limit=1, include_metadata=True)
            seen = hits[0][1]["v"]
        stale += seen != i
    assert stale == 0
    stats = vx.read_stats()
    assert stats.standby == 500 and stats.primary == 0 and stats.fallbacks == 0
    assert stats.standby_fraction == 1.0
    vx.disconnect()  # backends flush their statistics as they exit
    deadline = time.monotonic() + 10
    while _table_reads(pair.standby, schema, "docs") - before < 500:
        assert time.monotonic() < deadline, "the standby did not count the reads"
        time.sleep(0.1)


def test_eventual_reads_land_on_the_standby_and_session_reads_fall_back(pair, make_client):
    vx = make_client(pair.primary.url(), read_urls=[pair.standby.url()], max_replica_wait=0.05)
    docs = vx.get_or_create_collection("docs", dimension=3)
    docs.upsert([("a", [1, 2, 3], {"v": 1})])
    pair.wait()
    pair.standby.query("SELECT pg_wal_replay_pause()")
    docs.upsert([("a", [1, 2, 3], {"v": 2})])
    # eventual: the paused standby answers, with what it has
    assert docs.fetch(["a"], consistency="eventual")[0].metadata == {"v": 1}
    assert vx.read_stats().standby == 1
    # session (the default): it waits 50 ms, then the primary answers with the write
    started = time.monotonic()
    assert docs.fetch(["a"])[0].metadata == {"v": 2}
    assert time.monotonic() - started >= 0.05
    stats = vx.read_stats()
    assert (stats.fallbacks, stats.waited, stats.primary) == (1, 1, 1)
    # strong: the primary, without waiting
    assert docs.count(consistency="strong") == 1
    assert vx.read_stats().primary == 2
    pair.standby.query("SELECT pg_wal_replay_resume()")
    pair.wait()
    assert docs.fetch(["a"])[0].metadata == {"v": 2}
    assert vx.read_stats().standby == 2


def test_eventual_is_the_default_when_asked(pair, make_client):
    vx = make_client(pair.primary.url(), read_urls=[pair.standby.url()], consistency="eventual")
    docs = vx.get_or_create_collection("docs", dimension=3)
    pair.wait()
    pair.standby.query("SELECT pg_wal_replay_pause()")
    docs.upsert([("a", [1, 2, 3], {"v": 1})])
    assert docs.fetch(["a"]) == []  # the standby has not replayed it
    assert docs.fetch(["a"], consistency="session")[0].metadata == {"v": 1}


def test_catalog_and_index_cache_never_trust_a_lagging_standby(pair, make_client):
    """With replay paused, a collection created, filled and indexed on the primary is known at
    once: the catalog and the index cache read the primary, reads the standby lacks the table
    for fall back to the primary, and no 'no covering index' warning is raised."""
    vx = make_client(pair.primary.url(), read_urls=[pair.standby.url()], consistency="eventual")
    pair.standby.query("SELECT pg_wal_replay_pause()")
    docs = vx.get_or_create_collection("fresh", dimension=3)
    docs.upsert([(f"r{i}", [1, i, 0], {"i": i}) for i in range(50)])
    built = docs.create_index()
    assert docs.index == built.name
    assert docs.is_indexed_for_measure("cosine_distance")
    assert [c.name for c in vx.list_collections()] == ["fresh"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stale "no index" answer would warn here
        assert docs.query([1, 3, 0], limit=1) == ["r3"]
    assert vx.read_stats().fallbacks >= 1  # the standby had no such table yet
    pair.standby.query("SELECT pg_wal_replay_resume()")
    pair.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert docs.query([1, 3, 0], limit=1, consistency="session") == ["r3"]
    assert vx.read_stats().standby >= 1


def test_a_stopped_standby_is_skipped_then_used_again(pair, make_client):
    vx = make_client(pair.primary.url(), read_urls=[pair.standby.url()])
    docs = vx.get_or_create_collection("docs", dimension=3)
    docs.upsert([("a", [1, 2, 3], {"v": 1})])
    assert docs.fetch(["a"])[0].metadata == {"v": 1}
    assert vx.read_stats().standby == 1
    pair.standby.stop()
    for i in range(5):  # no error surfaces; the primary answers
        docs.upsert([("a", [1, 2, 3], {"v": 10 + i})])
        assert docs.fetch(["a"])[0].metadata == {"v": 10 + i}
        assert docs.count(consistency="eventual") == 1
    stats = vx.read_stats()
    assert stats.primary == 10 and stats.replicas_down == 1
    pair.standby.start()
    pair.wait()
    deadline = time.monotonic() + 15  # skipped for 0.5 s, doubling up to 5 s
    while vx.read_stats().standby == 1:
        assert time.monotonic() < deadline, "reads did not return to the standby"
        assert docs.fetch(["a"])[0].metadata == {"v": 14}
        time.sleep(0.1)
    assert vx.read_stats().replicas_down == 0


def test_a_write_on_a_standby_raises_read_only(pair, make_client):
    primary = make_client(pair.primary.url())
    primary.get_or_create_collection("docs", dimension=3).upsert([("a", [1, 2, 3], {})])
    pair.wait()
    standby = make_client(pair.standby.url())  # a standby given as the primary URL
    docs = standby.get_or_create_collection("docs")  # reads work
    assert docs.fetch(["a"])[0].id == "a"
    with pytest.raises(ReadOnly, match="target_session_attrs=read-write") as caught:
        docs.upsert([("b", [1, 2, 3], {})])
    assert isinstance(caught.value.__cause__, psycopg.errors.ReadOnlySqlTransaction)
    with pytest.raises(ReadOnly):
        docs.delete(ids=["a"])
    with pytest.raises(ReadOnly):
        standby.get_or_create_collection("other", dimension=3)
    with pytest.raises(ReadOnly):
        docs.create_index()


def test_multi_host_read_url(pair, make_client):
    """A libpq multi-host URL works as a read URL: prefer-standby picks the standby."""
    hosts = f"127.0.0.1:{pair.standby.port},127.0.0.1:{pair.primary.port}"
    read_url = f"postgresql://postgres@{hosts}/postgres?target_session_attrs=prefer-standby"
    vx = make_client(pair.primary.url(), read_urls=[read_url])
    docs = vx.get_or_create_collection("docs", dimension=3)
    docs.upsert([("a", [1, 2, 3], {"v": 1})])
    assert docs.get(["a"])[0].metadata == {"v": 1}
    assert vx.read_stats().standby == 1


def test_session_views_share_the_token_and_settings_reach_the_standby(pair, make_client):
    """A ``session()`` view (Row Level Security settings in a transaction) reads from the
    standby too, with its settings, and waits for the writes of the client it came from."""
    vx = make_client(pair.primary.url(), read_urls=[pair.standby.url()], max_replica_wait=5)
    docs = vx.get_or_create_collection("docs", dimension=3)
    view = docs.session({"app.user_id": "u1"})
    for i in range(20):
        docs.upsert([("a", [1, 2, 3], {"v": i})])
        assert view.fetch(["a"])[0].metadata == {"v": i}
    assert vx.read_stats().standby == 20


def test_lag_bound_skips_a_standby_too_far_behind(pair, make_client):
    vx = make_client(
        pair.primary.url(),
        read_urls=[pair.standby.url()],
        consistency="eventual",
        max_replica_lag_bytes=1000,
    )
    docs = vx.get_or_create_collection("docs", dimension=3)
    docs.upsert([("a", [1, 2, 3], {"v": 0})])
    pair.wait()
    assert docs.count() == 1 and vx.read_stats().standby == 1
    pair.standby.query("SELECT pg_wal_replay_pause()")
    docs.upsert([(f"b{i}", [1, 2, 3], {"pad": "x" * 100}) for i in range(100)])  # > 1000 bytes
    assert docs.count() == 101  # the primary answers: the standby is too far behind
    stats = vx.read_stats()
    assert stats.standby == 1 and stats.fallbacks == 1


def test_the_insert_position_at_a_page_start_is_the_page_boundary():
    block, segment = 8192, 16 * 1024 * 1024
    assert insert_token(3 * block + SHORT_PAGE_HEADER, block, segment) == 3 * block
    assert insert_token(2 * segment + LONG_PAGE_HEADER, block, segment) == 2 * segment
    assert insert_token(3 * block + 100, block, segment) == 3 * block + 100
    # 40 bytes into a page that does not start a segment is a real position
    assert insert_token(3 * block + LONG_PAGE_HEADER, block, segment) == 3 * block + 40


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"consistency": "linearizable"}, "consistency must be one of"),
        ({"read_urls": "postgresql://h/db"}, "a single string"),
        ({"read_urls": [""]}, "non-empty URL strings"),
        ({"read_urls": ["postgresql://h/db?bogus=1"]}, "invalid database URL"),
        ({"max_replica_wait": -1}, "max_replica_wait must be"),
        ({"max_replica_wait": float("nan")}, "max_replica_wait must be"),
        ({"max_replica_lag_bytes": -5}, "max_replica_lag_bytes must be"),
        ({"max_replica_lag_bytes": 1.5}, "max_replica_lag_bytes must be"),
        ({"pods": ["x"]}, "pods must be a dict"),
        ({"pods": {"": "postgresql://h/db"}}, "must not be empty"),
        ({"pods": {"a": 5}}, "must be a database URL"),
    ],
)
def test_bad_options_raise_before_any_io(options, message):
    with pytest.raises(ArgError, match=message):
        vecs_core.create_client("postgresql://nobody@127.0.0.1:1/none", **options)
    with pytest.raises(ArgError, match=message):
        vecs_core.create_async_client("postgresql://nobody@127.0.0.1:1/none", **options)


def test_read_urls_need_a_primary_url(monkeypatch):
    monkeypatch.delenv("VECS_DATABASE_URL", raising=False)
    with pytest.raises(ArgError, match="give the primary's url"):
        vecs_core.create_client(read_urls=["postgresql://h/db"])


def test_a_bad_per_call_consistency_raises_before_any_io():
    vx = vecs_core.create_client("postgresql://nobody@127.0.0.1:1/none", read_urls=[])
    docs = vx._collection_class(vx, "docs", _info(), None)
    with pytest.raises(ArgError, match="consistency must be one of"):
        docs.fetch(["a"], consistency="fresh")


def _info() -> Any:
    from vecs_core._kinds import KINDS
    from vecs_core._plans.catalog import TableInfo

    return TableInfo("docs", 3, frozenset({"id", "vec", "metadata"}), KINDS["vector"], "vecs")


def test_promoted_standby_takes_writes_behind_a_read_write_url(make_client):
    """Failover with libpq alone: a URL listing both servers with
    ``target_session_attrs=read-write`` writes to whichever is the primary."""
    pair, directory = build_pair("vecs-core-failover-")
    try:
        hosts = f"127.0.0.1:{pair.primary.port},127.0.0.1:{pair.standby.port}"
        url = f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"
        reads = f"postgresql://postgres@{hosts}/postgres?target_session_attrs=prefer-standby"
        vx = make_client(url, read_urls=[reads])
        docs = vx.get_or_create_collection("docs", dimension=3)
        docs.upsert([("a", [1, 2, 3], {"v": 1})])
        assert docs.fetch(["a"])[0].metadata == {"v": 1}
        assert vx.read_stats().standby == 1
        pair.primary.stop()
        pair.standby.promote()
        docs.upsert([("b", [1, 2, 3], {"v": 2})])  # the promoted standby takes it
        assert sorted(r.id for r in docs.fetch(["a", "b"])) == ["a", "b"]
        assert pair.standby.query("SELECT pg_is_in_recovery()") == [(False,)]
        assert pair.standby.query(f"SELECT count(*) FROM {vx.schema}.docs") == [(2,)]
        assert vx.read_stats().primary >= 1  # the read URL now leads to a primary
    finally:
        remove(directory, pair.standby, pair.primary)


def test_concurrent_session_reads_see_their_writes(pair):
    """Tasks of one async client and threads of one sync client interleave writes and reads:
    every read sees the write of its task (the token only grows), on a pool of several
    connections that each learn the replay position."""
    url, standby = pair.primary.url(), pair.standby.url()
    schema = f"r_{uuid.uuid4().hex[:10]}"

    async def tasks() -> int:
        async with vecs_core.create_async_client(
            url, schema=schema, read_urls=[standby], pool_size=6, max_replica_wait=5
        ) as vx:
            docs = await vx.get_or_create_collection("docs", dimension=3)

            async def one(task: int) -> int:
                stale = 0
                for i in range(15):
                    await docs.upsert([(f"t{task}", [1, 2, 3], {"v": i})])
                    got = await docs.fetch([f"t{task}"])
                    stale += got[0].metadata["v"] != i
                return stale

            stale = sum(await asyncio.gather(*(one(t) for t in range(8))))
            assert vx.read_stats().standby == 8 * 15
            return stale

    assert asyncio.run(tasks()) == 0
    with vecs_core.create_client(
        url, schema=schema, read_urls=[standby], pool_size=6, max_replica_wait=5
    ) as vx:
        docs = vx.get_or_create_collection("docs")
        stale = [0] * 4

        def worker(n: int) -> None:
            for i in range(25):
                docs.upsert([(f"w{n}", [1, 2, 3], {"v": i})])
                stale[n] += docs.fetch([f"w{n}"])[0].metadata["v"] != i

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert stale == [0, 0, 0, 0]
        assert vx.read_stats().standby == 100
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]
