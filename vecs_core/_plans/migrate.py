"""The destination half of ``vecs_core.migrate``: stage, check, merge, verify. Pure: no I/O.

One transaction: the source's rows arrive as a binary COPY stream (``(ord, id, vec, metadata,
text)``, the staging table's layout, produced by the source server's ``COPY (SELECT ...) TO
STDOUT (FORMAT BINARY)``) into the same staging table a streamed upsert uses; they are checked
there (ids, vector dimension, metadata objects, duplicates, zero vectors under a cosine index),
merged like an upsert, and counted at every step. Any failure, of the source stream midway or
of a check, rolls the transaction back: nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import sql

from .._protocol import CopyIn, Execute, Plan
from .._records import MAX_ID_BYTES
from ..exc import MigrationError, PermissionDenied, RecordError
from .catalog import add_text_column
from .records import STAGE_COPY, STAGE_TABLE, Target, create_stage, merge_stage, merge_step

_STAGE = sql.Identifier(STAGE_TABLE)


@dataclass(frozen=True)
class Copied:
    rows: int
    added_text_column: bool


def _problems(target: Target, refuse_zero: bool) -> sql.Composed:
    """The first staged row that cannot be stored, and why."""
    d = sql.Literal(target.dimension)
    if target.kind.dense:
        dims: sql.Composable = sql.SQL("vector_dims(vec)")
    else:  # sparsevec's text form ends in /<dimension>
        dims = sql.SQL("split_part(vec::text, '/', 2)::int")
    norm = "vector_norm" if target.kind.name == "vector" else "l2_norm"
    zero = (
        sql.SQL(
            " WHEN {}(vec) = 0 THEN 'a zero vector, which the collection''s cosine index cannot"
            " return; drop such rows or the cosine index first'"
        ).format(sql.SQL(norm))
        if refuse_zero
        else sql.SQL("")
    )
    return sql.SQL(
        "SELECT id, problem FROM (SELECT id, CASE"
        " WHEN id IS NULL OR id = '' THEN 'an empty id (NULL or '''')'"
        " WHEN octet_length(id) > {max_id} THEN 'an id longer than {max_id} bytes'"
        " WHEN vec IS NULL THEN 'no vector (NULL)'"
        " WHEN {dims} <> {d} THEN 'a vector of dimension ' || {dims} || ', but the collection"
        " stores dimension ' || {d}"
        " WHEN jsonb_typeof(metadata) <> 'object' THEN 'metadata that is a JSON '"
        " || jsonb_typeof(metadata) || ', not an object'{zero}"
        " END AS problem FROM {stage}) AS p WHERE problem IS NOT NULL LIMIT 1"
    ).format(
        max_id=sql.SQL(str(MAX_ID_BYTES)),
        dims=dims,
        d=d,
        zero=zero,
        stage=_STAGE,
    )


def copy_plan(
    target: Target,
    chunks: Iterable[bytes],
    expected: int,
    with_text: bool,
    refuse_zero: bool,
    source: str,
) -> Plan[Copied]:
    """Stream ``chunks`` into the staging table, check, merge and verify (see the module
    docstring). ``expected`` is the source's row count, taken in the snapshot it is read in;
    ``with_text``: the source has document text (the collection gets a text column if it has
    none)."""
    yield create_stage(target)
    copied = int((yield CopyIn(STAGE_COPY, chunks)))
    if copied != expected:
        raise MigrationError(
            f"{source}: {expected} rows counted but {copied} copied; nothing was written"
        )
    bad = yield Execute(_problems(target, refuse_zero), fetch="one")
    if bad is not None:
        raise RecordError(
            f"{source}: the row with id {bad[0]!r:.100} has {bad[1]}; fix it in the source "
            "(or leave it out), then copy again. Nothing was written"
        )
    dup = yield Execute(
        sql.SQL("SELECT id, count(*) FROM {} GROUP BY id HAVING count(*) > 1 LIMIT 1").format(
            _STAGE
        ),
        fetch="one",
    )
    if dup is not None:
        raise RecordError(
            f"{source}: id {dup[0]!r:.100} appears {dup[1]} times; a collection keeps one record "
            "per id. Make the ids unique in the source, then copy again. Nothing was written"
        )
    added = with_text and not target.has_text
    if added and not target.may_add_text:
        raise PermissionDenied(
            "the source has document text but the collection has no text column yet, and it "
            "is never added under a session role; have the collection's owner call "
            "enable_text() first (nothing was written)"
        )
    if added:
        yield add_text_column(target.table)
    written = yield from merge_step(merge_stage(target, with_text=target.has_text or added))
    present = yield Execute(
        sql.SQL(
            "SELECT count(*) FROM {} t WHERE EXISTS (SELECT 1 FROM {} s WHERE s.id = t.id)"
        ).format(target.table, _STAGE),
        fetch="one",
    )
    if int(written) != copied or int(present[0]) != copied:
        raise MigrationError(
            f"{source}: {copied} rows staged, {written} merged and {present[0]} found in the "
            "collection afterwards (a trigger or policy on the collection's table?); nothing "
            "was written"
        )
    return Copied(copied, added)
