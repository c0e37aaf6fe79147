"""Client lifecycle, names, connection handling, vecs compatibility."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError, CollectionAlreadyExists, CollectionNotFound, MismatchedDimension


def test_public_names_are_pinned():
    assert sorted(vecs_core.__all__) == vecs_core.__all__
    assert vecs_core.__all__ == [
        "ArgError",
        "AsyncClient",
        "AsyncCollection",
        "Client",
        "Collection",
        "CollectionAlreadyExists",
        "CollectionNotFound",
        "Distribution",
        "EmbeddedServerError",
        "FILTER_OPERATORS",
        "FilterError",
        "ForeignTable",
        "Hit",
        "IndexArgsHNSW",
        "IndexArgsIVFFlat",
        "IndexBuildError",
        "IndexBuildProgress",
        "IndexMeasure",
        "IndexMethod",
        "Item",
        "LOGICAL_OPERATORS",
        "MAX_LIMIT",
        "MetadataIndex",
        "MigrationError",
        "MismatchedDimension",
        "MissingDependency",
        "PermissionDenied",
        "ReadOnly",
        "ReadStats",
        "Record",
        "RecordError",
        "ShardPlacement",
        "StatementTimeout",
        "Unreachable",
        "UpsertProgress",
        "VecsError",
        "VectorIndex",
        "adapter",
        "create_async_client",
        "create_client",
        "embedded",
        "exc",
        "parse_measure",
        "relevance_score",
        "similarity_score",
    ]
    for name in ("Adapter", "AdapterContext", "AdapterStep", "NoOp"):
        assert hasattr(vecs_core.adapter, name)
    assert issubclass(vecs_core.FilterError, ValueError)
    assert issubclass(vecs_core.CollectionNotFound, LookupError)
    assert issubclass(vecs_core.Unreachable, ConnectionError)
    assert issubclass(vecs_core.MissingDependency, ImportError)
    assert vecs_core.exc.VecsException is vecs_core.VecsError
    assert vecs_core.PermissionDenied is vecs_core.exc.PermissionDenied
    assert vecs_core.StatementTimeout is vecs_core.exc.StatementTimeout
    assert vecs_core.MAX_LIMIT == 1000
    assert vecs_core.LOGICAL_OPERATORS == ("$and", "$or", "$not")
    assert {"$eq", "$in", "$contains"} <= set(vecs_core.FILTER_OPERATORS)
    assert vecs_core.parse_measure("l2_distance") is vecs_core.IndexMeasure.l2_distance
    with pytest.raises(ArgError, match="unknown measure"):
        vecs_core.parse_measure("hamming")


# shared, synchronous on both shells (no I/O: they build a view, or set a value)
NO_IO_METHODS = {"session", "set_vector_version", "read_stats"}


def _public(cls):
    return {
        n: inspect.signature(getattr(cls, n))
        for n in dir(cls)
        if not n.startswith("_") and callable(getattr(cls, n))
    }


@pytest.mark.parametrize(
    ("sync_cls", "async_cls", "io_properties"),
    [
        (vecs_core.Collection, vecs_core.AsyncCollection, {"index"}),
        (vecs_core.Client, vecs_core.AsyncClient, {"vector_version"}),
    ],
)
def test_sync_and_async_shells_do_not_drift(sync_cls, async_cls, io_properties):
    sync_api, async_api = _public(sync_cls), _public(async_cls)
    # I/O properties of the sync API are coroutine methods on the async one
    assert set(async_api) - set(sync_api) - io_properties <= {"aclose"}
    assert set(sync_api) - set(async_api) <= {"close"}
    for name, sig in sync_api.items():
        if name in async_api:
            assert async_api[name].parameters.keys() == sig.parameters.keys(), name
            if name not in NO_IO_METHODS:
                assert inspect.iscoroutinefunction(getattr(async_cls, name)), name


def test_generated_sync_half_is_current():
    """The sync API and driver are generated from the async ones; CI fails on drift."""
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "async_to_sync.py")
    out = subprocess.run(
        [sys.executable, script, "--check"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_generated_modules_import_only_sync_modules():
    """The generator names the sync twin of every async module a source imports (``._async``,
    ``._async_admin``, ``._async_client``, ``_adriver`` ...), and nothing else that merely ends
    in ``_async``: no generated module imports an async one."""
    import ast
    import importlib.util

    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "async_to_sync.py")
    spec = importlib.util.spec_from_file_location("async_to_sync", script)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    convert = gen._convert_line
    assert convert("from ._async import AsyncCollection") == "from ._sync import Collection"
    assert convert("from ._async_admin import run_flow") == "from ._sync_admin import run_flow"
    assert (
        convert("    from ._async_client import AsyncClient")
        == "    from ._sync_client import Client"
    )
    assert convert("x = self.existing_async") == "x = self.existing_async"
    async_sources = {name.removesuffix(".py") for name in gen.SOURCES}
    for target in gen.SOURCES.values():
        tree = ast.parse((gen.PACKAGE / target).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & async_sources, (target, imported & async_sources)


@pytest.mark.citus
def test_collection_lifecycle(vx):
    docs = vx.get_or_create_collection("docs", dimension=3)
    again = vx.get_or_create_collection("docs")
    assert again.dimension == 3
    assert vx.get_or_create_collection("docs", dimension=3).name == "docs"
    with pytest.raises(MismatchedDimension, match="dimension 3"):
        vx.get_or_create_collection("docs", dimension=4)
    with pytest.raises(ArgError, match="give dimension"):
        vx.get_or_create_collection("other")
    vx.get_or_create_collection("zeta", dimension=2)
    assert [c.name for c in vx.list_collections()] == ["docs", "zeta"]
    vx.delete_collection("zeta")
    vx.delete_collection("never-existed")
    assert [c.name for c in vx.list_collections()] == ["docs"]
    assert docs.dimension == 3
    assert vx.vector_version.count(".") >= 1


def test_deprecated_create_and_get(vx):
    with pytest.warns(DeprecationWarning):
        vx.create_collection("docs", dimension=3)
    with pytest.warns(DeprecationWarning), pytest.raises(CollectionAlreadyExists):
        vx.create_collection("docs", dimension=3)
    with pytest.warns(DeprecationWarning):
        assert vx.get_collection("docs").dimension == 3
    with pytest.warns(DeprecationWarning), pytest.raises(CollectionNotFound):
        vx.get_collection("nope")


@pytest.mark.citus
def test_deleted_collection_raises_not_found(vx):
    col = vx.get_or_create_collection("docs", dimension=3)
    vx.delete_collection("docs")
    with pytest.raises(CollectionNotFound, match="'docs'"):
        col.upsert([("a", [1, 2, 3], {})])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("x" * 64, "64 bytes"),
        ("é" * 32, "64 bytes"),
        ("tab\there", "control character"),
        ("nul\x00", "control character"),
        ("_hidden", "reserved"),
        (42, "must be a str"),
    ],
)
def test_bad_collection_names(vx, name, message):
    with pytest.raises(ArgError, match=message):
        vx.get_or_create_collection(name, dimension=3)


@pytest.mark.citus(params={"name": ["a'; DROP TABLE x; --", "x" * 63, "é" * 31 + "x"]})
@pytest.mark.parametrize(
    "name",
    [
        "a'; DROP TABLE x; --",
        'dq"uote',
        "back\\slash",
        "Mixed Case & spaces",
        "x" * 63,
        "é" * 31 + "x",
        "日本語のコレクション",
    ],
)
def test_hostile_names_are_stored_literally(vx, name):
    col = vx.get_or_create_collection(name, dimension=3)
    col.upsert([("a", [1, 2, 3], {"k": 1})])
    col.create_index()
    assert col.query(data=[1, 2, 3], limit=1) == ["a"]
    assert [c.name for c in vx.list_collections()] == [name]
    vx.delete_collection(name)
    assert vx.list_collections() == []


def test_schema_name_is_validated(database_url):
    with pytest.raises(ArgError, match="schema name"):
        vecs_core.create_client(database_url, schema="x" * 64)


def test_opens_a_table_created_by_vecs(client, sql_conn, schema):
    # the DDL vecs 0.4.5 emits through SQLAlchemy for Collection("legacy", 3)
    sql_conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    sql_conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id VARCHAR NOT NULL, vec VECTOR(3) NOT NULL, "
            "metadata JSONB DEFAULT '{{}}'::jsonb NOT NULL, PRIMARY KEY (id))"
        ).format(sql.Identifier(schema, "legacy"))
    )
    sql_conn.execute(
        sql.SQL("CREATE INDEX ix_meta_abc1234 ON {} USING gin (metadata jsonb_path_ops)").format(
            sql.Identifier(schema, "legacy")
        )
    )
    sql_conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, vec, metadata) VALUES ('old', '[1,0,0]', '{{\"year\": 1999}}')"
        ).format(sql.Identifier(schema, "legacy"))
    )
    sql_conn.execute(
        sql.SQL(
            "CREATE INDEX ix_vector_cosine_ops_hnsw_m16_efc64_abcdef0 ON {} "
            "USING hnsw (vec vector_cosine_ops) WITH (m=16, ef_construction=64)"
        ).format(sql.Identifier(schema, "legacy"))
    )
    col = client.get_or_create_collection("legacy", dimension=3)
    assert col.fetch(["old"])[0].metadata == {"year": 1999}
    col.upsert([("new", [0, 1, 0], {"year": 2024})])
    assert col.query(data=[1, 0, 0], limit=2, filters={"year": {"$lt": 2000}}) == ["old"]
    assert col.index == "ix_vector_cosine_ops_hnsw_m16_efc64_abcdef0"
    # no columns were added: the table stays exactly as vecs made it
    cols = sql_conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "ORDER BY attnum",
        (f'"{schema}"."legacy"',),
    ).fetchall()
    assert [c[0] for c in cols] == ["id", "vec", "metadata"]


def test_layout_matches_vecs(client, sql_conn, schema):
    client.get_or_create_collection("docs", dimension=5)
    cols = sql_conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
        (f'"{schema}"."docs"',),
    ).fetchall()
    assert cols == [
        ("id", "character varying", True, None),
        ("vec", "vector(5)", True, None),
        ("metadata", "jsonb", True, "'{}'::jsonb"),
    ]
    idx = sql_conn.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass",
        (f'"{schema}"."docs"',),
    ).fetchall()
    defs = " ".join(i[0] for i in idx)
    assert "gin (metadata jsonb_path_ops)" in defs and "(id)" in defs


def test_disconnect_then_reconnect_lazily(database_url, schema):
    vx = vecs_core.create_client(database_url, schema=schema)
    col = vx.get_or_create_collection("docs", dimension=3)
    col.upsert([("a", [1, 2, 3], {})])
    vx.disconnect()
    vx.disconnect()  # idempotent
    assert len(col) == 1
    with vx:
        assert col.fetch(["a"])[0].id == "a"
    assert len(col) == 1


def test_url_forms(database_url, schema):
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    host = info.get("host", "")
    if not host.startswith("/"):
        pytest.skip("URL-form check is written for the embedded unix-socket server")
    for url in (
        f"postgres://postgres@/postgres?host={host}",
        f"postgresql+psycopg://postgres@/postgres?host={host}",
        f"postgresql+psycopg2://postgres@/postgres?host={host}",
    ):
        with vecs_core.create_client(url, schema=schema) as vx:
            assert vx.vector_version


def test_unreachable_names_host_and_port_not_password():
    vx = vecs_core.create_client("postgresql://bob:s3cret-pw@127.0.0.1:1/db", connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(vecs_core.Unreachable) as info:
        vx.list_collections()
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "127.0.0.1" in message and "port=1" in message
    assert "s3cret-pw" not in message
    with pytest.raises(ArgError, match="URL"):
        vecs_core.create_client("")


def test_sqlalchemy_engine_injection(database_url, schema):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    engine = sqlalchemy.create_engine("postgresql+psycopg://", connect_args=info, pool_size=2)
    with vecs_core.create_client(engine=engine, schema=schema) as vx:
        col = vx.get_or_create_collection("docs", dimension=3)
        col.upsert([("a", [1, 2, 3], {"k": "v"})])
        assert col.fetch(["a"])[0].metadata == {"k": "v"}
    # the engine still works after the client closed: we never dispose what we did not create
    with engine.connect() as conn:
        count = conn.execute(sqlalchemy.text(f'SELECT count(*) FROM "{schema}"."docs"')).scalar()
    assert count == 1
    engine.dispose()


def test_embedded_default_persists_and_is_shared_across_processes(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("VECS_DATA_DIR", str(data_dir))
    monkeypatch.delenv("VECS_DATABASE_URL", raising=False)
    vx = vecs_core.create_client()
    col = vx.get_or_create_collection("persist", dimension=2)
    col.upsert([("p", [1, 2], {"from": "parent"})])
    # a second process joins the same server and sees (and writes) the same data
    code = (
        "import vecs_core, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "vx = vecs_core.create_client()\n"
        "col = vx.get_or_create_collection('persist')\n"
        "print(col.fetch(['p'])[0].metadata['from'])\n"
        "col.upsert([('c', [2, 1], {'from': 'child'})])\n"
        "vx.disconnect()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "VECS_DATA_DIR": str(data_dir)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "parent"
    assert col.fetch(["c"])[0].metadata == {"from": "child"}
    vx.disconnect()
    assert (data_dir / "PG_VERSION").exists()
    # a new client on the same directory finds the data again
    vx2 = vecs_core.create_client()
    assert len(vx2.get_or_create_collection("persist")) == 2
    vx2.disconnect()


def test_statement_timeout_option(database_url, schema):
    with vecs_core.create_client(database_url, schema=schema, statement_timeout=200) as vx:
        col = vx.get_or_create_collection("docs", dimension=3)
        col.upsert([(f"r{i}", np.ones(3), {}) for i in range(10)])
        with pytest.raises(vecs_core.exc.StatementTimeout, match="statement_timeout"):
            col._do(_sleep_flow())
        assert len(col) == 10


def _sleep_flow():
    from vecs_core._protocol import Execute, Job

    def plan():
        yield Execute(sql.SQL("SELECT pg_sleep(1)"))

    yield Job(plan)
