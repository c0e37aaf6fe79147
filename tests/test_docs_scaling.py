"""The Python examples of ``docs/scaling.md`` run as written, each against the servers its title
says it needs (a block without a title runs against ``$VECS_DATABASE_URL``)."""

from __future__ import annotations

import pathlib
import re
import uuid
import warnings

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
BLOCKS = re.findall(
    r'```python(?: title="([^"]*)")?\n(.*?)```', PAGE.read_text(encoding="utf-8"), flags=re.S
)
NEEDS = {
    "": "the test database",
    "needs a primary and a pod database": "pods",
    "needs a primary with postgres_fdw and a pod database": "fdw",
    "needs a primary and a read replica": "replica",
}
SCHEMAS = ("single_demo", "pods_demo", "wrappers_demo", "replica_demo")


def test_every_example_says_what_it_needs():
    assert len(BLOCKS) == 5
    for title, _ in BLOCKS:
        assert title in NEEDS or title.startswith("illustration"), title


@pytest.mark.parametrize("index", [i for i, (t, _) in enumerate(BLOCKS) if t.startswith("ill")])
def test_illustrations_compile(index):
    compile(BLOCKS[index][1], f"scaling.md block {index}", "exec")


def _drop(url: str, *extra: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        for statement in extra:
            conn.execute(statement)  # type: ignore[arg-type]


def _run(index: int, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(BLOCKS[index][1], f"scaling.md block {index}", "exec"), {})


def _block(title: str) -> int:
    return next(i for i, (t, _) in enumerate(BLOCKS) if t == title)


def _new_database(url: str) -> tuple[str, str]:
    name = f"docs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(url, dbname=name), name


def _drop_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_single_database_example(database_url, monkeypatch, capsys):
    try:
        _run(_block(""), {"VECS_DATABASE_URL": database_url}, monkeypatch)
        assert "['hello']" in capsys.readouterr().out
    finally:
        _drop(database_url)


def test_pods_example(database_url, monkeypatch, capsys):
    pod, name = _new_database(database_url)
    try:
        env = {"VECS_PRIMARY_URL": database_url, "VECS_POD_URL": pod}
        _run(_block("needs a primary and a pod database"), env, monkeypatch)
        assert capsys.readouterr().out.splitlines() == ["['docs', 'images']", "1"]
    finally:
        _drop(database_url)
        _drop_database(database_url, name)


def test_wrappers_example(contrib_server, monkeypatch, capsys):
    primary = contrib_server.url()
    pod, name = _new_database(primary)
    try:
        env = {"VECS_PRIMARY_URL": primary, "VECS_POD_URL": pod}
        _run(_block("needs a primary with postgres_fdw and a pod database"), env, monkeypatch)
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("ForeignTable(schema='public', name='docs'")
        assert out[1] == "[('a', 0.0)]"
    finally:
        _drop(primary, "DROP FOREIGN TABLE IF EXISTS public.docs")
        _drop_database(primary, name)


def test_read_replica_example(replicas, monkeypatch, capsys):
    primary = replicas.primary.url()
    try:
        env = {"VECS_PRIMARY_URL": primary, "VECS_REPLICA_URL": replicas.standby.url()}
        _run(_block("needs a primary and a read replica"), env, monkeypatch)
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("[Record(id='a'") and out[1] == "['a']" and out[2] == "1"
        assert out[3].startswith("ReadStats(standby=2, primary=1,")
    finally:
        _drop(primary)
