"""LlamaIndex nodes <-> vecs_core records. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from ._filters import EMPTY_KEYS_KEY, NODE_ID_KEY

#: ``(id, vector, metadata, text)``, what ``Collection.upsert`` takes.
NodeRecord = tuple[str, Any, dict[str, Any], str]


def node_to_record(node: BaseNode, flat_metadata: bool = False) -> NodeRecord:
    """``(id, vector, metadata, text)`` for ``Collection.upsert``: LlamaIndex's own
    ``node_to_metadata_dict`` (the node as JSON in ``_node_content``, the user's metadata at the
    top level) plus the reserved ``_vecs_node_id`` and ``_vecs_empty_keys``; the text goes to
    the core's text column."""
    metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=flat_metadata)
    empty = sorted(k for k, v in metadata.items() if isinstance(v, list) and not v)
    metadata[NODE_ID_KEY] = node.node_id
    if empty:
        metadata[EMPTY_KEYS_KEY] = empty
    else:
        metadata.pop(EMPTY_KEYS_KEY, None)
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    return (node.node_id, node.get_embedding(), metadata, text or "")


def record_to_node(id_: str, metadata: dict[str, Any], text: str | None) -> BaseNode:
    """The node a record stores; records not written by LlamaIndex become plain TextNodes."""
    if "_node_content" in metadata:
        return metadata_dict_to_node(metadata, text=text)
    return TextNode(id_=id_, text=text or "", metadata=dict(metadata))
