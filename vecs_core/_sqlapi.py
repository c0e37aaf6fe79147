"""Flows of ``install_sql_functions``/``drop_sql_functions`` and ``expose_view``/``drop_view``:
arguments checked before any I/O, then the collection's state read (indexes, full-text index,
pgvector version) and the plans of :mod:`vecs_core._plans.sqlapi` and
:mod:`vecs_core._plans.views` run in one transaction each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._checks import safe_repr
from ._indexes import IndexMeasure, parse_measure
from ._names import validate_name
from ._plans.search import covering_index
from ._plans.sqlapi import drop_plan, install_plan
from ._plans.sqlbodies import FunctionsPlan
from ._plans.views import BASE_COLUMNS, drop_view_plan, expose_view_plan, view_type
from ._protocol import Flow, Job
from .exc import ArgError

LANGCHAIN_NAME = "match_documents"
"""The function LangChain's Supabase vector stores call by default (``queryName``)."""


def _names(
    collection: Any, schema: object, name: object, langchain: object
) -> tuple[str, str, str, str | None]:
    """(schema, match name, hybrid name, LangChain name or None), checked."""
    schema = validate_name(schema, what="schema name")
    base = collection.name if name is None else validate_name(name, what="function base name")
    match = validate_name(f"match_{base}", what="function name match_<name>")
    hybrid = validate_name(f"hybrid_{base}", what="function name hybrid_<name>")
    if langchain is True:
        lc: str | None = LANGCHAIN_NAME
    elif langchain is False or langchain is None:
        lc = None
    elif isinstance(langchain, str):
        lc = validate_name(langchain, what="LangChain function name")
    else:
        raise ArgError(
            f"langchain must be True, False or a function name, got {safe_repr(langchain)}"
        )
    if lc is not None and lc in (match, hybrid):
        raise ArgError(f"the LangChain function cannot be named {lc!r}: that name is taken")
    return schema, match, hybrid, lc


def _measure(indexes: list[Any], measure: object) -> IndexMeasure:
    """The measure asked for, else the one the collection's valid index serves, else cosine."""
    if measure is not None:
        return parse_measure(measure)
    served = {ix.measure for ix in indexes if ix.valid}
    return served.pop() if len(served) == 1 else IndexMeasure.cosine_distance


def install_flow(
    collection: Any,
    schema: object,
    name: object,
    measure: object,
    hybrid: object,
    langchain: object,
) -> Flow[list[str]]:
    fn_schema, match, hybrid_name, lc = _names(collection, schema, name, langchain)
    if measure is not None:
        parse_measure(measure)
    if hybrid not in (None, True, False):
        raise ArgError(f"hybrid must be True, False or None, got {safe_repr(hybrid)}")
    indexes = yield from collection._indexes_flow(refresh=True)
    yield from collection._refresh_info_flow()
    version = yield from collection.client._version_flow()
    chosen = _measure(indexes, measure)
    plan = FunctionsPlan(
        info=collection._info,
        measure=chosen,
        index=covering_index(indexes, chosen),
        version=version,
        schema=fn_schema,
        match=match,
        hybrid=None if hybrid is False else hybrid_name,
        hybrid_required=hybrid is True,
        langchain=lc,
    )
    created: list[str] = yield Job(lambda: install_plan(plan), "transaction")
    return created


def drop_flow(collection: Any, schema: object, name: object, langchain: object) -> Flow[list[str]]:
    fn_schema, match, hybrid_name, lc = _names(collection, schema, name, langchain)
    plan = FunctionsPlan(
        info=collection._info,
        measure=IndexMeasure.cosine_distance,
        index=None,
        version=(0,),
        schema=fn_schema,
        match=match,
        hybrid=hybrid_name,
        hybrid_required=False,
        langchain=lc,
    )
    dropped: list[str] = yield Job(lambda: drop_plan(plan), "transaction")
    return dropped


def parse_view(view: object) -> tuple[str, str]:
    """``"schema.name"`` (split at the first dot), ``"name"`` (in ``public``) or a
    ``(schema, name)`` pair, checked."""
    if isinstance(view, (tuple, list)) and len(view) == 2:
        schema, name = view
    elif isinstance(view, str):
        schema, _, name = view.partition(".") if "." in view else ("public", "", view)
    else:
        raise ArgError(
            f"view must be 'schema.name', 'name' or a (schema, name) pair, got {safe_repr(view)}"
        )
    return validate_name(schema, what="schema name"), validate_name(name, what="view name")


def _columns(columns: object) -> dict[str, str]:
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise ArgError(
            "columns must map metadata keys to types, e.g. {'url': 'text', 'year': 'integer'}, "
            f"got {type(columns).__name__}"
        )
    checked = {}
    for key, type_name in columns.items():
        key = validate_name(key, what="column name (a metadata key)")
        if key in BASE_COLUMNS:
            raise ArgError(
                f"columns[{key!r}]: the view already has a column {key!r} "
                f"({', '.join(BASE_COLUMNS)}); read that key from metadata instead"
            )
        checked[key] = view_type(key, type_name)
    return checked


def expose_view_flow(
    collection: Any, view: object, columns: object, security_invoker: object
) -> Flow[str]:
    where = parse_view(view)
    typed = _columns(columns)
    if not isinstance(security_invoker, bool):
        raise ArgError(f"security_invoker must be a bool, got {safe_repr(security_invoker)}")
    yield from collection._refresh_info_flow()
    info = collection._info
    made: str = yield Job(lambda: expose_view_plan(info, where, typed, security_invoker))
    return made


def drop_view_flow(view: object) -> Flow[None]:
    where = parse_view(view)
    yield Job(lambda: drop_view_plan(where))
