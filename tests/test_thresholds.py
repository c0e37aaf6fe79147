"""Distance thresholds evaluated by PostgreSQL: ``max_distance`` on the core searches (exact,
HNSW, IVFFlat, the adaptive filtered search, hybrid), LangChain's ``score_threshold`` and
LlamaIndex's ``similarity_cutoff`` pushed down to it; and LlamaIndex's other query knobs."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

import vecs_core
from vecs_core import ArgError
from vecs_integrations.langchain import VecsVectorStore as LangChainStore
from vecs_integrations.llama_index import VecsVectorStore as LlamaIndexStore

DIM = 8


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(3000, DIM)).astype(np.float32)


@pytest.mark.parametrize("index", [None, "hnsw", "ivfflat"])
def test_max_distance_on_every_search_path(kvx: Any, quiet: None, data: np.ndarray, index: Any):
    if index == "ivfflat" and kvx.kind == "sparsevec":
        pytest.skip("IVFFlat does not index sparse vectors")
    col = kvx.get_or_create_collection("t", dimension=DIM)
    col.upsert((f"r{i}", v, {"even": i % 2 == 0, "rare": i % 500 == 0}) for i, v in enumerate(data))
    if index == "hnsw":
        col.create_index(method="hnsw")
    elif index == "ivfflat":
        col.create_index(method="ivfflat", index_arguments=vecs_core.IndexArgsIVFFlat(10))
    q = data[3] + 0.01
    dist = np.array([cosine(q, v) for v in data])
    for bound in (0.05, 0.2, 0.6):
        for filters, allowed in (
            (None, np.ones(len(data), bool)),
            ({"even": True}, np.arange(len(data)) % 2 == 0),  # the index branch
            ({"rare": True}, np.arange(len(data)) % 500 == 0),  # the exact branch
        ):
            hits = col.search(
                q, limit=50, filters=filters, max_distance=bound, ef_search=200, probes=10
            )
            assert all(h.distance <= bound + 1e-6 for h in hits)
            assert [h.distance for h in hits] == sorted(h.distance for h in hits)
            within = int(((dist <= bound - 1e-4) & allowed).sum())
            assert len(hits) >= min(50, within) * (0.9 if index else 1), (bound, filters)
    assert col.query(data=q, limit=5, max_distance=-1.0) == []  # nothing that near
    ids = col.query(data=q, limit=5, max_distance=0.6, include_value=True)
    assert all(d <= 0.6 for _, d in ids)
    hits = col.hybrid_search("no text", q, limit=5, max_distance=0.05)
    assert all(h.distance is not None and h.distance <= 0.05 for h in hits)
    with pytest.raises(ArgError, match="max_distance must be a finite number"):
        col.query(data=q, max_distance=float("nan"))
    with pytest.raises(ArgError, match="max_distance must be a number"):
        col.query(data=q, max_distance="0.5")


class Axis(Embeddings):
    """Texts ``"d<i>"`` embed to unit vectors at known angles from the query ``"q"``."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        angle = 0.0 if text == "q" else float(text[1:]) / 10  # radians
        return [float(np.cos(angle)), float(np.sin(angle))] + [0.0] * 6


def _recording(monkeypatch: pytest.MonkeyPatch, cls: type, method: str) -> list[dict[str, Any]]:
    """Record the keyword arguments of the real ``cls.method`` (which still runs)."""
    calls: list[dict[str, Any]] = []
    real = getattr(cls, method)
    if asyncio.iscoroutinefunction(real):

        async def arecord(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return await real(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, arecord)
    else:

        def record(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, record)
    return calls


def test_langchain_score_threshold_is_pushed_down(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LangChainStore(Axis(), "docs", connection=database_url, schema=schema)
    try:
        store.add_texts([f"d{i}" for i in range(16)], ids=[f"d{i}" for i in range(16)])
        relevance = store._select_relevance_score_fn()
        calls = _recording(monkeypatch, vecs_core.Collection, "search")
        for threshold in (0.0, 0.5, 0.9, 0.99, 1.0):
            got = store.similarity_search_with_relevance_scores(
                "q", k=16, score_threshold=threshold
            )
            expected = [
                f"d{i}" for i in range(16) if relevance(1 - np.cos(i / 10)) >= threshold - 1e-9
            ]
            assert [d.id for d, _ in got] == expected[: len(got)]
            assert set(d.id for d, _ in got) == set(expected), threshold
            assert all(score >= threshold for _, score in got)
        cuts = [c.get("max_distance") for c in calls]
        # cosine relevance is 1 - d (LangChain's convention, as PGVector): 0.0 keeps d <= 1
        assert cuts[0] == pytest.approx(1.0, abs=1e-6)
        assert all(c is not None for c in cuts[1:])  # every threshold reaches PostgreSQL
        retriever = store.as_retriever(
            search_type="similarity_score_threshold",
            search_kwargs={"k": 16, "score_threshold": 0.99},
        )
        assert {d.id for d in retriever.invoke("q")} == {
            f"d{i}" for i in range(16) if relevance(1 - np.cos(i / 10)) >= 0.99
        }
        assert calls[-1]["max_distance"] is not None

        async def main() -> None:
            got = await store.asimilarity_search_with_relevance_scores(
                "q", k=16, score_threshold=0.9
            )
            assert got and all(score >= 0.9 for _, score in got)

        asyncio.run(main())
    finally:
        store.close()


def test_llama_index_query_knobs(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LlamaIndexStore("docs", DIM, connection=database_url, schema=schema)
    axis = Axis()
    try:
        store.add(
            [
                TextNode(
                    id_=f"d{i}", text=f"topic {i % 3} words", embedding=axis.embed_query(f"d{i}")
                )
                for i in range(16)
            ]
        )
        store.collection.create_index(method="hnsw")
        calls = _recording(monkeypatch, vecs_core.Collection, "search")
        q = VectorStoreQuery(query_embedding=axis.embed_query("q"), similarity_top_k=16)
        result = store.query(q, similarity_cutoff=0.99, hnsw_ef_search=77)
        assert result.similarities and min(result.similarities) >= 0.99
        assert len(result.ids or []) < 16
        assert calls[-1]["max_distance"] is not None and calls[-1]["ef_search"] == 77
        store.query(q, ivfflat_probes=3)
        assert calls[-1]["probes"] == 3
        with pytest.raises(ArgError, match="unknown keyword argument.*'top_k'"):
            store.query(q, top_k=3)
        # SPARSE is keyword search, as LlamaIndex's PostgreSQL store answers it
        sparse = VectorStoreQuery(
            query_str="topic", similarity_top_k=16, sparse_top_k=4, mode=VectorStoreQueryMode.SPARSE
        )
        assert len(store.query(sparse).ids or []) == 4
        hybrid_calls = _recording(monkeypatch, vecs_core.Collection, "hybrid_search")
        hybrid = VectorStoreQuery(
            query_str="topic",
            query_embedding=axis.embed_query("q"),
            similarity_top_k=5,
            sparse_top_k=7,
            hybrid_top_k=3,
            mode=VectorStoreQueryMode.HYBRID,
        )
        assert len(store.query(hybrid).ids or []) == 3
        sent = hybrid_calls[-1]
        assert (sent["limit"], sent["semantic_candidates"], sent["keyword_candidates"]) == (3, 5, 7)

        async def main() -> None:
            result = await store.aquery(q, similarity_cutoff=0.99)
            assert result.similarities and min(result.similarities) >= 0.99

        asyncio.run(main())
    finally:
        store.close()
