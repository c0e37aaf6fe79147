"""A load of new records ``COPY``-ed straight into the collection's table. Pure: no I/O.

The general upsert streams records into a staging table and merges them (``INSERT ... ON
CONFLICT DO UPDATE``): every row is written twice. When no stored id can collide, the records
can go straight into the table, as fast as a hand-written binary ``COPY`` (measured at 100,000 x
384: 0.6x of a raw ``COPY`` through staging, 1.0x straight). Two cases qualify, with the upsert's
rules kept in both:

**An empty table** (the first load):

- *empty stays true*: the table is locked ``SHARE ROW EXCLUSIVE`` (which conflicts with every
  writer but no reader) once it is seen empty, and checked again under the lock: no other
  transaction can add a colliding id until this one commits. Readers go on. The lock is taken
  only for an empty table, and only after the first check; two loads into one empty table take
  turns, neither holding a lock the other waits for (no deadlock);
- *last wins within the call*: the stream goes straight in only while its ids are new (a set of
  the ids seen, on the client); at the first repeated id, the rest of the stream (from that
  record on) goes through staging and is merged afterwards, so the later record wins;
- a record carrying document text while the table has no text column also ends the straight
  part (the column is added by the merge, as usual).

**New ids in a table that has rows** (a batch of a bigger load, ``add_texts`` of new
documents, a second big load):

- a call of at most :func:`part_rows` records (about 32 MB of vectors) is read first, and goes
  straight only if its ids are distinct str ids, no text needs a new column, and a sample of
  up to :data:`PROBE_IDS` ids (spread over the sorted ids) is not stored: an overwrite is
  recognised before anything is sent;
- a bigger call whose first ``part_rows + 1`` records pass that test is encoded, record by
  record in the caller's order, into a temporary file (a :class:`Spool`, at most
  :data:`SPOOL_BYTES`; memory holds only the ids and each row's place). When every record is
  read, it goes straight in id order if the ids are distinct, no text needs a new column and a
  probe of the sorted ids finds none stored. Otherwise (or past ``SPOOL_BYTES``) the file is
  the staging ``COPY``'s first rows, as written: nothing is encoded twice, and the order of
  the call (which decides which of a repeated id wins) is kept;
- *no stored id is overwritten by accident*: the ``COPY`` runs under a savepoint. A stored id
  the probe missed (or one committed meanwhile) makes it fail with a unique violation; the
  savepoint is rolled back and the same records go through staging and the merge, so the
  result is the upsert's either way. Nothing else is locked: other writers go on;
- *no deadlock between writers*: the records are sent in id order, the order every merge and
  small upsert takes too (``COLLATE "C"``, the code point order Python sorts str in), so two
  writers of overlapping ids wait for each other in one direction only. A deadlock with
  another program's writes is resolved by PostgreSQL; if this load is the one chosen, it goes
  through staging instead, as for a unique violation;
- one savepoint per call, and one ``COPY`` in one id order, however big the call: no
  subtransaction build-up, and no two parts sent one after the other in two id orders (which
  two writers could lock in opposite directions).

Everything runs in the upsert's one transaction (atomic). Neither case is used where ``COPY``
into the table would behave differently: under a session role, with row level security active
(``COPY FROM`` is refused then), or on Citus.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Iterator
from itertools import chain, islice
from typing import Any

import psycopg
from psycopg import sql

from .._protocol import CopyIn, Execute, Plan
from .._records import COPY_HEADER, COPY_TRAILER, Encoder, check_id, table_row_of_staged
from ..exc import RecordError

_ID, _VEC, _META, _TEXT = (sql.Identifier(c) for c in ("id", "vec", "metadata", "text"))

PART_BYTES = 32 * 2**20
"""Vector bytes a load of new ids into a non-empty table may hold in memory to send straight
(it is read before it is sent, to be sorted and probed)."""
SPOOL_BYTES = 512 * 2**20
"""Bytes of encoded rows a load of more than :func:`part_rows` new ids into a non-empty table
may write to a temporary file (``TMPDIR``), to be sorted by id and sent straight; the rows of a
bigger one go through staging (about 330,000 records at 384 float32 dimensions)."""
PROBE_IDS = 16
"""Ids of such a load looked up before it is sent: enough to recognise an overwrite."""
_SAVEPOINT = sql.Identifier("vecs_core_straight")
_RETRY = (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected)


def part_rows(dimension: int, element_bytes: int) -> int:
    """Records a load of new ids may have to go straight: ``PART_BYTES`` of vectors, between
    1,000 and 50,000 records (21,845 at 384 float32 dimensions, 2,730 at 3,072)."""
    return max(1_000, min(50_000, PART_BYTES // max(1, dimension * max(1, element_bytes))))


class FreshStream:
    """The records of a load while they can go straight into the table; ``stopped`` is the
    first one that cannot (a repeated id, or text without a text column), and ``rest`` the
    records after it. :meth:`remaining` is what is left for staging."""

    def __init__(self, records: Iterator[tuple[int, Any]], has_text: bool) -> None:
        self.rest = records
        self.has_text = has_text
        self.seen: set[Any] = set()
        self.stopped: tuple[int, Any] | None = None
        self.pending: list[tuple[int, Any]] = []  # read, then given back for staging
        self.more = False  # take_sorted found more than its limit of records
        self.spool: Spool | None = None  # rows encoded for staging that were not sent straight

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        seen, has_text = self.seen, self.has_text
        for index, record in self.rest:
            if isinstance(record, (tuple, list)) and record:
                rid = record[0]
                try:
                    repeated = rid in seen
                except TypeError:  # unhashable: not an id; the encoder names the error
                    repeated = False
                texted = not has_text and len(record) == 4 and record[3] is not None
                if repeated or texted:
                    self.stopped = (index, record)
                    return
                if isinstance(rid, str):
                    seen.add(rid)
            yield index, record

    def take_sorted(self, limit: int) -> list[tuple[int, Any]] | None:
        """All the records, sorted by id, if there are at most ``limit`` with distinct str ids
        and no text needing a new column; else None, with the records read given back, and
        ``more`` set when there are more than ``limit`` (and the first ``limit + 1`` qualify)."""
        taken = list(islice(self.rest, limit + 1))
        ids = set()
        for index, record in taken:
            if (
                type(record) is not tuple
                or len(record) not in (3, 4)
                or (not self.has_text and len(record) == 4 and record[3] is not None)
            ):
                break
            try:  # probed before the encoder sees it: a NUL or a lone surrogate cannot be sent
                check_id(record[0], what=f"record {index}")
            except RecordError:
                break  # the encoder names it, on the staging path
            ids.add(record[0])
        if len(taken) > limit or len(ids) != len(taken):
            self.pending = taken
            self.more = len(taken) > limit and len(ids) == len(taken)
            return None
        return sorted(taken, key=lambda item: item[1][0])

    def give_back(self, records: list[tuple[int, Any]]) -> None:
        """Return records read for a straight part that was rolled back, in their order."""
        self.pending = sorted(records, key=lambda item: item[0])

    def remaining(self) -> tuple[tuple[int, Any], Iterator[tuple[int, Any]]] | None:
        """The first record not sent straight and the ones after it, in order; None when every
        record was."""
        rest = chain(self.pending, [self.stopped] if self.stopped is not None else [], self.rest)
        first = next(rest, None)
        return None if first is None else (first, rest)


class Spool:
    """The rows of a load in the staging table's format, in the caller's order, in a temporary
    file (not in memory): streamed as they are into staging, or sent straight in id order."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.ids: list[str] = []
        self.ends = array("q")  # where each row ends in the file (the next one starts there)
        self.size = 0

    def add(self, ids: list[str], rows: list[bytes]) -> None:
        ends, at = self.ends, self.size
        for row in rows:
            at += len(row)
            ends.append(at)
        self.ids.extend(ids)
        self.file.write(b"".join(rows))
        self.size = at

    def staged(self) -> Iterator[bytes]:
        """A staging ``COPY``'s header and the rows as written, in blocks; the file is closed
        after the last."""
        yield COPY_HEADER
        self.file.seek(0)
        while block := self.file.read(1 << 20):
            yield block
        self.file.close()

    def straight(self, order: list[int], has_text: bool) -> Iterator[bytes]:
        """A ``COPY`` into the table (:func:`_copy`) of the rows at ``order``: each staged row's
        field count replaced and its ``ord`` left out (and its NULL text, without a text
        column), read back a row at a time."""
        self.file.flush()
        fd, ends = self.file.fileno(), self.ends
        fields, skip, cut = table_row_of_staged(has_text)
        head = COPY_HEADER
        for start in range(0, len(order), 256):
            out = [head]
            for i in order[start : start + 256]:
                at = (ends[i - 1] if i else 0) + skip
                out.append(fields)
                out.append(os.pread(fd, ends[i] - cut - at, at))
            yield b"".join(out)
            head = b""
        yield head + COPY_TRAILER


def _copy(table: sql.Composable, has_text: bool) -> sql.Composed:
    cols = [_ID, _VEC, _META] + ([_TEXT] if has_text else [])
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        table, sql.SQL(", ").join(cols)
    )


def _probe(ids: list[str]) -> list[str]:
    """Up to ``PROBE_IDS`` of the sorted ``ids``, first and last included, evenly spread."""
    if len(ids) <= PROBE_IDS:
        return ids
    step = (len(ids) - 1) / (PROBE_IDS - 1)
    return [ids[round(i * step)] for i in range(PROBE_IDS)]


def _stored_plan(table: sql.Composable, ids: list[str]) -> Plan[bool]:
    """Whether any of a sample of the sorted ``ids`` (:func:`_probe`) is stored."""
    row = yield Execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = ANY(%(ids)s::text[]))").format(
            table, _ID
        ),
        {"ids": _probe(ids)},
        fetch="one",
    )
    return bool(row[0])


def _savepoint_copy_plan(
    table: sql.Composable, has_text: bool, chunks: Iterator[bytes] | Any
) -> Plan[bool]:
    """``COPY`` straight under a savepoint; roll back to it (and return False) on a unique
    violation or a deadlock."""
    yield Execute(sql.SQL("SAVEPOINT {}").format(_SAVEPOINT), fetch="none")
    try:
        yield CopyIn(_copy(table, has_text), chunks)
    except _RETRY:
        yield Execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(_SAVEPOINT), fetch="none")
        return False
    return True


def fresh_load_plan(
    table: sql.Composable,
    has_text: bool,
    encoder: Encoder,
    stream: FreshStream,
    staged: Encoder | None = None,
) -> Plan[bool]:
    """Send what can go straight into the table (see the module's docstring) and return
    whether anything did; what is left is ``stream.remaining()`` (after ``stream.spool``, if
    set: rows ``staged`` encoded). Run inside the upsert's transaction, before anything else
    is written."""
    rls = sql.SQL("row_security_active({}::regclass)").format(sql.Literal(table.as_string(None)))
    row = yield Execute(
        sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {}), {}").format(table, rls), fetch="one"
    )
    if row[1]:
        return False
    if row[0]:
        yield Execute(
            sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table), fetch="none"
        )
        row = yield Execute(
            sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(table), fetch="one"
        )
        if row[0]:
            yield CopyIn(_copy(table, has_text), encoder.chunks(iter(stream)))
            return True
    part = stream.take_sorted(part_rows(encoder.dimension, encoder.kind.element_bytes()))
    if part is None:  # more than part_rows: spooled if the first part is new
        if not stream.more or staged is None:
            return False
        first = sorted(record[0] for _, record in stream.pending)
        if (yield from _stored_plan(table, first)):
            return False
        return (yield from _spooled_plan(table, has_text, stream, staged))
    if not part:
        return False
    if (yield from _stored_plan(table, [record[0] for _, record in part])):
        stream.give_back(part)
        return False
    if (yield from _savepoint_copy_plan(table, has_text, encoder.chunks(iter(part)))):
        return True
    encoder.count = 0
    encoder.has_text = False
    stream.give_back(part)
    return False


def _spooled_plan(
    table: sql.Composable, has_text: bool, stream: FreshStream, staged: Encoder
) -> Plan[bool]:
    """A load of more than ``part_rows`` records whose first part is new: encode every record
    (as staging rows) into a :class:`Spool`, then send them straight in id order if their ids
    are distinct, no text needs a new column, a probe finds none stored and the spool stayed
    under :data:`SPOOL_BYTES`; else leave the spool (and any record not read) to staging."""
    spool = stream.spool = Spool()
    records = chain(stream.pending, stream.rest)
    stream.pending, stream.rest = [], records
    while spool.size <= SPOOL_BYTES and (batch := list(islice(records, staged.chunk_rows))):
        rows = staged.staged_rows(batch)  # validates: a bad record fails the upsert here
        spool.add([record[0] for _, record in batch], rows)
    ids = spool.ids
    if spool.size > SPOOL_BYTES or (staged.has_text and not has_text) or len(set(ids)) < len(ids):
        return False
    order = sorted(range(len(ids)), key=ids.__getitem__)
    if (yield from _stored_plan(table, [ids[i] for i in order])):
        return False
    if not (yield from _savepoint_copy_plan(table, has_text, spool.straight(order, has_text))):
        return False
    stream.spool = None
    spool.file.close()
    return True
