"""LangChain's standard ``VectorStore`` integration suite, run against VecsVectorStore.

Two configurations, each running every sync and async standard test on a fresh collection in a
fresh schema: a store that creates its own clients from a URL, and a store given explicit
``client=`` / ``async_client=`` objects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from langchain_tests.integration_tests import VectorStoreIntegrationTests

import vecs_core
from vecs_integrations.langchain import VecsVectorStore

# The suite mixes sync and async tests; mark them all asyncio (pytest-asyncio's strict mode) and
# silence its notice about the mark on the sync ones.
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings(
        "ignore:The test <Function .*> is marked with '@pytest.mark.asyncio':pytest.PytestWarning"
    ),
]


def _name(database_url: str, schema: str, storage: str | None = None) -> str:
    """A new, empty collection for one test. The standard suite searches a fresh store and
    expects no results: the collection must exist, since reads never create one."""
    name = f"lc_{uuid.uuid4().hex[:10]}"
    with vecs_core.create_client(database_url, schema=schema) as vx:
        vx.get_or_create_collection(name, dimension=6, storage=storage)
    return name


class TestVecsStoreFromURL(VectorStoreIntegrationTests):
    @pytest_asyncio.fixture
    async def vectorstore(self, database_url: str, schema: str) -> AsyncIterator[VecsVectorStore]:
        store = VecsVectorStore(
            self.get_embeddings(),
            _name(database_url, schema),
            connection=database_url,
            schema=schema,
        )
        try:
            yield store
        finally:
            await store.adelete_collection()
            store.close()
            await store.aclose()


class TestVecsStoreExplicitClients(VectorStoreIntegrationTests):
    @pytest_asyncio.fixture
    async def vectorstore(self, database_url: str, schema: str) -> AsyncIterator[VecsVectorStore]:
        client = vecs_core.create_client(database_url, schema=schema, pool_size=2)
        aclient = vecs_core.create_async_client(database_url, schema=schema, pool_size=2)
        name = _name(database_url, schema)
        store = VecsVectorStore(self.get_embeddings(), name, client=client, async_client=aclient)
        try:
            yield store
        finally:
            store.delete_collection()
            client.disconnect()
            await aclient.aclose()


class TestVecsStoreHalfvec(VectorStoreIntegrationTests):
    """The same suite on a half-precision collection (``storage="halfvec"``)."""

    @pytest_asyncio.fixture
    async def vectorstore(self, database_url: str, schema: str) -> AsyncIterator[VecsVectorStore]:
        store = VecsVectorStore(
            self.get_embeddings(),
            _name(database_url, schema, "halfvec"),
            connection=database_url,
            schema=schema,
            storage="halfvec",
        )
        try:
            yield store
        finally:
            await store.adelete_collection()
            await store.aclose()


class TestVecsStoreSparsevec(VectorStoreIntegrationTests):
    """The same suite on a sparse collection (``storage="sparsevec"``): dense embeddings are
    stored as sparse vectors."""

    @pytest_asyncio.fixture
    async def vectorstore(self, database_url: str, schema: str) -> AsyncIterator[VecsVectorStore]:
        store = VecsVectorStore(
            self.get_embeddings(),
            _name(database_url, schema, "sparsevec"),
            connection=database_url,
            schema=schema,
            storage="sparsevec",
        )
        try:
            yield store
        finally:
            await store.adelete_collection()
            await store.aclose()
