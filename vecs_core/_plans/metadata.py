"""Plans for indexed metadata keys (``Collection.index_metadata``). Pure: no I/O.

A metadata index is a btree over ``_metaindex.expression(key, type)``, built with
``CREATE INDEX CONCURRENTLY`` (reads and writes go on) under the collection's metadata-index
lock, and recognised in the catalog by its comment (``_metaindex.comment``).
"""

from __future__ import annotations

import hashlib
import uuid

import psycopg
from psycopg import sql

from .._metaindex import MetadataIndex, MetaType, comment, expression
from .._names import ident
from .._protocol import Execute, Plan
from ..exc import IndexBuildError
from .indexes import IndexTarget, all_indexes_plan, locked


def index_metadata_plan(
    target: IndexTarget, key: str, meta_type: MetaType, build_settings: dict[str, str]
) -> Plan[MetadataIndex]:
    """Build (or keep) the index of ``key`` as ``meta_type``; drop the key's other indexes
    (another type, an invalid leftover) once the new one is ready."""
    inner = _build(target, key, meta_type, build_settings)
    made: MetadataIndex = yield from locked(f"meta:{target.schema}.{target.name}", inner)
    return made


def _drop(schema: str, index: str) -> Execute:
    return Execute(
        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(ident(schema, index)),
        fetch="none",
    )


def _set(settings: dict[str, str], reset: bool) -> Plan[None]:
    for name, value in settings.items():
        new: sql.Composable = sql.Placeholder("v")
        if reset:
            new = sql.SQL("(SELECT reset_val FROM pg_settings WHERE name = {})").format(
                sql.Placeholder("k")
            )
        yield Execute(
            sql.SQL("SELECT set_config({}, {}, false)").format(sql.Placeholder("k"), new),
            {"k": name, "v": value},
            fetch="none",
        )


def _build(
    target: IndexTarget, key: str, meta_type: MetaType, build_settings: dict[str, str]
) -> Plan[MetadataIndex]:
    schema, name = target.schema, target.name
    found = (yield from all_indexes_plan(schema, name)).metadata
    mine = [m for m in found if m.key == key]
    keep = next((m for m in mine if m.type == meta_type and m.valid), None)
    if keep is None:
        digest = hashlib.sha256(f"{name}\0{key}".encode()).hexdigest()[:10]
        new = f"ix_mkey_{digest}_{meta_type[:4]}_{uuid.uuid4().hex[:6]}"
        yield from _set(build_settings, reset=False)
        try:
            yield Execute(
                sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} (({}))").format(
                    sql.Identifier(new), target.table, expression(key, meta_type)
                ),
                fetch="none",
            )
        except psycopg.Error as exc:
            yield _drop(schema, new)
            raise IndexBuildError(
                f"building the {meta_type} index of metadata key {key!r} on {name!r} failed: "
                f"{str(exc).strip().splitlines()[0]}"
            ) from exc
        finally:
            yield from _set(build_settings, reset=True)
        yield Execute(
            sql.SQL("COMMENT ON INDEX {} IS {}").format(
                ident(schema, new), sql.Literal(comment(key, meta_type))
            ),
            fetch="none",
        )
        keep = MetadataIndex(key, meta_type, new, True)
    for old in mine:
        if old.name != keep.name:
            yield _drop(schema, old.name)
    return keep


def drop_metadata_index_plan(schema: str, name: str, key: str) -> Plan[list[str]]:
    """Drop every index of metadata key ``key``; return their names."""
    inner = _drop_key(schema, name, key)
    dropped: list[str] = yield from locked(f"meta:{schema}.{name}", inner)
    return dropped


def _drop_key(schema: str, name: str, key: str) -> Plan[list[str]]:
    found = (yield from all_indexes_plan(schema, name)).metadata
    names = [m.name for m in found if m.key == key]
    for index in names:
        yield _drop(schema, index)
    return names
