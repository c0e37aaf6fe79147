"""The one error tree of vecs_core.

Every error the library raises on purpose derives from :class:`VecsError` and, where one fits, from
the matching built-in exception, so ``except ValueError`` keeps working for callers who do not know
this library. The names used by Supabase ``vecs`` are kept (``VecsException`` is an alias of
:class:`VecsError`).
"""

from __future__ import annotations

__all__ = [
    "ArgError",
    "CollectionAlreadyExists",
    "CollectionNotFound",
    "EmbeddedServerError",
    "FilterError",
    "IndexBuildError",
    "IndexNotFound",
    "MigrationError",
    "MismatchedDimension",
    "MissingDependency",
    "PermissionDenied",
    "ReadOnly",
    "RecordError",
    "StatementTimeout",
    "Unreachable",
    "VecsError",
    "VecsException",
]


class VecsError(Exception):
    """Base class of every error raised by vecs_core."""


VecsException = VecsError
"""Alias kept for code written against Supabase ``vecs``."""


class ArgError(VecsError, ValueError):
    """An argument has a wrong type or value (limit, measure, name, index arguments...)."""


class MismatchedDimension(ArgError):
    """Two sources of a collection's dimension disagree (argument, adapter, stored table)."""


class RecordError(ArgError):
    """A record given to ``upsert`` is malformed: id, vector or metadata. Nothing was written."""


class FilterError(VecsError, ValueError):
    """A metadata filter is malformed; the message names the path to the bad node."""


class CollectionNotFound(VecsError, LookupError):
    """The named collection does not exist."""


class CollectionAlreadyExists(VecsError):
    """A collection with that name exists already (deprecated ``create_collection`` only)."""


class IndexBuildError(VecsError):
    """Building a vector index failed; the collection keeps its previous index, if any."""


class IndexNotFound(VecsError, LookupError):
    """Kept for code written against Supabase ``vecs``, whose ``vecs.exc`` exports this name.

    Neither vecs nor vecs_core raises it: a collection without a vector index reports ``None``
    from ``Collection.index`` and an empty list from ``list_indexes()``/``drop_index()``.
    """


class MigrationError(VecsError):
    """``vecs_core.migrate`` could not verify a copy (rows counted in the source, staged and
    present in the collection differ, e.g. the source changed while it was read); nothing was
    written."""


class PermissionDenied(VecsError, PermissionError):
    """The database refused the call: missing privileges or a Row Level Security policy."""


class ReadOnly(VecsError):
    """A write reached a server that only reads: a hot standby (a read replica), or a database
    with ``default_transaction_read_only`` on. Nothing was written. Writes go to the primary:
    with several hosts in the URL, add ``target_session_attrs=read-write``."""


class StatementTimeout(VecsError, TimeoutError):
    """A statement ran longer than the client's ``statement_timeout`` and was cancelled."""


class Unreachable(VecsError, ConnectionError):
    """The database server cannot be reached. The message names host and port, never a password."""


class MissingDependency(VecsError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` command."""


class EmbeddedServerError(VecsError, RuntimeError):
    """The embedded PostgreSQL server could not start or stop, or is in use by other processes
    (the message says which, and shows the server's log when it failed to start)."""
