"""``vecs_core.migrate``: copying the tables other tools made into a collection.

Each source layout is tested with tables made from its documented DDL (always) and with tables
made by the real peer package (``tests/peer_tables.py``, run by a Python that has
langchain-postgres and llama-index-vector-stores-postgres: ``$VECS_PEER_PYTHON``, else
``/tmp/peers-venv/bin/python``; skipped with the reason when there is none)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import uuid
import warnings
from typing import Any

import numpy as np
import psycopg
import pytest
from peer_tables import rows
from psycopg import sql

import vecs_core
from vecs_core import ArgError, RecordError, migrate
from vecs_core.exc import MigrationError

HERE = pathlib.Path(__file__).resolve().parent
PEER_PYTHON = os.environ.get("VECS_PEER_PYTHON", "/tmp/peers-venv/bin/python")
PEER_SETUP = (
    "python -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install langchain-postgres "
    "llama-index-vector-stores-postgres (or set VECS_PEER_PYTHON)"
)
PEER_MODULES = {
    "langchain": "langchain_postgres",
    "langchain-v2": "langchain_postgres.v2",
    "llama-index": "llama_index.vector_stores.postgres",
}


def _peer(layout: str, url: str, schema: str) -> None:
    """Make ``layout``'s tables in ``schema`` with the real peer package, or skip."""
    module = PEER_MODULES[layout]
    if not os.path.exists(PEER_PYTHON):
        pytest.skip(f"no Python with {module} at {PEER_PYTHON}: {PEER_SETUP}")
    probe = subprocess.run([PEER_PYTHON, "-c", f"import {module}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"{module} does not import in {PEER_PYTHON}: {PEER_SETUP}")
    done = subprocess.run(
        [PEER_PYTHON, str(HERE / "peer_tables.py"), layout, url, schema],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def schema(schema: str, sql_conn: psycopg.Connection[Any]) -> str:
    """The test's schema, created (the source tables go there before any collection)."""
    sql_conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    return schema


def _run(conn: psycopg.Connection[Any], statement: sql.Composable, *params: Any) -> None:
    conn.execute(statement, params or None)


def _check(col: Any, expected: dict[str, tuple[list[float], dict[str, Any], str]]) -> None:
    assert len(col) == len(expected)
    items = {i.id: i for i in col.get(list(expected))}
    records = {r.id: r for r in col.fetch(list(expected))}
    for rid, (vec, md, text) in expected.items():
        assert items[rid].text == text
        assert items[rid].metadata == md
        assert np.allclose(records[rid].vector, vec)


# -- the guides' documents table ------------------------------------------------------------------


def _documents(conn: psycopg.Connection[Any], schema: str, table: str = "documents") -> None:
    """The LangChain chapter's ``documents`` table, as the guide creates it."""
    t = sql.Identifier(schema, table)
    _run(
        conn,
        sql.SQL(
            "CREATE TABLE {} (id bigserial primary key, content text, metadata jsonb,"
            " embedding vector(3))"
        ).format(t),
    )
    for _, vec, md, text in rows():
        _run(
            conn,
            sql.SQL("INSERT INTO {} (content, metadata, embedding) VALUES (%s, %s, %s)").format(t),
            text,
            json.dumps(md),
            str(vec),
        )


def test_documents_table(client, sql_conn, schema):
    _documents(sql_conn, schema)
    col = client.get_or_create_collection("docs", dimension=3)
    col.upsert([("1", [9, 9, 9], {"old": True}), ("keep", [1, 2, 3], {"k": 1})])
    result = migrate.from_documents(col, schema=schema)
    assert result == migrate.MigrationResult(25, f"{schema}.documents", "docs", True)
    expected = {str(i + 1): (vec, md, text) for i, (_, vec, md, text) in enumerate(rows())}
    expected["keep"] = ([1, 2, 3], {"k": 1}, None)  # existing records stay; id "1" is replaced
    _check(col, expected)
    # searches work on the copy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert col.query([5.0, 1.0, -2.5], limit=1) == ["5"]
    # copying again changes nothing (the same ids are updated)
    assert migrate.from_documents(col, schema=schema).rows == 25
    assert len(col) == 26


def test_documents_variants_and_halfvec(client, sql_conn, schema):
    """The hybrid-search guide's table has no metadata column; the RAG guide's sections keep a
    document_id, folded into the metadata; a halfvec collection takes vector sources."""
    t = sql.Identifier(schema, "document_sections")
    _run(
        sql_conn,
        sql.SQL(
            "CREATE TABLE {} (id bigint primary key generated always as identity,"
            " document_id bigint NOT NULL, content text NOT NULL, embedding vector(3))"
        ).format(t),
    )
    _run(
        sql_conn,
        sql.SQL(
            "INSERT INTO {} (document_id, content, embedding)"
            " SELECT i % 3, 'section ' || i, ('[' || i || ', 1, 0]')::vector"
            " FROM generate_series(1, 50) AS i"
        ).format(t),
    )
    col = client.get_or_create_collection("sections", dimension=3, storage="halfvec")
    result = migrate.from_documents(
        col,
        schema=schema,
        table="document_sections",
        metadata_column=None,
        metadata_columns=["document_id"],
    )
    assert result.rows == 50
    item = col.get(["7"], include_vector=True)[0]
    assert item.metadata == {"document_id": 1}
    assert item.text == "section 7"
    assert np.allclose(item.vector, [7, 1, 0])


def test_from_another_database(client, database_url, schema):
    """The source can be another database (here: on the same server)."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    info["dbname"] = name
    other = psycopg.conninfo.make_conninfo(**info)
    try:
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
            _documents(conn, "public")
        col = client.get_or_create_collection("docs", dimension=3)
        assert migrate.from_documents(col, source=other).rows == 25
        assert col.get(["2"])[0].text == "text number 2"
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_streams_in_bounded_chunks(client, sql_conn, schema, monkeypatch):
    t = sql.Identifier(schema, "documents")
    _run(
        sql_conn,
        sql.SQL(
            "CREATE TABLE {} (id bigserial, content text, metadata jsonb, embedding vector(3))"
        ).format(t),
    )
    _run(
        sql_conn,
        sql.SQL(
            "INSERT INTO {} (content, metadata, embedding) SELECT repeat('x', 200), '{{}}',"
            " '[1,2,3]' FROM generate_series(1, 3000)"
        ).format(t),
    )
    sizes: list[int] = []
    stream = migrate._stream

    def recorded(*args: Any) -> Any:
        for chunk in stream(*args):
            sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(migrate, "CHUNK_BYTES", 16 * 1024)
    monkeypatch.setattr(migrate, "_stream", recorded)
    col = client.get_or_create_collection("docs", dimension=3)
    assert migrate.from_documents(col, schema=schema).rows == 3000
    assert len(sizes) > 30  # streamed, never held whole (about 800 kB of rows)
    assert max(sizes) < 16 * 1024 + 1024


def test_failure_midway_writes_nothing(client, sql_conn, schema):
    """The source fails after thousands of rows were already streamed into the collection's
    transaction: nothing is written, the collection keeps what it had."""
    base = sql.Identifier(schema, "base")
    _run(
        sql_conn,
        sql.SQL("CREATE TABLE {} (id bigint, content text, embedding vector(3))").format(base),
    )
    _run(
        sql_conn,
        sql.SQL(
            "INSERT INTO {} SELECT i, 'doc ' || i, ('[' || i || ',1,0]')::vector"
            " FROM generate_series(1, 6000) AS i"
        ).format(base),
    )
    # a view whose row 5000 fails when it is read (division by zero)
    _run(
        sql_conn,
        sql.SQL(
            "CREATE VIEW {} AS SELECT id, content || (1 / (5000 - id))::text AS content,"
            " jsonb_build_object('i', id) AS metadata, embedding FROM {}"
        ).format(sql.Identifier(schema, "documents"), base),
    )
    col = client.get_or_create_collection("docs", dimension=3)
    col.upsert([("1", [0, 0, 1], {"before": True})])
    with pytest.raises(MigrationError, match=r"reading .* failed .*nothing was written"):
        migrate.from_documents(col, schema=schema)
    assert len(col) == 1
    assert col.fetch(["1"])[0].metadata == {"before": True}
    assert not col._target.has_text  # the text column was not added either


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ("UPDATE {t} SET embedding = NULL WHERE id = 4", RecordError, r"id '4' has no vector"),
        ("UPDATE {t} SET embedding = '[1,2,3,4]' WHERE id = 5", ArgError, "expected 3 dimensions"),
        ("UPDATE {t} SET metadata = '[1]' WHERE id = 6", RecordError, "JSON array, not an object"),
        (
            "ALTER TABLE {t} DROP CONSTRAINT documents_pkey; UPDATE {t} SET id = 1 WHERE id = 2",
            RecordError,
            "'1' appears 2 times",
        ),
    ],
)
def test_bad_rows_write_nothing(client, sql_conn, schema, setup, error, message):
    _documents(sql_conn, schema)
    t = sql.Identifier(schema, "documents")
    if "4]" in setup:  # a column of any dimension (as langchain's) holding a wrong one
        _run(sql_conn, sql.SQL("ALTER TABLE {} ALTER COLUMN embedding TYPE vector").format(t))
        message = r"id '5' has a vector of dimension 4, but the collection stores dimension 3"
        error = RecordError
    _run(sql_conn, sql.SQL(setup).format(t=t))
    col = client.get_or_create_collection("docs", dimension=3)
    col.upsert([("keep", [1, 2, 3], {})])
    with pytest.raises(error, match=message):
        migrate.from_documents(col, schema=schema)
    assert [r.id for r in col.fetch(["keep", "1", "2", "3"])] == ["keep"]


def test_bad_arguments(client, sql_conn, schema):
    _documents(sql_conn, schema)
    col = client.get_or_create_collection("docs", dimension=3)
    for kwargs, message in [
        ({"table": "nope"}, "not found"),
        ({"text_column": "body"}, "no column 'body'"),
        ({"vector_column": "content"}, "not a pgvector type"),
        ({"table": ""}, "must not be empty"),
        ({"source": 5}, "connection URL"),
    ]:
        with pytest.raises(ArgError, match=message):
            migrate.from_documents(col, schema=schema, **kwargs)
    with pytest.raises(ArgError, match="unknown source layout"):
        migrate.import_table("chroma", col)
    with pytest.raises(ArgError, match="unexpected keyword"):
        migrate.import_table("documents", col, tabel="x")
    assert migrate.import_table("documents", col, schema=schema).rows == 25
    aclient = vecs_core.create_async_client(client._options.url, schema=schema)
    with pytest.raises(ArgError, match="sync Collection"):
        migrate.from_documents(aclient._collection_class(aclient, "docs", col._info), schema=schema)  # type: ignore[arg-type]


# -- langchain-postgres -------------------------------------------------------------------------


def _langchain_ddl(conn: psycopg.Connection[Any], schema: str) -> None:
    """langchain-postgres' PGVector tables (its SQLAlchemy models)."""
    coll, emb = (
        sql.Identifier(schema, "langchain_pg_collection"),
        sql.Identifier(schema, "langchain_pg_embedding"),
    )
    _run(
        conn,
        sql.SQL(
            "CREATE TABLE {} (uuid uuid PRIMARY KEY, name varchar NOT NULL UNIQUE, cmetadata json)"
        ).format(coll),
    )
    _run(
        conn,
        sql.SQL(
            "CREATE TABLE {} (id varchar PRIMARY KEY, collection_id uuid REFERENCES {} (uuid)"
            " ON DELETE CASCADE, embedding vector, document varchar, cmetadata jsonb)"
        ).format(emb, coll),
    )
    mine, other = uuid.uuid4(), uuid.uuid4()
    _run(
        conn,
        sql.SQL("INSERT INTO {} VALUES (%s, 'my_docs', NULL), (%s, 'other', NULL)").format(coll),
        mine,
        other,
    )
    for rid, vec, md, text in rows():
        _run(
            conn,
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s)").format(emb),
            rid,
            mine,
            str(vec),
            text,
            json.dumps(md),
        )
    _run(
        conn,
        sql.SQL("INSERT INTO {} VALUES ('other-1', %s, '[1,0,0]', 'not mine', '{{}}')").format(emb),
        other,
    )


@pytest.mark.parametrize("made_by", ["ddl", "peer"])
def test_langchain_pgvector(client, sql_conn, database_url, schema, made_by):
    if made_by == "peer":
        _peer("langchain", database_url, schema)
    else:
        _langchain_ddl(sql_conn, schema)
    col = client.get_or_create_collection("docs", dimension=3)
    with pytest.raises(ArgError, match=r"'langchain' not found .*'my_docs'"):
        migrate.from_langchain(col, schema=schema)
    result = migrate.from_langchain(col, collection_name="my_docs", schema=schema)
    assert result.rows == 25 and result.source == f"{schema}.langchain_pg_embedding"
    _check(col, {rid: (vec, md, text) for rid, vec, md, text in rows()})


def _langchain_v2_ddl(conn: psycopg.Connection[Any], schema: str) -> None:
    """A PGVectorStore table (``PGEngine.init_vectorstore_table`` with two metadata columns)."""
    t = sql.Identifier(schema, "lc_store")
    _run(
        conn,
        sql.SQL(
            "CREATE TABLE {} (langchain_id uuid PRIMARY KEY, content text NOT NULL,"
            " embedding vector(3) NOT NULL, tag text, n integer, langchain_metadata json)"
        ).format(t),
    )
    for rid, vec, md, text in rows():
        extra = {k: v for k, v in md.items() if k not in ("tag", "n")}
        _run(
            conn,
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s)").format(t),
            rid,
            text,
            str(vec),
            md["tag"],
            md["n"],
            json.dumps(extra),
        )


@pytest.mark.parametrize("made_by", ["ddl", "peer"])
def test_langchain_pgvectorstore(client, sql_conn, database_url, schema, made_by):
    if made_by == "peer":
        _peer("langchain-v2", database_url, schema)
    else:
        _langchain_v2_ddl(sql_conn, schema)
    col = client.get_or_create_collection("docs", dimension=3)
    result = migrate.from_langchain_v2(col, table="lc_store", schema=schema)
    assert result.rows == 25
    _check(col, {rid: (vec, md, text) for rid, vec, md, text in rows()})


# -- LlamaIndex ---------------------------------------------------------------------------------


def _llama_ddl(conn: psycopg.Connection[Any], schema: str) -> None:
    """A LlamaIndex PGVectorStore table, its metadata written by LlamaIndex's own
    ``node_to_metadata_dict`` (llama-index-core)."""
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    t = sql.Identifier(schema, "data_li_store")
    _run(
        conn,
        sql.SQL(
            "CREATE TABLE {} (id bigserial PRIMARY KEY, text varchar NOT NULL, metadata_ json,"
            " node_id varchar, embedding vector(3))"
        ).format(t),
    )
    for rid, vec, md, text in rows():
        node = TextNode(id_=f"node-{rid[-4:]}", text=text, metadata=md, embedding=vec)
        meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
        _run(
            conn,
            sql.SQL(
                "INSERT INTO {} (text, metadata_, node_id, embedding) VALUES (%s, %s, %s, %s)"
            ).format(t),
            text,
            json.dumps(meta),
            node.node_id,
            str(vec),
        )


@pytest.mark.parametrize("made_by", ["ddl", "peer"])
def test_llama_index_pgvectorstore(client, sql_conn, database_url, schema, made_by):
    pytest.importorskip(
        "llama_index.core", reason="the LlamaIndex store check needs llama-index-core"
    )
    from llama_index.core.vector_stores.types import (
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
    )

    from vecs_integrations.llama_index import VecsVectorStore
    from vecs_integrations.llama_index._filters import EMPTY_KEYS_KEY, NODE_ID_KEY

    assert (migrate.LLAMA_NODE_ID_KEY, migrate.LLAMA_EMPTY_KEYS_KEY) == (
        NODE_ID_KEY,
        EMPTY_KEYS_KEY,
    )
    if made_by == "peer":
        _peer("llama-index", database_url, schema)
    else:
        _llama_ddl(sql_conn, schema)
    col = client.get_or_create_collection("nodes", dimension=3)
    assert migrate.from_llama_index(col, table_name="li_store", schema=schema).rows == 25
    item = col.get(["node-0003"])[0]
    assert item.text == "text number 3"
    assert item.metadata[NODE_ID_KEY] == "node-0003"
    assert item.metadata[EMPTY_KEYS_KEY] == ["tags"]
    # the collection opens in vecs_integrations' LlamaIndex store with the same nodes
    store = VecsVectorStore("nodes", 3, client=client)
    nodes = store.get_nodes(node_ids=["node-0003", "node-0010"])
    assert [(n.node_id, n.get_content(), n.metadata) for n in nodes] == [
        ("node-0003", "text number 3", rows()[2][2]),
        ("node-0010", "text number 10", rows()[9][2]),
    ]
    found = store.query(
        VectorStoreQuery(
            query_embedding=[10.0, 1.0, -5.0],
            similarity_top_k=2,
            filters=MetadataFilters(
                filters=[MetadataFilter(key="tag", value="even", operator=FilterOperator.EQ)]
            ),
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = col.search([10.0, 1.0, -5.0], limit=2, filters={"tag": "even"})
    assert found.ids == [h.id for h in want] and found.ids[0] == "node-0010"
