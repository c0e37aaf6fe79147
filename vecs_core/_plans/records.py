"""Plans for a collection's records: upsert, fetch, get, find, count, delete. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import psycopg
from psycopg import sql

from .._filter_cache import CompiledFilter
from .._kinds import VectorKind
from .._protocol import CopyIn, Execute, Plan
from .._records import Checked, Encoder, VectorParam
from .._sqlparams import Params
from .._types import Item, Record
from ..exc import PermissionDenied, RecordError
from .catalog import TEXT_COLUMN, add_text_column
from .fresh import FreshStream, fresh_load_plan

_ID, _VEC, _META, _TEXT = (sql.Identifier(c) for c in ("id", "vec", "metadata", TEXT_COLUMN))
_NULL = sql.SQL("NULL::text")


@dataclass(frozen=True)
class Target:
    """The table a plan works on, as the catalog described it."""

    table: sql.Composable
    dimension: int
    has_text: bool
    kind: VectorKind
    may_add_text: bool = True  # False under a session role: no DDL there (see CollectionBase)

    @property
    def text_col(self) -> sql.Composable:
        return _TEXT if self.has_text else _NULL


@dataclass(frozen=True)
class UpsertResult:
    count: int
    added_text_column: bool


STAGE_TABLE = "vecs_core_stage"
"""The transaction-scoped staging table of a streamed upsert (and of ``vecs_core.migrate``)."""
_STAGE = sql.Identifier(STAGE_TABLE)
STAGE_COPY = sql.SQL("COPY {} (ord, id, vec, metadata, {}) FROM STDIN (FORMAT BINARY)").format(
    _STAGE, _TEXT
)
"""Binary COPY into the staging table: ``(ord bigint, id text, vec <kind>, metadata jsonb,
text text)``."""


def create_stage(target: Target) -> Execute:
    """Create the staging table (dropped at commit) for ``target``'s vector kind."""
    return Execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (ord bigint, id text, vec {}, metadata jsonb, {} text)"
            " ON COMMIT DROP"
        ).format(_STAGE, sql.SQL(target.kind.name), _TEXT),
        fetch="none",
    )


def merge_stage(target: Target, with_text: bool) -> Execute:
    """Merge the staging table into ``target``: the last row of each id (highest ``ord``),
    in id order, inserted or updated (``with_text``: the text column too)."""
    cols = [_ID, _VEC, _META] + ([_TEXT] if with_text else [])
    updates = [sql.SQL("{} = EXCLUDED.{}").format(c, c) for c in cols[1:]]
    # Sort only narrow keys (id, ord, ctid), then fetch each winning row by its ctid: a nested
    # loop keeps the id order (deadlock-free locking) without sorting the wide vector rows. The
    # order is the code point order (COLLATE "C"), which a load of new ids sent straight in
    # also takes (see fresh.py), whatever the database's collation. Do not ANALYZE the stage:
    # with statistics the planner hash-joins on ctid and sorts the wide rows on disk instead
    # (100k x 384 overwrite: 2.46 s against 1.60 s for the statement).
    return Execute(
        sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {s_cols}"
            ' FROM (SELECT DISTINCT ON (id COLLATE "C") id, ctid AS tid FROM {stage}'
            ' ORDER BY id COLLATE "C", ord DESC) AS k'
            " JOIN LATERAL (SELECT {cols} FROM {stage} WHERE ctid = k.tid) AS s ON true"
            ' ORDER BY k.id COLLATE "C" ON CONFLICT (id) DO UPDATE SET {updates}'
        ).format(
            table=target.table,
            cols=sql.SQL(", ").join(cols),
            s_cols=sql.SQL(", ").join(sql.SQL("s.{}").format(c) for c in cols),
            stage=_STAGE,
            updates=sql.SQL(", ").join(updates),
        ),
        fetch="rowcount",
    )


def upsert_plan(
    target: Target, records: Iterable[Any], refuse_zero: bool = False, fresh: bool = False
) -> Plan[UpsertResult]:
    """Stream ``records`` through binary COPY into a transaction-scoped staging table, then merge
    them with one ``INSERT ... SELECT DISTINCT ON (id) ... ON CONFLICT DO UPDATE``. With
    ``fresh``, an empty table gets the records straight (see ``_plans/fresh.py``) while their
    ids are new; the rest, if any, goes through staging.

    The last record wins for an id repeated in one call; rows are merged in id order, so
    concurrent upserts of overlapping ids lock in the same order and cannot deadlock. Any bad
    record aborts the transaction: nothing of the call is written. When records carry document
    text and the table has no text column yet, the column is added in the same transaction.
    ``refuse_zero``: the collection has a cosine index, so zero vectors are refused.
    """
    encoder = Encoder(target.kind, target.dimension, refuse_zero=refuse_zero)
    numbered: Iterator[tuple[int, Any]] = enumerate(records)
    first = next(numbered, None)
    if first is None:
        return UpsertResult(0, False)
    encoder.validate(*first)  # refuse a bad first record before any statement runs
    if fresh:
        direct = Encoder(
            target.kind, target.dimension, refuse_zero=refuse_zero, table_text=target.has_text
        )
        stream = FreshStream(chain([first], numbered), target.has_text)
        yield from merge_step(
            fresh_load_plan(target.table, target.has_text, direct, stream, encoder)
        )
        encoder.count += direct.count  # a spool's rows were counted by ``encoder``
        spool, left = stream.spool, stream.remaining()  # what could not go straight in
        if left is None and spool is None:
            return UpsertResult(encoder.count, False)
        rest = iter(()) if left is None else chain([left[0]], left[1])
    else:
        spool, rest = None, chain([first], numbered)
    yield create_stage(target)
    # a spool holds rows encoded (in the caller's order) before they were found not to go
    # straight: they are the first staged rows, the header theirs
    body = encoder.chunks(rest, header=spool is None)
    yield CopyIn(STAGE_COPY, body if spool is None else chain(spool.staged(), body))
    added = encoder.has_text and not target.has_text
    if added and not target.may_add_text:
        raise PermissionDenied(
            "the records carry document text but the collection has no text column yet, and "
            "it is never added under a session role; have the collection's owner call "
            "enable_text() first (nothing was written)"
        )
    if added:
        yield add_text_column(target.table)
    yield from merge_step(merge_stage(target, with_text=target.has_text or added))
    return UpsertResult(encoder.count, added)


def merge_step(step: Execute | Plan[Any]) -> Plan[Any]:
    """Run the statement (or plan) that writes the records (and return its result), naming the
    index limit a sparse vector can break (HNSW indexes at most 1,000 non-zero elements) as a
    :class:`RecordError`."""
    try:
        if isinstance(step, Execute):
            return (yield step)
        return (yield from step)
    except psycopg.errors.ProgramLimitExceeded as exc:
        raise RecordError(
            f"{str(exc).strip().splitlines()[0]}: the collection's HNSW index accepts sparse "
            "vectors with at most 1,000 non-zero elements; nothing was written"
        ) from exc


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
            params.add(VectorParam(c.vector, target.kind), target.kind.name),
            params.add(c.metadata_json.decode("utf-8"), "jsonb"),
            params.add(None if c.text_bytes is None else c.text_bytes.decode("utf-8"), "text"),
        )
        for i, c in enumerate(checked)
    ]
    cols = [_ID, _VEC, _META] + ([_TEXT] if target.has_text or added else [])
    updates = [sql.SQL("{} = EXCLUDED.{}").format(c, c) for c in cols[1:]]
    statement = Execute(
        sql.SQL(
            'INSERT INTO {table} ({cols}) SELECT DISTINCT ON (id COLLATE "C") {cols}'
            " FROM (VALUES {rows}) AS s (ord, id, vec, metadata, {text})"
            ' ORDER BY id COLLATE "C", ord DESC ON CONFLICT (id) DO UPDATE SET {updates}'
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
    yield from merge_step(statement)
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
    decode = target.kind.decode
    found = {r[0]: Record(r[0], decode(r[1]), r[2]) for r in rows}
    return [found[i] for i in wanted if i in found]


def _item_columns(target: Target, include_vector: bool) -> sql.Composable:
    cols = [_ID, _META, target.text_col] + ([_VEC] if include_vector else [])
    return sql.SQL(", ").join(cols)


def _item(target: Target, row: Sequence[Any], include_vector: bool) -> Item:
    return Item(row[0], row[1], row[2], target.kind.decode(row[3]) if include_vector else None)


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
    found = {r[0]: _item(target, r, include_vector) for r in rows}
    return [found[i] for i in wanted if i in found]


def with_filter(params: Params, where: CompiledFilter | None) -> sql.Composable:
    """`` WHERE <filter>`` (its values added to ``params``), or nothing."""
    if where is None:
        return sql.SQL("")
    params.values.update(where.params)
    return sql.SQL(" WHERE ") + where.condition


def find_plan(
    target: Target,
    where: CompiledFilter | None,
    limit: int,
    offset: int,
    after: str | None,
    include_vector: bool,
) -> Plan[list[Item]]:
    params = Params()
    conds: list[sql.Composable] = []
    if where is not None:
        params.values.update(where.params)
        conds.append(where.condition)
    if after is not None:
        conds.append(sql.SQL("id > {}").format(params.add(after, "text")))
    cond = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds) if conds else sql.SQL("")
    rows = yield Execute(
        sql.SQL("SELECT {} FROM {}{} ORDER BY id LIMIT {} OFFSET {}").format(
            _item_columns(target, include_vector),
            target.table,
            cond,
            params.add(limit),
            params.add(offset),
        ),
        params.values,
        binary=True,
    )
    return [_item(target, r, include_vector) for r in rows]


def count_plan(target: Target, where: CompiledFilter | None) -> Plan[int]:
    params = Params()
    row = yield Execute(
        sql.SQL("SELECT count(*) FROM {}{}").format(target.table, with_filter(params, where)),
        params.values,
        fetch="one",
    )
    return int(row[0])


def delete_plan(
    target: Target, ids: Sequence[str] | None, where: CompiledFilter | None
) -> Plan[list[str]]:
    params = Params()
    if ids is not None:
        wanted = _ids(ids)
        if not wanted:
            return []
        cond: sql.Composable = sql.SQL(" WHERE id = ANY({})").format(params.add(wanted, "text[]"))
    else:
        cond = with_filter(params, where)
    rows = yield Execute(
        sql.SQL("DELETE FROM {}{} RETURNING id").format(target.table, cond), params.values
    )
    return [r[0] for r in rows]


def clear_plan(target: Target) -> Plan[int]:
    count = yield Execute(sql.SQL("DELETE FROM {}").format(target.table), fetch="rowcount")
    return int(count)
