"""Index specifics: half-precision indexes above 2,000 dimensions, iterative scans, prewarm."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError


def test_halfvec_index_above_2000_dimensions(vx, sql_conn, schema):
    dim = 2500
    col = vx.get_or_create_collection("wide", dimension=dim)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, dim)).astype(np.float32)
    col.upsert((f"r{i}", v, {"i": i}) for i, v in enumerate(data))
    built = col.create_index(method="hnsw", measure="cosine_distance")
    assert built.halfvec and built.name.startswith("ix_halfvec_cosine_ops_hnsw")
    assert col.is_indexed_for_measure("cosine_distance")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the halfvec index covers the measure: no warning
        got = col.query(data=data[17], limit=3)
    assert got[0] == "r17"
    # the statement shape the library sends is served by the expression index
    sql_conn.execute("SET enable_seqscan = off")
    plan = sql_conn.execute(
        sql.SQL(
            "EXPLAIN SELECT id FROM {} ORDER BY (vec::halfvec(2500)) <=> "
            "(%s::vector::halfvec(2500)) LIMIT 3"
        ).format(sql.Identifier(schema, "wide")),
        (str(data[17].tolist()),),
    ).fetchall()
    sql_conn.execute("RESET enable_seqscan")
    assert built.name in " ".join(r[0] for r in plan)
    ivf = col.create_index(method="ivfflat", measure="l2_distance")
    assert ivf.halfvec and [ix.name for ix in col.list_indexes()] == [ivf.name]
    assert col.query(data=data[5], limit=1, measure="l2_distance", probes=30) == ["r5"]


def test_too_many_dimensions_are_refused_clearly(vx):
    col = vx.get_or_create_collection("huge", dimension=4001)
    with pytest.raises(ArgError, match="up to 4000 dimensions"):
        col.create_index()
    with pytest.raises(ArgError, match="dimension must be between 1 and 16000"):
        vx.get_or_create_collection("toobig", dimension=16001)
    with pytest.raises(ArgError, match="dimension must be between 1 and 16000"):
        vx.get_or_create_collection("zero", dimension=0)


@pytest.mark.citus
def test_iterative_scan_returns_full_limit_for_selective_filters(vx):
    col = vx.get_or_create_collection("filtered", dimension=16)
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5000, 16)).astype(np.float32)
    col.upsert((f"r{i}", v, {"rare": i % 100 == 0}) for i, v in enumerate(data))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=8))
    q = rng.normal(size=16)
    default = col.query(data=q, limit=10, filters={"rare": True}, ef_search=10)
    assert len(default) == 10
    for mode in ("strict_order", "relaxed_order"):
        hits = col.search(q, limit=10, filters={"rare": True}, iterative_scan=mode)
        assert len(hits) == 10
        assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    # "off" is accepted; whether it loses rows depends on the planner choosing the HNSW scan
    off = col.query(data=q, limit=10, filters={"rare": True}, iterative_scan="off")
    assert 0 < len(off) <= 10 and all(int(i[1:]) % 100 == 0 for i in off)
    with pytest.raises(ArgError, match="iterative_scan"):
        col.query(data=q, iterative_scan="sometimes")
    col.create_index(method="ivfflat", index_arguments=vecs_core.IndexArgsIVFFlat(n_lists=20))
    with pytest.raises(ArgError, match="not strict"):
        col.query(data=q, iterative_scan="strict_order")
    assert len(col.query(data=q, limit=10, filters={"rare": True}, probes=1)) == 10


@pytest.mark.citus
def test_ef_search_is_raised_to_limit(vx):
    col = vx.get_or_create_collection("ef", dimension=8)
    rng = np.random.default_rng(2)
    col.upsert((f"r{i}", rng.normal(size=8), {}) for i in range(2000))
    col.create_index(method="hnsw")
    assert len(col.query(data=rng.normal(size=8), limit=200, ef_search=10)) == 200


def test_prewarm_reports_missing_extension_or_loads_blocks(vx, sql_conn):
    col = vx.get_or_create_collection("warm", dimension=4)
    col.upsert([(f"r{i}", np.ones(4) * (i + 1), {}) for i in range(100)])
    col.create_index()
    available = sql_conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_prewarm'"
    ).fetchone()[0]
    if available:
        assert col.prewarm() > 0
    else:
        with pytest.raises(vecs_core.VecsError, match="pg_prewarm is not available"):
            col.prewarm()


def test_index_build_reports_progress(vx):
    col = vx.get_or_create_collection("progress", dimension=64)
    rng = np.random.default_rng(4)
    col.upsert((f"r{i}", rng.normal(size=64), {}) for i in range(20_000))
    seen: list[vecs_core.IndexBuildProgress] = []
    col.create_index(
        method="hnsw",
        index_arguments=vecs_core.IndexArgsHNSW(m=16, ef_construction=64),
        progress=seen.append,
    )
    assert seen, "a multi-second build reports at least one snapshot"
    assert all(isinstance(p.phase, str) and p.phase for p in seen)
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert all(0.0 <= f <= 1.0 for f in fractions)


def _current_settings():
    from vecs_core._protocol import Execute, Job

    def plan():
        row = yield Execute(
            sql.SQL(
                "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"
            ),
            fetch="one",
        )
        return tuple(row)

    return (yield Job(plan, "statements"))


def test_search_settings_do_not_leak_between_calls(database_url, schema):
    # one pooled connection: every call meets whatever the previous call left on it
    with vecs_core.create_client(database_url, schema=schema, pool_size=1) as vx:
        col = vx.get_or_create_collection("settings", dimension=4)
        col.upsert([(f"r{i}", np.ones(4) * (i + 1), {"k": i % 2}) for i in range(50)])
        col.create_index(method="hnsw")
        col.search(np.ones(4), ef_search=123)
        assert col._do(_current_settings()) == ("123", "off")
        col.search(np.ones(4), filters={"k": 1})
        assert col._do(_current_settings()) == ("40", "relaxed_order")
        col.search(np.ones(4))  # no knobs: back to the defaults, nothing inherited
        assert col._do(_current_settings()) == ("40", "off")
        # an RLS-style session applies them inside its own transactions only
        view = vx.session(settings={"app.user_id": "1"}).get_or_create_collection("settings")
        view.search(np.ones(4), ef_search=77)
        assert col._do(_current_settings()) == ("40", "off")


def test_search_settings_stay_local_on_an_injected_engine(database_url, schema):
    import psycopg
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://",
        connect_args=psycopg.conninfo.conninfo_to_dict(database_url),
        pool_size=1,
        max_overflow=0,
    )
    with vecs_core.create_client(engine=engine, schema=schema) as vx:
        col = vx.get_or_create_collection("engine", dimension=4)
        col.upsert([(f"r{i}", np.ones(4) * (i + 1), {}) for i in range(20)])
        col.create_index(method="hnsw")
        assert len(col.search(np.ones(4), limit=3, ef_search=99)) == 3
    with engine.connect() as conn:  # the user's connection keeps its own settings
        got = conn.execute(sqlalchemy.text("SELECT current_setting('hnsw.ef_search')")).scalar()
    assert got == "40"
    engine.dispose()


def test_is_indexed_for_measure_is_false_for_unknown_measures(vx):
    col = vx.get_or_create_collection("m", dimension=3)
    col.upsert([("a", [1, 2, 3], {})])
    col.create_index(measure="max_inner_product")
    # as in vecs: a question with the answer no, not an error
    for measure in ("invalid", "dot", None, 3, ["cosine_distance"]):
        assert col.is_indexed_for_measure(measure) is False
    assert col.is_indexed_for_measure("max_inner_product") is True
    assert col.is_indexed_for_measure(vecs_core.IndexMeasure.cosine_distance) is False
    # where a measure is used, an unknown one is still refused
    with pytest.raises(ArgError, match="unknown measure 'dot'"):
        col.query(data=[1, 2, 3], measure="dot")
    with pytest.raises(ArgError, match="unknown measure 'dot'"):
        col.create_index(measure="dot")


def test_pgvector_older_than_0_5_has_no_hnsw(vx):
    """vecs' failover path: with pgvector < 0.5 (here simulated by overriding the version),
    ``auto`` builds IVFFlat and ``hnsw`` is refused; the real server builds what is asked."""
    real = vx.vector_version
    vx.set_vector_version("0.4.1")
    assert vx.vector_version == "0.4.1"
    col = vx.get_or_create_collection("old_pgvector", dimension=4)
    col.upsert([(f"r{i}", [1.0, float(i), 2.0, 3.0], {"i": i}) for i in range(50)])
    built = col.create_index(method="auto")
    assert built.method == vecs_core.IndexMethod.ivfflat
    assert [(ix.method, ix.measure) for ix in col.list_indexes()] == [
        (vecs_core.IndexMethod.ivfflat, vecs_core.IndexMeasure.cosine_distance)
    ]
    with pytest.raises(ArgError, match=r"HNSW is unavailable: pgvector >= 0\.5\.0.*0\.4\.1"):
        col.create_index(method="hnsw")
    with pytest.raises(ArgError, match="HNSW"):
        col.create_index(method=vecs_core.IndexMethod.hnsw, replace=False)
    assert [ix.name for ix in col.list_indexes()] == [built.name]  # the refusal changed nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the IVFFlat index covers the query
        assert col.query(data=[1.0, 7.0, 2.0, 3.0], limit=1, probes=10) == ["r7"]
        # no iterative-scan setting is sent to a pgvector < 0.8, filtered or not
        assert col.query(data=[1.0, 7.0, 2.0, 3.0], limit=2, filters={"i": {"$gte": 7}})
    with pytest.raises(ArgError, match="needs pgvector >= 0.8.0"):
        col.query(data=[1.0, 7.0, 2.0, 3.0], iterative_scan="relaxed_order")
    # None forgets the override: the server's version is read again, and HNSW works
    vx.set_vector_version(None)
    assert vx.vector_version == real
    assert col.create_index(method="hnsw").method == vecs_core.IndexMethod.hnsw


def test_vector_version_is_assignable_like_vecs(client):
    client.vector_version = "0.4.1"  # what vecs' own tests do
    assert client.vector_version == "0.4.1"
    col = client.get_or_create_collection("assigned", dimension=4)
    col.upsert([("a", [1, 2, 3, 4], {})])
    assert col.create_index(method=vecs_core.IndexMethod.auto).method == "ivfflat"
    for bad in ("", "latest", 0.4, 5):
        with pytest.raises(ArgError, match="version string"):
            client.vector_version = bad  # type: ignore[assignment]
    assert client.vector_version == "0.4.1"
