"""``Collection.tune``: the smallest ``ef_search`` (HNSW) or ``probes`` (IVFFlat) that reaches a
target recall on the collection's own data, stored as the index's search default.

Stored vectors are drawn as queries (a repeatable ``TABLESAMPLE``); their exact neighbours
(themselves excluded) are computed in the database; each candidate value is measured through
the collection's own search statement (so a binary quantized index's re-rank, casts and
settings are what is measured), climbing a geometric ladder by bisection (recall grows with
the value). The choice is written into the index's comment, which every client reads with the
catalog (within ``INDEX_CACHE_SECONDS``), and is dropped with the index when it is rebuilt.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._indexes import MEASURES, IndexMethod
from ._plans import tune
from ._plans.search import covering_index, search_plan, search_shape
from ._protocol import Flow, Job
from ._records import VectorParam
from ._requests import (
    MAX_EF_SEARCH,
    MAX_LIMIT,
    MAX_PROBES,
    Options,
    SearchOptions,
    SearchRequest,
    int_in,
    measure,
    opt,
    options,
)
from .exc import ArgError

EF_LADDER = (10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512,
             640, 800, 1000)  # fmt: skip
PROBES_LADDER = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 100, 128, 160,
                 200, 256, 320, 400, 512, 640, 800, 1024)  # fmt: skip


def recall_target(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(f"{name} must be a number in (0, 1], got {value!r}")
    number = float(value)
    if not (0.0 < number <= 1.0) or math.isnan(number):
        raise ArgError(f"{name} must be in (0, 1], got {value!r}")
    return number


@options
class TuneOptions(Options):
    """A tuning run (``Collection.tune``)."""

    target_recall: float = opt(check=recall_target)
    sample: int = opt(check=int_in(10, 10_000))
    limit: int = opt(check=int_in(1, MAX_LIMIT - 1))
    measure: Any = opt(check=measure)
    store: bool = opt(check=lambda name, value: bool(value))


class TuneResult(NamedTuple):
    """What ``Collection.tune`` measured and chose.

    ``parameter`` is ``"ef_search"`` (HNSW) or ``"probes"`` (IVFFlat) and ``value`` the smallest
    one whose recall@``limit`` on ``sample`` stored vectors reached ``target_recall`` (or the
    largest tried, with ``reached=False``). ``recall`` is its measured recall and ``measured``
    every value tried with its recall. ``stored`` tells whether it became the index's default.
    """

    index_name: str
    parameter: str
    value: int
    recall: float
    target_recall: float
    reached: bool
    sample: int
    limit: int
    measured: dict[int, float]
    stored: bool


def _searching(target: Any, shape: Any, request: SearchRequest) -> Any:
    return lambda: search_plan(target, shape, request)


def tune_flow(
    collection: Any, o: TuneOptions, queries: list[VectorParam] | None = None
) -> Flow[TuneResult]:
    """The flow of ``Collection.tune`` (``collection`` is a ``CollectionBase``): on ``queries``
    when given (held-out query vectors), else on a sample of the stored vectors."""
    found = yield from collection._indexes_flow(refresh=True)
    index = covering_index(found, o.measure)
    if index is None:
        raise ArgError(
            f"collection {collection.name!r} has no valid index for {o.measure.value}; "
            "create one (Collection.create_index) before tuning it"
        )
    target = collection._target
    operator = MEASURES[o.measure].operator
    kind = collection._info.kind
    truth: dict[Any, list[str]]
    if queries:
        samples: list[tuple[Any, Any]] = [(i, q.value) for i, q in enumerate(queries)]
        vectors = list(queries)
        near = yield Job(lambda: tune.truth_for_plan(target, operator, vectors, o.limit))
        truth = dict(enumerate(near))
        if not any(near):
            raise ArgError(f"collection {collection.name!r} is empty: nothing to tune on")
    else:
        samples = yield Job(lambda: tune.sample_plan(target, o.sample), "statements")
        if not samples:
            raise ArgError(f"collection {collection.name!r} is empty: nothing to tune on")
        ids = [rid for rid, _ in samples]
        truth = yield Job(lambda: tune.truth_plan(target, operator, ids, o.limit), "statements")
    stored = not queries  # stored vectors: each is excluded from its own neighbours
    version = yield from collection.client._version_flow()
    hnsw = index.method == IndexMethod.hnsw
    parameter = "ef_search" if hnsw else "probes"
    ladder = [
        v
        for v in (EF_LADDER if hnsw else PROBES_LADDER)
        if v <= (MAX_EF_SEARCH if hnsw else MAX_PROBES)
    ]
    if hnsw:
        ladder = [v for v in ladder if v >= o.limit] or [MAX_EF_SEARCH]
    measured: dict[int, float] = {}

    def recall_at(value: int) -> Flow[float]:
        knob = {parameter: value}
        opts = SearchOptions.build(
            limit=o.limit + stored, measure=o.measure, form="ids", warn_unindexed=False, **knob
        )
        hits = 0
        total = 0
        shape = None
        for rid, vec in samples:
            request = SearchRequest(opts, VectorParam(vec, kind), None)
            if shape is None:
                shape = search_shape(target, request, index, operator, version)
            near = yield Job(_searching(target, shape, request), "statements")
            want = truth.get(rid, [])
            got = [i for i in near if i != rid][: o.limit]
            hits += len(set(got) & set(want))
            total += len(want)
        measured[value] = hits / total if total else 1.0
        return measured[value]

    lo, hi = 0, len(ladder) - 1
    if (yield from recall_at(ladder[hi])) < o.target_recall:
        best = ladder[hi]
    else:
        while lo < hi:  # the smallest value on the ladder that reaches the target
            mid = (lo + hi) // 2
            if (yield from recall_at(ladder[mid])) >= o.target_recall:
                hi = mid
            else:
                lo = mid + 1
        best = ladder[lo]
        if best not in measured:
            yield from recall_at(best)
    reached = measured[best] >= o.target_recall
    result = TuneResult(
        index_name=index.name,
        parameter=parameter,
        value=best,
        recall=round(measured[best], 4),
        target_recall=o.target_recall,
        reached=reached,
        sample=len(samples),
        limit=o.limit,
        measured=dict(sorted(measured.items())),
        stored=bool(o.store),
    )
    if o.store:
        tuned = {
            "target_recall": o.target_recall,
            "recall": result.recall,
            "sample": result.sample,
            "limit": o.limit,
        }
        values = {parameter: best, "tuned": tuned}
        try:
            yield Job(lambda: tune.store_plan(collection.schema, index.name, values))
        finally:
            collection._indexes = None  # searches pick the new default up
    return result
