"""Every ``vecs-core`` subcommand, through Typer's test runner, against an embedded server of
this module's own (``--data-dir``), plus ``--url`` on the session's server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import psycopg
import pytest
from embedded_helpers import ROOT, server_dir, wait_gone
from typer.testing import CliRunner

import vecs_core
from vecs_core import embedded
from vecs_core.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir():
    parent = server_dir()
    path = os.path.join(parent, "pgdata")
    yield path
    embedded.stop(path, force=True)
    wait_gone(path)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def cli(runner, data_dir, *args, ok=True):
    result = runner.invoke(app, ["--data-dir", data_dir, *args], env={"VECS_DATABASE_URL": ""})
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def filled(data_dir):
    vx = vecs_core.create_client(data_dir=data_dir)
    col = vx.get_or_create_collection("docs", dimension=4)
    rng = np.random.default_rng(1)
    col.upsert(
        [(f"d{i}", rng.random(4), {"n": i}, f"text {i}") for i in range(500)],
    )
    sparse = vx.get_or_create_collection("terms", dimension=1000, storage="sparsevec")
    sparse.upsert([("s1", {3: 0.5, 999: 1.0}, {"k": 1}), ("s2", {4: 2.0}, {})])
    yield vx
    vx.disconnect()


def test_status_before_and_after_start(runner, tmp_path):
    fresh = str(tmp_path / "fresh")
    out = cli(runner, fresh, "status").output
    assert "stopped" in out and "no (created on first use)" in out
    assert fresh in "".join(out.split())  # long values wrap, never cut


def test_collections_info_and_typo(runner, data_dir, filled):
    out = cli(runner, data_dir, "collections").output
    assert "docs" in out and "terms" in out and "sparsevec" in out and "500" in out
    out = cli(runner, data_dir, "info", "docs").output
    assert "vecs.docs" in out and "500" in out and "vector" in out
    docs = filled.get_or_create_collection("docs")
    docs.create_index(
        method="hnsw",
        measure="l2_distance",
        index_arguments=vecs_core.IndexArgsHNSW(8, 24, quantization="halfvec"),
    )
    docs.tune(0.9, sample=20, measure="l2_distance")
    (ix,) = docs.list_indexes()
    out = " ".join(cli(runner, data_dir, "info", "docs").output.split())  # long rows wrap
    assert "hnsw, l2_distance, m 8, ef_construction 24, halfvec," in out
    assert f"ef_search {ix.ef_search} tuned, valid" in out
    bad = cli(runner, data_dir, "info", "doc", ok=False)
    assert bad.exit_code == 1 and "did you mean 'docs'" in bad.output


def test_index_detail_names_lists_probes_and_binary_quantization():
    """The IVFFlat and binary branches of ``info``'s index line (the HNSW/halfvec one is
    checked on a real index above)."""
    from vecs_core import IndexMeasure, VectorIndex
    from vecs_core._indexes import IndexMethod
    from vecs_core.cli import _index_detail

    ivf = VectorIndex(
        "ix_i", IndexMethod.ivfflat, IndexMeasure.l2_distance, "vector", True, probes=7, lists=50
    )
    assert _index_detail(ivf) == "ix_i (ivfflat, l2_distance, lists 50, probes 7 tuned, valid)"
    bq = VectorIndex(
        "ix_b",
        IndexMethod.hnsw,
        IndexMeasure.cosine_distance,
        "vector",
        False,
        "binary",
        6,
        m=16,
        ef_construction=64,
    )
    assert _index_detail(bq) == (
        "ix_b (hnsw, cosine_distance, m 16, ef_construction 64, binary, rerank 6, INVALID)"
    )


def test_status_shows_the_running_server(runner, data_dir, filled):
    out = cli(runner, data_dir, "status").output
    assert "running" in out and str(os.getpid()) in out and "shared_buffers" in out


def test_create_index_shows_progress(runner, data_dir, filled):
    out = cli(runner, data_dir, "create-index", "docs", "--m", "8").output
    assert "built hnsw index" in out
    assert "hnsw/cosine_distance" in cli(runner, data_dir, "collections").output


def test_export_import_roundtrip_jsonl_and_parquet(runner, data_dir, filled, tmp_path):
    for name, suffix in (("docs", "jsonl"), ("terms", "jsonl"), ("docs", "parquet")):
        if suffix == "parquet":
            pytest.importorskip("pyarrow")
        path = str(tmp_path / f"{name}.{suffix}")
        out = cli(runner, data_dir, "export", name, path).output
        assert "exported" in out
        copy = f"{name}_{suffix}_copy"
        cli(runner, data_dir, "import", copy, path)
        original = filled.get_or_create_collection(name)
        again = filled.get_or_create_collection(copy)
        assert again.count() == original.count()
        assert again.storage == original.storage
        a = {i.id: i for i in original.find(limit=1000, include_vector=True)}
        b = {i.id: i for i in again.find(limit=1000, include_vector=True)}
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].metadata == b[key].metadata and a[key].text == b[key].text
    head, first = map(json.loads, (tmp_path / "docs.jsonl").read_text().splitlines()[:2])
    assert head == {"vecs_core": {"dimension": 4, "storage": "vector"}}
    assert set(first) == {"id", "vector", "metadata", "text"}


def test_import_is_atomic_and_names_the_bad_line(runner, data_dir, filled, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"id": "a", "vector": [1, 2, 3, 4]}) + "\n" + "{not json}\n", encoding="utf-8"
    )
    bad = cli(runner, data_dir, "import", "atomic", str(path), ok=False)
    assert bad.exit_code == 1 and "line 2" in bad.output
    assert filled.get_or_create_collection("atomic", dimension=4).count() == 0


def test_export_is_atomic(runner, data_dir, filled, tmp_path):
    target = tmp_path / "keep.jsonl"
    target.write_text("old\n")
    bad = cli(runner, data_dir, "export", "nope", str(target), ok=False)
    assert bad.exit_code == 1
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".vecs-export")] == []


def test_query_by_vector_file_and_text(runner, data_dir, filled, tmp_path):
    vec = tmp_path / "q.json"
    vec.write_text(json.dumps([0.5, 0.5, 0.5, 0.5]))
    out = cli(runner, data_dir, "query", "docs", "--vector-file", str(vec), "--limit", "3").output
    assert len(re.findall(r"text \d+", out)) == 3 and "distance" in out
    out = cli(
        runner, data_dir, "query", "docs", "--vector-file", str(vec), "--filter", '{"n": 7}'
    ).output
    assert "d7" in out
    both = cli(runner, data_dir, "query", "docs", ok=False)
    assert both.exit_code == 1 and "exactly one of --text or --vector-file" in both.output
    # --text embeds with MiniLM (384 dimensions)
    pytest.importorskip("sentence_transformers")
    vx = filled
    col = vx.get_or_create_collection("texts", dimension=384)
    from vecs_core.adapter import AdapterContext, TextEmbedding

    emb = TextEmbedding()
    docs = [("t1", "Bread rises with yeast."), ("t2", "Comets have icy tails.")]
    col.upsert(
        (i, v, {}, t)
        for (i, t), (_, v, _, _) in zip(
            docs, emb([(i, t, {}) for i, t in docs], AdapterContext.upsert)
        )
    )
    out = cli(runner, data_dir, "query", "texts", "--text", "baking bread", "--limit", "1").output
    assert "t1" in out and "t2" not in out


def test_url_option_and_env(runner, database_url, schema):
    with vecs_core.create_client(database_url, schema=schema) as vx:
        vx.get_or_create_collection("remote", dimension=2)
    result = runner.invoke(
        app, ["--schema", schema, "collections"], env={"VECS_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    assert "remote" in result.output
    result = runner.invoke(app, ["--url", database_url, "--schema", schema, "status"])
    assert result.exit_code == 0 and "pgvector" in result.output
    stop = runner.invoke(app, ["--url", database_url, "stop"])
    assert stop.exit_code == 1 and "takes no --url" in stop.output
    result = runner.invoke(app, ["--url", database_url, "--schema", schema, "reset", "--yes"])
    assert result.exit_code == 0 and "deleted 1 collection" in result.output


def test_serve_with_timeout(runner, data_dir, filled):
    out = cli(runner, data_dir, "serve", "--port", "0", "--timeout", "1").output
    assert "postgresql://postgres@127.0.0.1:" in out and "stopped serving" in out


def test_serve_in_a_process_until_ctrl_c(data_dir, filled):
    import signal

    from embedded_helpers import env_for, interruptible

    proc = subprocess.Popen(
        [sys.executable, "-m", "vecs_core", "serve", "--port", "0"],
        cwd=str(ROOT),
        env=env_for(data_dir),
        preexec_fn=interruptible,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split()[-1]
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM vecs.docs").fetchone() == (500,)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped serving" in out


def test_reset_needs_yes_and_stop_refuses_while_in_use(runner, data_dir, filled):
    no = cli(runner, data_dir, "reset", ok=False)
    assert no.exit_code == 1 and "--yes" in no.output
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import vecs_core, time; vecs_core.embedded.url(); print('x', flush=True); "
            "time.sleep(60)",
        ],
        cwd=str(ROOT),
        env=__import__("embedded_helpers").env_for(data_dir),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "x"
        busy = cli(runner, data_dir, "stop", ok=False)
        assert busy.exit_code == 1 and str(other.pid) in busy.output
    finally:
        other.kill()
        other.wait()


def test_stop_then_reset(runner, data_dir, filled):
    filled.disconnect()
    out = cli(runner, data_dir, "stop").output
    assert "stopped the embedded server" in out
    assert "not running" in cli(runner, data_dir, "stop").output
    out = cli(runner, data_dir, "reset", "--yes").output
    assert "deleted" in out and not os.path.exists(data_dir)


def test_python_dash_m_and_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "vecs_core", "--help"], cwd=str(ROOT), capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in (
        "status",
        "serve",
        "stop",
        "collections",
        "info",
        "create-index",
        "import",
        "export",
        "query",
        "reset",
    ):
        assert command in result.stdout


def test_migrate_copies_a_documents_table(runner, database_url, schema, sql_conn):
    from psycopg import sql

    sql_conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    table = sql.Identifier(schema, "documents")
    sql_conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigserial primary key, content text, metadata jsonb,"
            " embedding vector(3))"
        ).format(table)
    )
    for i in range(3):
        sql_conn.execute(
            sql.SQL("INSERT INTO {} (content, metadata, embedding) VALUES (%s, %s, %s)").format(
                table
            ),
            (f"text {i}", json.dumps({"n": i}), str([i, 1, 2])),
        )
    base = ["--url", database_url, "--schema", schema, "migrate"]
    args = [*base, "documents", "docs", "-o", f"schema={schema}"]

    missing = runner.invoke(app, args)
    assert missing.exit_code == 1 and "pass --dimension" in missing.output
    typo = runner.invoke(app, [*args, "--dimension", "3", "-o", "tabel=documents"])
    assert typo.exit_code == 1 and "tabel" in typo.output
    layout = runner.invoke(app, [*base, "pinecone", "docs", "--dimension", "3"])
    assert layout.exit_code == 1 and "documents, langchain" in layout.output
    bad = runner.invoke(app, [*args, "--dimension", "3", "-o", "table"])
    assert bad.exit_code == 1 and "expected key=value" in bad.output

    done = runner.invoke(app, [*args, "--dimension", "3", "-o", "metadata_column=none"])
    assert done.exit_code == 0, done.output
    assert f"copied 3 row(s) from {schema}.documents into 'docs'" in done.output
    with vecs_core.create_client(database_url, schema=schema) as vx:
        items = vx.get_or_create_collection("docs").get(["1", "2", "3"])
    assert [(i.id, i.text, i.metadata) for i in items] == [
        ("1", "text 0", {}),
        ("2", "text 1", {}),
        ("3", "text 2", {}),
    ]
    again = runner.invoke(app, args)  # the collection exists now: no --dimension needed
    assert again.exit_code == 0 and "copied 3 row(s)" in again.output
    with vecs_core.create_client(database_url, schema=schema) as vx:
        assert vx.get_or_create_collection("docs").get(["2"])[0].metadata == {"n": 1}
