"""Every public module path of Supabase vecs 0.4.5 exists in vecs_core and exports the same names.

Code written for vecs imports submodules (``from vecs.adapter.text import TextEmbedding``); with
``vecs`` replaced by ``vecs_core`` each of those imports must work and give the same objects as the
top-level exports.
"""

from __future__ import annotations

import importlib

import pytest

import vecs_core

# The public names of each vecs 0.4.5 module (its ``__all__`` where it has one, else the classes,
# enums, constants and type aliases it defines), read from the vecs 0.4.5 sdist.
VECS_MODULES = {
    "": [
        "Client",
        "Collection",
        "IndexArgsHNSW",
        "IndexArgsIVFFlat",
        "IndexMeasure",
        "IndexMethod",
        "create_client",
        "exc",
    ],
    ".client": ["Client"],
    ".collection": [
        "Collection",
        "INDEX_MEASURE_TO_OPS",
        "IndexArgsHNSW",
        "IndexArgsIVFFlat",
        "IndexMeasure",
        "IndexMethod",
        "Metadata",
        "MetadataValues",
        "Numeric",
        "Record",
    ],
    ".exc": [
        "ArgError",
        "CollectionAlreadyExists",
        "CollectionNotFound",
        "FilterError",
        "IndexNotFound",
        "MismatchedDimension",
        "MissingDependency",
        "Unreachable",
        "VecsException",
    ],
    ".adapter": [
        "Adapter",
        "AdapterContext",
        "AdapterStep",
        "MarkdownChunker",
        "NoOp",
        "ParagraphChunker",
        "TextEmbedding",
        "TextEmbeddingModel",
    ],
    ".adapter.base": ["Adapter", "AdapterContext", "AdapterStep"],
    ".adapter.noop": ["NoOp"],
    ".adapter.text": ["ParagraphChunker", "TextEmbedding", "TextEmbeddingModel"],
    ".adapter.markdown": ["MarkdownChunker"],
}


@pytest.mark.parametrize("suffix", list(VECS_MODULES), ids=lambda s: "vecs_core" + s)
def test_vecs_module_paths_export_vecs_names(suffix: str) -> None:
    module = importlib.import_module("vecs_core" + suffix)
    for name in VECS_MODULES[suffix]:
        assert hasattr(module, name), f"vecs_core{suffix} has no {name}"
    if suffix:  # each submodule declares what it exports, vecs' names included
        assert set(VECS_MODULES[suffix]) <= set(module.__all__)
        assert sorted(module.__all__) == sorted(set(module.__all__))


def test_submodules_re_export_the_same_objects() -> None:
    from vecs_core import adapter, client, collection, exc
    from vecs_core.adapter import base, markdown, noop, text

    assert client.Client is vecs_core.Client
    assert collection.Collection is vecs_core.Collection
    for name in ("IndexArgsHNSW", "IndexArgsIVFFlat", "IndexMeasure", "IndexMethod", "Record"):
        assert getattr(collection, name) is getattr(vecs_core, name)
    for mod in (base, noop, text, markdown):
        for name in mod.__all__:
            assert getattr(mod, name) is getattr(adapter, name)
    assert exc.VecsException is exc.VecsError
    assert issubclass(exc.IndexNotFound, exc.VecsException)
    assert issubclass(exc.IndexNotFound, LookupError)
    assert collection.INDEX_MEASURE_TO_OPS[vecs_core.IndexMeasure.cosine_distance] == (
        "vector_cosine_ops"
    )
    assert "all-MiniLM-L6-v2" in text.TextEmbeddingModel.__args__


def test_vecs_style_imports() -> None:
    """The import lines of vecs code and vecs' own tests, with ``vecs`` spelled ``vecs_core``."""
    from vecs_core.adapter import Adapter, AdapterContext, AdapterStep  # noqa: F401
    from vecs_core.adapter.base import Adapter as BaseAdapter
    from vecs_core.adapter.markdown import MarkdownChunker
    from vecs_core.adapter.noop import NoOp
    from vecs_core.adapter.text import ParagraphChunker, TextEmbedding  # noqa: F401
    from vecs_core.client import Client
    from vecs_core.collection import Collection, IndexMeasure, IndexMethod
    from vecs_core.exc import ArgError, MismatchedDimension  # noqa: F401

    assert BaseAdapter is Adapter
    assert NoOp(dimension=9).exported_dimension == 9
    assert MarkdownChunker(skip_during_query=True).exported_dimension is None
    assert Client is vecs_core.Client and Collection is vecs_core.Collection
    assert IndexMethod.auto.value == "auto" and IndexMeasure.l1_distance.value == "l1_distance"
    # ``import vecs_core`` alone makes the submodules reachable as attributes, as in vecs
    assert vecs_core.collection.IndexMethod is IndexMethod
    assert vecs_core.client.Client is Client
