"""What the framework adapters share, once: framework-free (imports neither LangChain nor
LlamaIndex) and built only on :mod:`vecs_core`'s public API.

* :func:`require_framework`: the import guard of each integration subpackage.
* :func:`mmr_select`: maximal marginal relevance, the one implementation both adapters use.
* :class:`ClientPair` and :class:`CollectionPair`: the lazily created sync/async clients and
  collections of a store, with one ownership rule.
* :func:`check_k`, :func:`fetch_size`, :func:`check_unit_interval`: argument checks against the
  core's limits (:data:`vecs_core.MAX_LIMIT`), raising the core's typed errors.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

import vecs_core
from vecs_core import MAX_LIMIT, ArgError, MissingDependency

__all__ = [
    "MMR_TIE_TOLERANCE",
    "ClientPair",
    "CollectionPair",
    "check_k",
    "check_unit_interval",
    "fetch_size",
    "mmr_hits",
    "mmr_select",
    "require_framework",
]


# -- import guard -------------------------------------------------------------------------------
def require_framework(module: str, *, integration: str, distribution: str, extra: str) -> None:
    """Import ``module`` or raise :class:`vecs_core.MissingDependency` naming the extra.

    Only a missing ``module`` (or a parent package of it) becomes ``MissingDependency``; any other
    import failure inside the framework propagates unchanged, so a broken install is not
    misreported as a missing one.
    """
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            from vecs_core._deps import install_hint

            raise MissingDependency(
                f"{integration} needs {distribution}, which is not installed; install it with: "
                f"{install_hint(extra, (distribution,))}"
            ) from exc
        raise


# -- argument checks ----------------------------------------------------------------------------
def check_k(value: object, name: str = "k") -> int:
    """``value`` as a result count in ``0..MAX_LIMIT`` (0 means "no results, no query").

    Raises:
        ArgError: not an int (bools refused), negative, or above :data:`vecs_core.MAX_LIMIT`.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not 0 <= value <= MAX_LIMIT:
        raise ArgError(f"{name} must be between 0 and {MAX_LIMIT}, got {value!r}")
    return value


def fetch_size(k: int, fetch_k: object, name: str = "fetch_k") -> int:
    """How many candidates an MMR search fetches: ``fetch_k``, at least ``k``, at most
    :data:`vecs_core.MAX_LIMIT` (a larger ``fetch_k`` is capped, not refused).

    Raises:
        ArgError: ``fetch_k`` is not an int >= 0.
    """
    if isinstance(fetch_k, bool) or not isinstance(fetch_k, int) or fetch_k < 0:
        raise ArgError(f"{name} must be an int >= 0, got {fetch_k!r}")
    return min(max(k, fetch_k), MAX_LIMIT)


def check_unit_interval(value: object, name: str) -> float:
    """``value`` as a float in [0, 1] (``lambda_mult``, ``mmr_threshold``, ``alpha``).

    Raises:
        ArgError: not a real number, or outside [0, 1] (NaN included).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(f"{name} must be a number in [0, 1], got {type(value).__name__} {value!r}")
    number = float(value)
    if not 0.0 <= number <= 1.0:  # False for NaN too
        raise ArgError(f"{name} must be in [0, 1], got {value!r}")
    return number


# -- maximal marginal relevance -----------------------------------------------------------------
#: Scores closer than this count as equal; ties go to the earlier candidate. Scores lie in
#: [-1, 1], so this absorbs float noise (float32 vectors from the database, BLAS summation order,
#: a vector and its scaled copy) without merging genuinely different scores.
MMR_TIE_TOLERANCE = 1e-9


def check_kwargs(kwargs: Mapping[str, Any], allowed: Sequence[str], method: str) -> None:
    """Refuse keyword arguments a method does not know (an identity passed under a wrong name
    must never be dropped silently).

    Raises:
        ArgError: an unknown keyword argument; the message lists the known ones.
    """
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ArgError(
            f"{method}() got unknown keyword argument(s) {', '.join(map(repr, unknown))}; it "
            f"accepts {', '.join(sorted(allowed))}. A per-request identity (Row Level "
            "Security) goes in session={'settings': {...}, 'role': ...} or store.for_session()"
        )


SessionSpec = tuple[Mapping[str, object] | None, str | None]


def check_session(value: object) -> SessionSpec | None:
    """A per-call ``session=`` argument: ``{"settings": {...}, "role": "..."}`` (either key may
    be left out), or None.

    Raises:
        ArgError: not a mapping, or keys other than ``settings`` and ``role``.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"settings", "role"}:
        raise ArgError(
            "session must be a dict like {'settings': {'request.jwt.claim.sub': user_id}, "
            f"'role': 'authenticated'}}, got {value!r:.120}"
        )
    settings = value.get("settings")
    if settings is not None and not isinstance(settings, Mapping):
        raise ArgError(f"session['settings'] must be a dict, got {settings!r:.80}")
    role = value.get("role")
    if role is not None and not isinstance(role, str):
        raise ArgError(f"session['role'] must be a role name, got {role!r:.80}")
    return settings, role


C = TypeVar("C", vecs_core.Collection, vecs_core.AsyncCollection)


def with_session(collection: C, *sessions: SessionSpec | None) -> C:
    """``collection`` seen through each given session in turn (``Collection.session``: no I/O,
    the view shares the collection's caches)."""
    for session in sessions:
        if session is not None:
            collection = collection.session(session[0], role=session[1])
    return collection


def distance_for_relevance(relevance: Callable[[float], float], threshold: object) -> float | None:
    """The largest distance whose relevance is at least ``threshold``, for a relevance function
    that does not grow with the distance (any of the stores'); None when every distance
    qualifies. Found by bisection, so it follows whatever function a store uses; callers still
    compare the relevance of what comes back, so rounding at the boundary cannot let a worse
    result through.

    Raises:
        ArgError: ``threshold`` is not a finite number.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ArgError(f"a score threshold must be a number, got {threshold!r:.80}")
    t = float(threshold)
    if not np.isfinite(t):
        raise ArgError(f"a score threshold must be finite, got {threshold!r}")
    hi = 1.0
    while relevance(hi) >= t:  # expand until a distance fails the threshold
        hi *= 2
        if hi > 1e12:
            return None
    lo = -1.0
    while relevance(lo) < t:  # inner products can be negative distances
        lo = lo * 2 if lo < 0 else -1.0
        if lo < -1e12:
            return lo
    for _ in range(100):
        mid = (lo + hi) / 2
        if relevance(mid) >= t:
            lo = mid
        else:
            hi = mid
    return lo + 1e-9 * max(1.0, abs(lo))


def _unit_rows(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # a zero vector stays zero: cosine 0 with everything
    unit: npt.NDArray[np.float64] = matrix / norms
    return unit


def _first_best(scores: npt.NDArray[np.float64]) -> int:
    """Index of the earliest score within :data:`MMR_TIE_TOLERANCE` of the maximum."""
    best = float(scores.max())
    return int(np.flatnonzero(scores >= best - MMR_TIE_TOLERANCE)[0])


def mmr_select(
    query: Sequence[float] | npt.NDArray[Any],
    candidates: Sequence[Sequence[float]] | npt.NDArray[Any],
    k: int,
    lambda_mult: float = 0.5,
) -> list[int]:
    """Indexes of up to ``k`` of ``candidates``, chosen by maximal marginal relevance, **in
    selection order**.

    Both similarities are cosine similarities of the raw (possibly unnormalised) vectors; a zero
    vector has similarity 0 with everything, itself included:

    * relevance ``rel(c) = cos(query, c)``;
    * redundancy ``red(c) = max(cos(c, s) for s already selected)``.

    The first pick is the most relevant candidate, whatever ``lambda_mult``; each later pick
    maximises ``lambda_mult * rel(c) - (1 - lambda_mult) * red(c)``. So ``lambda_mult=1`` is
    plain cosine-similarity order and ``lambda_mult=0`` starts from the best match, then takes
    the candidate least similar to those already picked. Scores within
    :data:`MMR_TIE_TOLERANCE` tie, and ties go to the earlier candidate (the nearer one, for
    search results). With ``k >= len(candidates)`` every candidate is returned, still in
    selection order.

    Raises:
        ArgError: ``lambda_mult`` outside [0, 1], candidates not a 2-D array of vectors of the
            query's dimension, or non-finite values.
    """
    lam = check_unit_interval(lambda_mult, "lambda_mult")
    try:
        cand = np.asarray(candidates, dtype=np.float64)
        q = np.asarray(query, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:  # ragged rows, non-numbers
        raise ArgError(f"MMR needs numeric vectors of one dimension: {exc}") from exc
    if k <= 0 or cand.size == 0:
        return []
    if cand.ndim != 2 or cand.shape[1] != q.shape[0]:
        raise ArgError(
            f"MMR needs candidate vectors of the query's dimension {q.shape[0]}, "
            f"got an array of shape {cand.shape}"
        )
    if not (np.isfinite(cand).all() and np.isfinite(q).all()):
        raise ArgError("MMR vectors must be finite (no NaN or infinity)")
    unit = _unit_rows(cand)
    relevance = unit @ _unit_rows(q.reshape(1, -1))[0]
    n = unit.shape[0]
    redundancy = np.full(n, -np.inf)
    taken = np.zeros(n, dtype=bool)
    selected: list[int] = []
    scores = relevance.copy()  # the first pick: the most relevant candidate
    for _ in range(min(k, n)):
        scores[taken] = -np.inf
        best = _first_best(scores)
        selected.append(best)
        taken[best] = True
        redundancy = np.maximum(redundancy, unit @ unit[best])
        scores = lam * relevance - (1.0 - lam) * redundancy
    return selected


def as_array(vector: Any) -> npt.NDArray[np.float64]:
    """A stored vector of any kind (array or ``pgvector.SparseVector``) as a float64 array."""
    if hasattr(vector, "to_numpy"):
        vector = vector.to_numpy()
    return np.asarray(vector, dtype=np.float64)


def mmr_hits(
    query: Sequence[float] | npt.NDArray[Any],
    hits: Sequence[vecs_core.Hit],
    k: int,
    lambda_mult: float = 0.5,
) -> list[vecs_core.Hit]:
    """Up to ``k`` of ``hits`` (from a search with ``include_vector=True``, nearest first) in
    :func:`mmr_select` order. Sparse vectors (a ``sparsevec`` collection's) are expanded."""
    vectors = [as_array(h.vector) for h in hits]
    order = mmr_select(query, np.stack(vectors) if vectors else [], k, lambda_mult)
    return [hits[i] for i in order]


# -- clients and collections --------------------------------------------------------------------
class ClientPair:
    """The sync and async :mod:`vecs_core` clients of one store, created lazily (no I/O here).

    Ownership rule, the same for every adapter: a client the pair creates itself (from
    ``connection``, or from the default database when no client is given) is owned and closed by
    :meth:`close` (the sync one) and :meth:`aclose` (both); a client passed in is the caller's
    and never closed here. Closing releases the connections; like
    :meth:`vecs_core.Client.disconnect`, a later call reconnects.

    Which side can be used: a passed-in client serves its side; the other side is created from
    ``connection`` when one is given, and is unavailable otherwise (a sync-only store has no
    hidden async fallback, and vice versa). With neither clients nor ``connection`` both sides
    are created from ``$VECS_DATABASE_URL`` or the embedded server.

    Args:
        connection: a PostgreSQL URL for the clients the pair creates.
        client: an existing :class:`vecs_core.Client` (never closed by the pair).
        async_client: an existing :class:`vecs_core.AsyncClient` (never closed by the pair).
        schema: the collections' schema; defaults to the passed-in client's, else ``"vecs"``.

    Raises:
        ArgError: ``connection`` is not a string, is given with both clients (it would be
            unused), or the clients and ``schema`` name different schemas.
    """

    __slots__ = (
        "_async",
        "_can_create",
        "_owns_async",
        "_owns_sync",
        "_schema",
        "_sync",
        "connection",
    )

    def __init__(
        self,
        *,
        connection: str | None = None,
        client: vecs_core.Client | None = None,
        async_client: vecs_core.AsyncClient | None = None,
        schema: str | None = None,
    ) -> None:
        if connection is not None and not isinstance(connection, str):
            raise ArgError(
                f"connection must be a PostgreSQL URL string, got {type(connection).__name__}; "
                "pass an existing client as client= or async_client="
            )
        if connection is not None and client is not None and async_client is not None:
            raise ArgError("connection= is unused when both client= and async_client= are given")
        schemas = {c.schema for c in (client, async_client) if c is not None}
        if schema is not None:
            schemas.add(schema)
        if len(schemas) > 1:
            raise ArgError(
                f"the clients and schema= name different schemas {sorted(schemas)!r}; a store "
                "reads and writes one collection, so they must agree"
            )
        self._schema = schemas.pop() if schemas else "vecs"
        self.connection = connection
        self._can_create = connection is not None or (client is None and async_client is None)
        self._sync = client
        self._async = async_client
        self._owns_sync = False
        self._owns_async = False

    @property
    def schema(self) -> str:
        """The schema of the collections (the passed-in client's, else the one asked for)."""
        return self._schema

    @property
    def owns_sync(self) -> bool:
        """True when the sync client exists and was created by the pair."""
        return self._owns_sync

    @property
    def owns_async(self) -> bool:
        """True when the async client exists and was created by the pair."""
        return self._owns_async

    @property
    def existing_sync(self) -> vecs_core.Client | None:
        """The sync client if it exists yet (passed in or created), without creating one."""
        return self._sync

    @property
    def existing_async(self) -> vecs_core.AsyncClient | None:
        """The async client if it exists yet (passed in or created), without creating one."""
        return self._async

    def sync(self) -> vecs_core.Client:
        """The sync client, created on first use when the pair may create it.

        Raises:
            ArgError: only an async client was passed in, and no ``connection``.
        """
        if self._sync is None:
            if not self._can_create:
                raise ArgError(
                    "this store was given only an async_client; pass client= (or connection=) "
                    "to use the synchronous methods"
                )
            self._sync = vecs_core.create_client(self.connection, schema=self._schema)
            self._owns_sync = True
        return self._sync

    def async_(self) -> vecs_core.AsyncClient:
        """The async client, created on first use when the pair may create it.

        Raises:
            ArgError: only a sync client was passed in, and no ``connection``.
        """
        if self._async is None:
            if not self._can_create:
                raise ArgError(
                    "this store was given only a sync client; pass async_client= (or "
                    "connection=) to use the async methods"
                )
            self._async = vecs_core.create_async_client(self.connection, schema=self._schema)
            self._owns_async = True
        return self._async

    def close(self) -> None:
        """Close the sync client if the pair created it (idempotent). An owned async client
        needs :meth:`aclose`."""
        if self._owns_sync and self._sync is not None:
            self._sync.disconnect()

    async def aclose(self) -> None:
        """Close every client the pair created, async and sync (idempotent)."""
        if self._owns_async and self._async is not None:
            await self._async.aclose()
        self.close()


#: Computes a new collection's dimension when none is known (e.g. by embedding a probe text).
DimensionProbe = Callable[[], int]
AsyncDimensionProbe = Callable[[], Awaitable[int]]


class CollectionPair:
    """The sync and async handles of one collection, opened (and created) on first use.

    Writes use :meth:`sync`/:meth:`async_`, which create the collection; reads use
    :meth:`read`/:meth:`aread`, which never do (a missing collection raises
    :class:`vecs_core.CollectionNotFound` naming close matches), and deletes
    :meth:`existing`/:meth:`aexisting` (None: nothing to delete).

    ``dimension`` may be None: the collection must then exist, or a caller supplies a dimension
    (from the first vectors it sees) or a probe computing one. ``storage`` is the vector kind of
    a collection the pair creates (``vecs_core`` ``storage=``; None: ``"vector"``).
    """

    __slots__ = ("_acol", "_col", "clients", "dimension", "name", "storage")

    def __init__(
        self,
        clients: ClientPair,
        name: str,
        dimension: int | None = None,
        storage: str | None = None,
    ) -> None:
        self.clients = clients
        self.name = name
        self.dimension = dimension
        self.storage = storage
        self._col: vecs_core.Collection | None = None
        self._acol: vecs_core.AsyncCollection | None = None

    def sync(
        self, dimension: int | None = None, probe: DimensionProbe | None = None
    ) -> vecs_core.Collection:
        """The sync collection.

        Raises:
            ArgError: the collection does not exist and no dimension is known (nor a probe).
            MismatchedDimension: the stored table has another dimension.
        """
        if self._col is None:
            client = self.clients.sync()
            dim = self.dimension or dimension
            try:
                self._col = client.get_or_create_collection(
                    self.name, dimension=dim, storage=self.storage
                )
            except ArgError:
                if dim is not None or probe is None:
                    raise
                self._col = client.get_or_create_collection(
                    self.name, dimension=probe(), storage=self.storage
                )
        return self._col

    async def async_(
        self, dimension: int | None = None, probe: AsyncDimensionProbe | None = None
    ) -> vecs_core.AsyncCollection:
        """The async collection (see :meth:`sync`)."""
        if self._acol is None:
            client = self.clients.async_()
            dim = self.dimension or dimension
            try:
                self._acol = await client.get_or_create_collection(
                    self.name, dimension=dim, storage=self.storage
                )
            except ArgError:
                if dim is not None or probe is None:
                    raise
                dim = await probe()
                self._acol = await client.get_or_create_collection(
                    self.name, dimension=dim, storage=self.storage
                )
        return self._acol

    # -- reads: never create the table ---------------------------------------------------------
    def _missing(self, names: list[str]) -> vecs_core.CollectionNotFound:
        import difflib

        close = difflib.get_close_matches(self.name, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        return vecs_core.CollectionNotFound(
            f"collection {self.name!r} does not exist in schema {self.clients.schema!r}{hint} "
            "(reads never create it; the first write does)"
        )

    def _opened(self, col: Any) -> Any:
        if self.dimension is not None and col.dimension != self.dimension:
            raise vecs_core.MismatchedDimension(
                f"collection {self.name!r} stores {col.dimension}-dimensional vectors, but the "
                f"store was given dimension={self.dimension}"
            )
        return col

    def existing(self) -> vecs_core.Collection | None:
        """The sync collection if it exists (opened, never created), else None.

        Raises:
            MismatchedDimension: the stored table has another dimension than the store's.
        """
        if self._col is None:
            client = self.clients.sync()
            try:
                col = client.get_or_create_collection(self.name, storage=self.storage)
            except ArgError:
                if self.name in {c.name for c in client.list_collections()}:
                    raise  # it exists: another problem (e.g. storage)
                return None
            self._col = self._opened(col)
        return self._col

    async def aexisting(self) -> vecs_core.AsyncCollection | None:
        """Async :meth:`existing`."""
        if self._acol is None:
            client = self.clients.async_()
            try:
                col = await client.get_or_create_collection(self.name, storage=self.storage)
            except ArgError:
                if self.name in {c.name for c in await client.list_collections()}:
                    raise
                return None
            self._acol = self._opened(col)
        return self._acol

    def read(self) -> vecs_core.Collection:
        """The sync collection for a read (search, get).

        Raises:
            CollectionNotFound: it does not exist; the message names close matches.
        """
        col = self.existing()
        if col is None:
            raise self._missing([c.name for c in self.clients.sync().list_collections()])
        return col

    async def aread(self) -> vecs_core.AsyncCollection:
        """Async :meth:`read`."""
        col = await self.aexisting()
        if col is None:
            names = [c.name for c in await self.clients.async_().list_collections()]
            raise self._missing(names)
        return col

    def drop(self) -> None:
        """Drop the collection and its data; the next use recreates it."""
        self.clients.sync().delete_collection(self.name)
        self.forget()

    async def adrop(self) -> None:
        """Async :meth:`drop`."""
        await self.clients.async_().delete_collection(self.name)
        self.forget()

    def forget(self) -> None:
        """Drop the cached handles (the next use opens the collection again)."""
        self._col = None
        self._acol = None
