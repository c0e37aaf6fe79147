"""Plans for a collection's data: upsert, fetch, get, find, count, delete, search. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from psycopg import sql

from ._catalog import TEXT_COLUMN, add_text_column
from ._filters import compile_filter
from ._protocol import CopyIn, Execute, Plan
from ._records import Checked, Encoder, VectorParam, vector_from_bytes
from ._sqlparams import Params
from ._types import Hit, Item, Record

_STAGE = sql.Identifier("vecs_core_stage")
_ID, _VEC, _META, _TEXT = (sql.Identifier(c) for c in ("id", "vec", "metadata", TEXT_COLUMN))
_NULL = sql.SQL("NULL::text")


@dataclass(frozen=True)
class Target:
    """The table a plan works on, as the catalog described it."""

    table: sql.Composable
    dimension: int
    has_text: bool
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.table.as_string(None))

    @property
    def text_col(self) -> sql.Composable:
        return _TEXT if self.has_text else _NULL


@dataclass(frozen=True)
class UpsertResult:
    count: int
    added_text_column: bool


def upsert_plan(target: Target, records: Iterable[Any]) -> Plan[UpsertResult]:
    """Stream ``records`` through binary COPY into a transaction-scoped staging table, then merge
    them with one ``INSERT ... SELECT DISTINCT ON (id) ... ON CONFLICT DO UPDATE``.

    The last record wins for an id repeated in one call; rows are merged in id order, so
    concurrent upserts of overlapping ids lock in the same order and cannot deadlock. Any bad
    record aborts the transaction: nothing of the call is written. When records carry document
    text and the table has no text column yet, the column is added in the same transaction.
    """
    encoder = Encoder(target.dimension)
    numbered = enumerate(records)
    first = next(numbered, None)
    if first is None:
        return UpsertResult(0, False)
    encoder.validate(*first)  # refuse a bad first record before any statement runs
    yield Execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (ord bigint, id text, vec vector, metadata jsonb, {} text)"
            " ON COMMIT DROP"
        ).format(_STAGE, _TEXT),
        fetch="none",
    )
    yield CopyIn(
        sql.SQL("COPY {} (ord, id, vec, metadata, {}) FROM STDIN (FORMAT BINARY)").format(
            _STAGE, _TEXT
        ),
        encoder.chunks(chain([first], numbered)),
    )
    added = encoder.has_text and not target.has_text
    if added:
        yield add_text_column(target.table)
    cols = [_ID, _VEC, _META] + ([_TEXT] if target.has_text or added else [])
    updates = [sql.SQL("{} = EXCLUDED.{}").format(c, c) for c in cols[1:]]
    # Sort only narrow keys (id, ord, ctid), then fetch each winning row by its ctid: a nested
    # loop keeps the id order (deadlock-free locking) without sorting the wide vector rows.
    yield Execute(
        sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {s_cols}"
            " FROM (SELECT DISTINCT ON (id) id, ctid AS tid FROM {stage}"
            " ORDER BY id, ord DESC) AS k"
            " JOIN LATERAL (SELECT {cols} FROM {stage} WHERE ctid = k.tid) AS s ON true"
            " ORDER BY k.id ON CONFLICT (id) DO UPDATE SET {updates}"
        ).format(
            table=target.table,
            cols=sql.SQL(", ").join(cols),
            s_cols=sql.SQL(", ").join(sql.SQL("s.{}").format(c) for c in cols),
            stage=_STAGE,
            updates=sql.SQL(", ").join(updates),
        ),
        fetch="none",
    )
    return UpsertResult(encoder.count, added)


SMALL_BATCH = 256


def small_upsert_plan(target: Target, checked: Sequence[Checked]) -> Plan[UpsertResult]:
    """Upsert a few already-validated records in one statement (one round trip, atomic by
    itself): ``INSERT ... SELECT DISTINCT ON (id) ... FROM (VALUES ...) ON CONFLICT DO UPDATE``."""
    added = any(c.text_bytes is not None for c in checked) and not target.has_text
    if added:
        yield add_text_column(target.table)
    params = Params()
    rows = [
        sql.SQL("({}, {}, {}, {}, {})").format(
            params.add(i, "bigint"),
            params.add(c.id, "text"),
            params.add(VectorParam(c.vector), "vector"),
            params.add(c.metadata_json.decode("utf-8"), "jsonb"),
            params.add(None if c.text_bytes is None else c.text_bytes.decode("utf-8"), "text"),
        )
        for i, c in enumerate(checked)
    ]
    cols = [_ID, _VEC, _META] + ([_TEXT] if target.has_text or added else [])
    updates = [sql.SQL("{} = EXCLUDED.{}").format(c, c) for c in cols[1:]]
    yield Execute(
        sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT DISTINCT ON (id) {cols}"
            " FROM (VALUES {rows}) AS s (ord, id, vec, metadata, {text})"
            " ORDER BY id, ord DESC ON CONFLICT (id) DO UPDATE SET {updates}"
        ).format(
            table=target.table,
            cols=sql.SQL(", ").join(cols),
            rows=sql.SQL(", ").join(rows),
            text=_TEXT,
            updates=sql.SQL(", ").join(updates),
        ),
        params.values,
        fetch="none",
    )
    return UpsertResult(len(checked), added)


def _ids(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def fetch_plan(target: Target, ids: Sequence[str]) -> Plan[list[Record]]:
    """Records for ``ids`` in the order asked, missing ids skipped, duplicates once."""
    wanted = _ids(ids)
    if not wanted:
        return []
    rows = yield Execute(
        sql.SQL("SELECT id, vec, metadata FROM {} WHERE id = ANY({})").format(
            target.table, sql.Placeholder("ids")
        ),
        {"ids": wanted},
        binary=True,
    )
    found = {r[0]: Record(r[0], vector_from_bytes(r[1]), r[2]) for r in rows}
    return [found[i] for i in wanted if i in found]


def _item_columns(target: Target, include_vector: bool) -> sql.Composable:
    cols = [_ID, _META, target.text_col] + ([_VEC] if include_vector else [])
    return sql.SQL(", ").join(cols)


def _item(row: Sequence[Any], include_vector: bool) -> Item:
    return Item(row[0], row[1], row[2], vector_from_bytes(row[3]) if include_vector else None)


def get_plan(target: Target, ids: Sequence[str], include_vector: bool) -> Plan[list[Item]]:
    wanted = _ids(ids)
    if not wanted:
        return []
    rows = yield Execute(
        sql.SQL("SELECT {} FROM {} WHERE id = ANY({})").format(
            _item_columns(target, include_vector), target.table, sql.Placeholder("ids")
        ),
        {"ids": wanted},
        binary=True,
    )
    found = {r[0]: _item(r, include_vector) for r in rows}
    return [found[i] for i in wanted if i in found]


def _where(filters: Mapping[str, Any] | None, params: Params) -> sql.Composable:
    cond = compile_filter(filters, _META, params)
    return sql.SQL("") if cond is None else sql.SQL(" WHERE ") + cond


def find_plan(
    target: Target,
    filters: Mapping[str, Any] | None,
    limit: int,
    offset: int,
    after: str | None,
    include_vector: bool,
) -> Plan[list[Item]]:
    params = Params()
    cond = compile_filter(filters, _META, params)
    conds = [] if cond is None else [cond]
    if after is not None:
        conds.append(sql.SQL("id > {}").format(params.add(after, "text")))
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds) if conds else sql.SQL("")
    rows = yield Execute(
        sql.SQL("SELECT {} FROM {}{} ORDER BY id LIMIT {} OFFSET {}").format(
            _item_columns(target, include_vector),
            target.table,
            where,
            params.add(limit),
            params.add(offset),
        ),
        params.values,
        binary=True,
    )
    return [_item(r, include_vector) for r in rows]


def count_plan(target: Target, filters: Mapping[str, Any] | None) -> Plan[int]:
    params = Params()
    where = _where(filters, params)
    row = yield Execute(
        sql.SQL("SELECT count(*) FROM {}{}").format(target.table, where),
        params.values,
        fetch="one",
    )
    return int(row[0])


def delete_plan(
    target: Target, ids: Sequence[str] | None, filters: Mapping[str, Any] | None
) -> Plan[list[str]]:
    params = Params()
    if ids is not None:
        wanted = _ids(ids)
        if not wanted:
            return []
        where: sql.Composable = sql.SQL(" WHERE id = ANY({})").format(params.add(wanted, "text[]"))
    else:
        where = _where(filters, params)
    rows = yield Execute(
        sql.SQL("DELETE FROM {}{} RETURNING id").format(target.table, where), params.values
    )
    return [r[0] for r in rows]


@dataclass(frozen=True)
class SearchSpec:
    """A validated vector search (see ``Collection.search``)."""

    vector: VectorParam
    limit: int
    filters: Mapping[str, Any] | None
    operator: str
    halfvec: bool
    include_vector: bool
    include_metadata: bool
    settings: Mapping[str, str]
    relaxed: bool
    exact_below: int | None = None  # filtered + indexed: exact search when fewer rows match


def _search_sql(
    target: Target, spec: SearchSpec, where: sql.Composable, exact: bool = False
) -> sql.SQL | sql.Composed:
    q: sql.Composable = sql.SQL("{}::vector").format(sql.Placeholder("q"))
    expr: sql.Composable = _VEC
    if spec.halfvec:
        dim = sql.Literal(target.dimension)
        expr = sql.SQL("({}::halfvec({}))").format(_VEC, dim)
        q = sql.SQL("({}::halfvec({}))").format(q, dim)
    distance = sql.SQL("({} {} {})").format(expr, sql.SQL(spec.operator), q)
    cols = [
        _ID,
        sql.SQL("{} AS distance").format(distance),
        _META if spec.include_metadata else sql.SQL("NULL::jsonb"),
        target.text_col,
    ] + ([_VEC] if spec.include_vector else [])
    # ``0 + distance`` cannot be served by the vector index: the planner sorts exactly
    order = sql.SQL("0 + {}").format(distance) if exact else distance
    query: sql.Composed = sql.SQL("SELECT {} FROM {}{} ORDER BY {} LIMIT {}").format(
        sql.SQL(", ").join(cols), target.table, where, order, sql.Placeholder("lim")
    )
    if spec.relaxed and not exact:
        # iterative index scans in relaxed order may return neighbours slightly out of order
        query = sql.SQL(
            "WITH found AS MATERIALIZED ({}) SELECT * FROM found ORDER BY distance"
        ).format(query)
    return query


_SEARCH_SQL_CACHE: dict[tuple[Any, ...], sql.SQL] = {}


def _unfiltered_search_sql(target: Target, spec: SearchSpec) -> sql.SQL:
    """The statement of an unfiltered search, rendered once per shape: composing it with
    ``psycopg.sql`` on every call costs more than the network round trip of a fast query."""
    key = (
        target.key,
        target.dimension,
        target.has_text,
        spec.operator,
        spec.halfvec,
        spec.include_metadata,
        spec.include_vector,
        spec.relaxed,
    )
    cached = _SEARCH_SQL_CACHE.get(key)
    if cached is None:
        if len(_SEARCH_SQL_CACHE) > 1024:
            _SEARCH_SQL_CACHE.clear()
        cached = sql.SQL(_search_sql(target, spec, sql.SQL("")).as_string(None))
        _SEARCH_SQL_CACHE[key] = cached
    return cached


def _adaptive_sql(target: Target, spec: SearchSpec, params: Params) -> sql.Composed:
    """A filtered search that picks its strategy in the database, in one statement.

    A vector index walks the graph and drops rows the filter rejects; with a selective filter it
    visits many nodes per match and recall suffers. So the statement first counts the matching
    rows up to ``exact_below`` (through the metadata index when the filter allows): below that,
    an exact search over the matching rows (the ``+ 0`` keeps the planner off the vector index);
    otherwise the index search. The count is an InitPlan, and each branch is gated by a one-time
    filter on it, so only one branch runs. (``_where`` compiles the filter anew each time: the
    statement binds its values three times.)
    """
    cap = params.add(spec.exact_below)

    def where(extra: sql.Composable) -> sql.Composable:
        return _where(spec.filters, params) + sql.SQL(" AND ") + extra

    n = sql.SQL("(SELECT n FROM matching)")
    exact = _search_sql(target, spec, where(sql.SQL("{} < {}").format(n, cap)), exact=True)
    indexed = _search_sql(target, spec, where(sql.SQL("{} >= {}").format(n, cap)))
    return sql.SQL(
        "WITH matching AS MATERIALIZED (SELECT count(*) AS n FROM"
        " (SELECT 1 FROM {table}{where} LIMIT {cap}) AS m)"
        " SELECT * FROM (({exact}) UNION ALL ({indexed})) AS u ORDER BY distance"
    ).format(
        table=target.table,
        where=_where(spec.filters, params),
        cap=cap,
        exact=exact,
        indexed=indexed,
    )


def search_plan(target: Target, spec: SearchSpec) -> Plan[list[Hit]]:
    params = Params()
    if spec.filters and spec.exact_below:
        query: sql.SQL | sql.Composed = _adaptive_sql(target, spec, params)
    elif spec.filters:
        query = _search_sql(target, spec, _where(spec.filters, params))
    else:
        query = _unfiltered_search_sql(target, spec)
    values: dict[str, Any] = params.values
    values["q"] = spec.vector
    values["lim"] = spec.limit
    rows = yield Execute(query, values, binary=True, settings=spec.settings)
    meta, with_vec = spec.include_metadata, spec.include_vector
    return [
        Hit(r[0], r[1], r[2] if meta else {}, r[3], vector_from_bytes(r[4]) if with_vec else None)
        for r in rows
    ]
