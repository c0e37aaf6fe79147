"""Flows of keyword and hybrid search, and of setting up full text (the ``text`` column's GIN
index in a text search language): done explicitly by ``enable_full_text()``, else by the first
keyword or hybrid search (never under a session role: see ``CollectionBase._owner_only``). The
statements are in :mod:`vecs_core._plans.text`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._indexes import MEASURES
from ._plans import text
from ._plans.search import covering_index, distance_sql, search_settings
from ._protocol import Flow, Job
from ._requests import HybridRequest, KeywordRequest
from ._types import Hit

if TYPE_CHECKING:
    from ._collection_base import CollectionBase


def full_text(col: CollectionBase, language: str | None = None, force: bool = False) -> Flow[str]:
    """Make sure full text is set up (in ``language`` when given); return its language."""
    current = col._info.full_text
    wanted = language or current or text.FTS_LANGUAGE
    if not force and current is not None and wanted == current:
        return current
    if not force:
        col._owner_only("full-text index", "enable_full_text()")
    yield from _language(col, wanted)
    info = yield Job(lambda: text.enable_full_text_plan(col.schema, col.name, wanted), "outside")
    if info is not None:
        col._set_info(info)
    return wanted


def _language(col: CollectionBase, language: str) -> Flow[None]:
    if language == text.FTS_LANGUAGE:
        return None
    known = col._ts_languages
    if known is None or language not in known:  # configurations can be created at any time
        known = yield Job(text.languages_plan, "statements")
        col._ts_languages = known
    if language not in known:
        raise text.unknown_language(language, known)
    return None


def _search_language(col: CollectionBase, language: str | None) -> Flow[str]:
    """The language a keyword search runs in: the collection's full-text language, set up
    first if needed, unless the call names another one (then computed row by row)."""
    configured = yield from full_text(col)
    if language is None or language == configured:
        return configured
    yield from _language(col, language)
    return language


def keyword_search(col: CollectionBase, request: KeywordRequest) -> Flow[list[Hit]]:
    language = yield from _search_language(col, request.options.language)
    info = col._info
    hits: list[Hit] = yield Job(
        lambda: text.keyword_plan(info, request, language), "statements", read=True
    )
    return hits


def hybrid_search(col: CollectionBase, request: HybridRequest) -> Flow[list[Hit]]:
    options = request.options
    language = yield from _search_language(col, options.language)
    found = yield from col._indexes_flow()
    index = covering_index(found, options.measure)
    version = yield from col.client._version_flow()
    filtered = request.where is not None
    semantic_n = options.candidates[0]
    settings, _ = search_settings(index, semantic_n, None, None, filtered, version)
    distance = distance_sql(col._target, index, MEASURES[options.measure].operator)
    info = col._info
    hits: list[Hit] = yield Job(
        lambda: text.hybrid_plan(info, request, language, distance, settings),
        "statements",
        read=True,
    )
    return hits
