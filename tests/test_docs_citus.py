"""The Python examples of ``docs/scaling-citus.md`` run as written, on the test Citus cluster."""

from __future__ import annotations

import pathlib
import re

import psycopg
import pytest
from psycopg import sql

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "scaling-citus.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
SCHEMAS = ("scaling_demo", "tenant_acme", "tenant_globex")  # the schemas the examples use


def test_every_example_says_it_needs_a_cluster():
    assert len(BLOCKS) == 2
    assert all(b.startswith("# needs a Citus coordinator in $VECS_CITUS_URL") for b in BLOCKS)


@pytest.mark.citus
@pytest.mark.filterwarnings("ignore:Query does not have a covering index")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_scaling_example_runs(index, citus_url, monkeypatch, capsys):
    monkeypatch.setenv("VECS_CITUS_URL", citus_url)
    try:
        exec(compile(BLOCKS[index], f"scaling-citus.md block {index}", "exec"), {})
        printed = capsys.readouterr().out
        assert ("hash 4" in printed) if index == 0 else printed.count(" schema (") == 2
    finally:
        with psycopg.connect(citus_url, autocommit=True) as conn:
            for schema in SCHEMAS:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
