"""Indexed metadata keys: the btree expression for one metadata key of one type. Pure: no I/O.

``Collection.index_metadata(key, type)`` builds a btree index over the expression below, and the
filter compiler writes exactly that expression for the key, so range filters (``$gt`` ...),
``$eq``/``$in`` on values of that type, and prefix ``$like`` (``text``) can use the index. The
expression is NULL for a value of another JSON type, which is what the type-strict filter
semantics need (a number never compares with a string): the index changes how fast a filter
runs, never what it matches.

- ``number``: ``CASE WHEN jsonb_typeof(metadata -> 'k') = 'number' THEN (metadata -> 'k')::numeric
  END``; serves ranges, ``$eq`` and ``$in`` with numbers;
- ``text``: the string value (``metadata ->> 'k'`` when a string) ``COLLATE "C"``; serves ranges,
  ``$eq``, ``$in`` and prefix ``$like`` with strings;
- ``bool``: ``(metadata -> 'k')::boolean`` when a boolean; serves ``$eq`` and ``$in``;
- ``timestamp``: the string value, like ``text``; serves ranges on ISO 8601 strings.

A ``timestamp`` key compares its values as strings, exactly as the filter language always does:
ISO 8601 timestamps in one format and one offset (``2024-05-01T12:00:00Z``) sort in time order.
(Comparing them as instants would make a filter's meaning depend on whether an index exists.)

The key is written into the expression as a literal (``sql.Literal``, quoted by psycopg), not
bound: an index expression is DDL, and the planner matches a filter to it only when the filter
repeats it with the same constant. Keys are validated first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from psycopg import sql

from ._checks import safe_repr, utf8_encodable
from .exc import ArgError

MetaType = Literal["text", "number", "bool", "timestamp"]
META_TYPES: tuple[MetaType, ...] = ("text", "number", "bool", "timestamp")
MAX_KEY_BYTES = 255
COMMENT_TAG = "vecs_core:metadata-index"
_JSON_TYPE = {"text": "string", "number": "number", "bool": "boolean", "timestamp": "string"}
_METADATA = sql.Identifier("metadata")


def check_key(key: object) -> str:
    """A metadata key that can be indexed (a top-level key a filter can name).

    Raises:
        ArgError: not a non-empty string, too long, NUL or invalid Unicode, or starting with
            ``$`` (filters read ``$``-keys as operators).
    """
    if not isinstance(key, str) or not key:
        raise ArgError(f"a metadata key must be a non-empty string, got {safe_repr(key)}")
    if "\x00" in key or not utf8_encodable(key):
        raise ArgError(f"metadata key {safe_repr(key)} holds a NUL or invalid Unicode")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ArgError(f"metadata key {safe_repr(key)} is longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("$"):
        raise ArgError(
            f"metadata key {safe_repr(key)} starts with '$', which filters read as an operator"
        )
    return key


def check_type(value: object) -> MetaType:
    if value not in META_TYPES:
        raise ArgError(f"type must be one of {', '.join(META_TYPES)}, got {safe_repr(value)}")
    return value  # type: ignore[return-value,unused-ignore]


def json_type(meta_type: MetaType) -> str:
    return _JSON_TYPE[meta_type]


def expression(key: str, meta_type: MetaType) -> sql.Composable:
    """The indexed expression of ``key`` as ``meta_type`` (over the unqualified ``metadata``)."""
    k = sql.Literal(key)
    typed = sql.SQL("jsonb_typeof({} -> {}) = {}").format(
        _METADATA, k, sql.Literal(_JSON_TYPE[meta_type])
    )
    if meta_type == "number":
        value: sql.Composable = sql.SQL("({} -> {})::numeric").format(_METADATA, k)
    elif meta_type == "bool":
        value = sql.SQL("({} -> {})::boolean").format(_METADATA, k)
    else:
        value = sql.SQL("({} ->> {})").format(_METADATA, k)
    case = sql.SQL("(CASE WHEN {} THEN {} END)").format(typed, value)
    if meta_type in ("text", "timestamp"):
        return sql.SQL('({} COLLATE "C")').format(case)
    return case


@dataclass(frozen=True)
class MetadataIndex:
    """An index on one metadata key (see ``Collection.index_metadata``)."""

    key: str
    type: MetaType
    name: str
    valid: bool


def comment(key: str, meta_type: MetaType) -> str:
    """What the index's comment says: how ``list_metadata_indexes`` recognises it."""
    return json.dumps({"tag": COMMENT_TAG, "key": key, "type": meta_type}, ensure_ascii=False)


def from_comment(text: str | None, name: str, valid: bool) -> MetadataIndex | None:
    if not text or COMMENT_TAG not in text:
        return None
    try:
        data = json.loads(text)
        key, meta_type = data["key"], data["type"]
    except (ValueError, KeyError, TypeError):
        return None
    if data.get("tag") != COMMENT_TAG or meta_type not in META_TYPES or not isinstance(key, str):
        return None
    return MetadataIndex(key, meta_type, name, bool(valid))
