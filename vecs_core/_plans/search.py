"""Vector search, pure (no I/O): planner settings, the statement, and the result shapes.

A search is split in two. Its :class:`SearchShape` (planner settings, selected columns, the
distance expression, and for an unfiltered search the rendered statement) depends only on the
request's cache key and the collection's indexes, so a collection builds it once and reuses it;
each call adds only its query vector and filter. The statement puts ``LIMIT`` in as a literal
(a checked int): with a bound limit PostgreSQL re-plans a prepared search on every execution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from psycopg import sql

from .._filter_cache import CompiledFilter
from .._indexes import MEASURES, IndexMethod, binary_expression, parse_measure
from .._kinds import KINDS, column_expression, param_expression
from .._protocol import Execute, Plan
from .._records import query_step
from .._requests import MAX_EF_SEARCH, SearchRequest
from .._sqlparams import Params
from .._types import Hit
from ..exc import ArgError
from .indexes import VectorIndex
from .records import Target

EXACT_SEARCH_BELOW = 2000
"""A filtered search over an indexed collection is exact when fewer rows than this match, or
than :func:`exact_search_below` for a larger table."""
EXACT_SEARCH_SCALE = 13
EXACT_SEARCH_MAX = 50_000
BRANCH_SECONDS = 10.0
"""How long a filtered search remembers which branch (exact or index) a filter's values took."""
MAX_BRANCHES = 4096
"""Filter values a search shape remembers a branch for (forgotten all at once past this)."""
Mode = Literal["adaptive", "exact", "index"]
ITERATIVE_BOUNDS = {
    IndexMethod.hnsw: ("hnsw.max_scan_tuples", "20000"),
    IndexMethod.ivfflat: ("ivfflat.max_probes", "100"),
}
"""Where an iterative index scan stops (pgvector's defaults for HNSW; for IVFFlat, pgvector's
default is all lists: 100 bounds the worst case of a filter that matches almost nothing)."""

_ID, _META, _DISTANCE = (sql.Identifier(c) for c in ("id", "metadata", "distance"))
_Q = sql.Placeholder("q")
_DMAX = sql.Placeholder("dmax")


def exact_search_below(rows: float) -> int:
    """Below how many matching rows a filtered search over an indexed table of about ``rows``
    rows is exact: ``EXACT_SEARCH_SCALE * sqrt(rows)``, within ``EXACT_SEARCH_BELOW`` and
    ``EXACT_SEARCH_MAX``.

    The exact branch costs in proportion to the matching rows; the index branch walks about
    ``ef_search / selectivity`` graph nodes, so the crossover grows like ``sqrt(rows)``.
    Measured (recall of the index branch at ef_search 40 in brackets): at 100,000 x 384 the
    exact branch won at 1,000 matching rows (the index: 0.78) and lost at 10,000, about 4,600 by
    interpolation; at 1,000,000 x 128 it won at 5,000 (10x) and 10,000 (1.3x; the index 0.98)
    and lost at 20,000 (0.6x), about 12,700. A table never counted (``rows`` < 0, or 0 as on a
    Citus coordinator) gets ``EXACT_SEARCH_BELOW``.
    """
    if rows <= 0:
        return EXACT_SEARCH_BELOW
    scaled = int(EXACT_SEARCH_SCALE * math.sqrt(rows))
    return max(EXACT_SEARCH_BELOW, min(EXACT_SEARCH_MAX, scaled))


def search_settings(
    index: VectorIndex | None,
    limit: int,
    probes: int | None,
    ef_search: int | None,
    filtered: bool,
    version: tuple[int, ...],
    iterative_scan: str | None = None,
) -> tuple[dict[str, str], bool]:
    """The complete planner settings a search needs for ``index``, and whether the index scan
    runs in relaxed order: HNSW ``ef_search`` (the index's tuned default, else 40, raised to
    ``limit`` so an index scan can return ``limit`` rows, and for a binary quantized index to
    the candidates it re-ranks), IVFFlat ``probes`` (the index's tuned default, else vecs' 10),
    and on pgvector >= 0.8
    the iterative scan mode (by default ``relaxed_order`` for filtered queries, so a selective
    filter still returns ``limit`` rows; ``iterative_scan`` overrides it). Every value is given,
    defaults included, so the driver can keep them on a pooled connection and send only what
    changed.

    Raises:
        ArgError: an iterative scan on pgvector < 0.8, or ``strict_order`` with IVFFlat.
    """
    settings: dict[str, str] = {}
    if iterative_scan is not None and iterative_scan != "off" and version < (0, 8, 0):
        raise ArgError(
            f"iterative_scan={iterative_scan!r} needs pgvector >= 0.8.0 "
            f"(installed: {'.'.join(map(str, version))})"
        )
    if index is None:
        return settings, False
    if index.method == IndexMethod.hnsw:
        # a binary quantized index must return every candidate the re-rank reads
        wanted = max(ef_search or index.ef_search or 40, candidates(index, limit))
        settings["hnsw.ef_search"] = str(min(wanted, MAX_EF_SEARCH))
    else:
        settings["ivfflat.probes"] = str(probes or index.probes or 10)
    mode = iterative_scan
    if mode is None:
        mode = "relaxed_order" if filtered and version >= (0, 8, 0) else "off"
    if mode == "strict_order" and index.method == IndexMethod.ivfflat:
        raise ArgError("IVFFlat supports iterative_scan 'relaxed_order' or 'off', not strict")
    if version < (0, 8, 0):
        return settings, False
    settings[f"{index.method.value}.iterative_scan"] = mode
    if mode != "off":
        key, bound = ITERATIVE_BOUNDS[index.method]
        settings[key] = bound
    return settings, mode == "relaxed_order"


def candidates(index: VectorIndex | None, limit: int) -> int:
    """How many rows the index scan returns: ``limit``, or for a binary quantized index the
    ``limit * rerank`` candidates the exact re-rank reads (at most pgvector's ``ef_search``
    bound)."""
    if index is None or index.quantization != "binary":
        return limit
    return max(limit, min(limit * (index.rerank or 4), MAX_EF_SEARCH))


def covering_index(indexes: Sequence[VectorIndex], measure: object) -> VectorIndex | None:
    """The valid vector index that serves ``measure``, if any.

    Raises:
        ArgError: an unknown measure.
    """
    wanted = parse_measure(measure)
    return next((ix for ix in indexes if ix.measure == wanted and ix.valid), None)


def distance_sql(target: Target, index: VectorIndex | None, operator: str) -> sql.Composable:
    """``(vec <op> %(q)s::kind)``, with both sides cast like the index's expression when it is
    over a cast of the column, so the planner can use the index."""
    kind = KINDS[index.kind] if index is not None else target.kind
    return sql.SQL("({} {} {})").format(
        column_expression(target.kind, kind, target.dimension),
        sql.SQL(operator),
        param_expression(_Q, target.kind, kind, target.dimension),
    )


@dataclass(frozen=True)
class SearchShape:
    """A validated search minus its query vector and filter (see ``Collection.search``).

    ``columns`` are the selected columns in order: ``id``, then ``distance`` when the result or
    the statement's outer ``ORDER BY`` needs it, ``vec``, ``metadata``, ``text`` as asked.
    ``relaxed``: the index scan's rows need a re-sort (an iterative scan in relaxed order).
    ``statement`` is the rendered unfiltered statement (None for a filtered search).
    ``unindexed`` tells that no index covers the measure (the search is exact). ``cut`` tells
    that rows farther than ``max_distance`` are dropped after the nearest ``limit`` are found.
    ``quantized`` is the Hamming distance a binary quantized
    index orders ``candidates`` rows by before the exact re-rank (None for other indexes).
    """

    limit: int
    distance: sql.Composable
    settings: dict[str, str]
    relaxed: bool
    cut: bool
    exact_below: int | None  # filtered + indexed: exact search when fewer rows match
    columns: tuple[str, ...]
    statement: sql.SQL | None
    unindexed: bool
    quantized: sql.Composable | None = None
    candidates: int = 0
    exact_distance: sql.Composable | None = None  # the exact branch's, when not ``distance``
    rendered: dict[tuple[str, Mode], tuple[sql.SQL, dict[str, Any]]] = field(
        default_factory=dict, compare=False, repr=False
    )  # filtered statements by condition text and mode (see filtered_statement)
    branches: dict[Hashable, tuple[bool, float]] = field(
        default_factory=dict, compare=False, repr=False
    )  # filter (text and values) -> (exact?, until when), see search_plan


def search_shape(
    target: Target,
    request: SearchRequest,
    index: VectorIndex | None,
    operator: str,
    version: tuple[int, ...],
    rows: float = -1.0,
) -> SearchShape:
    """``rows``: the table's estimated row count (see :func:`exact_search_below`)."""
    filtered = request.where is not None
    o = request.options
    settings, relaxed = search_settings(
        index, o.limit, o.probes, o.ef_search, filtered, version, o.iterative_scan
    )
    exact_below = exact_search_below(rows) if index is not None and filtered else None
    cut = o.max_distance is not None
    # pgvector's scans of a halfvec index return rows slightly out of the order of the
    # distances the statement reports (IVFFlat: measured 18 of 50 searches; HNSW over a cast
    # of a float32 column: 1 in 20, the index ordering by its normalised half precision
    # copies), so those are re-sorted too
    relaxed = relaxed or (index is not None and index.kind == "halfvec")
    binary = index is not None and index.quantization == "binary"
    relaxed = relaxed and not binary  # the re-rank sorts the candidates exactly
    ordered_outside = relaxed or cut or binary or exact_below is not None
    form = o.form
    if form == "hits":
        cols = ("id", "distance") + ("vec",) * o.include_vector + ("metadata", "text")
    else:
        with_distance = ordered_outside or (form == "tuples" and o.include_value)
        tuples = form == "tuples"
        cols = (
            ("id",)
            + ("distance",) * with_distance
            + ("vec",) * (tuples and o.include_vector)
            + ("metadata",) * (tuples and o.include_metadata)
        )
    shape = SearchShape(
        limit=o.limit,
        distance=distance_sql(target, index, operator),
        settings=settings,
        relaxed=relaxed,
        cut=cut,
        exact_below=exact_below,
        columns=cols,
        statement=None,
        unindexed=index is None,
        quantized=hamming_sql(target) if binary else None,
        candidates=candidates(index, o.limit),
        # the exact branch of a search over a half precision index of a float32 column reads
        # the stored vectors as they are: exact distances, and no cast of every matching row
        # (peers.py, 1,000,000 x 128, 1% filter: 43 QPS through the cast, 58 for the same
        # search over the collection with a float32 index)
        exact_distance=(
            distance_sql(target, None, operator)
            if index is not None and index.kind != target.kind.name
            else None
        ),
    )
    if filtered:
        return shape
    # composing with psycopg.sql on every call would cost more than a fast query's round trip
    rendered = sql.SQL(_select(target, shape, sql.SQL("")).as_string(None))
    return replace(shape, statement=rendered)


def _select(
    target: Target,
    shape: SearchShape,
    where: sql.Composable,
    exact: bool = False,
    outer: bool = True,
    gate: sql.Composable | None = None,
) -> sql.Composed:
    """The nearest ``limit`` rows: exactly (``0 + distance`` keeps the planner off the vector
    index) or through the index; ``outer`` wraps it in :func:`_outer`."""
    distance = shape.exact_distance if exact and shape.exact_distance is not None else None
    pick = {
        "id": _ID,
        "distance": sql.SQL("{} AS {}").format(distance or shape.distance, _DISTANCE),
        "vec": sql.Identifier("vec"),
        "metadata": _META,
        "text": target.text_col,
    }
    if exact:
        # the matching rows with their distance (computed once per row), sorted outside a
        # fence (``OFFSET 0``) that keeps the planner off the vector index: the hand-written
        # exact query (``ORDER BY 0 + distance`` computed every distance twice: measured
        # 1.47 -> 1.31 ms of execution at 1%, 0.132 -> 0.115 ms at 0.1%); ``gate`` (the adaptive
        # search's branch condition) stays outside the fence, a one-time filter over the scan
        query = sql.SQL(
            "SELECT * FROM (SELECT {} FROM {}{} OFFSET 0) AS x{} ORDER BY {} LIMIT {}"
        ).format(
            sql.SQL(", ").join(pick[c] for c in shape.columns),
            target.table,
            where,
            sql.SQL("") if gate is None else sql.SQL(" WHERE ") + gate,
            _DISTANCE,
            sql.Literal(shape.limit),
        )
        return _outer(shape, query) if outer else query
    # the alias ``distance`` (one vector parameter, not two) can be served by the index
    order = _DISTANCE if "distance" in shape.columns else shape.distance
    source: sql.Composable = target.table + where
    if shape.quantized is not None:
        source = _candidates(target, shape, where)
    query = sql.SQL("SELECT {} FROM {} ORDER BY {} LIMIT {}").format(
        sql.SQL(", ").join(pick[c] for c in shape.columns),
        source,
        order,
        sql.Literal(shape.limit),
    )
    return _outer(shape, query) if outer else query


def hamming_sql(target: Target) -> sql.Composable:
    """The Hamming distance between the binary quantized column and query vector, which a binary
    quantized HNSW index (``bit_hamming_ops``) serves."""
    d = target.dimension
    column = binary_expression(sql.Identifier("vec"), d)
    query = binary_expression(param_expression(_Q, target.kind, target.kind, d), d)
    return sql.SQL("({} <~> {})").format(column, query)


def _candidates(target: Target, shape: SearchShape, where: sql.Composable) -> sql.Composed:
    """``(SELECT ... ORDER BY <hamming> LIMIT <candidates>) AS c``: the rows the binary index
    finds first, which the outer query re-ranks by the exact distance (from the full vectors)."""
    cols: list[sql.Composable] = [_ID, sql.Identifier("vec")]
    if "metadata" in shape.columns:
        cols.append(_META)
    if "text" in shape.columns and target.has_text:
        cols.append(target.text_col)
    return sql.SQL("(SELECT {} FROM {}{} ORDER BY {} LIMIT {}) AS c").format(
        sql.SQL(", ").join(cols),
        target.table,
        where,
        shape.quantized,
        sql.Literal(shape.candidates),
    )


def _outer(shape: SearchShape, query: sql.Composed) -> sql.Composed:
    """The nearest rows of ``query`` re-sorted (an iterative index scan in relaxed order may
    return neighbours slightly out of order) and cut at ``max_distance``, where either applies.

    The cut comes after the nearest ``limit`` rows are found, not inside the index scan: the
    rows within the bound are then exactly the nearest ones that are (if fewer than ``limit``
    rows are within it, all of them are among the nearest ``limit``), and a bound that few rows
    meet costs nothing extra. Inside the scan, the same predicate would make an iterative scan
    walk on, up to its bound, looking for rows that do not exist.
    """
    if not (shape.relaxed or shape.cut):
        return query
    cut = sql.SQL(" WHERE {} <= {}").format(_DISTANCE, _DMAX) if shape.cut else sql.SQL("")
    # ``+ 0``: PostgreSQL 17+ knows the CTE's rows come ordered by ``distance`` and would skip
    # a sort on the bare column, the very sort this wrapper is for
    return sql.SQL("WITH found AS MATERIALIZED ({}) SELECT * FROM found{} ORDER BY {} + 0").format(
        query, cut, _DISTANCE
    )


def _adaptive_sql(
    target: Target, shape: SearchShape, where: sql.Composable, params: Params
) -> sql.Composed:
    """A filtered search that picks its strategy in the database, in one statement.

    A vector index walks the graph and drops rows the filter rejects; with a selective filter it
    visits many nodes per match and recall suffers. So the statement first counts the matching
    rows up to ``exact_below`` (through the metadata index when the filter allows): below that,
    an exact search over the matching rows (an ``OFFSET 0`` fence keeps the planner off the
    vector index);
    otherwise the index search. The count is an InitPlan, and each branch is gated by a one-time
    filter on it, so only one branch runs. The filter is spliced in three times; its values are
    bound once. Each row ends with the count, which tells the caller the branch taken.
    """
    cap = params.add(shape.exact_below)
    n = sql.SQL("(SELECT n FROM matching)")
    exact = _select(
        target, shape, where, exact=True, outer=False, gate=sql.SQL("{} < {}").format(n, cap)
    )
    above = where + sql.SQL(" AND {} >= {}").format(n, cap)
    indexed = _select(target, shape, above)  # re-sorted (and cut) like an unfiltered search
    return sql.SQL(
        "WITH matching AS MATERIALIZED (SELECT count(*) AS n FROM"
        " (SELECT 1 FROM {table}{where} LIMIT {cap}) AS m)"
        " SELECT u.*, {n} FROM (({exact}) UNION ALL ({indexed})) AS u{cut} ORDER BY {distance}"
    ).format(
        table=target.table,
        where=where,
        cap=cap,
        n=n,
        exact=exact,
        indexed=indexed,
        cut=_cut(shape),
        distance=_DISTANCE,
    )


def _exact_sql(target: Target, shape: SearchShape, where: sql.Composable) -> sql.Composed:
    """The adaptive statement's exact branch alone (cut at ``max_distance`` where asked)."""
    exact = _select(target, shape, where, exact=True, outer=False)
    if not shape.cut:
        return exact
    return sql.SQL("SELECT * FROM ({}) AS u{} ORDER BY {}").format(exact, _cut(shape), _DISTANCE)


def _cut(shape: SearchShape) -> sql.Composable:
    return sql.SQL(" WHERE {} <= {}").format(_DISTANCE, _DMAX) if shape.cut else sql.SQL("")


MAX_RENDERED = 64
"""Filtered statements a search shape keeps rendered (one per filter structure and mode)."""


def filtered_statement(
    target: Target, shape: SearchShape, where: CompiledFilter, params: Params, mode: Mode
) -> sql.SQL:
    """The filtered search statement for ``where``, rendered once per filter structure (the
    condition's text: its values are bound parameters) and ``mode`` and kept on the shape:
    composing the adaptive statement with ``psycopg.sql`` costs more than a selective search
    itself (measured: 0.55x of the same statement sent by hand at 0.1% selectivity).

    ``mode``: over an indexed collection, ``adaptive`` counts the matching rows and picks the
    branch in the statement; ``exact`` and ``index`` are one branch alone (what the adaptive
    statement took for these values a moment ago, see :func:`search_plan`)."""
    cached = shape.rendered.get((where.text, mode))
    if cached is None:
        # the statement's own values are named after the filter's (as many for one structure)
        mine = Params(values=dict(params.values))
        cond = sql.SQL(" WHERE ") + where.condition
        if not shape.exact_below or mode == "index":
            query = _select(target, shape, cond)
        elif mode == "exact":
            query = _exact_sql(target, shape, cond)
        else:
            query = _adaptive_sql(target, shape, cond, mine)
        own = {k: v for k, v in mine.values.items() if k not in params.values}
        if len(shape.rendered) >= MAX_RENDERED:
            shape.rendered.clear()
        cached = shape.rendered[where.text, mode] = (sql.SQL(query.as_string(None)), own)
    params.values.update(cached[1])
    return cached[0]


def search_plan(target: Target, shape: SearchShape, request: SearchRequest) -> Plan[list[Any]]:
    """Run a search.

    A filtered search over an indexed collection sends the adaptive statement, which counts the
    filter's matching rows and takes the exact or the index branch, and remembers the branch
    for these filter values for ``BRANCH_SECONDS``: the next searches with the same values send
    that branch alone, without the count (the count reads the matching rows once more, and
    with broad filters up to the threshold: measured 0.3-0.64x of the branch alone at 0.1-50%
    selectivity). Either branch is a correct search for any data, so a branch
    remembered while rows change costs speed, not results; and an index branch that finds
    fewer than ``limit`` rows (the filter now matches few rows) decides again at once.
    """
    params = Params()
    values: dict[str, Any] = params.values
    branch_key = None  # filtered over an indexed collection: what a branch is remembered by
    mode: Mode = "index"
    if shape.statement is not None:
        query: sql.SQL | sql.Composed = shape.statement
    else:
        where = request.where
        assert where is not None  # only filtered shapes have no rendered statement
        values.update(where.params)
        if shape.exact_below:
            branch_key, mode = where.key, "adaptive"
            remembered = shape.branches.get(branch_key) if branch_key is not None else None
            if remembered is not None and remembered[1] > time.monotonic():
                mode = "exact" if remembered[0] else "index"
        query = filtered_statement(target, shape, where, params, mode)
    values["q"] = request.vector
    if shape.cut:
        values["dmax"] = request.options.max_distance
    rows = yield from query_step(Execute(query, values, binary=True, settings=shape.settings))
    if branch_key is not None:
        if mode == "adaptive":
            if rows:  # each row ends with the count (no row: nothing learnt)
                exact = rows[0][-1] < shape.exact_below
                rows = [r[:-1] for r in rows]
                if exact or len(rows) >= shape.limit or shape.cut:
                    _remember(shape, branch_key, exact)
                # else the index branch came back short (its scan bound): count every time
        elif mode == "index" and len(rows) < shape.limit and not shape.cut:
            shape.branches.pop(branch_key, None)
            return (yield from search_plan(target, shape, request))
    return shape_rows(target, shape, request, rows)


def _remember(shape: SearchShape, key: Hashable, exact: bool) -> None:
    if len(shape.branches) >= MAX_BRANCHES:
        shape.branches.clear()
    shape.branches[key] = (exact, time.monotonic() + BRANCH_SECONDS)


_hit = tuple.__new__
"""Makes a :class:`Hit` from a tuple of all its fields without the Python-level ``__new__`` a
NamedTuple has (one frame per row less; the rows of a search are built on its hot path)."""


def shape_rows(
    target: Target, shape: SearchShape, request: SearchRequest, rows: list[tuple[Any, ...]]
) -> list[Any]:
    """Rows in ``shape.columns`` order to what the search returns."""
    o = request.options
    if o.form == "ids":
        return [r[0] for r in rows]
    decode = target.kind.decode
    if o.form == "hits":  # score: the measure's similarity (similarity_score)
        sim = MEASURES[o.measure].similarity
        if o.include_vector:  # id, distance, vec, metadata, text
            return [_hit(Hit, (r[0], r[1], r[3], r[4], decode(r[2]), sim(r[1]))) for r in rows]
        return [_hit(Hit, (r[0], r[1], r[2], r[3], None, sim(r[1]))) for r in rows]
    # vecs' tuples: (id, distance?, vector?, metadata?)
    wanted = ("id",) + ("distance",) * o.include_value + ("vec",) * o.include_vector
    wanted += ("metadata",) * o.include_metadata
    if wanted == shape.columns and not o.include_vector:
        return rows
    picks = [shape.columns.index(c) for c in wanted]
    vec = shape.columns.index("vec") if o.include_vector else -1
    return [tuple(decode(r[i]) if i == vec else r[i] for i in picks) for r in rows]
