"""A fresh load (an empty collection) is COPY-ed straight into the table, with upsert semantics:
statement order (fake DB), last-wins on repeated ids, text mid-stream, concurrent loads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fake_db import FakeDB
from psycopg import sql

import vecs_core
from vecs_core._kinds import KINDS
from vecs_core._plans import records
from vecs_core._plans.records import Target


def target(has_text: bool = False) -> Target:
    return Target(sql.Identifier("s", "docs"), 4, has_text, KINDS["vector"])


def rows(n: int, start: int = 0) -> list:
    return [(f"r{i}", np.ones(4) * (i + 1), {"i": i}) for i in range(start, start + n)]


def test_an_empty_table_gets_the_records_straight():
    db = FakeDB([(r"SELECT NOT EXISTS", (True, False))])
    result = db.run(records.upsert_plan(target(), iter(rows(600)), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent]
    assert kinds == ["SELECT", "LOCK", "SELECT", "COPY"]
    assert "row_security_active" in db.sent[0].sql
    assert "SHARE ROW EXCLUSIVE" in db.sent[1].sql
    assert db.sent[3].sql.startswith('COPY "s"."docs" ("id", "vec", "metadata") FROM STDIN')
    assert db.sent[3].copied_rows == 600 and result.count == 600


@pytest.mark.parametrize(
    "answers",
    [
        [(r"SELECT NOT EXISTS .*row_security", (False, False))],  # not empty
        [(r"SELECT NOT EXISTS .*row_security", (True, True))],  # row level security applies
        [(r"row_security", (True, False)), (r"SELECT NOT EXISTS", (False,))],  # filled meanwhile
    ],
)
def test_otherwise_the_records_go_through_staging(answers):
    db = FakeDB(answers)
    result = db.run(records.upsert_plan(target(), iter(rows(600)), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent if s.sql.split()[0] not in ("SELECT", "LOCK")]
    assert kinds == ["CREATE", "COPY", "INSERT"]
    assert db.sent[-2].copied_rows == 600 and result.count == 600


def test_a_repeated_id_sends_the_rest_through_staging():
    stream = rows(400) + [("r7", np.ones(4) * -1, {"again": True})] + rows(100, start=400)
    db = FakeDB([(r"SELECT NOT EXISTS", (True, False))])
    result = db.run(records.upsert_plan(target(), iter(stream), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent]
    assert kinds == ["SELECT", "LOCK", "SELECT", "COPY", "CREATE", "COPY", "INSERT"]
    assert db.sent[3].copied_rows == 400 and db.sent[5].copied_rows == 101
    assert result.count == 501


def test_fresh_load_semantics_against_the_database(vx, sql_conn, schema):
    col = vx.get_or_create_collection("fresh", dimension=4)
    # repeated ids inside one call: the last one wins, whichever path each copy took
    stream = rows(300) + [("r5", [9, 9, 9, 9], {"last": 1})] + rows(300, start=300)
    stream += [("r5", [8, 8, 8, 8], {"last": 2}), ("r450", [7, 7, 7, 7], {"last": 3})]
    col.upsert(stream)
    assert col.count() == 600
    got = {r[0]: r for r in col.fetch(["r5", "r450", "r0"])}
    assert got["r5"][2] == {"last": 2} and list(got["r5"][1]) == [8, 8, 8, 8]
    assert got["r450"][2] == {"last": 3} and got["r0"][2] == {"i": 0}
    # a second load into the now non-empty table overwrites through staging
    col.upsert((f"r{i}", [1, 2, 3, 4], {"v": 2}) for i in range(0, 600, 2))
    assert col.count() == 600 and col.fetch(["r4"])[0][2] == {"v": 2}


def test_text_mid_stream_on_a_table_without_a_text_column(vx):
    col = vx.get_or_create_collection("fresh_text", dimension=4)
    stream = rows(300) + [("t1", [1, 0, 0, 0], {}, "hello world")] + rows(10, start=300)
    col.upsert(stream)
    assert col.count() == 311
    assert col.get(["t1"])[0].text == "hello world"
    assert col.get(["r305"])[0].text is None


def test_a_bad_record_mid_stream_writes_nothing(vx):
    col = vx.get_or_create_collection("fresh_bad", dimension=4)
    with pytest.raises(vecs_core.RecordError, match="record 400"):
        col.upsert(rows(400) + [("bad", [1, 2], {})] + rows(10, start=400))
    assert col.count() == 0


def test_concurrent_fresh_loads_into_one_empty_table(database_url, schema):
    """Two loads of overlapping ids into the same empty collection: both succeed (one goes
    straight in, the other waits for its lock and merges), every id once, no deadlock."""
    with vecs_core.create_client(database_url, schema=schema, pool_size=4) as vx:
        vx.get_or_create_collection("race", dimension=4)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def load(tag: int) -> None:
        try:
            with vecs_core.create_client(database_url, schema=schema, pool_size=2) as c:
                col = c.get_or_create_collection("race", dimension=4)
                barrier.wait()
                col.upsert((f"r{i}", [tag, 1, 1, 1], {"tag": tag}) for i in range(2000))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(t,)) for t in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors
    with vecs_core.create_client(database_url, schema=schema, pool_size=2) as vx:
        col = vx.get_or_create_collection("race", dimension=4)
        assert col.count() == 2000
        tags = {r.metadata["tag"] for r in col.find(limit=2000)}
        assert tags <= {1, 2} and len(tags) == 1  # one load's records, all of them, won


def test_readers_are_not_blocked_by_a_fresh_load(database_url, schema, sql_conn):
    with vecs_core.create_client(database_url, schema=schema, pool_size=2) as vx:
        col = vx.get_or_create_collection("busy", dimension=4)
        started = threading.Event()

        def slow_records():
            for i in range(600):
                if i == 300:
                    started.set()
                    threading.Event().wait(1.0)  # the load holds its lock meanwhile
                yield (f"r{i}", [1, 1, 1, i], {})

        th = threading.Thread(target=lambda: col.upsert(slow_records()))
        th.start()
        assert started.wait(30)
        # a reader on another connection gets an answer while the load is in progress
        sql_conn.execute("SET statement_timeout = 500")
        (n,) = sql_conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "busy"))
        ).fetchone()
        sql_conn.execute("RESET statement_timeout")
        th.join(60)
        assert n == 0 and col.count() == 600
