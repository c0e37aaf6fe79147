"""A fresh load (an empty collection) is COPY-ed straight into the table, with upsert semantics:
statement order (fake DB), last-wins on repeated ids, text mid-stream, concurrent loads."""

from __future__ import annotations

import threading

import numpy as np
import psycopg
import pytest
from fake_db import FakeDB
from psycopg import sql

import vecs_core
from vecs_core._kinds import KINDS
from vecs_core._plans import fresh, records
from vecs_core._plans.records import Target
from vecs_core._records import COPY_TRAILER, Encoder


def target(has_text: bool = False) -> Target:
    return Target(sql.Identifier("s", "docs"), 4, has_text, KINDS["vector"])


def rows(n: int, start: int = 0) -> list:
    return [(f"r{i}", np.ones(4) * (i + 1), {"i": i}) for i in range(start, start + n)]


def run_all(threads: list[threading.Thread]) -> None:
    """Start the threads together and wait for them (at most two minutes each)."""
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)


def test_an_empty_table_gets_the_records_straight():
    db = FakeDB([(r"SELECT NOT EXISTS", (True, False))])
    result = db.run(records.upsert_plan(target(), iter(rows(600)), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent]
    assert kinds == ["SELECT", "LOCK", "SELECT", "COPY"]
    assert "row_security_active" in db.sent[0].sql
    assert "SHARE ROW EXCLUSIVE" in db.sent[1].sql
    assert db.sent[3].sql.startswith('COPY "s"."docs" ("id", "vec", "metadata") FROM STDIN')
    assert db.sent[3].copied_rows == 600 and result.count == 600


STORED = r"SELECT EXISTS .* = ANY"


@pytest.mark.parametrize(
    "answers",
    [
        [(r"row_security", (False, False)), (STORED, (True,))],  # not empty, an id is stored
        [(r"SELECT NOT EXISTS .*row_security", (True, True))],  # row level security applies
        [(r"row_security", (True, False)), (r"SELECT NOT", (False,)), (STORED, (True,))],
    ],  # the last: filled meanwhile (and an id is stored)
)
def test_otherwise_the_records_go_through_staging(answers):
    db = FakeDB(answers)
    result = db.run(records.upsert_plan(target(), iter(rows(600)), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent if s.sql.split()[0] not in ("SELECT", "LOCK")]
    assert kinds == ["CREATE", "COPY", "INSERT"]
    assert db.sent[-2].copied_rows == 600 and result.count == 600
    assert [int.from_bytes(f, "big") for f in db.sent[-2].copied_firsts] == list(range(600))


def test_new_ids_in_a_table_with_rows_go_straight_in_id_order_under_a_savepoint():
    batch = rows(600)[::-1]  # r599 ... r0: sent sorted
    db = FakeDB([(r"row_security", (False, False)), (STORED, (False,))])
    result = db.run(records.upsert_plan(target(), iter(batch), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent]
    assert kinds == ["SELECT", "SELECT", "SAVEPOINT", "COPY"]
    probe = db.sent[1].params["ids"]
    assert len(probe) == fresh.PROBE_IDS and probe[0] == "r0" and probe[-1] == "r99"
    assert probe == sorted(probe)
    assert db.sent[3].sql.startswith('COPY "s"."docs" ("id", "vec", "metadata") FROM STDIN')
    assert db.sent[3].copied_firsts == sorted(f"r{i}".encode() for i in range(600))
    assert result.count == 600


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.UniqueViolation("duplicate key"),  # a stored id the probe missed
        psycopg.errors.DeadlockDetected("deadlock"),  # with another program's writes
    ],
)
def test_a_stored_id_the_probe_missed_rolls_back_and_merges(error):
    db = FakeDB(
        [(r"row_security", (False, False)), (STORED, (False,)), (r'^COPY "s"."docs"', error)]
    )
    result = db.run(records.upsert_plan(target(), iter(rows(600)[::-1]), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent]
    straight = ["SELECT", "SELECT", "SAVEPOINT", "COPY", "ROLLBACK"]
    assert kinds == [*straight, "CREATE", "COPY", "INSERT"]
    assert db.sent[4].sql == 'ROLLBACK TO SAVEPOINT "vecs_core_straight"'
    # staged in the caller's order, numbered as given: the last of a repeated id still wins
    assert [int.from_bytes(f, "big") for f in db.sent[6].copied_firsts] == list(range(600))
    assert result.count == 600


@pytest.mark.parametrize(
    "batch",
    [
        rows(300) + [("r7", np.ones(4), {"again": True})],  # a repeated id
        rows(300) + [("t", np.ones(4), {}, "text")],  # text, and the table has no text column
        rows(300) + [["l", np.ones(4), {}]],  # not a tuple: left to the general checks
        rows(1001)[:1000] + [("r7", np.ones(4), {})],  # more than part_rows, the first repeated
    ],
)
def test_new_ids_that_cannot_go_straight_go_through_staging(batch, monkeypatch):
    monkeypatch.setattr(fresh, "PART_BYTES", 16 * 999)  # 1,000 records of 4 floats
    db = FakeDB([(r"row_security", (False, False)), (STORED, (False,))])
    result = db.run(records.upsert_plan(target(), iter(batch), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent if not s.sql.startswith("ALTER")]  # text column
    assert kinds == ["SELECT", "CREATE", "COPY", "INSERT"]  # no probe: nothing to send straight
    assert db.sent[2].copied_rows == len(batch) and result.count == len(batch)


# -- more than part_rows records: spooled to a file, then sent straight in id order ------------


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(fresh, "PART_BYTES", 16 * 999)  # part_rows: 1,000 records of 4 floats
    return 1000


def ords(sent: object) -> list[int]:
    return [int.from_bytes(f, "big") for f in sent.copied_firsts]  # type: ignore[attr-defined]


def test_a_big_load_of_new_ids_is_spooled_and_sent_straight_in_id_order(small_parts):
    batch = rows(2500)[::-1]
    db = FakeDB([(r"row_security", (False, False)), (STORED, (False,))])
    result = db.run(records.upsert_plan(target(), iter(batch), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent]
    assert kinds == ["SELECT", "SELECT", "SELECT", "SAVEPOINT", "COPY"]
    first, every = db.sent[1].params["ids"], db.sent[2].params["ids"]
    assert first[0] == "r1499" and every[0] == "r0" and every[-1] == "r999"  # sorted samples
    assert db.sent[4].sql.startswith('COPY "s"."docs" ("id", "vec", "metadata") FROM STDIN')
    assert db.sent[4].copied_firsts == sorted(f"r{i}".encode() for i in range(2500))
    assert result.count == 2500


@pytest.mark.parametrize("has_text", [False, True])
def test_spooled_rows_are_the_rows_a_straight_copy_sends(has_text):
    """The spool's rows, re-headed, are byte for byte what the table's own encoder writes."""
    recs = [(f"x{i}", [i, 1.5, -2, 0.25], {"i": i, "s": "é"}) for i in range(600)]
    if has_text:
        recs = [(*r, None if i % 3 else f"text {i}") for i, r in enumerate(recs)]
    staged, spool = Encoder(KINDS["vector"], 4), fresh.Spool()
    numbered = list(enumerate(recs))
    for k in range(0, 600, 256):
        spool.add(
            [r[0] for _, r in numbered[k : k + 256]], staged.staged_rows(numbered[k : k + 256])
        )
    order = sorted(range(600), key=spool.ids.__getitem__)
    direct = Encoder(KINDS["vector"], 4, table_text=has_text)
    expected = b"".join(direct.chunks(iter([numbered[i] for i in order])))
    assert b"".join(spool.straight(order, has_text)) == expected
    staged_again = b"".join(Encoder(KINDS["vector"], 4).chunks(iter(numbered)))
    assert b"".join(spool.staged()) + COPY_TRAILER == staged_again  # the trailer: chunks(rest)


@pytest.mark.parametrize(
    "case",
    ["first part stored", "every id probed", "repeated id", "text", "too big", "missed"],
)
def test_a_big_load_that_cannot_go_straight_is_staged_in_the_callers_order(
    case, small_parts, monkeypatch
):
    batch = rows(2500)
    answers: list = [(r"row_security", (False, False))]
    if case == "first part stored":
        answers.append((STORED, (True,)))
    elif case == "every id probed":  # the first part's probe finds none, the whole load's one
        later = lambda sent: (any(int(i[1:]) > 1000 for i in sent.params["ids"]),)  # noqa: E731
        answers.append((STORED, later))
    else:
        answers.append((STORED, (False,)))
    if case == "repeated id":
        batch[2000] = ("r5", np.ones(4), {"again": True})
    if case == "text":
        batch[1800] = ("t", np.ones(4), {}, "some text")
    if case == "too big":
        monkeypatch.setattr(fresh, "SPOOL_BYTES", 40_000)  # about 600 rows of 4 floats
    if case == "missed":  # a stored id no probe saw fails the straight COPY
        answers.append((r'^COPY "s"."docs"', psycopg.errors.UniqueViolation("duplicate key")))
    db = FakeDB(answers)
    result = db.run(records.upsert_plan(target(), iter(batch), fresh=True))
    kinds = [s.sql.split()[0] for s in db.sent]
    assert [k for k in kinds if k in ("CREATE", "COPY", "INSERT")][-3:] == [
        "CREATE",
        "COPY",
        "INSERT",
    ]
    assert ("ALTER" in kinds) == (case == "text")  # the text column, added by the merge
    (stage,) = [s for s in db.sent if s.sql.startswith('COPY "vecs_core_stage"')]
    assert ords(stage) == list(range(2500))  # numbered as given: the last of an id wins
    assert result.count == 2500
    straight = [s for s in db.sent if s.sql.startswith('COPY "s"."docs"')]
    assert len(straight) == (case == "missed")


def test_a_bad_record_after_the_first_part_fails_before_anything_is_sent(small_parts):
    batch = [*rows(1500), ("bad", [1, 2, 3], {})]
    db = FakeDB([(r"row_security", (False, False)), (STORED, (False,))])
    with pytest.raises(vecs_core.RecordError, match="record 1500"):
        db.run(records.upsert_plan(target(), iter(batch), fresh=True))
    assert not db.statements("COPY|SAVEPOINT|CREATE")


@pytest.mark.parametrize("bad", ["a\x00b", "x\ud800", ""])
def test_an_id_that_cannot_be_probed_is_refused_by_the_encoder(bad):
    db = FakeDB([(r"row_security", (False, False)), (STORED, (False,))])
    with pytest.raises(vecs_core.RecordError, match="record 300"):
        db.run(records.upsert_plan(target(), iter([*rows(300), (bad, np.ones(4), {})]), fresh=True))
    assert not db.statements("ANY|SAVEPOINT")  # never sent as a parameter


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

    run_all([threading.Thread(target=load, args=(t,)) for t in (1, 2)])
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


# -- new ids into a table that has rows --------------------------------------------------------


@pytest.fixture
def straight(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each upsert sent records straight into the table (the plan's own answer)."""
    seen: list[bool] = []
    real = records.fresh_load_plan

    def spy(*args: object) -> object:
        done = yield from real(*args)
        seen.append(done)
        return done

    monkeypatch.setattr(records, "fresh_load_plan", spy)
    return seen


def _stored(col: object, ids: list[str]) -> dict[str, object]:
    return {r[0]: r for r in col.fetch(ids)}  # type: ignore[attr-defined]


def test_batches_of_new_ids_go_straight(vx, straight):
    col = vx.get_or_create_collection("batches", dimension=4)
    order = np.random.default_rng(5).permutation(2400)
    batches = [order[k : k + 600] for k in range(0, 2400, 600)]  # unsorted ids in each batch
    for batch in batches:
        col.upsert((f"b{i}", [1, 2, 3, float(i)], {"i": int(i)}) for i in batch)
    assert straight == [True] * 4  # the first into the empty table, then new ids
    assert col.count() == 2400
    got = _stored(col, ["b0", "b1234", "b2399"])
    assert got["b1234"][2] == {"i": 1234} and list(got["b2399"][1]) == [1, 2, 3, 2399]
    # an overwrite of stored ids is recognised by the probe and merged
    col.upsert((f"b{i}", [4, 3, 2, 1], {"v": 2}) for i in range(0, 900))
    assert straight[-1] is False and col.count() == 2400
    assert _stored(col, ["b5"])["b5"][2] == {"v": 2}


def test_a_stored_id_missed_by_the_probe_is_overwritten_as_an_upsert(vx, straight):
    col = vx.get_or_create_collection("missed", dimension=4)
    col.upsert(rows(300))
    ids = sorted(f"n{i:04d}" for i in range(600))
    hidden = next(i for i in ids[1:-1] if i not in fresh._probe(ids))
    col.upsert([(hidden, [9, 9, 9, 9], {"old": True})])  # now stored, but not probed
    batch = [(i, [1, 1, 1, 1], {"new": i}) for i in ids]
    col.upsert(batch[::-1])
    assert straight[-1] is False  # tried, rolled back to its savepoint, merged
    assert col.count() == 300 + 600
    got = _stored(col, [hidden, ids[0], "r3"])
    assert got[hidden][2] == {"new": hidden} and list(got[hidden][1]) == [1, 1, 1, 1]
    assert got[ids[0]][2] == {"new": ids[0]} and got["r3"][2] == {"i": 3}


def test_a_big_load_of_new_ids_goes_straight_with_upsert_results(vx, straight, small_parts):
    col = vx.get_or_create_collection("big", dimension=4)
    col.upsert(rows(300))
    col.enable_text()  # the straight COPY carries the text column
    order = np.random.default_rng(7).permutation(2500)
    col.upsert((f"n{i}", [1, 2, 3, float(i)], {"i": int(i)}, f"doc {i}") for i in order)
    assert straight == [True, True] and col.count() == 2800  # spooled, sorted, sent straight
    got = {r[0]: r for r in col.fetch(["n0", "n1234", "r7"])}
    assert got["n1234"][2] == {"i": 1234} and list(got["n1234"][1]) == [1, 2, 3, 1234]
    assert got["r7"][2] == {"i": 7}
    assert col.get(["n42"])[0].text == "doc 42"
    # a stored id past the first part (sent in reverse: ids[1499:]), which neither probe looks
    # at: the straight COPY fails, is rolled back, and the spool is merged
    ids = sorted(f"m{i:05d}" for i in range(2500))
    hidden = next(i for i in ids[1:1499] if i not in fresh._probe(ids))
    col.upsert([(hidden, [9, 9, 9, 9], {"old": True})])
    col.upsert([(i, [1, 1, 1, 1], {"new": i}) for i in ids[::-1]])
    assert straight[-1] is False and col.count() == 2800 + 2500
    assert col.fetch([hidden])[0][2] == {"new": hidden}


def test_a_big_load_that_cannot_go_straight_is_merged_from_its_spool(vx, straight, small_parts):
    """Against the database: the spool's rows, staged as written, keep the call's last-wins
    order for a repeated id, and text past the first part adds the text column."""
    col = vx.get_or_create_collection("spool_staged", dimension=4)
    col.upsert(rows(300))
    batch = [(f"s{i}", [1, 1, 1, float(i)], {"i": i}) for i in range(2500)]
    batch[1800] = ("s5", [5, 5, 5, 5], {"again": True})  # repeats s5 (first seen at 5)
    batch[2000] = ("t", [2, 2, 2, 2], {}, "a document")  # text, and no text column yet
    col.upsert(batch)
    assert straight[-1] is False  # spooled, then staged from the file
    assert col.count() == 300 + 2500 - 1  # s1800 became a second s5, s2000 the new t
    got = _stored(col, ["s5", "s4", "r7"])
    assert got["s5"][2] == {"again": True} and list(got["s5"][1]) == [5, 5, 5, 5]
    assert got["s4"][2] == {"i": 4} and got["r7"][2] == {"i": 7}
    assert col.get(["t"])[0].text == "a document"


def test_python_str_order_is_the_merges_order(sql_conn, schema):
    """Straight loads sort ids in Python; merges in SQL with COLLATE "C": the same order, so
    writers of overlapping ids lock them in one direction."""
    ids = ["b", "B", "a-b", "ab", "a b", "é", "e", "z", "Ω", "😀", "10", "9", "_x", "ﬁ", "fi"]
    rows_ = sql_conn.execute(
        'SELECT x FROM unnest(%s::text[]) AS x ORDER BY x::varchar COLLATE "C"', (ids,)
    ).fetchall()
    assert [r[0] for r in rows_] == sorted(ids)


@pytest.mark.parametrize("spooled", [False, True])
def test_concurrent_writers_of_overlapping_new_ids_do_not_deadlock(
    database_url, schema, spooled, monkeypatch
):
    """Straight loads of the same new ids in opposite orders, and a merge of some of them, at
    once: all succeed (no deadlock, no duplicate key), every id once. ``spooled``: the loads
    are more than ``part_rows`` records, sent straight from a spool."""
    if spooled:
        monkeypatch.setattr(fresh, "PART_BYTES", 16 * 999)
    with vecs_core.create_client(database_url, schema=schema, pool_size=2) as vx:
        vx.get_or_create_collection("overlap", dimension=4).upsert(rows(10))
    ids = [f"o{i:04d}" for i in range(1500)]
    errors: list[BaseException] = []
    for attempt in range(3):
        barrier = threading.Barrier(3)

        def load(tag: int, batch: list[str], barrier: threading.Barrier = barrier) -> None:
            try:
                with vecs_core.create_client(database_url, schema=schema, pool_size=1) as c:
                    col = c.get_or_create_collection("overlap", dimension=4)
                    records_ = [(i, [tag, 1, 1, 1], {"tag": tag}) for i in batch]
                    barrier.wait()
                    col.upsert(records_)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        fresh_ids = [f"{i}-{attempt}" for i in ids]
        stored = ["r1", "r5"] + fresh_ids[::3]  # a stored id first: the merge path
        run_all(
            [
                threading.Thread(target=load, args=(1, fresh_ids)),
                threading.Thread(target=load, args=(2, fresh_ids[::-1])),
                threading.Thread(target=load, args=(3, stored)),
            ]
        )
    assert not errors
    with vecs_core.create_client(database_url, schema=schema, pool_size=1) as vx:
        col = vx.get_or_create_collection("overlap", dimension=4)
        assert col.count() == 10 + 3 * 1500
