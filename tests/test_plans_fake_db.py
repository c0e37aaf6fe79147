"""Plans driven by the fake database (``fake_db.py``): the SQL they send, step by step.

No server: these check what a plan says (index DDL for every kind x measure x method, the step
order of upserts, the settings a search sends, the cleanup after a failed build). The suites
against the real PostgreSQL check what the database does with it.
"""

from __future__ import annotations

import itertools

import numpy as np
import psycopg
import pytest
from fake_db import FakeDB

from vecs_core import ArgError, IndexArgsHNSW, IndexArgsIVFFlat, IndexBuildError, IndexMeasure
from vecs_core._filter_cache import compile_request_filter
from vecs_core._indexes import MEASURES, IndexMethod, IndexNote, plan_index
from vecs_core._kinds import KINDS
from vecs_core._plans import move, records
from vecs_core._plans.catalog import TableInfo, table_sql
from vecs_core._plans.indexes import IndexTarget, VectorIndex, all_indexes_plan, create_index_plan
from vecs_core._plans.search import distance_sql, search_plan, search_shape
from vecs_core._records import Encoder, VectorParam
from vecs_core._requests import SearchOptions, SearchRequest

LATEST = (0, 8, 5)
LOCK = r"pg_try_advisory_lock"
UNLOCK = r"pg_advisory_unlock"


def target(kind: str = "vector", dimension: int = 4, has_text: bool = False) -> records.Target:
    return records.Target(table_sql("s", "docs"), dimension, has_text, KINDS[kind])


def build(kind: str, measure: IndexMeasure, method: str, dimension: int = 4) -> FakeDB:
    plan = plan_index(
        method=method,
        measure=measure,
        index_arguments=None,
        dimension=dimension,
        version=LATEST,
        table=KINDS[kind],
    )
    db = FakeDB([(LOCK, (True,)), (r"count\(\*\)", (5000,))])
    built = db.run(
        create_index_plan(IndexTarget("s", "docs", target().table, dimension), plan, True, {})
    )
    assert isinstance(built, VectorIndex) and built.valid
    return db


CASES = list(itertools.product(KINDS, IndexMeasure, ("hnsw", "ivfflat")))


@pytest.mark.parametrize(("kind", "measure", "method"), CASES, ids=lambda c: str(c))
def test_index_ddl_for_every_kind_measure_and_method(kind, measure, method):
    served = method in KINDS[kind].methods and method in MEASURES[measure].methods
    if not served:
        with pytest.raises(ArgError, match="cannot serve"):
            build(kind, measure, method)
        return
    db = build(kind, measure, method)
    (ddl,) = db.statements("CREATE INDEX")
    opclass = f"{kind}_{MEASURES[measure].suffix}"
    assert ddl.startswith("CREATE INDEX CONCURRENTLY")
    assert f'USING {method} ("vec" "{opclass}")' in ddl
    if method == "hnsw":
        assert ddl.endswith("WITH (m = 16, ef_construction = 64)")
    else:
        assert ddl.endswith("WITH (lists = 30)")  # vecs' rule for 5,000 rows: max(n/1000, 30)
    first, last = db.sent[0].sql, db.sent[-1].sql
    assert LOCK in first and UNLOCK in last  # the build holds the collection's index lock


def test_wide_vector_collections_index_a_halfvec_cast():
    db = build("vector", IndexMeasure.cosine_distance, "hnsw", dimension=3000)
    (ddl,) = db.statements("CREATE INDEX")
    assert '(("vec"::halfvec(3000)) "halfvec_cosine_ops")' in ddl
    with pytest.raises(ArgError, match="cannot index 4001 dimensions"):
        build("halfvec", IndexMeasure.cosine_distance, "hnsw", dimension=4001)
    wide = build("sparsevec", IndexMeasure.l2_distance, "hnsw", dimension=1_000_000)
    assert '"vec" "sparsevec_l2_ops"' in wide.statements("CREATE INDEX")[0]


def test_a_failed_build_drops_its_index_resets_settings_and_releases_the_lock():
    plan = plan_index(
        method="hnsw",
        measure="cosine_distance",
        index_arguments=IndexArgsHNSW(m=8, ef_construction=32),
        dimension=4,
        version=LATEST,
        table=KINDS["vector"],
    )
    old = VectorIndex("ix_old", IndexMethod.hnsw, IndexMeasure.cosine_distance, "vector", True)
    db = FakeDB(
        [
            (LOCK, (True,)),
            (r"FROM pg_index", [(old.name, "hnsw", "vector_cosine_ops", True, None, 3000.0, [])]),
            (r"^CREATE INDEX", psycopg.errors.ProgramLimitExceeded("memory required is 9 GB")),
        ]
    )
    settings = {"maintenance_work_mem": "64MB"}
    target_ = IndexTarget("s", "docs", target().table, 4)
    with pytest.raises(IndexBuildError, match="memory required is 9 GB.*previous index"):
        db.run(create_index_plan(target_, plan, True, settings))
    sent = [s.sql for s in db.sent]
    create = next(i for i, s in enumerate(sent) if s.startswith("CREATE INDEX"))
    new_name = sent[create].split('"')[1]
    after = sent[create + 1 :]
    assert any(f'DROP INDEX CONCURRENTLY IF EXISTS "s"."{new_name}"' in s for s in after)
    assert not any('"ix_old"' in s for s in after)  # the old index is kept
    assert any("reset_val" in s for s in after)  # the build's settings are reset
    assert UNLOCK in sent[-1]  # and the lock is released last


def test_the_catalog_reads_build_options_and_tuned_defaults():
    """``reloptions`` give the build options (pgvector's defaults when the build named none);
    the index comment gives the tuned search default and what the tune measured."""
    tuned = IndexNote(ef_search=80, tuned={"target_recall": 0.95, "recall": 0.97})
    rows = [
        (
            "ix_h",
            "hnsw",
            "vector_cosine_ops",
            True,
            tuned.to_comment(),
            9.0,
            ["m=8", "ef_construction=32"],
        ),
        ("ix_i", "ivfflat", "vector_l2_ops", True, None, 9.0, ["lists=7"]),
        ("ix_d", "hnsw", "vector_ip_ops", True, None, 9.0, []),
    ]
    found = FakeDB([(r"FROM pg_index", rows)]).run(all_indexes_plan("s", "docs"))
    h, i, d = found.vector
    assert (h.m, h.ef_construction, h.lists, h.ef_search) == (8, 32, None, 80)
    assert h.tuned == {"target_recall": 0.95, "recall": 0.97}
    assert (i.m, i.ef_construction, i.lists, i.probes, i.tuned) == (None, None, 7, None, None)
    assert (d.m, d.ef_construction) == (16, 64)


def test_move_specs_rebuild_the_newest_valid_index_per_measure_as_it_was():
    info = TableInfo("docs", 8, frozenset({"id", "vec", "metadata"}), KINDS["vector"], "s")
    cos, l2 = IndexMeasure.cosine_distance, IndexMeasure.l2_distance
    known = [
        VectorIndex("old", IndexMethod.hnsw, cos, "vector", True, m=8, ef_construction=32),
        VectorIndex(
            "half",
            IndexMethod.hnsw,
            cos,
            "halfvec",
            True,
            m=12,
            ef_construction=48,
            ef_search=60,
            tuned={"recall": 0.96},
        ),
        VectorIndex("broken", IndexMethod.hnsw, cos, "vector", False, m=4, ef_construction=8),
        VectorIndex("ivf", IndexMethod.ivfflat, l2, "vector", True, lists=7, probes=3),
    ]
    ivf, half = move.vector_index_specs(known, info)  # newest first
    assert ivf.args == IndexArgsIVFFlat(n_lists=7)
    assert ivf.search_defaults == {"probes": 3, "tuned": {}}
    assert half.args == IndexArgsHNSW(m=12, ef_construction=48, quantization="halfvec")
    assert half.search_defaults == {"ef_search": 60, "tuned": {"recall": 0.96}}
    untuned = move.vector_index_specs(known[:1], info)
    assert untuned[0].args == IndexArgsHNSW(m=8, ef_construction=32)
    assert untuned[0].search_defaults is None


def test_a_build_waits_for_the_lock_and_refuses_replace_false():
    answers = iter([(False,), (False,), (True,)])
    plan = plan_index(
        method="ivfflat",
        measure="l2_distance",
        index_arguments=IndexArgsIVFFlat(n_lists=7),
        dimension=4,
        version=LATEST,
        table=KINDS["halfvec"],
    )
    existing = [("ix_a", "ivfflat", "halfvec_l2_ops", True, None, 3000.0, [])]
    db = FakeDB([(LOCK, lambda _: next(answers)), (r"FROM pg_index", existing)])
    with pytest.raises(ArgError, match="replace=False"):
        db.run(create_index_plan(IndexTarget("s", "docs", target().table, 4), plan, False, {}))
    assert len(db.statements("pg_sleep")) == 2 and UNLOCK in db.sent[-1].sql


@pytest.mark.parametrize("kind", list(KINDS))
def test_small_upsert_is_one_statement(kind):
    t = target(kind)
    encoder = Encoder(KINDS[kind], 4)
    checked = [encoder.validate(i, (f"r{i}", [1, 0, 0, i], {"i": i})) for i in range(3)]
    db = FakeDB()
    result = db.run(records.small_upsert_plan(t, checked))
    (insert,) = db.statements()
    assert insert.startswith('INSERT INTO "s"."docs" ("id", "vec", "metadata") SELECT DISTINCT')
    assert f"::{kind}" in insert and "ON CONFLICT (id) DO UPDATE" in insert
    assert result.count == 3 and not result.added_text_column
    # with document text on a table without a text column: the column first, same transaction
    with_text = [encoder.validate(0, ("r0", [1, 0, 0, 0], {}, "hello"))]
    db = FakeDB()
    assert db.run(records.small_upsert_plan(t, with_text)).added_text_column
    assert [s.split()[0] for s in db.statements()] == ["ALTER", "INSERT"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_streamed_upsert_steps(kind):
    rows = [(f"r{i % 500}", np.ones(4) * (i + 1), {"i": i}, f"text {i}") for i in range(1200)]
    db = FakeDB()
    result = db.run(records.upsert_plan(target(kind), iter(rows)))
    kinds = [s.sql.split()[0] for s in db.sent]
    assert kinds == ["CREATE", "COPY", "ALTER", "INSERT"]
    assert f"vec {kind}," in db.sent[0].sql and "ON COMMIT DROP" in db.sent[0].sql
    assert db.sent[1].copied_rows == 1200 and result.count == 1200
    assert 'DISTINCT ON (id COLLATE "C")' in db.sent[3].sql
    assert 'ORDER BY k.id COLLATE "C"' in db.sent[3].sql


def test_a_bad_first_record_sends_nothing():
    db = FakeDB()
    from vecs_core import RecordError

    with pytest.raises(RecordError, match="record 0"):
        db.run(
            records.upsert_plan(target(), iter([("a", [1, 2], {})] + [("b", [1] * 4, {})] * 300))
        )
    assert db.sent == []


def _search(kind: str, index: VectorIndex | None, version=LATEST, filters=None, **options):
    t = target(kind)
    checked = SearchOptions.build(
        limit=options.pop("limit", 10), measure=options.pop("measure", "cosine_distance"), **options
    )
    vector = VectorParam(np.ones(4, dtype=np.float32), KINDS[kind])
    request = SearchRequest(checked, vector, compile_request_filter(filters))
    shape = search_shape(t, request, index, MEASURES[checked.measure].operator, version)
    db = FakeDB()
    db.run(search_plan(t, shape, request))
    return db.sent[0]


def _index(method: str, kind: str = "vector") -> VectorIndex:
    return VectorIndex("ix", IndexMethod(method), IndexMeasure.cosine_distance, kind, True)


@pytest.mark.parametrize("kind", list(KINDS))
def test_search_settings(kind):
    hnsw, ivf = _index("hnsw", kind), _index("ivfflat", kind)
    assert _search(kind, None).settings == {}
    assert _search(kind, hnsw).settings == {
        "hnsw.ef_search": "40",
        "hnsw.iterative_scan": "off",
    }
    assert _search(kind, hnsw, limit=100, ef_search=20).settings["hnsw.ef_search"] == "100"
    filtered = _search(kind, hnsw, filters={"a": 1}, ef_search=80)
    assert filtered.settings == {
        "hnsw.ef_search": "80",
        "hnsw.iterative_scan": "relaxed_order",
        "hnsw.max_scan_tuples": "20000",  # an iterative scan states its bound
    }
    assert _search(kind, ivf, probes=7).settings == {
        "ivfflat.probes": "7",
        "ivfflat.iterative_scan": "off",
    }
    strict = _search(kind, hnsw, iterative_scan="strict_order").settings
    assert strict["hnsw.iterative_scan"] == "strict_order"
    relaxed = _search(kind, ivf, filters={"a": 1}).settings
    assert relaxed["ivfflat.iterative_scan"] == "relaxed_order"
    assert relaxed["ivfflat.max_probes"] == "100"
    assert _search(kind, hnsw, version=(0, 7, 4)).settings == {"hnsw.ef_search": "40"}
    with pytest.raises(ArgError, match="needs pgvector >= 0.8.0"):
        _search(kind, hnsw, version=(0, 7, 4), iterative_scan="relaxed_order")
    with pytest.raises(ArgError, match="not strict"):
        _search(kind, ivf, iterative_scan="strict_order")


def test_search_statements_cast_like_the_index_and_bind_the_filter_once():
    sent = _search("vector", _index("hnsw"))
    assert '("vec" <=> %(q)s::vector)' in sent.sql and sent.sql.endswith("LIMIT 10")
    half = _search("halfvec", _index("hnsw", "halfvec"))
    assert '("vec" <=> %(q)s::halfvec)' in half.sql
    t = target("vector", dimension=3000)
    cast = distance_sql(t, _index("hnsw", "halfvec"), "<=>").as_string(None)
    assert cast == '(("vec"::halfvec(3000)) <=> (%(q)s::vector::halfvec(3000)))'
    adaptive = _search("sparsevec", _index("hnsw", "sparsevec"), filters={"a": {"$in": [1, 2]}})
    assert adaptive.sql.count("@> ANY(%(f0)s::jsonb[])") == 3  # count, exact and index branches
    assert set(adaptive.params) == {"f0", "p1", "q"}  # ... with the filter's value bound once
    assert adaptive.params["p1"] == 2000  # the exact-search threshold


def test_the_branch_remembered_and_when_not():
    """The adaptive statement's rows end with the count: below the threshold the exact branch
    is remembered; a full index branch is remembered; a short index branch (its scan bound hit)
    is not, so the next search counts again instead of sending a short branch first."""
    t = target()
    checked = SearchOptions.build(limit=3, measure="cosine_distance")
    vector = VectorParam(np.ones(4, dtype=np.float32), KINDS["vector"])
    hnsw = _index("hnsw")

    def shape_for(filters):
        request = SearchRequest(checked, vector, compile_request_filter(filters))
        return request, search_shape(t, request, hnsw, "<=>", LATEST, rows=1e6)

    def row(i, n):  # id, distance, metadata, text, then the count
        return (f"r{i}", 0.1 * i, {}, None, n)

    for filters, n, found, remembered in (
        ({"a": 1}, 12_999, 3, True),  # exact (the threshold at 1M rows is 13,000)
        ({"a": 2}, 13_000, 3, False),  # index, full
        ({"a": 3}, 13_000, 2, None),  # index, short: not remembered
    ):
        request, shape = shape_for(filters)
        alone = [row(i, n)[:-1] for i in range(found)]  # a branch sent alone: no count
        db = FakeDB([(r"matching", [row(i, n) for i in range(found)]), (r"LIMIT 3", alone)])
        hits = db.run(search_plan(t, shape, request))
        assert [h.id for h in hits] == [f"r{i}" for i in range(found)]  # the count stripped
        got = [exact for exact, _ in shape.branches.values()]
        assert got == ([] if remembered is None else [remembered])
        db.run(search_plan(t, shape, request))
        second = db.sent[1].sql
        if remembered is None:
            assert "matching" in second
        else:
            assert "matching" not in second and ("OFFSET 0" in second) == remembered
