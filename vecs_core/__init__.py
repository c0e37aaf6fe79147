"""vecs-core: a fast, safe vector store on PostgreSQL + pgvector, compatible with Supabase vecs.

>>> import vecs_core as vecs
>>> vx = vecs.create_client()            # embedded PostgreSQL + pgvector, data kept on disk
>>> docs = vx.get_or_create_collection(name="docs", dimension=3)
"""

from . import adapter, embedded, exc
from . import client as client  # vecs' module paths, reachable as attributes (not in *)
from . import collection as collection
from ._async import AsyncCollection
from ._async_client import AsyncClient, create_async_client
from ._citus import Distribution, ShardPlacement
from ._filters import FIELD_OPERATORS as FILTER_OPERATORS
from ._filters import LOGICAL_OPERATORS
from ._indexes import (
    IndexArgsHNSW,
    IndexArgsIVFFlat,
    IndexMeasure,
    IndexMethod,
    parse_measure,
    relevance_score,
    similarity_score,
)
from ._metaindex import MetadataIndex
from ._plans.fdw import ForeignTable
from ._plans.indexes import IndexBuildProgress, VectorIndex
from ._progress import UpsertProgress
from ._requests import MAX_LIMIT
from ._routing import ReadStats
from ._sync import Collection
from ._sync_client import Client, create_client
from ._types import Hit, Item, Record
from .exc import (
    ArgError,
    CollectionAlreadyExists,
    CollectionNotFound,
    EmbeddedServerError,
    FilterError,
    IndexBuildError,
    MigrationError,
    MismatchedDimension,
    MissingDependency,
    PermissionDenied,
    ReadOnly,
    RecordError,
    StatementTimeout,
    Unreachable,
    VecsError,
)

__version__ = "0.1.0"

__all__ = [
    "ArgError",
    "AsyncClient",
    "AsyncCollection",
    "Client",
    "Collection",
    "CollectionAlreadyExists",
    "CollectionNotFound",
    "Distribution",
    "EmbeddedServerError",
    "FILTER_OPERATORS",
    "FilterError",
    "ForeignTable",
    "Hit",
    "IndexArgsHNSW",
    "IndexArgsIVFFlat",
    "IndexBuildError",
    "IndexBuildProgress",
    "IndexMeasure",
    "IndexMethod",
    "Item",
    "LOGICAL_OPERATORS",
    "MAX_LIMIT",
    "MetadataIndex",
    "MigrationError",
    "MismatchedDimension",
    "MissingDependency",
    "PermissionDenied",
    "ReadOnly",
    "ReadStats",
    "Record",
    "RecordError",
    "ShardPlacement",
    "StatementTimeout",
    "Unreachable",
    "UpsertProgress",
    "VecsError",
    "VectorIndex",
    "adapter",
    "create_async_client",
    "create_client",
    "embedded",
    "exc",
    "parse_measure",
    "relevance_score",
    "similarity_score",
]
