"""The metadata filter language, compiled to SQL. Pure: no I/O, no database.

A filter is a dict. Keys are metadata field names (literal top-level keys) or the logical operators
``$and``/``$or`` (non-empty lists of filters) and ``$not`` (one filter). A field maps to a bare
scalar (meaning ``$eq``) or to a dict of operators, all of which must hold. Every key and value is
sent as a bound parameter; nothing from the filter reaches the SQL text.

Each leaf compiles to a two-valued boolean (never NULL), so ``$not`` is an exact complement.
Equality-style leaves compile to ``metadata @> %s::jsonb``, which a GIN ``jsonb_path_ops`` index
serves; ``$eq``/``$ne`` with an array or object add exact jsonb equality behind it. Adding an
operator is one entry in :data:`_FIELD_OPERATORS`. Nesting and size are bounded
(:mod:`vecs_core._checks`): the compiler recurses at most ``MAX_FILTER_DEPTH`` levels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from psycopg import sql

from ._checks import MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, safe_repr, utf8_encodable
from ._filter_values import (
    Scalar,
    check_scalar,
    dumps_json,
    eq_value,
    fmt_path,
    in_values,
    number_param,
)
from ._metaindex import MetaType
from ._metaindex import expression as metaindex_expression
from ._sqlparams import Params
from .exc import FilterError

LOGICAL_OPERATORS = ("$and", "$or", "$not")


def _not_a_dict(node: object, path: str) -> FilterError:
    return FilterError(
        f"{path}: a filter must be a dict, got {type(node).__name__} {safe_repr(node)}; write "
        "e.g. {'year': {'$gte': 2000}}, and combine several with {'$and': [...]} or {'$or': [...]}"
    )


def check_filter_type(filters: object) -> Mapping[str, Any] | None:
    """Return ``filters`` if it is None or a dict (a ``Mapping``); else raise :class:`FilterError`.

    For callers that look at a filter before compiling it (``delete`` refuses an empty one).
    """
    if filters is None or isinstance(filters, Mapping):
        return filters
    raise _not_a_dict(filters, "filters")


class Compiler:
    def __init__(
        self,
        column: sql.Composable,
        params: Params,
        indexed: Mapping[str, MetaType] | None = None,
    ) -> None:
        self.col = column
        self.params = params
        self.conditions = 0
        self.indexed = indexed or {}
        # under an odd number of $not: a leaf must be two-valued (never NULL) for NOT to be its
        # complement; elsewhere a NULL leaf acts as false through AND/OR, as WHERE reads it
        self.negated = False

    # -- structure ---------------------------------------------------------------------------
    def filter(self, node: object, path: str, depth: int = 1) -> sql.Composable:
        """Compile one filter dict; ``depth`` counts the filter dicts from the root (level 1),
        so the recursion through ``$and``/``$or``/``$not`` stops at :data:`MAX_FILTER_DEPTH`."""
        if not isinstance(node, Mapping):
            raise _not_a_dict(node, path)
        if not node:
            raise FilterError(f"{path}: empty filter; give at least one field or operator")
        if depth > MAX_FILTER_DEPTH:
            raise FilterError(
                f"{path[:120]}...: filters are nested more than {MAX_FILTER_DEPTH} levels deep "
                f"in $and/$or/$not; the limit is {MAX_FILTER_DEPTH}: flatten them, e.g. one "
                "$and or $or with a list of conditions"
            )
        parts: list[sql.Composable] = []
        for key, value in node.items():
            if not isinstance(key, str):
                raise FilterError(
                    f"{path}: keys must be strings, got {type(key).__name__} {safe_repr(key)}"
                )
            sub = fmt_path(path, key)
            if key in ("$and", "$or"):
                parts.append(self.logical(key, value, sub, depth))
            elif key == "$not":
                self.negated = not self.negated
                try:
                    parts.append(sql.SQL("(NOT {})").format(self.filter(value, sub, depth + 1)))
                finally:
                    self.negated = not self.negated
            elif key.startswith("$"):
                raise FilterError(
                    f"{sub}: unknown logical operator {key!r}; expected one of "
                    f"{', '.join(LOGICAL_OPERATORS)} or a field name"
                )
            else:
                parts.append(self.field(key, value, sub))
        return _join(parts, "AND")

    def logical(self, op: str, value: object, path: str, depth: int = 1) -> sql.Composable:
        if not isinstance(value, (list, tuple)):
            raise FilterError(
                f"{path}: {op} expects a non-empty list of filters, got {type(value).__name__}"
            )
        if not value:
            raise FilterError(
                f"{path}: {op} with an empty list is refused (it would match "
                f"{'everything' if op == '$and' else 'nothing'}); give at least one filter"
            )
        subs = [self.filter(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
        return _join(subs, "AND" if op == "$and" else "OR")

    def field(self, key: str, value: object, path: str) -> sql.Composable:
        if "\x00" in key:
            raise FilterError(f"{path}: field names cannot contain NUL characters")
        if not utf8_encodable(key):
            raise FilterError(f"{path}: field name holds a lone surrogate (not valid Unicode)")
        self.conditions += len(value) if isinstance(value, Mapping) else 1
        if self.conditions > MAX_FILTER_CONDITIONS:
            raise FilterError(
                f"{path}: the filter has more than {MAX_FILTER_CONDITIONS} conditions (a bare "
                f"value or an operator on a field each); the limit is {MAX_FILTER_CONDITIONS}: "
                "match many values with one $in, $nin or $contains list instead"
            )
        if isinstance(value, Mapping):
            if not value:
                raise FilterError(f"{path}: empty operator dict; give at least one operator")
            parts = []
            for op, operand in value.items():
                handler = _FIELD_OPERATORS.get(op) if isinstance(op, str) else None
                if handler is None:
                    raise FilterError(
                        f"{path}: unknown operator {safe_repr(op)}; expected one of "
                        f"{', '.join(_FIELD_OPERATORS)} (to match a whole object value, "
                        "write {'$eq': {...}})"
                    )
                parts.append(handler(self, key, operand, fmt_path(path, op)))
            return _join(parts, "AND")
        if isinstance(value, (list, tuple)):
            raise FilterError(
                f"{path}: a bare list is ambiguous; use {{'$in': [...]}} for any of the values "
                "or {'$contains': [...]} for an array holding all of them"
            )
        return _op_eq(self, key, value, path)

    # -- leaf helpers ------------------------------------------------------------------------
    def key(self, key: str) -> sql.Composable:
        return self.params.add(key)

    def contains(self, obj: object) -> sql.Composable:
        return sql.SQL("({} @> {})").format(self.col, self.params.add(dumps_json(obj), "jsonb"))

    def has_key(self, key: str) -> sql.Composable:
        return sql.SQL("({} ? {})").format(self.col, self.key(key))

    def typed(self, key: str, json_type: str, test: sql.Composable) -> sql.Composable:
        """``test`` when the value at ``key`` has ``json_type``; else false, never NULL."""
        return sql.SQL("COALESCE(CASE WHEN jsonb_typeof({} -> {}) = {} THEN {} END, false)").format(
            self.col, self.key(key), sql.Literal(json_type), test
        )

    def index_expression(self, key: str, *types: MetaType) -> tuple[sql.Composable, str] | None:
        """The expression of ``key``'s metadata index when the key is indexed as one of
        ``types`` (see ``_metaindex``), with the SQL type of its values; else None."""
        meta_type = self.indexed.get(key)
        if meta_type is None or meta_type not in types:
            return None
        sql_type = {"number": "numeric", "bool": "boolean"}.get(meta_type, "text")
        return metaindex_expression(key, meta_type), sql_type

    def indexable(self, test: sql.Composable) -> sql.Composable:
        """``test`` over an index expression, which is NULL for values of another type: as is
        where NULL reads as false (so the planner can use the index), two-valued under $not."""
        return sql.SQL("COALESCE({}, false)").format(test) if self.negated else test


def _join(parts: list[sql.Composable], word: str) -> sql.Composable:
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("(") + sql.SQL(f" {word} ").join(parts) + sql.SQL(")")


def _equal(c: Compiler, key: str, value: object) -> sql.Composable:
    """The value at ``key`` is JSON-equal to ``value``; true or false, never NULL.

    Containment (``@>``) is equality for a scalar, and the GIN index serves it. For an array or
    object it is not (``[1, 2]`` contains ``[1]``), so exact jsonb equality is added, behind the
    containment test that keeps the index usable.
    """
    contained = c.contains({key: value})
    if isinstance(value, (list, dict)):
        exact = sql.SQL("(({} -> {}) = {})").format(
            c.col, c.key(key), c.params.add(dumps_json(value), "jsonb")
        )
        return sql.SQL("({} AND {})").format(contained, exact)
    return contained


def _op_eq(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
    value = eq_value(operand, path, "$eq")
    indexed = _indexed_values(c, key, [value])
    if indexed is not None:
        expr, cast, (param,) = indexed
        return c.indexable(sql.SQL("({} = {}::{})").format(expr, param, sql.SQL(cast)))
    return _equal(c, key, value)


def _indexed_values(
    c: Compiler, key: str, values: list[object]
) -> tuple[sql.Composable, str, list[sql.Composable]] | None:
    """When ``key`` has a metadata index whose type every value has (numbers for ``number``,
    strings for ``text``, booleans for ``bool``): the index expression, its SQL type and the
    values as parameters. Equality on that expression is JSON equality for such values."""
    if not values:
        return None
    if all(isinstance(v, bool) for v in values):
        types: tuple[MetaType, ...] = ("bool",)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        types = ("number",)
    elif all(isinstance(v, str) for v in values):
        types = ("text",)
    else:
        return None
    found = c.index_expression(key, *types)
    if found is None:
        return None
    expr, cast = found
    params = [
        c.params.add(number_param(v) if cast == "numeric" else v)  # type: ignore[arg-type]
        for v in values
    ]
    return expr, cast, params


def _op_ne(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
    value = eq_value(operand, path, "$ne")
    return sql.SQL("({} AND NOT {})").format(c.has_key(key), _equal(c, key, value))


def _any_contains(c: Compiler, key: str, values: list[Scalar]) -> sql.Composable:
    docs = [dumps_json({key: v}) for v in values]
    return sql.SQL("({} @> ANY({}))").format(c.col, c.params.add(docs, "jsonb[]"))


def _op_in(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
    values = in_values(operand, path, "$in")
    indexed = _indexed_values(c, key, list(values))
    if indexed is not None:
        expr, cast, params = indexed
        listed = sql.SQL("ARRAY[{}]::{}[]").format(sql.SQL(", ").join(params), sql.SQL(cast))
        return c.indexable(sql.SQL("({} = ANY({}))").format(expr, listed))
    return _any_contains(c, key, values)


def _op_nin(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
    values = in_values(operand, path, "$nin")
    return sql.SQL("({} AND NOT {})").format(c.has_key(key), _any_contains(c, key, values))


def _range(op: str, sql_op: str) -> Callable[[Compiler, str, object, str], sql.Composable]:
    def compile_range(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
        if isinstance(operand, bool) or not isinstance(operand, (int, float, str)):
            raise FilterError(
                f"{path}: {op} expects a number or a string, got "
                f"{type(operand).__name__} {safe_repr(operand)}"
            )
        value = check_scalar(operand, path, op)
        kinds: tuple[MetaType, ...] = ("text", "timestamp") if isinstance(value, str) else ()
        found = c.index_expression(key, *kinds) if kinds else c.index_expression(key, "number")
        if found is not None:
            expr, cast = found
            bound = number_param(value) if cast == "numeric" else value  # type: ignore[arg-type]
            return c.indexable(
                sql.SQL("({} {} {}::{})").format(
                    expr, sql.SQL(sql_op), c.params.add(bound), sql.SQL(cast)
                )
            )
        if isinstance(value, str):
            test = sql.SQL('(({} ->> {}) COLLATE "C" {} {})').format(
                c.col, c.key(key), sql.SQL(sql_op), c.params.add(value, "text")
            )
            return c.typed(key, "string", test)
        assert isinstance(value, (int, float))
        test = sql.SQL("(({} -> {})::numeric {} {})").format(
            c.col, c.key(key), sql.SQL(sql_op), c.params.add(number_param(value), "numeric")
        )
        return c.typed(key, "number", test)

    return compile_range


def _op_contains(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
    if isinstance(operand, (list, tuple)):
        if not operand:
            raise FilterError(f"{path}: $contains needs a scalar or a non-empty list of scalars")
        values = [check_scalar(v, f"{path}[{i}]", "$contains") for i, v in enumerate(operand)]
    else:
        values = [check_scalar(operand, path, "$contains")]
    return c.contains({key: values})


def _op_exists(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
    if not isinstance(operand, bool):
        raise FilterError(f"{path}: $exists expects true or false, got {safe_repr(operand)}")
    test = c.has_key(key)
    return test if operand else sql.SQL("(NOT {})").format(test)


def _like(op: str, sql_op: str) -> Callable[[Compiler, str, object, str], sql.Composable]:
    def compile_like(c: Compiler, key: str, operand: object, path: str) -> sql.Composable:
        if not isinstance(operand, str):
            raise FilterError(f"{path}: {op} expects a pattern string, got {safe_repr(operand)}")
        pattern = check_scalar(operand, path, op)
        assert isinstance(pattern, str)
        if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
            # PostgreSQL raises "LIKE pattern must not end with escape character" at run time,
            # and only for some rows; refuse it here instead.
            raise FilterError(
                f"{path}: {op} pattern {safe_repr(pattern)} ends with an unescaped backslash (the "
                "escape character); write two backslashes for a literal one"
            )
        found = c.index_expression(key, "text", "timestamp") if op == "$like" else None
        if found is not None:  # a prefix pattern can use the btree ("C" collation)
            expr = found[0]
            return c.indexable(sql.SQL("({} LIKE {})").format(expr, c.params.add(pattern, "text")))
        test = sql.SQL("(({} ->> {}) {} {})").format(
            c.col, c.key(key), sql.SQL(sql_op), c.params.add(pattern, "text")
        )
        return c.typed(key, "string", test)

    return compile_like


_FIELD_OPERATORS: dict[str, Callable[[Compiler, str, object, str], sql.Composable]] = {
    "$eq": _op_eq,
    "$ne": _op_ne,
    "$gt": _range("$gt", ">"),
    "$gte": _range("$gte", ">="),
    "$lt": _range("$lt", "<"),
    "$lte": _range("$lte", "<="),
    "$in": _op_in,
    "$nin": _op_nin,
    "$contains": _op_contains,
    "$exists": _op_exists,
    "$like": _like("$like", "LIKE"),
    "$ilike": _like("$ilike", "ILIKE"),
}

FIELD_OPERATORS = tuple(_FIELD_OPERATORS)


def compile_filter(
    filters: Mapping[str, Any] | None, column: sql.Composable, params: Params
) -> sql.Composable | None:
    """Compile ``filters`` to a boolean SQL expression over the jsonb ``column``.

    ``None`` and ``{}`` mean "no filter" and return ``None``. Values are added to ``params``.

    Raises:
        FilterError: the filter is malformed; the message names the path of the bad node
            (e.g. ``filters['$and'][1]['year']``) and what is allowed there.
    """
    if filters is None:
        return None
    if isinstance(filters, Mapping) and not filters:
        return None
    return Compiler(column, params).filter(filters, "filters")


def validate_filter(filters: Mapping[str, Any] | None) -> None:
    """Raise :class:`FilterError` if ``filters`` is malformed; compile nothing else."""
    if filters is None:
        return
    compile_filter(filters, sql.Identifier("metadata"), Params())
