"""VecsVectorStore beyond LangChain's standard suite: filters, scores, MMR, retrievers, async."""

from __future__ import annotations

import asyncio
import math
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

import vecs_core
from vecs_integrations.langchain import (
    VecsRetriever,
    VecsVectorStore,
    mmr_select,
    translate_filter,
)


class TableEmbeddings(Embeddings):
    """Fixed vectors per text (unknown texts get a deterministic fake vector).

    The async methods are native (no executor), so the async path can be checked thread-free.
    """

    def __init__(self, table: dict[str, list[float]], size: int = 3) -> None:
        self.table = table
        self.fallback = DeterministicFakeEmbedding(size=size)

    def embed_query(self, text: str) -> list[float]:
        if text in self.table:
            return list(self.table[text])
        return self.fallback.embed_query(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)


def _name() -> str:
    return f"lc_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_store(database_url: str, schema: str) -> Iterator[Callable[..., VecsVectorStore]]:
    made: list[VecsVectorStore] = []

    def make(embedding: Embeddings | None = None, **kwargs: Any) -> VecsVectorStore:
        kwargs.setdefault("connection", database_url)
        kwargs.setdefault("schema", schema)
        store = VecsVectorStore(
            embedding or TableEmbeddings({}), kwargs.pop("name", _name()), **kwargs
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest_asyncio.fixture
async def make_astore(
    database_url: str, schema: str
) -> AsyncIterator[Callable[..., VecsVectorStore]]:
    made: list[VecsVectorStore] = []

    def make(embedding: Embeddings | None = None, **kwargs: Any) -> VecsVectorStore:
        kwargs.setdefault("connection", database_url)
        kwargs.setdefault("schema", schema)
        store = VecsVectorStore(
            embedding or TableEmbeddings({}), kwargs.pop("name", _name()), **kwargs
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
        await store.aclose()


# ---------------------------------------------------------------------------------- filters
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ({}, None),
        ({"genre": "drama"}, {"genre": "drama"}),
        ({"genre": {"$eq": "drama"}}, {"genre": {"$eq": "drama"}}),
        ({"year": {"$gte": 2000, "$lt": 2010}}, {"year": {"$gte": 2000, "$lt": 2010}}),
        ({"year": {"$between": [2000, 2010]}}, {"year": {"$gte": 2000, "$lte": 2010}}),
        ({"year": {"$between": (2000, None)}}, {"year": {"$gte": 2000}}),
        ({"year": {"$between": [None, 2010]}}, {"year": {"$lte": 2010}}),
        ({"genre": {"$in": ("a", "b")}}, {"genre": {"$in": ["a", "b"]}}),
        ({"genre": {"$nin": ["a"]}}, {"genre": {"$nin": ["a"]}}),
        ({"tags": {"$contains": "x"}}, {"tags": {"$contains": "x"}}),
        ({"t": {"$exists": False}}, {"t": {"$exists": False}}),
        (
            {"t": {"$like": "a%"}, "u": {"$ilike": "%B"}},
            {"t": {"$like": "a%"}, "u": {"$ilike": "%B"}},
        ),
        (
            {"$and": [{"a": 1}, {"$or": [{"b": 2}, {"c": {"$between": [1, 2]}}]}]},
            {"$and": [{"a": 1}, {"$or": [{"b": 2}, {"c": {"$gte": 1, "$lte": 2}}]}]},
        ),
        ({"$not": {"a": 1}}, {"$not": {"a": 1}}),
        ({"$not": [{"a": 1}]}, {"$not": {"a": 1}}),
        ({"$not": [{"a": 1}, {"b": 2}]}, {"$and": [{"$not": {"a": 1}}, {"$not": {"b": 2}}]}),
        ({"a": 1, "$not": {"b": 2}}, {"$and": [{"a": 1}, {"$not": {"b": 2}}]}),
    ],
)
def test_translate_filter(given: Any, expected: Any) -> None:
    assert translate_filter(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"year": {"$regex": "x"}},
        {"year": {"$between": [1]}},
        {"year": {"$between": [None, None]}},
        {"year": {"$between": [1, 2], "$gte": 0}},
        {"$nor": [{"a": 1}]},
        {"$and": []},
        {"$or": {"a": 1}},
        {"genre": ["a", "b"]},
        {"genre": {}},
        {"$not": "x"},
        "genre = 'a'",
    ],
)
def test_translate_filter_rejects(bad: Any) -> None:
    with pytest.raises(vecs_core.FilterError):
        translate_filter(bad)


FILMS = [
    ("f1", "a quiet drama", {"genre": "drama", "year": 1999, "tags": ["award"], "title": "Alpha"}),
    (
        "f2",
        "a loud action film",
        {"genre": "action", "year": 2005, "tags": ["sequel"], "title": "beta"},
    ),
    ("f3", "a gentle drama", {"genre": "drama", "year": 2010, "tags": [], "title": "Gamma"}),
    ("f4", "a sad comedy", {"genre": "comedy", "year": 2015, "title": "alphabet", "rating": 7.5}),
    ("f5", "an old film", {"year": "unknown"}),
]


@pytest.fixture
def films(make_store: Callable[..., VecsVectorStore]) -> VecsVectorStore:
    store = make_store(DeterministicFakeEmbedding(size=8))
    store.add_texts(
        [t for _, t, _ in FILMS], [m for _, _, m in FILMS], ids=[i for i, _, _ in FILMS]
    )
    return store


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"genre": "drama"}, {"f1", "f3"}),
        ({"genre": {"$eq": "action"}}, {"f2"}),
        ({"genre": {"$ne": "drama"}}, {"f2", "f4"}),
        ({"year": {"$gt": 2005}}, {"f3", "f4"}),
        ({"year": {"$gte": 2005}}, {"f2", "f3", "f4"}),
        ({"year": {"$lt": 2005}}, {"f1"}),
        ({"year": {"$lte": 2005}}, {"f1", "f2"}),
        ({"year": {"$between": [2005, 2010]}}, {"f2", "f3"}),
        ({"genre": {"$in": ["comedy", "action"]}}, {"f2", "f4"}),
        ({"genre": {"$nin": ["comedy", "action"]}}, {"f1", "f3"}),
        ({"tags": {"$contains": "award"}}, {"f1"}),
        ({"rating": {"$exists": True}}, {"f4"}),
        ({"genre": {"$exists": False}}, {"f5"}),
        ({"title": {"$like": "Alph%"}}, {"f1"}),
        ({"title": {"$ilike": "alpha%"}}, {"f1", "f4"}),
        ({"$and": [{"genre": "drama"}, {"year": {"$gt": 2000}}]}, {"f3"}),
        ({"$or": [{"genre": "action"}, {"year": {"$between": [1990, 2000]}}]}, {"f1", "f2"}),
        ({"$not": {"genre": "drama"}}, {"f2", "f4", "f5"}),
        ({"$not": [{"genre": "drama"}, {"genre": "action"}]}, {"f4", "f5"}),
        ({"genre": "drama", "year": {"$between": [2000, 2020]}}, {"f3"}),
    ],
)
def test_filters_in_search(films: VecsVectorStore, flt: dict[str, Any], expected: set[str]) -> None:
    docs = films.similarity_search("film", k=50, filter=flt)
    assert {d.id for d in docs} == expected
    mmr = films.max_marginal_relevance_search("film", k=50, fetch_k=50, filter=flt)
    assert {d.id for d in mmr} == expected


def test_unknown_operator_raises_filter_error(films: VecsVectorStore) -> None:
    with pytest.raises(vecs_core.FilterError) as info:
        films.similarity_search("film", filter={"year": {"$near": 3}})
    # the message lists the operators, taken from the core's exported list plus $between
    assert all(op in str(info.value) for op in (*vecs_core.FILTER_OPERATORS, "$between"))


@pytest.mark.parametrize("op", vecs_core.FILTER_OPERATORS)
def test_core_operators_pass_through(op: str) -> None:
    assert translate_filter({"a": {op: 1}}) == {"a": {op: 1}}


@pytest.mark.parametrize("op", vecs_core.LOGICAL_OPERATORS)
def test_logical_operators_are_the_cores(op: str) -> None:
    operand = {"a": 1} if op == "$not" else [{"a": 1}]
    assert translate_filter({op: operand}) == {op: operand}


# Every store method that takes a filter, sync and async; each must refuse a non-dict filter
# before any I/O (even with k=0, and without deleting anything).
VEC = [0.1] * 8
SYNC_FILTER_CALLS: dict[str, Callable[[VecsVectorStore, Any], Any]] = {
    "similarity_search": lambda s, f: s.similarity_search("film", k=2, filter=f),
    "similarity_search k=0": lambda s, f: s.similarity_search("film", k=0, filter=f),
    "with_score": lambda s, f: s.similarity_search_with_score("film", filter=f),
    "by_vector": lambda s, f: s.similarity_search_by_vector(VEC, filter=f),
    "with_score_by_vector": lambda s, f: s.similarity_search_with_score_by_vector(VEC, filter=f),
    "relevance_scores": lambda s, f: s.similarity_search_with_relevance_scores("f", filter=f),
    "mmr": lambda s, f: s.max_marginal_relevance_search("film", filter=f),
    "mmr k=0": lambda s, f: s.max_marginal_relevance_search("film", k=0, filter=f),
    "mmr_by_vector": lambda s, f: s.max_marginal_relevance_search_by_vector(VEC, filter=f),
    "mmr_with_score": lambda s, f: s.max_marginal_relevance_search_with_score_by_vector(
        VEC, filter=f
    ),
    "delete": lambda s, f: s.delete(filter=f),
    "hybrid_search": lambda s, f: s.hybrid_search("film", filter=f),
    "hybrid k=0": lambda s, f: s.hybrid_search_with_score("film", k=0, filter=f),
    "keyword_search": lambda s, f: s.keyword_search_with_score("film", filter=f),
    "keyword k=0": lambda s, f: s.keyword_search_with_score("film", k=0, filter=f),
    "search": lambda s, f: s.search("film", "similarity", filter=f),
    "search mmr": lambda s, f: s.search("film", "mmr", filter=f),
    "search hybrid": lambda s, f: s.search("film", "hybrid", filter=f),
    "retriever": lambda s, f: s.as_retriever(search_kwargs={"filter": f}).invoke("film"),
    "retriever mmr": lambda s, f: s.as_retriever(
        search_type="mmr", search_kwargs={"filter": f}
    ).invoke("film"),
    "retriever hybrid": lambda s, f: s.as_retriever(
        search_type="hybrid", search_kwargs={"filter": f}
    ).invoke("film"),
}
ASYNC_FILTER_CALLS: dict[str, Callable[[VecsVectorStore, Any], Any]] = {
    "asimilarity_search": lambda s, f: s.asimilarity_search("film", k=2, filter=f),
    "asimilarity_search k=0": lambda s, f: s.asimilarity_search("film", k=0, filter=f),
    "with_score": lambda s, f: s.asimilarity_search_with_score("film", filter=f),
    "by_vector": lambda s, f: s.asimilarity_search_by_vector(VEC, filter=f),
    "with_score_by_vector": lambda s, f: s.asimilarity_search_with_score_by_vector(VEC, filter=f),
    "relevance_scores": lambda s, f: s.asimilarity_search_with_relevance_scores("f", filter=f),
    "mmr": lambda s, f: s.amax_marginal_relevance_search("film", filter=f),
    "mmr_by_vector": lambda s, f: s.amax_marginal_relevance_search_by_vector(VEC, filter=f),
    "mmr_with_score": lambda s, f: s.amax_marginal_relevance_search_with_score_by_vector(
        VEC, filter=f
    ),
    "adelete": lambda s, f: s.adelete(filter=f),
    "hybrid_search": lambda s, f: s.ahybrid_search("film", filter=f),
    "keyword_search": lambda s, f: s.akeyword_search_with_score("film", filter=f),
    "search": lambda s, f: s.asearch("film", "similarity", filter=f),
    "search hybrid": lambda s, f: s.asearch("film", "hybrid", filter=f),
    "retriever": lambda s, f: s.as_retriever(search_kwargs={"filter": f}).ainvoke("film"),
    "retriever hybrid": lambda s, f: s.as_retriever(
        search_type="hybrid", search_kwargs={"filter": f}
    ).ainvoke("film"),
}
NOT_A_DICT = [[], [{"genre": "drama"}], ("genre", "drama"), "genre = 'drama'", 3]


def test_a_filter_that_is_not_a_dict_raises_filter_error(films: VecsVectorStore) -> None:
    for name, call in SYNC_FILTER_CALLS.items():
        for bad in NOT_A_DICT:
            with pytest.raises(vecs_core.FilterError, match="a filter must be a dict"):
                call(films, bad)
                pytest.fail(f"{name} accepted filter={bad!r}")
    assert len(films.get_by_ids([i for i, _, _ in FILMS])) == len(FILMS)  # nothing deleted


@pytest.mark.asyncio
async def test_a_filter_that_is_not_a_dict_raises_filter_error_async(
    make_astore: Callable[..., VecsVectorStore],
) -> None:
    store = make_astore(DeterministicFakeEmbedding(size=8))
    await store.aadd_texts([t for _, t, _ in FILMS], [m for _, _, m in FILMS])
    for name, call in ASYNC_FILTER_CALLS.items():
        for bad in NOT_A_DICT:
            with pytest.raises(vecs_core.FilterError, match="a filter must be a dict"):
                await call(store, bad)
                pytest.fail(f"{name} accepted filter={bad!r}")
    assert len(await store.asimilarity_search("film", k=10)) == len(FILMS)


def _store_errors(store: VecsVectorStore) -> list[tuple[Callable[[], Any], type[Exception], str]]:
    emb = store.embedding
    return [
        (lambda: store.add_texts(["a", "b"], ids=["x"]), vecs_core.ArgError, "ids"),
        (lambda: store.add_texts(["a"], metadatas=[{}, {}]), vecs_core.ArgError, "metadatas"),
        (
            lambda: store.add_documents([Document(page_content="a")], ids=["1", "2"]),
            vecs_core.ArgError,
            "ids",
        ),
        (lambda: store.similarity_search("a", k=-1), vecs_core.ArgError, "k must be"),
        (lambda: store.similarity_search("a", k=1001), vecs_core.ArgError, "1000"),
        (lambda: store.similarity_search("a", k="3"), vecs_core.ArgError, "k must be an int"),
        (
            lambda: store.max_marginal_relevance_search("a", lambda_mult=1.5),
            vecs_core.ArgError,
            "lambda_mult",
        ),
        (
            lambda: store.max_marginal_relevance_search("a", fetch_k=-1),
            vecs_core.ArgError,
            "fetch_k",
        ),
        (lambda: store.delete(["a"], filter={"x": 1}), vecs_core.ArgError, "not both"),
        (lambda: store.hybrid_search("a", k=-2), vecs_core.ArgError, "k must be"),
        (lambda: store.keyword_search_with_score("a", k=2000), vecs_core.ArgError, "1000"),
        (lambda: VecsVectorStore(emb, "x", measure="hamming"), vecs_core.ArgError, "measure"),
        (lambda: VecsVectorStore(emb, "x", dimension=-3), vecs_core.ArgError, "dimension"),
    ]


def test_errors_are_the_cores_typed_errors(make_store: Callable[..., VecsVectorStore]) -> None:
    store = make_store(DeterministicFakeEmbedding(size=3))
    store.add_texts(["a"], ids=["a"])
    for call, error, match in _store_errors(store):
        with pytest.raises(error, match=match):
            call()
    assert [d.id for d in store.get_by_ids(["a"])] == ["a"]


@pytest.mark.asyncio
async def test_async_errors_are_the_cores_typed_errors(
    make_astore: Callable[..., VecsVectorStore],
) -> None:
    store = make_astore(DeterministicFakeEmbedding(size=3))
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: store.aadd_texts(["a", "b"], ids=["x"]), "ids"),
        (lambda: store.aadd_documents([Document(page_content="a")], ids=["1", "2"]), "ids"),
        (lambda: store.asimilarity_search("a", k=-1), "k must be"),
        (lambda: store.amax_marginal_relevance_search("a", lambda_mult=-1), "lambda_mult"),
        (lambda: store.adelete(["a"], filter={"x": 1}), "not both"),
        (lambda: store.ahybrid_search("a", k=1001), "1000"),
    ]
    for call, match in cases:
        with pytest.raises(vecs_core.ArgError, match=match):
            await call()


def test_delete_by_filter(films: VecsVectorStore) -> None:
    assert films.delete(filter={"genre": "drama"}) is True
    assert [d.id for d in films.get_by_ids(["f1", "f2", "f3"])] == ["f2"]


# ---------------------------------------------------------------------------------- scores
LANGCHAIN_RELEVANCE = {  # LangChain's (and PGVector's) convention, per measure
    "cosine_distance": lambda d: 1.0 - d,
    "l2_distance": lambda d: 1.0 - d / math.sqrt(2),
    "max_inner_product": lambda d: 1.0 - d if d > 0 else -d,
    "l1_distance": lambda d: 1.0 / (1.0 + d),
}


@pytest.mark.parametrize("measure", [m.value for m in vecs_core.IndexMeasure])
def test_relevance_scores_follow_langchain(
    make_store: Callable[..., VecsVectorStore], measure: str
) -> None:
    rng = np.random.default_rng(7)
    texts = [f"t{i}" for i in range(12)]
    # non-negative unit vectors: every convention lands in [0, 1], LangChain does not warn
    table = {}
    for t in texts:
        v = np.abs(rng.normal(size=4))
        table[t] = (v / np.linalg.norm(v)).tolist()
    store = make_store(TableEmbeddings(table, size=4), measure=measure)
    store.add_texts(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LangChain warns on scores outside [0, 1]
        scored = store.similarity_search_with_relevance_scores("t3", k=12)
    assert len(scored) == 12
    scores = [s for _, s in scored]
    assert all(-1e-9 <= s <= 1.0 + 1e-9 for s in scores)
    assert scores == sorted(scores, reverse=True)
    fn = store._select_relevance_score_fn()
    for (_doc, dist), (_, rel) in zip(store.similarity_search_with_score("t3", k=12), scored):
        assert math.isclose(fn(dist), rel)
        assert math.isclose(rel, LANGCHAIN_RELEVANCE[measure](dist), abs_tol=1e-12)
    assert scored[0][0].id is not None


@pytest.mark.parametrize(
    ("measure", "dist", "rel"),
    [
        ("cosine_distance", 0.0, 1.0),
        ("cosine_distance", 0.3, 0.7),  # 1 - d, like PGVector (not 1 - d/2)
        ("cosine_distance", 1.0, 0.0),
        ("l2_distance", 0.0, 1.0),
        ("l2_distance", math.sqrt(2), 0.0),
        ("max_inner_product", -0.8, 0.8),  # pgvector's <#> is the negative inner product
        ("max_inner_product", 0.5, 0.5),
        ("l1_distance", 0.0, 1.0),
        ("l1_distance", 1.0, 0.5),
    ],
)
def test_select_relevance_score_fn(measure: str, dist: float, rel: float) -> None:
    store = VecsVectorStore(
        TableEmbeddings({}), "x", connection="postgresql://unused", measure=measure
    )
    assert math.isclose(store._select_relevance_score_fn()(dist), rel, abs_tol=1e-9)


def test_score_threshold(make_store: Callable[..., VecsVectorStore]) -> None:
    table = {"q": [1.0, 0.0, 0.0], "near": [1.0, 0.1, 0.0], "far": [0.0, 1.0, 0.0]}
    store = make_store(TableEmbeddings(table))
    store.add_texts(["near", "far"], ids=["near", "far"])
    hits = store.similarity_search_with_relevance_scores("q", k=2, score_threshold=0.9)
    assert [d.id for d, _ in hits] == ["near"]
    dist = store.similarity_search_with_score("q", k=1)[0][1]
    assert math.isclose(dist, 1 - 1 / math.sqrt(1.01), rel_tol=1e-5)


# ---------------------------------------------------------------------------------- MMR
def _unit(degrees: float) -> list[float]:
    rad = math.radians(degrees)
    return [math.cos(rad), math.sin(rad), 0.0]


# Unit vectors in a plane, at angles from the query: similarity order is A, A2, B, C, but A2 is
# a near-duplicate of A, so MMR (lambda 0.5) picks B before A2.
MMR_TABLE = {
    "query": _unit(0),
    "A": _unit(10),
    "A2": _unit(12),
    "B": _unit(-40),
    "C": _unit(80),
}


@pytest.fixture
def mmr_store(make_store: Callable[..., VecsVectorStore]) -> VecsVectorStore:
    store = make_store(TableEmbeddings(MMR_TABLE))
    texts = ["A", "A2", "B", "C"]
    store.add_texts(texts, [{"name": t} for t in texts], ids=texts)
    return store


def test_mmr_returns_selection_order(mmr_store: VecsVectorStore) -> None:
    by_similarity = [d.id for d in mmr_store.similarity_search("query", k=3)]
    assert by_similarity == ["A", "A2", "B"]
    mmr = [d.id for d in mmr_store.max_marginal_relevance_search("query", k=3, lambda_mult=0.5)]
    assert mmr == ["A", "B", "A2"]  # diversity pulls B ahead of the near-duplicate
    full = mmr_store.max_marginal_relevance_search("query", k=4, lambda_mult=0.5)
    assert [d.id for d in full] == ["A", "B", "A2", "C"]
    assert mmr != by_similarity
    docs = mmr_store.max_marginal_relevance_search("query", k=3, lambda_mult=0.5)
    assert docs[1] == Document(id="B", page_content="B", metadata={"name": "B"})


def test_mmr_lambda_one_is_similarity_order(mmr_store: VecsVectorStore) -> None:
    mmr = mmr_store.max_marginal_relevance_search("query", k=4, lambda_mult=1.0)
    assert [d.id for d in mmr] == ["A", "A2", "B", "C"]


def test_mmr_honours_fetch_k_and_filter(mmr_store: VecsVectorStore) -> None:
    # Only the 2 nearest are candidates: B cannot be chosen.
    few = mmr_store.max_marginal_relevance_search("query", k=2, fetch_k=2, lambda_mult=0.5)
    assert [d.id for d in few] == ["A", "A2"]
    flt = {"name": {"$ne": "A"}}
    filtered = mmr_store.max_marginal_relevance_search(
        "query", k=2, fetch_k=3, lambda_mult=0.5, filter=flt
    )
    assert [d.id for d in filtered] == ["A2", "B"]
    by_vector = mmr_store.max_marginal_relevance_search_by_vector(
        MMR_TABLE["query"], k=3, lambda_mult=0.5
    )
    assert [d.id for d in by_vector] == ["A", "B", "A2"]
    assert mmr_store.max_marginal_relevance_search("query", k=0) == []


@pytest.mark.asyncio
async def test_mmr_async(make_astore: Callable[..., VecsVectorStore]) -> None:
    store = make_astore(TableEmbeddings(MMR_TABLE))
    await store.aadd_texts(["A", "A2", "B", "C"], ids=["A", "A2", "B", "C"])
    docs = await store.amax_marginal_relevance_search("query", k=3, lambda_mult=0.5)
    assert [d.id for d in docs] == ["A", "B", "A2"]
    docs = await store.amax_marginal_relevance_search_by_vector(
        MMR_TABLE["query"], k=2, fetch_k=2, lambda_mult=0.5
    )
    assert [d.id for d in docs] == ["A", "A2"]


def test_mmr_select_unit() -> None:
    q = [1.0, 0.0]
    cands = [[1.0, 0.0], [1.0, 0.01], [0.6, 0.8], [0.0, 0.0]]
    assert mmr_select(q, cands, 4, 0.3) == [0, 3, 2, 1]  # the zero vector is "diverse"
    assert mmr_select(q, cands, 2, 1.0) == [0, 1]
    assert mmr_select(q, [], 3) == []
    with pytest.raises(ValueError):
        mmr_select(q, cands, 2, 1.5)


# ---------------------------------------------------------------------------------- retrievers
def test_retriever_modes(mmr_store: VecsVectorStore) -> None:
    sim = mmr_store.as_retriever(search_kwargs={"k": 3})
    assert isinstance(sim, VecsRetriever)
    assert [d.id for d in sim.invoke("query")] == ["A", "A2", "B"]
    mmr = mmr_store.as_retriever(search_type="mmr", search_kwargs={"k": 3, "lambda_mult": 0.5})
    assert [d.id for d in mmr.invoke("query")] == ["A", "B", "A2"]
    thr = mmr_store.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"k": 4, "score_threshold": 0.9},
    )
    assert [d.id for d in thr.invoke("query")] == ["A", "A2"]
    flt = mmr_store.as_retriever(search_kwargs={"k": 4, "filter": {"name": {"$in": ["B", "C"]}}})
    assert [d.id for d in flt.invoke("query")] == ["B", "C"]
    with pytest.raises(ValueError):
        mmr_store.as_retriever(search_type="nope")


@pytest.mark.asyncio
async def test_retriever_modes_async(make_astore: Callable[..., VecsVectorStore]) -> None:
    store = make_astore(TableEmbeddings(MMR_TABLE))
    await store.aadd_texts(["A", "A2", "B", "C"], [{"n": 1}] * 4, ids=["A", "A2", "B", "C"])
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 3, "lambda_mult": 0.5})
    assert [d.id for d in await mmr.ainvoke("query")] == ["A", "B", "A2"]
    thr = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.9}
    )
    assert [d.id for d in await thr.ainvoke("query")] == ["A", "A2"]
    sim = store.as_retriever(search_kwargs={"k": 1, "filter": {"n": {"$between": [0, 2]}}})
    assert [d.id for d in await sim.ainvoke("query")] == ["A"]


HYBRID_TEXTS = {
    "h1": "The violin and the cello play the slow movement.",
    "h2": "Bake the bread until the crust is golden.",
    "h3": "The orchestra tuned to the oboe before the concert.",
}


def _needs_hybrid() -> None:
    if not VecsVectorStore(
        TableEmbeddings({}), "x", connection="postgresql://unused"
    ).supports_hybrid:
        pytest.fail("vecs_core lacks keyword_search/hybrid_search")


def test_hybrid_search_and_retriever(make_store: Callable[..., VecsVectorStore]) -> None:
    _needs_hybrid()
    store = make_store(DeterministicFakeEmbedding(size=8))
    store.add_texts(
        list(HYBRID_TEXTS.values()), [{"k": i} for i in range(3)], ids=list(HYBRID_TEXTS)
    )
    scored = store.hybrid_search_with_score("bread crust", k=3)
    assert scored[0][0].id == "h2"
    assert scored[0][1] > 0
    assert scored[0][0].page_content == HYBRID_TEXTS["h2"]
    keyword = store.keyword_search_with_score("oboe", k=3)
    assert [d.id for d, _ in keyword] == ["h3"]
    docs = store.hybrid_search("orchestra", k=1, filter={"k": {"$gte": 1}}, full_text_weight=2.0)
    assert [d.id for d in docs] == ["h3"]
    retriever = store.as_retriever(search_type="hybrid", search_kwargs={"k": 1})
    assert [d.id for d in retriever.invoke("golden bread")] == ["h2"]
    assert [d.id for d in store.search("cello violin", "hybrid", k=1)] == ["h1"]


@pytest.mark.asyncio
async def test_hybrid_async(make_astore: Callable[..., VecsVectorStore]) -> None:
    _needs_hybrid()
    store = make_astore(DeterministicFakeEmbedding(size=8))
    await store.aadd_texts(list(HYBRID_TEXTS.values()), ids=list(HYBRID_TEXTS))
    docs = await store.ahybrid_search("bread crust", k=1)
    assert [d.id for d in docs] == ["h2"]
    keyword = await store.akeyword_search_with_score("oboe")
    assert [d.id for d, _ in keyword] == ["h3"]
    retriever = store.as_retriever(search_type="hybrid", search_kwargs={"k": 1})
    assert [d.id for d in await retriever.ainvoke("violin cello")] == ["h1"]
    assert [d.id for d in await store.asearch("oboe", "hybrid", k=1)] == ["h3"]


# ---------------------------------------------------------------------------------- constructors
def test_from_texts_and_documents(database_url: str, schema: str) -> None:
    emb = DeterministicFakeEmbedding(size=6)
    store = VecsVectorStore.from_texts(
        ["one", "two"],
        emb,
        [{"n": 1}, {"n": 2}],
        ids=["1", "2"],
        collection_name=_name(),
        connection=database_url,
        schema=schema,
        measure="l2_distance",
    )
    try:
        assert store.measure == vecs_core.IndexMeasure.l2_distance
        assert store.get_by_ids(["2", "1"]) == [
            Document(id="2", page_content="two", metadata={"n": 2}),
            Document(id="1", page_content="one", metadata={"n": 1}),
        ]
        assert store.similarity_search("one", k=1)[0].id == "1"
    finally:
        store.delete_collection()
        store.close()
    docs = [Document(page_content="x", metadata={"a": 1}, id="d1"), Document(page_content="y")]
    store2 = VecsVectorStore.from_documents(
        docs, emb, collection_name=_name(), connection=database_url, schema=schema
    )
    try:
        got = store2.similarity_search("x", k=2)
        assert {d.id for d in got} >= {"d1"}
        assert docs[1].id is None  # not mutated
        assert store2.embeddings is emb
    finally:
        store2.close()


@pytest.mark.asyncio
async def test_afrom_texts_and_documents(database_url: str, schema: str) -> None:
    emb = TableEmbeddings({})
    store = await VecsVectorStore.afrom_texts(
        ["one", "two"],
        emb,
        ids=["1", "2"],
        collection_name=_name(),
        connection=database_url,
        schema=schema,
    )
    try:
        assert [d.page_content for d in await store.aget_by_ids(["1", "2"])] == ["one", "two"]
    finally:
        await store.adelete_collection()
        await store.aclose()
    store2 = await VecsVectorStore.afrom_documents(
        [Document(page_content="z", id="z")],
        emb,
        collection_name=_name(),
        connection=database_url,
        schema=schema,
    )
    try:
        assert await store2.aget_by_ids(["z"]) == [Document(id="z", page_content="z")]
    finally:
        await store2.aclose()


# ---------------------------------------------------------------------------------- round trips
TRICKY_META: dict[str, Any] = {
    "text": "a metadata field named text",
    "page_content": "a metadata field named page_content",
    "id": 17,
    "nested": {"a": [1, 2.5, {"b": None}], "ü": "ñ"},
    "flag": False,
    "none": None,
    "float": 0.1,
}
TRICKY_TEXT = "  Line one\n\tline two — ünïcødé 🚀 'quotes' \"dq\" \\ back  "


def test_text_and_metadata_round_trip(make_store: Callable[..., VecsVectorStore]) -> None:
    store = make_store(DeterministicFakeEmbedding(size=5))
    doc = Document(page_content=TRICKY_TEXT, metadata=TRICKY_META, id="tricky")
    empty = Document(page_content="", metadata={}, id="empty")
    store.add_documents([doc, empty])
    assert store.get_by_ids(["tricky", "missing", "empty"]) == [doc, empty]
    found = store.similarity_search(TRICKY_TEXT, k=1)
    assert found == [doc]
    assert store.similarity_search("x", k=5, filter={"text": TRICKY_META["text"]}) == [doc]
    assert doc.metadata == TRICKY_META and doc.id == "tricky"


def test_add_documents_ids(make_store: Callable[..., VecsVectorStore]) -> None:
    store = make_store(DeterministicFakeEmbedding(size=5))
    docs = [Document(page_content="a", id="given"), Document(page_content="b")]
    ids = store.add_documents(docs)
    assert ids[0] == "given"
    assert uuid.UUID(ids[1]).version == 4
    assert docs[1].id is None
    assert store.add_documents(docs, ids=["x", "y"]) == ["x", "y"]
    assert [d.page_content for d in store.get_by_ids(["x", "y", "given"])] == ["a", "b", "a"]
    assert store.add_texts([]) == []
    with pytest.raises(ValueError):
        store.add_texts(["a", "b"], ids=["only-one"])
    with pytest.raises(ValueError):
        store.add_texts(["a"], metadatas=[{}, {}])


def test_delete_scoped_to_collection(make_store: Callable[..., VecsVectorStore]) -> None:
    emb = DeterministicFakeEmbedding(size=4)
    one, two = make_store(emb), make_store(emb)
    one.add_texts(["a", "b"], ids=["1", "2"])
    two.add_texts(["a", "b"], ids=["1", "2"])
    assert one.delete(["1", "nope"]) is True
    assert one.delete([]) is True
    assert [d.id for d in one.get_by_ids(["1", "2"])] == ["2"]
    assert [d.id for d in two.get_by_ids(["1", "2"])] == ["1", "2"]
    assert one.delete() is True  # ids=None: everything in this collection
    assert one.get_by_ids(["1", "2"]) == []
    assert len(two.get_by_ids(["1", "2"])) == 2


def test_lazy_collection_and_dimension(
    make_store: Callable[..., VecsVectorStore], client: vecs_core.Client
) -> None:
    calls: list[str] = []

    class Counting(DeterministicFakeEmbedding):
        def embed_query(self, text: str) -> list[float]:
            calls.append(text)
            return super().embed_query(text)

    name = _name()
    store = make_store(Counting(size=7), name=name)
    assert name not in {c.name for c in client.list_collections()}  # no I/O yet
    # reads never create the collection (a typo would leave a table behind)
    with pytest.raises(vecs_core.CollectionNotFound, match="does not exist"):
        store.get_by_ids(["x"])
    with pytest.raises(vecs_core.CollectionNotFound):
        store.similarity_search("x")
    assert store.delete(["x"]) is True  # nothing to delete
    assert name not in {c.name for c in client.list_collections()}
    assert len(calls) == 1  # the search embedded its query, nothing else
    store.add_texts(["a"], ids=["a"])  # a write creates it, with the embeddings' dimension
    assert client.get_or_create_collection(name).dimension == 7

    name2 = _name()
    store2 = make_store(Counting(size=7), name=name2, dimension=7)
    store2.add_texts(["x"], ids=["x"])
    calls.clear()
    assert store2.delete(["x"]) is True
    assert calls == []  # dimension= given: no probe
    store2.delete_collection()
    assert name2 not in {c.name for c in client.list_collections()}
    store2.add_texts(["back"], ids=["b"])  # recreated on next use
    assert store2.get_by_ids(["b"])[0].page_content == "back"

    with pytest.raises(vecs_core.MismatchedDimension):
        make_store(DeterministicFakeEmbedding(size=7), name=name, dimension=3).get_by_ids(["x"])


def test_typo_in_a_collection_name_is_caught(
    make_store: Callable[..., VecsVectorStore], client: vecs_core.Client
) -> None:
    store = make_store(DeterministicFakeEmbedding(size=5), name="articles")
    store.add_texts(["hello"], ids=["h"])
    typo = make_store(DeterministicFakeEmbedding(size=5), name="artcles")
    with pytest.raises(vecs_core.CollectionNotFound, match="did you mean 'articles'"):
        typo.similarity_search("hello")
    with pytest.raises(vecs_core.CollectionNotFound, match="did you mean 'articles'"):
        typo.as_retriever().invoke("hello")
    assert "artcles" not in {c.name for c in client.list_collections()}


def test_default_connection_from_environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, schema: str
) -> None:
    monkeypatch.setenv("VECS_DATABASE_URL", database_url)
    store = VecsVectorStore(DeterministicFakeEmbedding(size=3), _name(), schema=schema)
    try:
        store.add_texts(["hello"], ids=["h"])
        assert store.get_by_ids(["h"])[0].page_content == "hello"
    finally:
        store.close()


def test_client_arguments(database_url: str, schema: str) -> None:
    client = vecs_core.create_client(database_url, schema=schema)
    try:
        store = VecsVectorStore(DeterministicFakeEmbedding(size=3), _name(), client=client)
        store.add_texts(["hello"], ids=["h"])
        assert store.client is client and store.schema == schema
        with pytest.raises(vecs_core.ArgError, match="async_client"):
            _ = store.async_client
        # connection= fills the side no client was given for, in the client's schema
        both = VecsVectorStore(
            DeterministicFakeEmbedding(size=3), "x", client=client, connection=database_url
        )
        assert both.client is client and both.async_client.schema == schema
        with pytest.raises(vecs_core.ArgError, match="URL string"):
            VecsVectorStore(DeterministicFakeEmbedding(size=3), "x", connection=client)  # type: ignore[arg-type]
    finally:
        client.disconnect()


def test_unindexed_warning_opt_in(make_store: Callable[..., VecsVectorStore]) -> None:
    quiet = make_store(DeterministicFakeEmbedding(size=3))
    quiet.add_texts(["a"])
    quiet.similarity_search("a")  # warnings are errors here: nothing is emitted by default
    loud = make_store(DeterministicFakeEmbedding(size=3), warn_unindexed=True)
    loud.add_texts(["a"])
    with pytest.warns(UserWarning, match="covering index"):
        loud.similarity_search("a")
    loud.create_index(method="hnsw")
    loud.similarity_search("a")
    # The adapter's filter is gone afterwards: the core still warns for direct callers.
    col = quiet.client.get_or_create_collection(quiet.collection_name)
    with pytest.warns(UserWarning, match="covering index"):
        col.search([0.1, 0.2, 0.3])


@pytest.mark.asyncio
async def test_concurrent_async_searches_restore_warning_filters(
    make_astore: Callable[..., VecsVectorStore],
) -> None:
    store = make_astore(DeterministicFakeEmbedding(size=3))
    await store.aadd_texts([f"t{i}" for i in range(5)])
    before = list(warnings.filters)
    results = await asyncio.gather(*(store.asimilarity_search(f"t{i}", k=2) for i in range(8)))
    assert all(len(r) == 2 for r in results)
    assert warnings.filters == before


# ---------------------------------------------------------------------------------- native async
@pytest.mark.asyncio
async def test_async_path_is_native(
    make_astore: Callable[..., VecsVectorStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every async method runs on the AsyncClient: sync methods and executors are forbidden."""
    store = make_astore(TableEmbeddings(MMR_TABLE))
    await store.aadd_texts(["A"], ids=["A"])  # open the pool before forbidding executors

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("sync path used from async code")

    for name in (
        "add_texts",
        "add_documents",
        "delete",
        "get_by_ids",
        "similarity_search",
        "similarity_search_with_score",
        "similarity_search_by_vector",
        "similarity_search_with_relevance_scores",
        "max_marginal_relevance_search",
        "max_marginal_relevance_search_by_vector",
        "hybrid_search",
        "from_texts",
        "_collection",
    ):
        monkeypatch.setattr(VecsVectorStore, name, forbidden)
    for name in ("upsert", "get", "search", "delete", "clear", "find", "fetch"):
        monkeypatch.setattr(vecs_core.Collection, name, forbidden)
    monkeypatch.setattr(vecs_core.Client, "get_or_create_collection", forbidden)
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "run_in_executor", forbidden)

    docs = [Document(page_content=t, metadata={"name": t}) for t in ("A2", "B", "C")]
    ids = await store.aadd_documents(docs, ids=["A2", "B", "C"])
    assert ids == ["A2", "B", "C"]
    assert [d.id for d in await store.asimilarity_search("query", k=2)] == ["A", "A2"]
    scored = await store.asimilarity_search_with_score("query", k=1)
    assert scored[0][0].id == "A"
    rel = await store.asimilarity_search_with_relevance_scores("query", k=4)
    assert all(0 <= s <= 1 for _, s in rel)
    assert [d.id for d in await store.asimilarity_search_by_vector([0.0, 1.0, 0.0], k=1)] == ["C"]
    mmr = await store.amax_marginal_relevance_search("query", k=3, lambda_mult=0.5)
    assert [d.id for d in mmr] == ["A", "B", "A2"]
    assert [d.id for d in await store.aget_by_ids(["C", "A"])] == ["C", "A"]
    assert await store.adelete(["A", "missing"]) is True
    assert await store.aget_by_ids(["A"]) == []
    assert [d.id for d in await store.as_retriever().ainvoke("query")][:1] == ["A2"]
    assert [d.id for d in await store.asearch("query", "mmr", k=1)] == ["A2"]
    if store.supports_hybrid:
        assert len(await store.ahybrid_search("oboe", k=2)) <= 2
    other = await VecsVectorStore.afrom_texts(
        ["q"], store.embedding, collection_name=_name(), async_client=store.async_client
    )
    assert [d.page_content for d in await other.asimilarity_search("q", k=1)] == ["q"]
    await other.adelete_collection()
    await store.adelete_collection()
