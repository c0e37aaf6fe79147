"""Plans for ``Collection.tune``: sample stored vectors, compute their exact neighbours in the
database, and record the chosen search default in the index's comment. Pure: no I/O."""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from .._indexes import IndexNote, note_from_comment
from .._names import ident
from .._protocol import Execute, Plan
from .indexes import comment_step
from .records import Target

SEED = 42  # the sample is repeatable: the same collection tunes the same way


def sample_plan(target: Target, size: int) -> Plan[list[tuple[str, Any]]]:
    """About ``size`` stored records ``(id, vector)``, drawn with ``TABLESAMPLE BERNOULLI``
    (repeatable), sized from the planner's row estimate. The table is analyzed first, so the
    searches being measured are planned as they will be (a table never analyzed may be
    searched by a sequential scan, where every value would look exact)."""
    yield Execute(sql.SQL("ANALYZE {}").format(target.table), fetch="none")
    row = yield Execute(
        sql.SQL(
            "SELECT c.reltuples FROM pg_class c WHERE c.oid = {}::regclass",
        ).format(sql.Literal(target.table.as_string(None))),
        fetch="one",
    )
    rows = float(row[0]) if row is not None else -1.0
    if rows <= 0:
        counted = yield Execute(
            sql.SQL("SELECT count(*) FROM {}").format(target.table), fetch="one"
        )
        rows = float(counted[0])
    percent = min(100.0, 100.0 * 3 * size / max(rows, 1.0))
    found: list[tuple[str, Any]] = yield Execute(
        sql.SQL(
            "SELECT id, vec FROM {} TABLESAMPLE BERNOULLI ({}) REPEATABLE ({}) LIMIT {}"
        ).format(target.table, sql.Literal(percent), sql.Literal(SEED), sql.Literal(size)),
        binary=True,
    )
    decode = target.kind.decode
    return [(rid, decode(vec)) for rid, vec in found]


def truth_plan(
    target: Target, operator: str, ids: list[str], limit: int
) -> Plan[dict[str, list[str]]]:
    """The exact ``limit`` nearest records of each sampled record (itself excluded), computed in
    the database from the stored vectors at their stored precision (``0 +`` keeps the planner
    off the vector index)."""
    rows = yield Execute(
        sql.SQL(
            "SELECT s.id, ARRAY(SELECT t.id FROM {table} AS t WHERE t.id <> s.id"
            " ORDER BY 0 + (t.vec {op} s.vec) LIMIT {limit})"
            " FROM {table} AS s WHERE s.id = ANY({ids})"
        ).format(
            table=target.table,
            op=sql.SQL(operator),
            limit=sql.Literal(limit),
            ids=sql.Placeholder("ids"),
        ),
        {"ids": ids},
    )
    return {rid: list(near) for rid, near in rows}


def truth_for_plan(
    target: Target, operator: str, vectors: list[Any], limit: int
) -> Plan[list[list[str]]]:
    """The exact ``limit`` nearest records of each of ``vectors`` (``VectorParam``s: queries
    given by the caller), one exact scan each (``0 +`` keeps the planner off the vector index)."""
    statement = sql.SQL("SELECT id FROM {} ORDER BY 0 + (vec {} {}::{}) LIMIT {}").format(
        target.table,
        sql.SQL(operator),
        sql.Placeholder("q"),
        sql.SQL(target.kind.name),
        sql.Literal(limit),
    )
    found = []
    for vector in vectors:
        rows = yield Execute(statement, {"q": vector}, binary=True)
        found.append([r[0] for r in rows])
    return found


def store_plan(schema: str, index: str, values: dict[str, Any]) -> Plan[None]:
    """Merge ``values`` (``ef_search`` or ``probes``, and ``tuned``) into the index's comment,
    keeping what it already records (a binary quantized index's measure and re-rank)."""
    row = yield Execute(
        sql.SQL("SELECT obj_description({}::regclass, 'pg_class')").format(
            sql.Literal(ident(schema, index).as_string(None))
        ),
        fetch="one",
    )
    note = note_from_comment(row[0] if row else None)
    merged = IndexNote(
        measure=note.measure,
        kind=note.kind,
        quantization=note.quantization,
        rerank=note.rerank,
        ef_search=values.get("ef_search"),
        probes=values.get("probes"),
        tuned=json.loads(json.dumps(values.get("tuned"))),
    )
    yield comment_step(schema, index, merged)
