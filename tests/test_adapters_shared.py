"""The shared adapter kit (``vecs_integrations._shared``) and what both adapters get from it.

* MMR: a hypothesis property test against a brute-force reference written plainly here, explicit
  edge cases, and both adapters (every store measure) checked against the same reference.
* Clients: one ownership rule, checked for both adapters, sync and async, by watching the
  server's backends in ``pg_stat_activity`` (owned connections go away on close; a passed-in
  client keeps its very connections).
* The import guard: each integration raises ``MissingDependency`` naming its extra.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import Embeddings
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

import vecs_core
from vecs_core import ArgError
from vecs_integrations._shared import (
    MMR_TIE_TOLERANCE,
    ClientPair,
    check_k,
    check_unit_interval,
    fetch_size,
    mmr_select,
    require_framework,
)
from vecs_integrations.langchain import VecsVectorStore as LangChainStore
from vecs_integrations.llama_index import VecsVectorStore as LlamaIndexStore

REPO = Path(__file__).resolve().parents[1]


# -- MMR: the brute-force reference ---------------------------------------------------------------
def ref_cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of raw vectors; 0 when either is the zero vector."""
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(x * x for x in b))
    if na == 0 or nb == 0:
        return 0.0
    return math.fsum(x * y for x, y in zip(a, b)) / (na * nb)


def ref_mmr(
    query: Sequence[float], cands: Sequence[Sequence[float]], k: int, lam: float
) -> list[int]:
    """MMR by its definition: the most relevant first, then each step the candidate maximising
    ``lam * cos(q, c) - (1 - lam) * max cos(c, picked)``; scores within the tie tolerance are
    equal and the earliest candidate wins."""
    chosen: list[int] = []
    while len(chosen) < min(k, len(cands)):
        scores: dict[int, float] = {}
        for i, c in enumerate(cands):
            if i in chosen:
                continue
            relevance = ref_cosine(query, c)
            if not chosen:
                scores[i] = relevance
            else:
                redundancy = max(ref_cosine(c, cands[j]) for j in chosen)
                scores[i] = lam * relevance - (1 - lam) * redundancy
        best = max(scores.values())
        chosen.append(min(i for i, s in scores.items() if s >= best - MMR_TIE_TOLERANCE))
    return chosen


@st.composite
def mmr_cases(draw: st.DrawFn) -> tuple[list[float], list[list[float]], int, float]:
    """Small integer vectors, unnormalised: a pool of directions reused (exact duplicates and
    scaled copies, which must tie), fresh vectors, zero vectors, and a query that may be zero."""
    dim = draw(st.integers(1, 4))
    vector = st.lists(st.integers(-3, 3).map(float), min_size=dim, max_size=dim)
    pool = draw(st.lists(vector, min_size=1, max_size=4))
    scale = st.sampled_from([1.0, 1.0, 2.0, 0.5, 3.0])
    reused = st.tuples(st.sampled_from(pool), scale).map(lambda vs: [x * vs[1] for x in vs[0]])
    cands = draw(st.lists(st.one_of(reused, vector), max_size=9))
    query = draw(vector)
    k = draw(st.integers(0, len(cands) + 2))  # k >= n included
    lam = draw(st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0)))
    return query, cands, k, lam


@settings(max_examples=600, deadline=None)
@given(mmr_cases())
def test_mmr_select_matches_the_brute_force_reference(
    case: tuple[list[float], list[list[float]], int, float],
) -> None:
    query, cands, k, lam = case
    got = mmr_select(query, cands, k, lam)
    assert got == ref_mmr(query, cands, k, lam)
    assert len(got) == min(k, len(cands)) and len(set(got)) == len(got)


def test_mmr_lambda_one_is_similarity_order_and_lambda_zero_is_diversity() -> None:
    q = [1.0, 0.0]
    cands = [[0.9, 0.1], [1.0, 0.0], [1.0, 0.05], [0.0, 1.0], [-1.0, 0.2]]
    assert mmr_select(q, cands, 5, 1.0) == [1, 2, 0, 3, 4]  # cosine order
    # lambda 0: the best match first, then the one least like everything picked so far
    assert mmr_select(q, cands, 3, 0.0) == [1, 4, 3]
    assert mmr_select(q, cands, 3, 0.0) == ref_mmr(q, cands, 3, 0.0)


def test_mmr_ties_duplicates_and_k_beyond_n() -> None:
    q = [1.0, 1.0]
    # the same direction three times (one scaled): ties go to the earlier candidate
    cands = [[0.0, 1.0], [2.0, 2.0], [1.0, 1.0], [3.0, 3.0], [1.0, 0.0]]
    assert mmr_select(q, cands, 10, 1.0) == [1, 2, 3, 0, 4]
    # with diversity, duplicates of a picked vector come last (0 and 4 tie for second place)
    assert mmr_select(q, cands, 10, 0.3) == [1, 0, 4, 2, 3] == ref_mmr(q, cands, 10, 0.3)
    # at 0.5 a duplicate's gain (1 - 1) equals 4's (0.707 - 0.707): the earlier one wins
    assert mmr_select(q, cands, 10, 0.5) == [1, 0, 2, 3, 4] == ref_mmr(q, cands, 10, 0.5)
    assert mmr_select(q, [[0.0, 0.0], [0.0, 0.0]], 5, 0.5) == [0, 1]  # zero vectors
    assert mmr_select(q, [], 3) == [] and mmr_select(q, cands, 0) == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1.0], [[1.0]], 1, 1.5), "lambda_mult"),
        (([1.0], [[1.0]], 1, -0.1), "lambda_mult"),
        (([1.0], [[1.0]], 1, float("nan")), "lambda_mult"),
        (([1.0, 0.0], [[1.0]], 1, 0.5), "dimension"),
        (([1.0], [1.0, 2.0], 1, 0.5), "dimension"),
        (([float("nan")], [[1.0]], 1, 0.5), "finite"),
        (([1.0, 0.0], [[1.0, 0.0], [1.0]], 1, 0.5), "numeric vectors"),
        ((["a"], [[1.0]], 1, 0.5), "numeric vectors"),
    ],
)
def test_mmr_select_refuses_bad_input(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ArgError, match=match):
        mmr_select(*args)


# -- argument checks ------------------------------------------------------------------------------
def test_argument_checks_use_the_core_limit() -> None:
    assert vecs_core.MAX_LIMIT == 1000
    assert check_k(0) == 0 and check_k(vecs_core.MAX_LIMIT) == vecs_core.MAX_LIMIT
    for bad in (-1, vecs_core.MAX_LIMIT + 1, 2.0, True, "3", None):
        with pytest.raises(ArgError, match="k"):
            check_k(bad)
    assert fetch_size(4, 20) == 20 and fetch_size(30, 20) == 30
    assert fetch_size(4, 10**6) == vecs_core.MAX_LIMIT
    with pytest.raises(ArgError, match="fetch_k"):
        fetch_size(4, -1)
    assert check_unit_interval(1, "alpha") == 1.0
    for bad_value in (1.01, -0.5, float("nan"), "0.5", None, False):
        with pytest.raises(ArgError, match="alpha"):
            check_unit_interval(bad_value, "alpha")


# -- the import guard -----------------------------------------------------------------------------
BLOCKER = """
import sys

class Block:
    '''A meta-path finder that behaves as if {blocked!r} were not installed.'''

    def find_spec(self, name, path=None, target=None):
        if name == {blocked!r} or name.startswith({blocked!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Block())
import vecs_core
try:
    import {package}
except vecs_core.MissingDependency as exc:
    assert isinstance(exc, ImportError)
    print(exc)
else:
    raise SystemExit("{package} imported without {blocked}")
"""


@pytest.mark.parametrize(
    ("package", "blocked", "distribution", "extra"),
    [
        ("vecs_integrations.langchain", "langchain_core", "langchain-core", "langchain"),
        ("vecs_integrations.llama_index", "llama_index", "llama-index-core", "llama-index"),
        ("vecs_integrations.llama_index", "llama_index.core", "llama-index-core", "llama-index"),
    ],
)
def test_missing_framework_raises_missing_dependency(
    package: str, blocked: str, distribution: str, extra: str
) -> None:
    code = BLOCKER.format(blocked=blocked, package=package)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    message = done.stdout
    assert distribution in message
    assert f"pip install '{distribution}>=" in message  # works anywhere (not on an index yet)
    assert f"pip install -e '.[{extra}]'" in message


def test_a_broken_framework_is_not_reported_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake_framework_a1.py").write_text("import no_such_module_b2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require_framework("fake_framework_a1", integration="x", distribution="y", extra="z")
    assert not isinstance(info.value, vecs_core.MissingDependency)
    assert info.value.name == "no_such_module_b2"
    with pytest.raises(vecs_core.MissingDependency, match=r"pip install 'y' .*'\.\[z\]'"):
        require_framework("no_such_framework_c3", integration="x", distribution="y", extra="z")


# -- ClientPair: construction rules (no I/O) ------------------------------------------------------
NOWHERE = "postgresql://nobody@127.0.0.1:1/none"


def test_client_pair_rules() -> None:
    client = vecs_core.create_client(NOWHERE, schema="s1")
    aclient = vecs_core.create_async_client(NOWHERE, schema="s1")
    with pytest.raises(ArgError, match="URL string"):
        ClientPair(connection=client)  # type: ignore[arg-type]
    with pytest.raises(ArgError, match="unused"):
        ClientPair(connection=NOWHERE, client=client, async_client=aclient)
    with pytest.raises(ArgError, match="different schemas"):
        ClientPair(client=client, schema="s2")
    other = vecs_core.create_async_client(NOWHERE, schema="s2")
    with pytest.raises(ArgError, match="different schemas"):
        ClientPair(client=client, async_client=other)

    only_sync = ClientPair(client=client)
    assert only_sync.schema == "s1" and only_sync.sync() is client and not only_sync.owns_sync
    with pytest.raises(ArgError, match="async_client="):
        only_sync.async_()
    only_async = ClientPair(async_client=aclient)
    with pytest.raises(ArgError, match="client="):
        only_async.sync()

    filled = ClientPair(connection=NOWHERE, client=client)
    assert filled.existing_async is None  # nothing created before use
    created = filled.async_()
    assert created.schema == "s1" and filled.owns_async and not filled.owns_sync

    default = ClientPair()
    assert default.schema == "vecs" and default.existing_sync is None
    assert default.existing_async is None


@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
def test_both_constructors_apply_the_same_rules(adapter: str) -> None:
    client = vecs_core.create_client(NOWHERE, schema="s1")
    with pytest.raises(ArgError, match="URL string"):
        ADAPTERS[adapter].make(connection=client)
    with pytest.raises(ArgError, match="different schemas"):
        ADAPTERS[adapter].make(client=client, schema="s2")
    with pytest.raises(ArgError, match="unknown measure"):
        ADAPTERS[adapter].make(connection=NOWHERE, measure="hamming")
    with pytest.raises(ArgError, match="dimension"):
        ADAPTERS[adapter].make(connection=NOWHERE, dimension=0)
    store = ADAPTERS[adapter].make(client=client)
    with pytest.raises(ArgError, match="async_client="):
        _ = store.async_client
    assert store.client is client


# -- both adapters, driven the same way -----------------------------------------------------------
class AxisEmbeddings(Embeddings):
    """Texts ``"x,y,z"`` embed as that vector (so a test controls the geometry)."""

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in text.split(",")]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)


def _text(vector: Sequence[float]) -> str:
    return ",".join(repr(float(x)) for x in vector)


@dataclass
class Adapter:
    make: Callable[..., Any]
    add: Callable[[Any, dict[str, list[float]]], None]
    aadd: Callable[[Any, dict[str, list[float]]], Awaitable[None]]
    search: Callable[[Any, list[float], int], list[str]]
    asearch: Callable[[Any, list[float], int], Awaitable[list[str]]]
    mmr: Callable[[Any, list[float], int, int, float], list[str]]


def _lc_make(**kw: Any) -> LangChainStore:
    dimension = kw.pop("dimension", None)
    return LangChainStore(AxisEmbeddings(), kw.pop("name", "docs"), dimension=dimension, **kw)


def _li_make(**kw: Any) -> LlamaIndexStore:
    return LlamaIndexStore(kw.pop("name", "docs"), kw.pop("dimension", 3), **kw)


def _lc_add(store: LangChainStore, vectors: dict[str, list[float]]) -> None:
    store.add_texts([_text(v) for v in vectors.values()], ids=list(vectors))


async def _lc_aadd(store: LangChainStore, vectors: dict[str, list[float]]) -> None:
    await store.aadd_texts([_text(v) for v in vectors.values()], ids=list(vectors))


def _nodes(vectors: dict[str, list[float]]) -> list[TextNode]:
    return [TextNode(id_=i, text=i, embedding=v) for i, v in vectors.items()]


def _li_add(store: LlamaIndexStore, vectors: dict[str, list[float]]) -> None:
    store.add(_nodes(vectors))


async def _li_aadd(store: LlamaIndexStore, vectors: dict[str, list[float]]) -> None:
    await store.async_add(_nodes(vectors))


def _lc_search(store: LangChainStore, q: list[float], k: int) -> list[str]:
    return [str(d.id) for d in store.similarity_search_by_vector(q, k=k)]


async def _lc_asearch(store: LangChainStore, q: list[float], k: int) -> list[str]:
    return [str(d.id) for d in await store.asimilarity_search_by_vector(q, k=k)]


def _li_search(store: LlamaIndexStore, q: list[float], k: int) -> list[str]:
    return list(store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=k)).ids or [])


async def _li_asearch(store: LlamaIndexStore, q: list[float], k: int) -> list[str]:
    res = await store.aquery(VectorStoreQuery(query_embedding=q, similarity_top_k=k))
    return list(res.ids or [])


def _lc_mmr(store: LangChainStore, q: list[float], k: int, fetch: int, lam: float) -> list[str]:
    docs = store.max_marginal_relevance_search_by_vector(q, k=k, fetch_k=fetch, lambda_mult=lam)
    return [str(d.id) for d in docs]


def _li_mmr(store: LlamaIndexStore, q: list[float], k: int, fetch: int, lam: float) -> list[str]:
    assert fetch % k == 0  # the store fetches k * mmr_prefetch_factor candidates
    store.mmr_prefetch_factor = fetch // k
    query = VectorStoreQuery(
        query_embedding=q, similarity_top_k=k, mode=VectorStoreQueryMode.MMR, mmr_threshold=lam
    )
    return list(store.query(query).ids or [])


ADAPTERS = {
    "langchain": Adapter(_lc_make, _lc_add, _lc_aadd, _lc_search, _lc_asearch, _lc_mmr),
    "llama_index": Adapter(_li_make, _li_add, _li_aadd, _li_search, _li_asearch, _li_mmr),
}


# -- MMR through both adapters, every measure -----------------------------------------------------
@pytest.mark.parametrize("measure", [m.value for m in vecs_core.IndexMeasure])
@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
def test_adapters_apply_the_shared_mmr_to_their_candidates(
    adapter: str, measure: str, database_url: str, schema: str
) -> None:
    """Candidates are the store's nearest by its own measure; the selection among them is the
    reference MMR (cosine), whatever the measure."""
    a = ADAPTERS[adapter]
    rng = np.random.default_rng(11)
    # float32-exact values: the database returns exactly what the reference computes with
    vectors = {f"v{i:02d}": rng.normal(size=3).astype(np.float32).tolist() for i in range(24)}
    store = a.make(connection=database_url, schema=schema, measure=measure, dimension=3)
    try:
        a.add(store, vectors)
        query = [1.0, 2.0, -1.0]
        for k, fetch, lam in [(4, 12, 0.5), (3, 12, 0.0), (5, 10, 1.0), (2, 8, 0.3)]:
            candidates = a.search(store, query, fetch)
            expected = ref_mmr(query, [vectors[i] for i in candidates], k, lam)
            assert a.mmr(store, query, k, fetch, lam) == [candidates[i] for i in expected]
    finally:
        store.close()


# -- the ownership rule, both adapters, sync and async --------------------------------------------
DEFAULT_APP = "vecs-core"  # the application_name of clients the stores create


def backends(conn: psycopg.Connection[Any], app: str) -> set[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [app]
    ).fetchall()
    return {int(r[0]) for r in rows}


async def wait_gone(conn: psycopg.Connection[Any], app: str, pids: set[int]) -> None:
    deadline = time.monotonic() + 10
    while pids & backends(conn, app):
        assert time.monotonic() < deadline, f"connections {pids & backends(conn, app)} still open"
        await asyncio.sleep(0.05)


async def still_open(conn: psycopg.Connection[Any], app: str, pids: set[int]) -> None:
    await asyncio.sleep(0.5)  # a closed connection would be gone from pg_stat_activity by now
    assert pids <= backends(conn, app)


@pytest.mark.asyncio
@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
async def test_owned_clients_are_closed(
    adapter: str, database_url: str, schema: str, sql_conn: psycopg.Connection[Any]
) -> None:
    a = ADAPTERS[adapter]
    before = backends(sql_conn, DEFAULT_APP)
    store = a.make(connection=database_url, schema=schema, dimension=3)
    a.add(store, {"x": [1.0, 0.0, 0.0]})
    sync_pids = backends(sql_conn, DEFAULT_APP) - before
    assert await a.asearch(store, [1.0, 0.0, 0.0], 1) == ["x"]
    async_pids = backends(sql_conn, DEFAULT_APP) - before - sync_pids
    assert sync_pids and async_pids
    assert store._clients.owns_sync and store._clients.owns_async

    store.close()  # the owned sync client; the async one needs aclose()
    await wait_gone(sql_conn, DEFAULT_APP, sync_pids)
    await still_open(sql_conn, DEFAULT_APP, async_pids)
    await store.aclose()
    await wait_gone(sql_conn, DEFAULT_APP, async_pids)
    store.close()  # idempotent
    await store.aclose()

    # like Client.disconnect(): a later call reconnects, and aclose() closes both sides
    assert a.search(store, [1.0, 0.0, 0.0], 1) == ["x"]
    assert await a.asearch(store, [1.0, 0.0, 0.0], 1) == ["x"]
    reopened = backends(sql_conn, DEFAULT_APP) - before
    assert reopened
    await store.aclose()
    await wait_gone(sql_conn, DEFAULT_APP, reopened)


@pytest.mark.asyncio
@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
async def test_passed_in_clients_are_never_closed(
    adapter: str, database_url: str, schema: str, sql_conn: psycopg.Connection[Any]
) -> None:
    a = ADAPTERS[adapter]
    app = f"passed-{uuid.uuid4().hex[:8]}"
    client = vecs_core.create_client(database_url, schema=schema, application_name=app)
    aclient = vecs_core.create_async_client(database_url, schema=schema, application_name=app)
    try:
        store = a.make(client=client, async_client=aclient, dimension=3)
        a.add(store, {"x": [1.0, 0.0, 0.0]})
        await a.aadd(store, {"y": [0.0, 1.0, 0.0]})
        pids = backends(sql_conn, app)
        assert len(pids) >= 2
        assert not store._clients.owns_sync and not store._clients.owns_async
        store.close()
        await store.aclose()
        await still_open(sql_conn, app, pids)
        # the clients work on, on their very connections, and so does the store
        assert {c.name for c in client.list_collections()} == {"docs"}
        assert len(await aclient.list_collections()) == 1
        assert a.search(store, [0.0, 1.0, 0.0], 1) == ["y"]
        assert await a.asearch(store, [1.0, 0.0, 0.0], 1) == ["x"]
        assert pids <= backends(sql_conn, app)
    finally:
        client.disconnect()
        await aclient.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
@pytest.mark.parametrize("given", ["sync", "async"])
async def test_a_passed_in_client_with_an_owned_twin(
    adapter: str, given: str, database_url: str, schema: str, sql_conn: psycopg.Connection[Any]
) -> None:
    """One client passed in, the other side created from ``connection=``: closing the store
    closes only the one it created."""
    a = ADAPTERS[adapter]
    app = f"passed-{uuid.uuid4().hex[:8]}"
    before = backends(sql_conn, DEFAULT_APP)
    if given == "sync":
        passed: Any = vecs_core.create_client(database_url, schema=schema, application_name=app)
        store = a.make(client=passed, connection=database_url, dimension=3)
    else:
        passed = vecs_core.create_async_client(database_url, schema=schema, application_name=app)
        store = a.make(async_client=passed, connection=database_url, dimension=3)
    try:
        a.add(store, {"x": [1.0, 0.0, 0.0]})
        assert await a.asearch(store, [1.0, 0.0, 0.0], 1) == ["x"]
        passed_pids = backends(sql_conn, app)
        owned_pids = backends(sql_conn, DEFAULT_APP) - before
        assert passed_pids and owned_pids
        await store.aclose()
        await wait_gone(sql_conn, DEFAULT_APP, owned_pids)
        await still_open(sql_conn, app, passed_pids)
    finally:
        if given == "sync":
            passed.disconnect()
        else:
            await passed.aclose()
