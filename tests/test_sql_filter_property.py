"""Property test: the PL/pgSQL translation of the filter language (``vecs_filter_sql``, used by
the SQL functions of ``install_sql_functions``) selects exactly what the reference evaluator
selects, and what the Python compiler selects, on the random datasets and filters of
``test_filters_property``."""

from __future__ import annotations

import json
from typing import Any

from filter_reference import database_examples, matches
from hypothesis import given
from psycopg import sql
from test_filters_property import _records, cases

import vecs_core


@database_examples(40)
@given(case=cases())
def test_sql_translation_agrees_with_reference_and_compiler(
    client: vecs_core.Client,
    sql_conn: Any,
    schema: str,
    case: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    col = client.get_or_create_collection("prop_sql", dimension=3)
    col.install_sql_functions(schema, name="prop")  # creates the translator in the schema
    dataset, batch = case
    records = _records(dataset)
    col.clear()
    col.upsert(records)
    translate = sql.SQL("SELECT {}(%s::jsonb)").format(sql.Identifier(schema, "vecs_filter_sql"))
    table = sql.Identifier(schema, "prop_sql")
    for f in batch:
        cond = sql_conn.execute(translate, (json.dumps(f),)).fetchone()[0]
        query = sql.SQL("SELECT id FROM {} WHERE {}").format(table, sql.SQL(cond))
        found = {r[0] for r in sql_conn.execute(query).fetchall()}
        expected = {rid for rid, _, md in records if matches(md, f)}
        assert found == expected, f
        assert found == {item.id for item in col.find(filters=f, limit=1000)}, f
