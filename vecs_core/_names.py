"""Validation of SQL identifiers that come from users (collection and schema names).

Names are always quoted by the driver (``psycopg.sql.Identifier``); this module refuses names that
PostgreSQL would silently alter (truncation past 63 bytes) or cannot store (NUL, control chars).
"""

from __future__ import annotations

import json

from psycopg import sql

from ._checks import safe_repr
from .exc import ArgError

MAX_IDENTIFIER_BYTES = 63


def validate_name(name: object, *, what: str = "collection name") -> str:
    """Return ``name`` if it is a usable identifier, else raise :class:`ArgError`.

    Raises:
        ArgError: not a string, empty, longer than 63 UTF-8 bytes, holding NUL or control
            characters, or (for collections) starting with ``_``, which vecs reserves.
    """
    if not isinstance(name, str):
        raise ArgError(f"{what} must be a str, got {type(name).__name__} {safe_repr(name)}")
    if not name:
        raise ArgError(f"{what} must not be empty")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise ArgError(f"{what} {name!r} holds a lone surrogate (not valid Unicode)") from None
    if size > MAX_IDENTIFIER_BYTES:
        raise ArgError(
            f"{what} {name!r} is {size} bytes in UTF-8; PostgreSQL keeps at most "
            f"{MAX_IDENTIFIER_BYTES} bytes and would truncate it. Use a shorter name."
        )
    bad = [ch for ch in name if ord(ch) < 32 or ord(ch) == 127]
    if bad:
        raise ArgError(
            f"{what} {name!r} contains control character(s) {''.join(bad)!r}; "
            "use printable characters only"
        )
    if what == "collection name" and name.startswith("_"):
        raise ArgError(
            f"{what} {name!r} starts with '_', which is reserved (vecs hides such tables)"
        )
    if what == "schema name" and name.lower().startswith("pg_"):
        raise ArgError(f"{what} {name!r} starts with 'pg_', which PostgreSQL reserves")
    return name


def ident(*parts: str) -> sql.Identifier:
    """``sql.Identifier`` for a name that may contain ``%``.

    psycopg looks for ``%`` placeholders in the whole statement text, quoted identifiers
    included, so ``%`` is doubled here; the drivers always pass a parameter mapping (possibly
    empty) so that psycopg turns ``%%`` back into ``%`` for the server.
    """
    return sql.Identifier(*(p.replace("%", "%%") for p in parts))


def collection_repr(kind: str, name: str, dimension: int) -> str:
    """``vecs_core.Collection(name="movies", dimension=99)``: vecs' repr format under our package
    name. The name is written as a JSON string (double quotes, escapes where needed)."""
    return f"vecs_core.{kind}(name={json.dumps(name, ensure_ascii=False)}, dimension={dimension})"
