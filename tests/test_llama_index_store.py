"""VecsVectorStore behaviour, every case run through the sync and the native async API."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import KINDS
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import (
    BaseNode,
    IndexNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

import vecs_core
from vecs_integrations.llama_index import VecsVectorStore, to_vecs_filter, translate_filters

ASYNC_NAMES = {
    "add": "async_add",
    "delete": "adelete",
    "delete_nodes": "adelete_nodes",
    "get_nodes": "aget_nodes",
    "clear": "aclear",
    "query": "aquery",
}


class Shell:
    """Calls the store's sync methods, or their async twins on one event loop."""

    def __init__(self, store: VecsVectorStore, loop: asyncio.AbstractEventLoop | None) -> None:
        self.store = store
        self.loop = loop

    def run(self, coro: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(coro)

    def __getattr__(self, name: str) -> Any:
        if self.loop is None or name not in ASYNC_NAMES:
            return getattr(self.store, name)
        method = getattr(self.store, ASYNC_NAMES[name])
        return lambda *a, **k: self.run(method(*a, **k))


@pytest.fixture(
    params=[(shell, kind) for kind in KINDS for shell in ("sync", "async")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def make_store(request: pytest.FixtureRequest, database_url: str, schema: str) -> Iterator[Any]:
    """``make_store(name, dim, **kw)`` -> a Shell; sync stores get only a sync client and async
    stores only an async client, so the async path cannot fall back on sync calls. Every test
    using it runs on each vector kind (``storage=``)."""
    created: list[Any] = []
    shell, kind = request.param
    loop = asyncio.new_event_loop() if shell == "async" else None

    def make(name: str = "docs", dim: int = 4, **kw: Any) -> Shell:
        kw.setdefault("storage", kind)
        if loop is None:
            client = vecs_core.create_client(database_url, schema=schema, pool_size=2)
            created.append(client)
            return Shell(VecsVectorStore(name, dim, client=client, **kw), None)
        aclient = vecs_core.create_async_client(database_url, schema=schema, pool_size=2)
        created.append(aclient)
        return Shell(VecsVectorStore(name, dim, async_client=aclient, **kw), loop)

    yield make
    for c in created:
        if loop is None:
            c.disconnect()
        else:
            loop.run_until_complete(c.aclose())
    if loop is not None:
        loop.close()


def node(id_: str, vec: list[float], doc: str | None = None, text: str = "", **md: Any) -> TextNode:
    rel = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)} if doc else {}
    return TextNode(
        id_=id_, text=text or f"text of {id_}", metadata=md, embedding=vec, relationships=rel
    )


def q(vec: list[float], k: int = 10, **kw: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=vec, similarity_top_k=k, **kw)


def eq(key: str, value: Any, op: FilterOperator = FilterOperator.EQ) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key=key, value=value, operator=op)])


def ids_of(nodes: list[BaseNode]) -> list[str]:
    return [n.node_id for n in nodes]


# -- construction ---------------------------------------------------------------------------------
def test_constructor_does_no_io() -> None:
    store = VecsVectorStore("x", 3, connection="postgresql://nobody@127.0.0.1:1/none")
    assert store._clients.existing_sync is None and store._clients.existing_async is None
    assert "nobody" not in repr(store)
    assert store.stores_text is True
    assert VecsVectorStore.class_name() == "VecsVectorStore"


def test_constructor_validates() -> None:
    with pytest.raises(vecs_core.ArgError, match="unknown measure"):
        VecsVectorStore("x", 3, measure="hamming")
    with pytest.raises(vecs_core.ArgError, match="dimension"):
        VecsVectorStore("x", 0)


def test_sync_only_store_refuses_async_and_vice_versa(database_url: str, schema: str) -> None:
    client = vecs_core.create_client(database_url, schema=schema)
    with pytest.raises(vecs_core.ArgError, match="async_client"):
        VecsVectorStore("x", 3, client=client).async_client  # noqa: B018
    aclient = vecs_core.create_async_client(database_url, schema=schema)
    with pytest.raises(vecs_core.ArgError, match="client="):
        VecsVectorStore("x", 3, async_client=aclient).client  # noqa: B018
    client.disconnect()


def test_async_path_uses_only_the_async_client(database_url: str, schema: str) -> None:
    async def main() -> None:
        store = VecsVectorStore("a", 2, connection=database_url, schema=schema)
        await store.async_add([node("n1", [1.0, 0.0])])
        res = await store.aquery(q([1.0, 0.0]))
        assert res.ids == ["n1"]
        assert store._clients.existing_sync is None  # no sync client: no thread-pool fallback
        await store.aclose()

    asyncio.run(main())


# -- add / upsert ---------------------------------------------------------------------------------
def test_add_is_an_upsert(make_store: Any) -> None:
    s = make_store()
    assert s.add([node("a", [1, 0, 0, 0], topic="x"), node("b", [0, 1, 0, 0])]) == ["a", "b"]
    s.add([node("a", [0, 0, 1, 0], text="new text", topic="y")])
    got = s.get_nodes(node_ids=["a", "b"])
    assert ids_of(got) == ["a", "b"]
    assert got[0].get_content() == "new text" and got[0].metadata == {"topic": "y"}
    assert s.store.collection.count() == 2 if s.loop is None else True
    res = s.query(q([0, 0, 1, 0], k=10))
    assert res.ids[0] == "a" and len(res.ids) == 2
    assert s.add([]) == []


def test_node_round_trip(make_store: Any) -> None:
    s = make_store()
    n1 = TextNode(
        id_="n1",
        text="Paris is the capital.",
        metadata={
            "city": "Paris",
            "pop": 2.1,
            "tags": ["eu", "fr"],
            "nested": {"a": 1},
            "empty": [],
            "none": None,
        },
        excluded_embed_metadata_keys=["pop"],
        excluded_llm_metadata_keys=["tags"],
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc1", metadata={"k": "v"}),
            NodeRelationship.NEXT: RelatedNodeInfo(node_id="n2"),
        },
        start_char_idx=3,
        end_char_idx=24,
        metadata_template="{key}=>{value}",
        embedding=[0.1, 0.2, 0.3, 0.4],
    )
    n2 = IndexNode(id_="n2", text="an index node", index_id="other", embedding=[0.4, 0.3, 0.2, 0.1])
    s.add([n1, n2])
    for got, want in zip(s.get_nodes(node_ids=["n1", "n2"]), [n1, n2]):
        assert type(got) is type(want)
        expected = want.model_copy()
        expected.embedding = None
        assert got.model_dump() == expected.model_dump()
        assert got.ref_doc_id == want.ref_doc_id
        assert got.get_content(MetadataMode.EMBED) == want.get_content(MetadataMode.EMBED)
        assert got.get_content(MetadataMode.LLM) == want.get_content(MetadataMode.LLM)
    res = s.query(q([0.1, 0.2, 0.3, 0.4], k=1))
    assert res.nodes[0].model_dump()["relationships"] == n1.model_dump()["relationships"]


def test_text_lives_in_the_text_column(database_url: str, schema: str) -> None:
    client = vecs_core.create_client(database_url, schema=schema)
    store = VecsVectorStore("docs", 2, client=client)
    store.add([node("a", [1.0, 0.0], text="hello world", topic="t")])
    item = store.collection.get(["a"])[0]
    assert item.text == "hello world"
    assert "hello world" not in item.metadata["_node_content"]
    assert item.metadata["topic"] == "t" and item.metadata["_vecs_node_id"] == "a"
    client.disconnect()


# -- delete ---------------------------------------------------------------------------------------
def test_delete_by_ref_doc_removes_every_node(make_store: Any) -> None:
    s = make_store(dim=2)
    rng = np.random.default_rng(0)
    many = [node(f"d1-{i:05d}", list(rng.random(2) + 0.1), doc="doc1") for i in range(1200)]
    s.add([*many, node("other", [1.0, 1.0], doc="doc2"), node("orphan", [1.0, 0.5])])
    s.delete("doc1")
    assert ids_of(s.get_nodes()) == ["orphan", "other"]
    s.delete("no-such-doc")
    assert len(s.get_nodes()) == 2


def test_delete_nodes(make_store: Any) -> None:
    s = make_store(dim=2)
    s.add([node(f"n{i}", [1.0, float(i)], color="red" if i % 2 else "blue") for i in range(6)])
    s.delete_nodes(node_ids=["n0", "n1", "missing"])
    assert ids_of(s.get_nodes()) == ["n2", "n3", "n4", "n5"]
    s.delete_nodes(filters=eq("color", "red"))
    assert ids_of(s.get_nodes()) == ["n2", "n4"]
    s.delete_nodes(node_ids=["n2", "n4"], filters=eq("color", "green"))  # both must hold
    assert ids_of(s.get_nodes()) == ["n2", "n4"]
    s.delete_nodes(node_ids=["n2"], filters=eq("color", "blue"))
    assert ids_of(s.get_nodes()) == ["n4"]
    s.delete_nodes(node_ids=[])
    assert ids_of(s.get_nodes()) == ["n4"]
    with pytest.raises(vecs_core.ArgError, match="clear"):
        s.delete_nodes()


def test_clear(make_store: Any) -> None:
    s = make_store(dim=2)
    s.add([node("a", [1.0, 0.0]), node("b", [0.0, 1.0])])
    s.clear()
    assert s.get_nodes() == []
    assert s.query(q([1.0, 0.0])).ids == []


# -- get_nodes ------------------------------------------------------------------------------------
def test_get_nodes(make_store: Any) -> None:
    s = make_store(dim=2)
    s.add([node(f"n{i}", [1.0, float(i)], doc=f"d{i % 2}", rank=i) for i in range(5)])
    assert ids_of(s.get_nodes(node_ids=["n3", "nope", "n1"])) == ["n3", "n1"]
    gt = eq("rank", 2, FilterOperator.GT)
    assert ids_of(s.get_nodes(filters=gt)) == ["n3", "n4"]
    assert ids_of(s.get_nodes(node_ids=["n4", "n0"], filters=gt)) == ["n4"]
    assert ids_of(s.get_nodes(filters=eq("doc_id", "d1"))) == ["n1", "n3"]
    assert ids_of(s.get_nodes()) == [f"n{i}" for i in range(5)]
    assert s.get_nodes(node_ids=[]) == []


def test_get_nodes_pages_past_one_page(make_store: Any) -> None:
    s = make_store(dim=2)
    s.add([node(f"n{i:05d}", [1.0, 1.0], keep=i % 3 != 0) for i in range(2100)])
    got = s.get_nodes(filters=eq("keep", 1))  # True == 1, as in LlamaIndex
    assert len(got) == 1400 and ids_of(got) == sorted(ids_of(got))


# -- query ----------------------------------------------------------------------------------------
def _corpus(s: Shell) -> None:
    s.add(
        [
            node("a1", [1.0, 0.0, 0.0, 0.0], doc="A", year=2020, topic="db"),
            node("a2", [0.9, 0.1, 0.0, 0.0], doc="A", year=2021, topic="ml"),
            node("b1", [0.0, 1.0, 0.0, 0.0], doc="B", year=2022, topic="db"),
            node("b2", [0.7, 0.7, 0.0, 0.0], doc="B", year=2023, topic="ml"),
            node("c1", [0.0, 0.0, 1.0, 0.0], doc="C", year=2024, topic="web"),
        ]
    )


def test_query_order_and_similarities(make_store: Any) -> None:
    s = make_store()
    _corpus(s)
    res = s.query(q([1.0, 0.0, 0.0, 0.0], k=3))
    assert res.ids == ["a1", "a2", "b2"]
    assert ids_of(res.nodes) == res.ids
    assert res.similarities == sorted(res.similarities, reverse=True)
    assert res.similarities[0] == pytest.approx(1.0)
    assert res.nodes[0].get_content() == "text of a1"


def test_query_restrictions(make_store: Any) -> None:
    s = make_store()
    _corpus(s)
    v = [1.0, 0.0, 0.0, 0.0]
    assert s.query(q(v, node_ids=["c1", "b1"])).ids == ["b1", "c1"]
    assert s.query(q(v, doc_ids=["B", "C"])).ids == ["b2", "b1", "c1"]
    f = MetadataFilters(
        filters=[
            MetadataFilter(key="year", value=2021, operator=FilterOperator.GTE),
            MetadataFilters(
                filters=[
                    MetadataFilter(key="topic", value="db"),
                    MetadataFilter(key="topic", value="web"),
                ],
                condition=FilterCondition.OR,
            ),
        ]
    )
    assert s.query(q(v, filters=f)).ids == ["b1", "c1"]
    assert s.query(q(v, filters=f, doc_ids=["C"])).ids == ["c1"]
    assert s.query(q(v, filters=f, node_ids=["b1", "a1"])).ids == ["b1"]
    # empty id lists do not restrict (VectorIndexRetriever passes node_ids=[] to text stores)
    assert len(s.query(q(v, node_ids=[], doc_ids=[])).ids) == 5
    nothing = eq("topic", [], FilterOperator.IN)
    assert s.query(q(v, filters=nothing)).ids == []
    assert s.query(q(v, k=0)).ids == []


@pytest.mark.parametrize(
    "measure", ["cosine_distance", "l2_distance", "max_inner_product", "l1_distance"]
)
def test_every_measure_gives_higher_is_better(make_store: Any, measure: str) -> None:
    s = make_store(measure=measure)
    unit = [[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]]
    s.add([node(f"n{i}", v) for i, v in enumerate(unit)])
    res = s.query(q([1.0, 0.0, 0.0, 0.0], k=4))
    assert res.ids == ["n0", "n1", "n2", "n3"]
    assert res.similarities == sorted(res.similarities, reverse=True)
    assert res.similarities[0] > res.similarities[-1]
    # LlamaIndex's conventions (SimilarityMode): cosine similarity, dot product, -distance
    expected = {
        "cosine_distance": [1.0, 0.8, 0.0, -1.0],
        "max_inner_product": [1.0, 0.8, 0.0, -1.0],
        "l2_distance": [0.0, -((0.2**2 + 0.6**2) ** 0.5), -(2**0.5), -2.0],
        "l1_distance": [0.0, -0.8, -2.0, -2.0],
    }[measure]
    assert res.similarities == pytest.approx(expected, abs=1e-3)


def test_reads_never_create_the_collection(make_store: Any, sql_conn: Any, schema: str) -> None:
    s = make_store(name="articles")
    s.add([node("n0", [1.0, 0.0, 0.0, 0.0])])
    typo = make_store(name="artciles")

    def exists(name: str) -> bool:
        row = sql_conn.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema, name)
        ).fetchone()
        return row[0] is not None

    with pytest.raises(vecs_core.CollectionNotFound, match="did you mean 'articles'"):
        typo.query(q([1.0, 0.0, 0.0, 0.0]))
    with pytest.raises(vecs_core.CollectionNotFound):
        typo.get_nodes(node_ids=["n0"])
    typo.delete("doc")  # nothing to delete: no error, and no table made for it
    typo.clear()
    assert exists("articles") and not exists("artciles")
    typo.add([node("n1", [0.0, 1.0, 0.0, 0.0])])  # a write creates it
    assert typo.query(q([0.0, 1.0, 0.0, 0.0])).ids == ["n1"]


def test_mmr_prefers_diversity(make_store: Any) -> None:
    s = make_store(dim=3)
    s.add(
        [
            node("best", [0.9, 0.436, 0.0]),
            node("dup", [0.89, 0.456, 0.0]),  # near-copy of best
            node("diverse", [0.85, -0.527, 0.0]),  # relevant, unlike best
            node("far", [0.0, 0.0, 1.0]),
        ]
    )
    v = [1.0, 0.0, 0.0]
    assert s.query(q(v, k=3)).ids == ["best", "dup", "diverse"]
    mmr = s.query(q(v, k=3, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.5))
    assert mmr.ids == ["best", "diverse", "far"]
    assert ids_of(mmr.nodes) == mmr.ids
    assert mmr.similarities[0] > mmr.similarities[1] > mmr.similarities[2]  # relevance scores
    pure = s.query(q(v, k=3, mode=VectorStoreQueryMode.MMR), mmr_threshold=1.0)
    assert pure.ids == ["best", "dup", "diverse"]  # threshold 1: relevance only
    filtered = s.query(q(v, k=2, mode=VectorStoreQueryMode.MMR, node_ids=["dup", "far", "diverse"]))
    assert filtered.ids == ["dup", "diverse"]


def test_unsupported_modes_and_bad_queries(make_store: Any) -> None:
    s = make_store()
    _corpus(s)
    with pytest.raises(vecs_core.ArgError, match="'svm'"):
        s.query(q([1.0, 0, 0, 0], mode=VectorStoreQueryMode.SVM))
    with pytest.raises(vecs_core.ArgError, match="'sparse'"):
        s.query(q([1.0, 0, 0, 0], mode=VectorStoreQueryMode.SPARSE))
    with pytest.raises(vecs_core.ArgError, match="query_embedding"):
        s.query(VectorStoreQuery(query_str="x"))
    with pytest.raises(vecs_core.ArgError, match="query_str"):
        s.query(q([1.0, 0, 0, 0], mode=VectorStoreQueryMode.TEXT_SEARCH))
    with pytest.raises(vecs_core.ArgError, match="mmr_threshold"):
        s.query(q([1.0, 0, 0, 0], mode=VectorStoreQueryMode.MMR, mmr_threshold=2.0))
    with pytest.raises(vecs_core.ArgError, match="between 0 and 1000"):
        s.query(q([1.0, 0, 0, 0], k=1001))
    with pytest.raises(vecs_core.FilterError, match="list"):
        s.query(q([1.0, 0, 0, 0], filters=eq("topic", ["db"])))


NOT_METADATA_FILTERS: list[Any] = [
    [MetadataFilter(key="topic", value="db")],
    [],
    {"topic": "db"},
    "topic = 'db'",
]


def test_filters_that_are_not_metadata_filters_raise_filter_error(make_store: Any) -> None:
    """Every method taking filters refuses a non-MetadataFilters before any I/O: even when
    nothing would be read (k=0, node_ids=[]) and without deleting anything."""
    s = make_store()
    _corpus(s)
    v = [1.0, 0.0, 0.0, 0.0]
    calls: dict[str, Any] = {
        "query": lambda f: s.query(q(v, filters=f)),
        "query k=0": lambda f: s.query(q(v, k=0, filters=f)),
        "query mmr": lambda f: s.query(q(v, mode=VectorStoreQueryMode.MMR, filters=f)),
        "query text": lambda f: s.query(
            VectorStoreQuery(query_str="db", mode=VectorStoreQueryMode.TEXT_SEARCH, filters=f)
        ),
        "query hybrid": lambda f: s.query(
            q(v, query_str="db", mode=VectorStoreQueryMode.HYBRID, filters=f)
        ),
        "get_nodes": lambda f: s.get_nodes(filters=f),
        "get_nodes ids": lambda f: s.get_nodes(node_ids=["a1"], filters=f),
        "get_nodes no ids": lambda f: s.get_nodes(node_ids=[], filters=f),
        "delete_nodes": lambda f: s.delete_nodes(filters=f),
        "delete_nodes ids": lambda f: s.delete_nodes(node_ids=["a1"], filters=f),
        "delete_nodes no ids": lambda f: s.delete_nodes(node_ids=[], filters=f),
    }
    for name, call in calls.items():
        for bad in NOT_METADATA_FILTERS:
            with pytest.raises(vecs_core.FilterError, match="a filter must be a MetadataFilters"):
                call(bad)
                pytest.fail(f"{name} accepted filters={bad!r}")
    assert len(s.get_nodes()) == 5  # nothing deleted


def test_bad_arguments_raise_the_cores_typed_errors(make_store: Any) -> None:
    s = make_store()
    _corpus(s)
    v = [1.0, 0.0, 0.0, 0.0]
    mmr = VectorStoreQueryMode.MMR
    idle = vecs_core.create_client("postgresql://nobody@127.0.0.1:1/none")  # never connects
    cases: list[tuple[Any, str]] = [
        (lambda: s.query(q(v, k=-1)), "similarity_top_k"),
        (lambda: s.query(q(v, k="3")), "similarity_top_k must be an int"),
        (lambda: s.query(q(v, mode="nonsense")), "'nonsense'"),
        (lambda: s.query(q(v, mode=mmr, mmr_threshold="high")), "mmr_threshold"),
        (lambda: s.query(q(v, mode=mmr), mmr_threshold=-0.5), "mmr_threshold"),
        (lambda: s.query(q(v, query_str="x", mode="hybrid", alpha=1.5)), "alpha"),
        (lambda: s.delete_nodes(), "clear"),
        (lambda: VecsVectorStore("x", 3, mmr_prefetch_factor=0), "mmr_prefetch_factor"),
        (lambda: VecsVectorStore("x", 3, connection=idle), "URL string"),
        (lambda: VecsVectorStore("x", 3, schema="other", client=idle), "schemas"),
    ]
    for call, match in cases:
        with pytest.raises(vecs_core.ArgError, match=match):
            call()


def test_text_and_hybrid_modes(make_store: Any) -> None:
    s = make_store()
    has = hasattr(vecs_core.Collection, "keyword_search") and hasattr(
        vecs_core.Collection, "hybrid_search"
    )
    s.add(
        [
            node("p", [1.0, 0.0, 0.0, 0.0], text="PostgreSQL stores vectors with pgvector"),
            node("c", [0.0, 1.0, 0.0, 0.0], text="Cats sleep most of the day"),
        ]
    )
    text_q = VectorStoreQuery(
        query_str="vectors", similarity_top_k=2, mode=VectorStoreQueryMode.TEXT_SEARCH
    )
    hybrid_q = VectorStoreQuery(
        query_str="cats",
        query_embedding=[0.0, 1.0, 0.0, 0.0],
        similarity_top_k=2,
        mode=VectorStoreQueryMode.HYBRID,
        alpha=0.3,
    )
    if not has:
        with pytest.raises(vecs_core.ArgError, match="text_search"):
            s.query(text_q)
        with pytest.raises(vecs_core.ArgError, match="hybrid"):
            s.query(hybrid_q)
        return
    res = s.query(text_q)
    assert res.ids == ["p"] and res.nodes[0].get_content().startswith("PostgreSQL")
    res = s.query(hybrid_q)
    assert res.ids[0] == "c"
    assert res.similarities == sorted(res.similarities, reverse=True)
    # alpha is the semantic weight: 0 -> keywords only, 1 -> vectors only
    mixed = dict(
        query_str="vectors",
        query_embedding=[0.0, 1.0, 0.0, 0.0],
        similarity_top_k=2,
        mode=VectorStoreQueryMode.HYBRID,
    )
    assert s.query(VectorStoreQuery(alpha=0.0, **mixed)).ids[0] == "p"  # type: ignore[arg-type]
    assert s.query(VectorStoreQuery(alpha=1.0, **mixed)).ids[0] == "c"  # type: ignore[arg-type]
    filt = eq("ref_doc_id", "None")
    assert s.query(VectorStoreQuery(alpha=0.5, filters=filt, **mixed)).ids  # type: ignore[arg-type]
    filt = eq("ref_doc_id", "nope")
    assert s.query(VectorStoreQuery(alpha=0.5, filters=filt, **mixed)).ids == []  # type: ignore[arg-type]
    text_only_c = VectorStoreQuery(
        query_str="vectors",
        similarity_top_k=2,
        node_ids=["c"],
        mode=VectorStoreQueryMode.TEXT_SEARCH,
    )
    assert s.query(text_only_c).ids == []


def test_missing_index_warning_is_hidden_unless_asked(make_store: Any) -> None:
    s = make_store(dim=2)
    s.add([node("a", [1.0, 0.0])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert s.query(q([1.0, 0.0])).ids == ["a"]
    loud = make_store(dim=2, warn_missing_index=True)
    with pytest.warns(UserWarning, match="covering index"):
        loud.query(q([1.0, 0.0]))
    # the store's temporary filter is gone afterwards
    assert not any("vecs_integrations" in str(f[1]) for f in warnings.filters)


def test_concurrent_async_queries_restore_the_warning_filters(
    database_url: str, schema: str
) -> None:
    async def main() -> None:
        aclient = vecs_core.create_async_client(database_url, schema=schema, pool_size=4)
        store = VecsVectorStore("conc", 2, async_client=aclient)
        await store.async_add([node(f"n{i}", [1.0, float(i)]) for i in range(20)])
        before = list(warnings.filters)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results = await asyncio.gather(
                *[store.aquery(q([1.0, float(i)], k=3)) for i in range(12)]
            )
        assert [r.ids[0] for r in results] == [f"n{i}" for i in range(12)]
        assert warnings.filters == before
        await aclient.aclose()

    asyncio.run(main())


# -- filters: translation errors and the documented quirks ----------------------------------------
@pytest.mark.parametrize(
    ("op", "value"),
    [
        (FilterOperator.EQ, ["a"]),
        (FilterOperator.NE, [1]),
        (FilterOperator.GT, ["a"]),
        (FilterOperator.LT, None),
        (FilterOperator.IN, 3),
        (FilterOperator.NIN, 1.5),
        (FilterOperator.CONTAINS, ["a"]),
        (FilterOperator.ANY, 2),
        (FilterOperator.ALL, None),
        (FilterOperator.TEXT_MATCH, 1),
        (FilterOperator.TEXT_MATCH_INSENSITIVE, ["a"]),
        (FilterOperator.IN, "x" * 201),
    ],
)
def test_untranslatable_filters_raise(op: FilterOperator, value: Any) -> None:
    with pytest.raises(vecs_core.FilterError):
        translate_filters(eq("k", value, op))


def test_bad_keys_raise() -> None:
    with pytest.raises(vecs_core.FilterError, match=re.escape("'$'")):
        translate_filters(eq("$k", 1))


def test_translation_examples() -> None:
    assert translate_filters(None) is True
    assert translate_filters(MetadataFilters(filters=[])) is True
    assert to_vecs_filter(None) is None
    assert translate_filters(eq("k", None)) is False
    assert translate_filters(eq("k", None, FilterOperator.NE)) is True
    assert translate_filters(eq("_node_content", "x", FilterOperator.NE)) is True
    assert translate_filters(eq("k", "a")) == {"k": "a"}
    assert translate_filters(eq("k", 1)) == {"$or": [{"k": 1}, {"k": True}]}
    assert translate_filters(eq("k", 2, FilterOperator.NE)) == {"$not": {"k": 2}}
    assert translate_filters(eq("k", "a_%", FilterOperator.TEXT_MATCH)) == {
        "k": {"$like": "%a\\_\\%%"}
    }
    assert translate_filters(eq("k", "ab", FilterOperator.IN)) == {
        "k": {"$in": ["", "a", "ab", "b"]}
    }


def test_documented_quirks_against_the_database(make_store: Any) -> None:
    s = make_store(dim=2)
    s.add(
        [
            node("t", [1.0, 0.0], v=True, tags=["x", "y"], s="Hello"),
            node("one", [1.0, 0.1], v=1, tags=[], s=""),
            node("f", [1.0, 0.2], v=0.5, tags="xyz"),
            node("none", [1.0, 0.3], v=None),
            node("missing", [1.0, 0.4]),
        ]
    )

    def sel(key: str, value: Any, op: FilterOperator) -> list[str]:
        return sorted(ids_of(s.get_nodes(filters=eq(key, value, op))))

    assert sel("v", 1, FilterOperator.EQ) == ["one", "t"]  # True == 1
    assert sel("v", 1, FilterOperator.NE) == ["f", "missing", "none"]  # missing/null match NE
    assert sel("v", 0.7, FilterOperator.GT) == ["one", "t"]
    assert sel("v", [1.0], FilterOperator.NIN) == ["f", "missing", "none"]
    assert sel("tags", "x", FilterOperator.CONTAINS) == ["f", "t"]  # list member / substring
    assert sel("tags", ["y", "z"], FilterOperator.ANY) == ["f", "t"]
    assert sel("tags", ["x", "y"], FilterOperator.ALL) == ["f", "t"]
    assert sel("tags", [], FilterOperator.ALL) == ["f", "one", "t"]  # present and non-null
    assert sel("tags", None, FilterOperator.IS_EMPTY) == ["missing", "none", "one"]
    assert sel("s", None, FilterOperator.IS_EMPTY) == ["f", "missing", "none", "one"]
    assert sel("s", "ELL", FilterOperator.TEXT_MATCH_INSENSITIVE) == ["t"]
    assert sel("s", "ELL", FilterOperator.TEXT_MATCH) == []
    assert sel("s", "Hello!", FilterOperator.IN) == ["one", "t"]  # substring of the value


# -- end to end with VectorStoreIndex -------------------------------------------------------------
class HashEmbedding(BaseEmbedding):
    """Deterministic bag-of-words embedding: each word hashed to one of ``dim`` buckets."""

    dim: int = 64

    def _embed(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            h = int(hashlib.sha256(word.encode()).hexdigest(), 16)
            v[h % self.dim] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)


DOCS = [
    Document(
        text="PostgreSQL is a relational database with extensions.",
        doc_id="pg",
        metadata={"topic": "db", "year": 2023},
    ),
    Document(
        text="pgvector adds vector similarity search to PostgreSQL.",
        doc_id="pgv",
        metadata={"topic": "db", "year": 2024},
    ),
    Document(
        text="Cats and dogs are popular pets around the world.",
        doc_id="pets",
        metadata={"topic": "animals", "year": 2020},
    ),
]


def test_vector_store_index_end_to_end(make_store: Any) -> None:
    s = make_store(dim=64)
    embed = HashEmbedding()
    old_llm = Settings._llm
    Settings.llm = None
    try:
        ctx = StorageContext.from_defaults(vector_store=s.store)
        if s.loop is None:
            index = VectorStoreIndex.from_documents(DOCS, storage_context=ctx, embed_model=embed)
        else:
            index = VectorStoreIndex(nodes=[], storage_context=ctx, embed_model=embed)
            nodes = [
                TextNode(
                    text=d.text,
                    metadata=d.metadata,
                    relationships={NodeRelationship.SOURCE: d.as_related_node_info()},
                )
                for d in DOCS
            ]
            s.run(index.ainsert_nodes(nodes))

        def retrieve(text: str, **kw: Any) -> list[Any]:
            r = index.as_retriever(similarity_top_k=2, **kw)
            return r.retrieve(text) if s.loop is None else s.run(r.aretrieve(text))

        hits = retrieve("popular pets cats dogs")
        assert hits[0].node.ref_doc_id == "pets"
        assert hits[0].node.metadata == {"topic": "animals", "year": 2020}
        assert hits[0].node.get_content() == DOCS[2].text
        assert hits[0].score >= hits[1].score
        filt = MetadataFilters(filters=[MetadataFilter(key="topic", value="db")])
        hits = retrieve("popular pets cats dogs", filters=filt)
        assert {h.node.ref_doc_id for h in hits} == {"pg", "pgv"}
        filt = eq("year", 2024, FilterOperator.GTE)
        assert [h.node.ref_doc_id for h in retrieve("PostgreSQL", filters=filt)] == ["pgv"]
        engine = index.as_query_engine(response_mode="no_text", similarity_top_k=1)
        if s.loop is None:
            resp = engine.query("vector similarity search")
        else:
            resp = s.run(engine.aquery("vector similarity search"))
        assert resp.source_nodes[0].node.ref_doc_id == "pgv"
        # deleting a document goes through the store
        if s.loop is None:
            index.delete_ref_doc("pets")
        else:
            s.run(index.adelete_ref_doc("pets"))
        assert all(h.node.ref_doc_id != "pets" for h in retrieve("popular pets cats dogs"))
    finally:
        Settings._llm = old_llm
