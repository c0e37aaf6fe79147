"""Vector search, pure (no I/O): planner settings, the statement, and the result shapes.

A search is split in two. Its :class:`SearchShape` (limit, measure, what to return, planner
settings, and for an unfiltered search the rendered statement) depends only on the call's options
and the collection's indexes, so a collection builds it once and reuses it; each call adds only
its query vector and filter. The statement puts ``LIMIT`` in as a literal (a checked int):
with a bound limit PostgreSQL re-plans a prepared search on every execution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from psycopg import sql

from ._checks import safe_repr
from ._index_plans import VectorIndex
from ._indexes import IndexMethod, parse_measure
from ._plans import Target, where_clause
from ._protocol import Execute, Plan
from ._records import VectorParam, query_step, vector_from_bytes
from ._sqlparams import Params
from ._types import Hit
from .exc import ArgError

ITERATIVE_SCAN_MODES = ("off", "strict_order", "relaxed_order")

Form = Literal["ids", "tuples", "hits"]
"""What a search returns: vecs' bare ids or ``(id, distance?, vector?, metadata?)`` tuples
(``Collection.query``), or :class:`~vecs_core.Hit` records (``Collection.search``)."""

_ID, _VEC, _META, _DISTANCE = (sql.Identifier(c) for c in ("id", "vec", "metadata", "distance"))


def check_iterative_scan(mode: object) -> str | None:
    if mode is not None and mode not in ITERATIVE_SCAN_MODES:
        raise ArgError(
            f"iterative_scan must be None (automatic) or one of "
            f"{', '.join(ITERATIVE_SCAN_MODES)}, got {safe_repr(mode)}"
        )
    return mode if mode is None else str(mode)


def _search_settings(
    index: VectorIndex | None,
    limit: int,
    probes: int | None,
    ef_search: int | None,
    filtered: bool,
    version: tuple[int, ...],
    iterative_scan: str | None = None,
) -> tuple[dict[str, str], bool]:
    """The complete planner settings a search needs for ``index``: HNSW ``ef_search`` (default
    40, raised to ``limit`` so an index scan can return ``limit`` rows), IVFFlat ``probes``
    (vecs' default 10), and on pgvector >= 0.8 the iterative scan mode (by default
    ``relaxed_order`` for filtered queries, so a selective filter still returns ``limit`` rows;
    ``iterative_scan`` overrides it). Every value is given, defaults included, so the driver can
    keep them on a pooled connection and send only what changed (see ``_driver``)."""
    settings: dict[str, str] = {}
    relaxed = False
    if iterative_scan is not None and iterative_scan != "off" and version < (0, 8, 0):
        raise ArgError(
            f"iterative_scan={iterative_scan!r} needs pgvector >= 0.8.0 "
            f"(installed: {'.'.join(map(str, version))})"
        )
    if index is None:
        return settings, relaxed
    if index.method == IndexMethod.hnsw:
        settings["hnsw.ef_search"] = str(max(ef_search or 40, limit))
    else:
        settings["ivfflat.probes"] = str(probes or 10)
    mode = iterative_scan
    if mode is None:
        mode = "relaxed_order" if filtered and version >= (0, 8, 0) else "off"
    if mode == "strict_order" and index.method == IndexMethod.ivfflat:
        raise ArgError("IVFFlat supports iterative_scan 'relaxed_order' or 'off', not strict")
    if version >= (0, 8, 0):
        settings[f"{index.method.value}.iterative_scan"] = mode
        relaxed = mode == "relaxed_order"
    return settings, relaxed


def covering_index(indexes: Sequence[VectorIndex], measure: object) -> VectorIndex | None:
    """The valid vector index that serves ``measure``, if any.

    Raises:
        ArgError: an unknown measure.
    """
    wanted = parse_measure(measure)
    return next((ix for ix in indexes if ix.measure == wanted and ix.valid), None)


@dataclass(frozen=True)
class SearchShape:
    """A validated search minus its query vector and filter (see ``Collection.search``).

    ``columns`` are the selected columns in order: ``id``, then ``distance`` when the result or
    the statement's outer ``ORDER BY`` needs it, ``vec``, ``metadata``, ``text`` as asked.
    ``statement`` is the rendered unfiltered statement (None for a filtered search).
    """

    limit: int
    operator: str
    halfvec: bool
    form: Form
    include_value: bool
    include_vector: bool
    include_metadata: bool
    settings: Mapping[str, str]
    relaxed: bool
    exact_below: int | None  # filtered + indexed: exact search when fewer rows match
    columns: tuple[str, ...]
    statement: sql.SQL | None


def search_shape(
    target: Target,
    *,
    limit: int,
    operator: str,
    halfvec: bool,
    form: Form,
    include_value: bool,
    include_vector: bool,
    include_metadata: bool,
    settings: Mapping[str, str],
    relaxed: bool,
    exact_below: int | None,
    filtered: bool,
) -> SearchShape:
    ordered_outside = relaxed or (filtered and exact_below is not None)
    if form == "hits":
        cols = ("id", "distance") + (("vec",) if include_vector else ()) + ("metadata", "text")
    else:
        with_distance = ordered_outside or (form == "tuples" and include_value)
        cols = (
            ("id",)
            + (("distance",) if with_distance else ())
            + (("vec",) if form == "tuples" and include_vector else ())
            + (("metadata",) if form == "tuples" and include_metadata else ())
        )
    shape = SearchShape(
        limit=limit,
        operator=operator,
        halfvec=halfvec,
        form=form,
        include_value=include_value,
        include_vector=include_vector,
        include_metadata=include_metadata,
        settings=settings,
        relaxed=relaxed,
        exact_below=exact_below if filtered else None,
        columns=cols,
        statement=None,
    )
    if filtered:
        return shape
    # composing with psycopg.sql on every call would cost more than a fast query's round trip
    rendered = sql.SQL(_select(target, shape, sql.SQL("")).as_string(None))
    return replace(shape, statement=rendered)


def _select(
    target: Target, shape: SearchShape, where: sql.Composable, exact: bool = False
) -> sql.Composed:
    q: sql.Composable = sql.SQL("{}::vector").format(sql.Placeholder("q"))
    expr: sql.Composable = _VEC
    if shape.halfvec:
        dim = sql.Literal(target.dimension)
        expr = sql.SQL("({}::halfvec({}))").format(_VEC, dim)
        q = sql.SQL("({}::halfvec({}))").format(q, dim)
    distance = sql.SQL("({} {} {})").format(expr, sql.SQL(shape.operator), q)
    pick = {
        "id": _ID,
        "distance": sql.SQL("{} AS {}").format(distance, _DISTANCE),
        "vec": _VEC,
        "metadata": _META,
        "text": target.text_col,
    }
    # ``0 + distance`` cannot be served by the vector index: the planner sorts exactly; the
    # alias ``distance`` (one vector parameter, not two) can
    if exact:
        order: sql.Composable = sql.SQL("0 + {}").format(distance)
    else:
        order = _DISTANCE if "distance" in shape.columns else distance
    query = sql.SQL("SELECT {} FROM {}{} ORDER BY {} LIMIT {}").format(
        sql.SQL(", ").join(pick[c] for c in shape.columns),
        target.table,
        where,
        order,
        sql.Literal(shape.limit),
    )
    if shape.relaxed and not exact:
        # iterative index scans in relaxed order may return neighbours slightly out of order
        query = sql.SQL("WITH found AS MATERIALIZED ({}) SELECT * FROM found ORDER BY {}").format(
            query, _DISTANCE
        )
    return query


def _adaptive_sql(
    target: Target, shape: SearchShape, filters: Mapping[str, Any], params: Params
) -> sql.Composed:
    """A filtered search that picks its strategy in the database, in one statement.

    A vector index walks the graph and drops rows the filter rejects; with a selective filter it
    visits many nodes per match and recall suffers. So the statement first counts the matching
    rows up to ``exact_below`` (through the metadata index when the filter allows): below that,
    an exact search over the matching rows (the ``+ 0`` keeps the planner off the vector index);
    otherwise the index search. The count is an InitPlan, and each branch is gated by a one-time
    filter on it, so only one branch runs. (``where_clause`` compiles the filter anew each time:
    the statement binds its values three times.)
    """
    cap = params.add(shape.exact_below)

    def where(extra: sql.Composable) -> sql.Composable:
        return where_clause(filters, params) + sql.SQL(" AND ") + extra

    n = sql.SQL("(SELECT n FROM matching)")
    exact = _select(target, shape, where(sql.SQL("{} < {}").format(n, cap)), exact=True)
    indexed = _select(target, shape, where(sql.SQL("{} >= {}").format(n, cap)))
    return sql.SQL(
        "WITH matching AS MATERIALIZED (SELECT count(*) AS n FROM"
        " (SELECT 1 FROM {table}{where} LIMIT {cap}) AS m)"
        " SELECT * FROM (({exact}) UNION ALL ({indexed})) AS u ORDER BY {distance}"
    ).format(
        table=target.table,
        where=where_clause(filters, params),
        cap=cap,
        exact=exact,
        indexed=indexed,
        distance=_DISTANCE,
    )


def search_plan(
    target: Target, shape: SearchShape, vector: VectorParam, filters: Mapping[str, Any] | None
) -> Plan[list[Any]]:
    params = Params()
    if shape.statement is not None:
        query: sql.SQL | sql.Composed = shape.statement
    elif filters and shape.exact_below:
        query = _adaptive_sql(target, shape, filters, params)
    else:
        query = _select(target, shape, where_clause(filters, params))
    values: dict[str, Any] = params.values
    values["q"] = vector
    rows = yield from query_step(Execute(query, values, binary=True, settings=shape.settings))
    return shape_rows(shape, rows)


def shape_rows(shape: SearchShape, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Rows in ``shape.columns`` order to what the search returns."""
    if shape.form == "ids":
        return [r[0] for r in rows]
    if shape.form == "hits":
        if shape.include_vector:  # id, distance, vec, metadata, text
            return [Hit(r[0], r[1], r[3], r[4], vector_from_bytes(r[2])) for r in rows]
        return [Hit(r[0], r[1], r[2], r[3]) for r in rows]
    # vecs' tuples: (id, distance?, vector?, metadata?)
    wanted = ("id",) + ("distance",) * shape.include_value + ("vec",) * shape.include_vector
    wanted += ("metadata",) * shape.include_metadata
    if wanted == shape.columns and not shape.include_vector:
        return rows
    picks = [shape.columns.index(c) for c in wanted]
    vec = shape.columns.index("vec") if shape.include_vector else -1
    return [tuple(vector_from_bytes(r[i]) if i == vec else r[i] for i in picks) for r in rows]
