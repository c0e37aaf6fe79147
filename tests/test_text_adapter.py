"""Text adapters: chunkers, the offline sentence-transformers embedding, adapter pipelines."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import vecs_core
from vecs_core import ArgError, MissingDependency
from vecs_core.adapter import (
    Adapter,
    AdapterContext,
    MarkdownChunker,
    NoOp,
    ParagraphChunker,
    TextEmbedding,
    _text,
)

UPSERT, QUERY = AdapterContext.upsert, AdapterContext.query


@pytest.fixture(scope="module")
def embedding() -> TextEmbedding:
    step = TextEmbedding(model="all-MiniLM-L6-v2")
    assert step.exported_dimension == 384  # loads the model once for the module
    return step


# -- chunkers --------------------------------------------------------------------------------------
def test_paragraph_chunker_ids_strip_and_skip_empty():
    doc = "  first paragraph \n\n\n\nsecond\nstill second\n \t\nthird  \n\n  \n\n"
    out = list(ParagraphChunker(skip_during_query=False)([("doc", doc, None)], UPSERT))
    assert out == [
        ("doc_para_000", "first paragraph", {}),
        ("doc_para_001", "second\nstill second", {}),
        ("doc_para_002", "third", {}),
    ]


def test_paragraph_chunker_keeps_metadata_per_record():
    recs = [("a", "x\n\ny", {"src": "a"}), ("b", "z", {"src": "b"})]
    out = list(ParagraphChunker(skip_during_query=True)(recs, UPSERT))
    assert [(r[0], r[2]) for r in out] == [
        ("a_para_000", {"src": "a"}),
        ("a_para_001", {"src": "a"}),
        ("b_para_000", {"src": "b"}),
    ]


@pytest.mark.parametrize("cls", [ParagraphChunker, MarkdownChunker])
def test_chunkers_skip_during_query(cls):
    text = "# Title\n\nbody one\n\n## Sub\nbody two"
    skipping = list(cls(skip_during_query=True)([("q", text, None)], QUERY))
    assert skipping == [("q", text, {})]
    chunking = list(cls(skip_during_query=False)([("q", text, None)], QUERY))
    assert len(chunking) > 1
    # skip_during_query only affects queries
    assert list(cls(skip_during_query=True)([("q", text, None)], UPSERT)) == list(
        cls(skip_during_query=False)([("q", text, None)], UPSERT)
    )


def test_markdown_chunker_splits_at_headings():
    md = (
        "Preamble text.\n"
        "# Heading one\nBody one.\n\n"
        "```python\n# a comment, not a heading\nx = 1\n```\n"
        "###### Deep heading\nBody deep.\n"
        "#not-a-heading (no space)\n"
        "## \n\n"
    )
    out = list(MarkdownChunker(skip_during_query=False)([("md", md, {"k": 1})], UPSERT))
    assert [r[0] for r in out] == ["md_head_000", "md_head_001", "md_head_002", "md_head_003"]
    assert out[0][1] == "Preamble text."
    assert out[1][1].startswith("# Heading one\nBody one.")
    assert "# a comment, not a heading" in out[1][1]
    assert out[2][1] == "###### Deep heading\nBody deep.\n#not-a-heading (no space)"
    assert out[3][1] == "##"
    assert all(r[2] == {"k": 1} for r in out)


def test_chunker_rejects_non_text_media():
    with pytest.raises(ArgError, match="needs text for record 'x'"):
        list(ParagraphChunker(skip_during_query=False)([("x", [1.0, 2.0], {})], UPSERT))
    with pytest.raises(ArgError, match="skip_during_query must be a bool"):
        ParagraphChunker(skip_during_query="yes")  # type: ignore[arg-type]


# -- embedding -------------------------------------------------------------------------------------
def test_model_names_resolve_to_the_bundled_offline_copy(tmp_path):
    bundled, local = _text.resolve_model("all-MiniLM-L6-v2")
    assert local and bundled.endswith("model")
    for spelling in ("sentence-transformers/all-MiniLM-L6-v2", "all-Mini-LM6-v2"):
        assert _text.resolve_model(spelling) == (bundled, True)
    assert _text.resolve_model(str(tmp_path)) == (str(tmp_path), True)
    assert _text.resolve_model("some-org/other-model") == ("some-org/other-model", False)


def test_text_embedding_yields_vector_and_keeps_text(embedding):
    recs = [("a", "hello world", None), ("b", "vector databases", {"m": 1}, "explicit doc")]
    recs += [(f"n{i}", f"sentence number {i}", {}) for i in range(10)]  # > one batch
    out = list(embedding(recs, UPSERT))
    assert len(out) == 12
    assert out[0][0] == "a" and out[0][2] == {} and out[0][3] == "hello world"
    assert out[1][2] == {"m": 1} and out[1][3] == "explicit doc"
    for rec in out:
        assert len(rec) == 4
        vec = np.asarray(rec[1])
        assert vec.shape == (384,)
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4
    assert embedding.exported_dimension == 384
    assert Adapter([ParagraphChunker(skip_during_query=True), embedding]).exported_dimension == 384


def test_text_embedding_argument_checks():
    with pytest.raises(ArgError, match="batch_size"):
        TextEmbedding(batch_size=0)
    with pytest.raises(ArgError, match="model"):
        TextEmbedding(model="")


def test_missing_sentence_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import now fails
    with pytest.raises(MissingDependency, match=r"pip install -e '\.\[text\]'") as err:
        TextEmbedding()
    assert isinstance(err.value, ImportError)


def test_empty_adapter_is_an_error():
    with pytest.raises(ArgError, match="at least one step"):
        Adapter([])


# -- through a collection --------------------------------------------------------------------------
def test_collection_dimension_from_adapter_and_text_stored(client, embedding, quiet):
    adapter = Adapter([ParagraphChunker(skip_during_query=True), embedding])
    col = client.get_or_create_collection("docs", adapter=adapter)
    assert col.dimension == 384
    col.upsert([("doc", "world hello\n\nthe tax form is due in april", {"lang": "en"})])
    items = col.get(["doc_para_000", "doc_para_001"])
    assert [(i.id, i.text, i.metadata) for i in items] == [
        ("doc_para_000", "world hello", {"lang": "en"}),
        ("doc_para_001", "the tax form is due in april", {"lang": "en"}),
    ]
    assert col.query("hi", limit=2) == ["doc_para_000", "doc_para_001"]
    hits = col.search("hi", limit=1)
    assert hits[0].text == "world hello"


def test_query_must_produce_exactly_one_vector(client, embedding, quiet):
    adapter = Adapter([ParagraphChunker(skip_during_query=False), embedding])
    col = client.get_or_create_collection("docs", adapter=adapter)
    col.upsert([("d", "one\n\ntwo", {})])
    with pytest.raises(ArgError, match="produced 2 query vectors"):
        col.query("first part\n\nsecond part")
    assert col.query("first part", limit=1) in (["d_para_000"], ["d_para_001"])


def test_markdown_pipeline_through_collection(client, embedding):
    adapter = Adapter([MarkdownChunker(skip_during_query=True), embedding])
    col = client.get_or_create_collection("md", adapter=adapter)
    col.upsert([("guide", "# Install\npip install it\n# Usage\nimport it", None)])
    got = col.get(["guide_head_000", "guide_head_001"])
    assert [i.text for i in got] == ["# Install\npip install it", "# Usage\nimport it"]


def test_adapter_dimension_mismatch(client, embedding):
    with pytest.raises(vecs_core.MismatchedDimension):
        client.get_or_create_collection("bad", dimension=3, adapter=Adapter([embedding]))
    col = client.get_or_create_collection("raw", adapter=Adapter([NoOp(dimension=3)]))
    assert col.dimension == 3
