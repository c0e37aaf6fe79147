"""The adaptive filtered search remembers its branch per filter values.

The first search with a filter's values over an indexed collection sends the adaptive statement
(a bounded count of the matching rows, then the exact or the index branch); the following ones
with the same values send the branch it took, alone, until ``BRANCH_SECONDS`` pass. Results are
right whatever is remembered: the exact branch is exact on any data, and an index branch that
finds fewer than ``limit`` rows decides again at once. Every statement sent is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import vecs_core
from vecs_core import _collection_base
from vecs_core._plans import search

DIM = 8
N = 2600  # "many" matches 2,500 rows (above EXACT_SEARCH_BELOW), "few" 30


def _branch(statement: str) -> str:
    if "matching" in statement:
        return "adaptive"
    return "exact" if "OFFSET 0" in statement else "index"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The branch of every search statement sent, in order."""
    found: list[str] = []
    real = search.query_step

    def spy(step: Any) -> Any:
        found.append(_branch(step.query.as_string(None)))
        return (yield from real(step))

    monkeypatch.setattr(search, "query_step", spy)
    yield found


def _collection(vx: Any) -> tuple[Any, np.ndarray]:
    col = vx.get_or_create_collection("branches", dimension=DIM)
    data = np.random.default_rng(7).normal(size=(N, DIM)).astype(np.float32)
    col.upsert((f"r{i}", v, {"few": i < 30, "many": i < 2500, "i": i}) for i, v in enumerate(data))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=8))
    return col, data


def _nearest(data: np.ndarray, ids: list[int], q: np.ndarray, k: int = 10) -> list[str]:
    rows = data[ids]
    cos = rows @ q / (np.linalg.norm(rows, axis=1) * np.linalg.norm(q))
    return [f"r{ids[j]}" for j in np.argsort(-cos, kind="stable")[:k]]


@pytest.mark.citus
def test_the_branch_is_counted_once_then_sent_alone(vx: Any, sent: list[str]) -> None:
    col, data = _collection(vx)
    q = np.random.default_rng(8).normal(size=DIM).astype(np.float32)
    truth = _nearest(data, list(range(30)), q)
    for _ in range(3):
        assert [h.id for h in col.search(q, limit=10, filters={"few": True})] == truth
    assert sent == ["adaptive", "exact", "exact"]
    sent.clear()
    for _ in range(3):
        hits = col.search(q, limit=10, filters={"many": True})
        assert len(hits) == 10 and all(int(h.id[1:]) < 2500 for h in hits)
    assert sent == ["adaptive", "index", "index"]
    sent.clear()
    # other values of the same filter are counted for themselves ("few" False: 2,570 rows)
    col.search(q, limit=10, filters={"few": False})
    col.search(q, limit=10, filters={"few": False})
    # ... and so is the same filter under another threshold (its own branch)
    col.search(q, limit=10, filters={"few": True}, max_distance=2.0)
    assert sent == ["adaptive", "index", "adaptive"]


@pytest.mark.citus
def test_a_remembered_branch_stays_right_when_rows_change(vx: Any, sent: list[str]) -> None:
    col, data = _collection(vx)
    q = np.random.default_rng(9).normal(size=DIM).astype(np.float32)
    col.search(q, limit=10, filters={"many": True})
    col.search(q, limit=10, filters={"few": True})
    assert sent == ["adaptive", "adaptive"]
    sent.clear()
    # "many" now matches 5 rows: the remembered index branch finds fewer than 10 and the same
    # search decides again (the count, then the exact branch), which the next one remembers
    col.delete([f"r{i}" for i in range(5, 2500)])
    assert [h.id for h in col.search(q, limit=10, filters={"many": True})] == _nearest(
        data, list(range(5)), q
    )
    assert sent == ["index", "adaptive"]
    col.search(q, limit=10, filters={"many": True})
    assert sent == ["index", "adaptive", "exact"]
    # "few" now matches 3,000 rows: the remembered exact branch is still exact, only slower
    extra = np.random.default_rng(10).normal(size=(3000, DIM)).astype(np.float32)
    col.upsert((f"x{i}", v, {"few": True}) for i, v in enumerate(extra))
    hits = col.search(q, limit=10, filters={"few": True})
    everything = np.vstack([data[:5], extra])
    names = [f"r{i}" for i in range(5)] + [f"x{i}" for i in range(3000)]
    cos = everything @ q / (np.linalg.norm(everything, axis=1) * np.linalg.norm(q))
    assert [h.id for h in hits] == [names[j] for j in np.argsort(-cos, kind="stable")[:10]]
    assert sent[-1] == "exact"


def test_branches_expire(client: Any, sent: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    col, _ = _collection(client)
    q = np.ones(DIM, dtype=np.float32)
    monkeypatch.setattr(search, "BRANCH_SECONDS", 0.0)  # forgotten as soon as remembered
    for _ in range(3):
        col.search(q, limit=10, filters={"few": True})
    assert sent == ["adaptive"] * 3
    monkeypatch.setattr(search, "BRANCH_SECONDS", 60.0)
    monkeypatch.setattr(search, "MAX_BRANCHES", 2)  # a full table is dropped at once
    for value in (1, 2, 3, 1):
        col.search(q, limit=10, filters={"i": value})
    assert sent[3:] == ["adaptive", "adaptive", "adaptive", "adaptive"]
    col.search(q, limit=10, filters={"i": 1})
    assert sent[-1] == "exact"


def test_the_exact_branch_grows_with_the_table(
    client: Any, sent: list[str], sql_conn: Any, schema: str
) -> None:
    assert search.exact_search_below(-1) == search.EXACT_SEARCH_BELOW  # never counted
    assert search.exact_search_below(0) == search.EXACT_SEARCH_BELOW  # e.g. a Citus coordinator
    assert search.exact_search_below(100_000) == 4110
    assert search.exact_search_below(1_000_000) == 13_000
    assert search.exact_search_below(1e12) == search.EXACT_SEARCH_MAX
    col = client.get_or_create_collection("grown", dimension=4)
    rng = np.random.default_rng(11)
    n = 30_000  # 13 * sqrt(30,000) = 2,251 matching rows searched exactly
    col.upsert((f"r{i}", rng.normal(size=4), {"some": i < 2100}) for i in range(n))
    col.create_index(method="hnsw", index_arguments=vecs_core.IndexArgsHNSW(m=8))
    (estimate,) = sql_conn.execute(
        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (f'"{schema}"."grown"',)
    ).fetchone()
    assert estimate == n  # counted by the index build
    q = rng.normal(size=4)
    hits = col.search(q, limit=10, filters={"some": True})
    assert len(hits) == 10
    shape = next(s for k, s in col._shapes.items() if s.exact_below is not None)
    assert shape.exact_below == 2251
    col.search(q, limit=10, filters={"some": True})
    assert sent == ["adaptive", "exact"]  # 2,100 matches: exact here, the index below 2,000 rows


def test_branches_outlive_an_index_refresh_that_changes_nothing(
    client: Any, sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periodic look at the catalog keeps the search shapes, and the branches they
    remember, while the indexes and the threshold are the same; a new index drops them."""
    col, data = _collection(client)
    q = np.random.default_rng(12).normal(size=DIM).astype(np.float32)
    truth = _nearest(data, list(range(30)), q)
    col.search(q, limit=10, filters={"few": True})
    monkeypatch.setattr(_collection_base, "INDEX_CACHE_SECONDS", 0.0)  # refreshed every search
    for _ in range(2):
        assert [h.id for h in col.search(q, limit=10, filters={"few": True})] == truth
    assert sent == ["adaptive", "exact", "exact"]
    col.index_metadata("few", "bool")  # another index: shapes made without it are dropped
    assert [h.id for h in col.search(q, limit=10, filters={"few": True})] == truth
    assert sent[-1] == "adaptive"
