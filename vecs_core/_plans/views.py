"""Plans for ``expose_view``: the guide's "simple workloads" view over a collection. Pure.

The view has the collection's ``id``, ``embedding`` (the ``vec`` column), ``metadata`` and
``content`` (the document text, NULL when the collection has none), plus one typed column per
metadata key asked for. Each typed column is exact and never fails: a value of the wrong JSON
type (or out of the type's range, or not parseable as a date) reads as NULL instead of making
the whole query fail, as ``(metadata->>'n')::int`` would.

Types (:data:`VIEW_TYPES`): ``text`` (JSON strings), ``boolean`` (JSON booleans), ``numeric``,
``double precision``, ``integer``, ``bigint`` (JSON numbers; the integer types only for whole
numbers in range), ``jsonb`` (the value as it is), ``text[]`` (arrays of strings), and on
PostgreSQL 16+ (``pg_input_is_valid``) ``date``, ``timestamptz`` and ``uuid`` (JSON strings that
parse). Column and view names are quoted identifiers; keys are string literals quoted by
psycopg (a view's definition cannot hold bound parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import psycopg
from psycopg import sql

from .._names import ident
from .._protocol import Execute, Plan
from ..exc import ArgError
from .catalog import TEXT_COLUMN, TableInfo
from .sqlapi import check_schema

BASE_COLUMNS = ("id", "embedding", "metadata", "content")
_FLOAT_MAX = "1.7976931348623157e308"
_FLOAT_MIN = "4.9406564584124654e-324"


def _literal(value: str) -> sql.Composable:
    """A quoted string literal in DDL (``%`` doubled for the driver, like ``ident``)."""
    return sql.SQL(sql.Literal(value).as_string(None).replace("%", "%%"))


Builder = Callable[[sql.Composable], sql.Composable]
"""The typed expression of one column from the key (a quoted literal) over ``metadata``."""


def _typed(
    json_type: str, key: sql.Composable, inner: sql.Composable, value: sql.Composable
) -> sql.Composable:
    """``value`` when the metadata value has ``json_type`` and ``inner`` holds, else NULL.
    Nested CASEs: PostgreSQL does not promise to evaluate ``AND`` operands in order."""
    return sql.SQL(
        "CASE WHEN jsonb_typeof(metadata -> {k}) = {t} THEN CASE WHEN {inner} THEN {value} END END"
    ).format(k=key, t=sql.Literal(json_type), inner=inner, value=value)


def _plain(json_type: str, value: str) -> Builder:
    def build(key: sql.Composable) -> sql.Composable:
        return _typed(json_type, key, _TRUE, sql.SQL(value).format(key))

    return build


def _whole(low: str, high: str, cast: str) -> Builder:
    def build(key: sql.Composable) -> sql.Composable:
        n = sql.SQL("(metadata -> {})::numeric").format(key)
        inner = sql.SQL("{n} = trunc({n}) AND {n} BETWEEN {low} AND {high}").format(
            n=n, low=sql.SQL(low), high=sql.SQL(high)
        )
        return _typed("number", key, inner, sql.SQL("{}::{}").format(n, sql.SQL(cast)))

    return build


def _float(key: sql.Composable) -> sql.Composable:
    n = sql.SQL("(metadata -> {})::numeric").format(key)
    inner = sql.SQL("{n} = 0 OR abs({n}) BETWEEN {low} AND {high}").format(
        n=n, low=sql.SQL(_FLOAT_MIN), high=sql.SQL(_FLOAT_MAX)
    )
    return _typed("number", key, inner, sql.SQL("{}::double precision").format(n))


def _parsed(cast: str) -> Builder:
    def build(key: sql.Composable) -> sql.Composable:
        text = sql.SQL("(metadata ->> {})").format(key)
        inner = sql.SQL("pg_input_is_valid({}, {})").format(text, sql.Literal(cast))
        return _typed("string", key, inner, sql.SQL("{}::{}").format(text, sql.SQL(cast)))

    return build


def _strings(key: sql.Composable) -> sql.Composable:
    inner = sql.SQL("NOT jsonb_path_exists(metadata -> {}, {})").format(key, sql.Literal(_STRINGS))
    value = sql.SQL("ARRAY(SELECT jsonb_array_elements_text(metadata -> {}))").format(key)
    return _typed("array", key, inner, value)


_STRINGS = 'strict $[*] ? (@.type() != "string")'
_TRUE = sql.SQL("true")

VIEW_TYPES: dict[str, tuple[Builder, int]] = {
    # name -> (builder, the server version it needs)
    "text": (_plain("string", "metadata ->> {}"), 0),
    "boolean": (_plain("boolean", "(metadata -> {})::boolean"), 0),
    "numeric": (_plain("number", "(metadata -> {})::numeric"), 0),
    "double precision": (_float, 0),
    "integer": (_whole("-2147483648", "2147483647", "integer"), 0),
    "bigint": (_whole("-9223372036854775808", "9223372036854775807", "bigint"), 0),
    "jsonb": (lambda key: sql.SQL("metadata -> {}").format(key), 0),
    "text[]": (_strings, 0),
    "date": (_parsed("date"), 160000),
    "timestamptz": (_parsed("timestamptz"), 160000),
    "uuid": (_parsed("uuid"), 160000),
}
ALIASES = {
    "string": "text",
    "bool": "boolean",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "number": "numeric",
    "float": "double precision",
    "float8": "double precision",
    "json": "jsonb",
    "timestamp with time zone": "timestamptz",
}


def view_type(key: str, given: object) -> str:
    """The canonical type name for ``given``.

    Raises:
        ArgError: not one of :data:`VIEW_TYPES` (or an alias).
    """
    name = given.strip().lower() if isinstance(given, str) else None
    name = ALIASES.get(name, name) if name is not None else None
    if name not in VIEW_TYPES:
        raise ArgError(
            f"columns[{key!r}]: unknown type {given!r}; expected one of "
            f"{', '.join(VIEW_TYPES)} (or {', '.join(ALIASES)})"
        )
    return name


def expose_view_plan(
    info: TableInfo,
    view: tuple[str, str],
    columns: Mapping[str, str],
    security_invoker: bool,
) -> Plan[str]:
    """``CREATE OR REPLACE VIEW`` (one transaction); returns the view's qualified name."""
    row = yield Execute(sql.SQL("SELECT current_setting('server_version_num')::int"), fetch="one")
    server = int(row[0])
    if security_invoker and server < 150000:
        raise ArgError(
            "security_invoker views need PostgreSQL 15 or later (this server is "
            f"{server // 10000}); without it the view would bypass Row Level Security. Upgrade, "
            "or pass security_invoker=False knowing that the view runs as its owner"
        )
    for key, type_name in columns.items():
        needed = VIEW_TYPES[type_name][1]
        if server < needed:
            raise ArgError(
                f"columns[{key!r}]: type {type_name!r} needs PostgreSQL {needed // 10000} or "
                f"later (pg_input_is_valid); use 'text' and cast in your query instead"
            )
    yield from check_schema(view[0])
    picks = [
        sql.SQL("{} AS {}").format(sql.Identifier("vec"), sql.Identifier("embedding")),
        sql.Identifier("metadata"),
        sql.SQL("{} AS {}").format(
            sql.Identifier(TEXT_COLUMN) if info.has_text else sql.SQL("NULL::text"),
            sql.Identifier("content"),
        ),
    ]
    for key, type_name in columns.items():
        expression = VIEW_TYPES[type_name][0](_literal(key))
        picks.append(sql.SQL("({})::{} AS {}").format(expression, sql.SQL(type_name), ident(key)))
    options = sql.SQL(" WITH (security_invoker = true)") if security_invoker else sql.SQL("")
    statement = sql.SQL("CREATE OR REPLACE VIEW {view}{options} AS SELECT id, {cols} FROM {table}")
    try:
        yield Execute(
            statement.format(
                view=ident(*view),
                options=options,
                cols=sql.SQL(", ").join(picks),
                table=ident(info.schema, info.name),
            ),
            fetch="none",
        )
    except psycopg.errors.InvalidTableDefinition as exc:
        raise ArgError(
            f"cannot replace view {view[0]}.{view[1]}: {str(exc).strip().splitlines()[0]}; "
            "drop it first (drop_view()), then expose it again (and grant it again)"
        ) from exc
    except psycopg.errors.WrongObjectType as exc:
        raise ArgError(
            f"{view[0]}.{view[1]} exists and is not a view: {str(exc).strip().splitlines()[0]}"
        ) from exc
    return f"{view[0]}.{view[1]}"


def drop_view_plan(view: tuple[str, str]) -> Plan[None]:
    yield Execute(sql.SQL("DROP VIEW IF EXISTS {}").format(ident(*view)), fetch="none")
