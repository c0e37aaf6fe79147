"""vecs-core: a fast, safe vector store on PostgreSQL + pgvector, compatible with Supabase vecs.

>>> import vecs_core as vecs
>>> vx = vecs.create_client()            # embedded PostgreSQL + pgvector, data kept on disk
>>> docs = vx.get_or_create_collection(name="docs", dimension=3)
"""

from . import adapter, exc
from . import client as client  # vecs' module paths, reachable as attributes (not in *)
from . import collection as collection
from ._async import AsyncClient, AsyncCollection, create_async_client
from ._index_plans import IndexBuildProgress, VectorIndex
from ._indexes import (
    IndexArgsHNSW,
    IndexArgsIVFFlat,
    IndexMeasure,
    IndexMethod,
    relevance_score,
)
from ._sync import Client, Collection, create_client
from ._types import Hit, Item, Record
from .exc import (
    ArgError,
    CollectionAlreadyExists,
    CollectionNotFound,
    FilterError,
    IndexBuildError,
    MismatchedDimension,
    MissingDependency,
    RecordError,
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
    "FilterError",
    "Hit",
    "IndexArgsHNSW",
    "IndexArgsIVFFlat",
    "IndexBuildError",
    "IndexBuildProgress",
    "IndexMeasure",
    "IndexMethod",
    "Item",
    "MismatchedDimension",
    "MissingDependency",
    "Record",
    "RecordError",
    "Unreachable",
    "VecsError",
    "VectorIndex",
    "adapter",
    "create_async_client",
    "create_client",
    "exc",
    "relevance_score",
]
