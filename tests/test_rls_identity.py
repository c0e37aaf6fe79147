"""Per-request identity (Row Level Security), Supabase style, through the core, LangChain and
LlamaIndex, sync and async, for vector, keyword and hybrid search.

The setup follows Supabase: roles ``anon``, ``authenticated`` and ``service_role``; the user id in
``request.jwt.claims`` / ``request.jwt.claim.sub``, read by an ``auth.uid()`` function; a policy on
the collection's table that joins to an owner table, like the guide's ``document_sections``
policy. User A never sees user B's rows, however the call is made.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
from psycopg import sql

import vecs_core
from vecs_core import ArgError, PermissionDenied
from vecs_integrations.langchain import VecsVectorStore as LangChainStore
from vecs_integrations.llama_index import VecsVectorStore as LlamaIndexStore

ALICE, BOB = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))
DIM = 8
WORDS = ["apple", "banana", "cherry", "dates", "elder", "figs"]


def _vector(i: int) -> list[float]:
    return np.random.default_rng(i).normal(size=DIM).tolist()


class Fixed(Embeddings):
    """A deterministic embedding: the vector of the first known word in the text."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        hit = next((i for i, w in enumerate(WORDS) if w in text), len(WORDS))
        return _vector(hit)


def claims(user: str) -> dict[str, str]:
    return {"request.jwt.claims": json.dumps({"sub": user, "role": "authenticated"})}


def claim_sub(user: str) -> dict[str, str]:
    return {"request.jwt.claim.sub": user}


@pytest.fixture
def supabase(database_url: str, schema: str, sql_conn: Any) -> Iterator[vecs_core.Client]:
    """A collection of 12 sections, 6 per user, in a Supabase-like database."""
    conn = sql_conn
    for role in ("anon", "authenticated", "service_role"):
        conn.execute(
            sql.SQL(
                "DO $$ BEGIN CREATE ROLE {} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL;"
                " END $$"
            ).format(sql.Identifier(role))
        )
    conn.execute("CREATE SCHEMA IF NOT EXISTS auth")
    conn.execute(
        "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$"
        " SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),"
        " (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$"
    )
    conn.execute("GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role")
    owner = vecs_core.create_client(database_url, schema=schema)
    col = owner.get_or_create_collection("sections", dimension=DIM)
    col.upsert(
        (
            f"{who}-{i}",
            _vector(i),
            {"document_id": 1 if who == "alice" else 2, "i": i},
            f"{WORDS[i]} notes of {who}",
        )
        for who in ("alice", "bob")
        for i in range(6)
    )
    col.enable_full_text()  # the owner sets up text search; a restricted role never does
    col.create_index()
    t = sql.Identifier(schema, "sections")
    s = sql.Identifier(schema)
    for statement in (
        sql.SQL("CREATE TABLE {}.documents (id bigint PRIMARY KEY, owner_id uuid NOT NULL)").format(
            s
        ),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO authenticated").format(s),
        sql.SQL("GRANT SELECT ON {}.documents TO authenticated").format(s),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO authenticated").format(t),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(t),
        sql.SQL(
            "CREATE POLICY sections_of_my_documents ON {} FOR ALL TO authenticated USING ("
            " (metadata ->> 'document_id')::bigint IN ("
            "  SELECT id FROM {}.documents WHERE owner_id = (SELECT auth.uid())))"
        ).format(t, s),
    ):
        conn.execute(statement)
    conn.execute(
        sql.SQL("INSERT INTO {}.documents VALUES (1, %s), (2, %s)").format(s), (ALICE, BOB)
    )
    yield owner
    owner.disconnect()


def _mine(ids: Any, who: str) -> bool:
    ids = list(ids)
    return bool(ids) and all(i.startswith(f"{who}-") for i in ids)


def test_core_collection_session_views(supabase: vecs_core.Client) -> None:
    col = supabase.get_or_create_collection("sections")
    q = _vector(0)
    for who, user, settings in (("alice", ALICE, claims), ("bob", BOB, claim_sub)):
        view = col.session(settings(user), role="authenticated")
        assert _mine(view.query(data=q, limit=12), who)
        assert _mine((h.id for h in view.keyword_search("notes", limit=12)), who)
        assert _mine((h.id for h in view.hybrid_search("notes", q, limit=12)), who)
        assert view.count() == 6
    anon = col.session(role="anon")
    with pytest.raises(PermissionDenied):
        anon.query(data=q)
    assert len(col.query(data=q, limit=12)) == 12  # the owner is not restricted


def test_no_ddl_runs_lazily_under_a_session_role(supabase: vecs_core.Client) -> None:
    plain = supabase.get_or_create_collection("plain", dimension=DIM)
    plain.upsert([("a", _vector(0), {})])
    view = plain.session(claims(ALICE), role="authenticated")
    with pytest.raises(PermissionDenied, match="owner call enable_full_text"):
        view.keyword_search("anything")
    with pytest.raises(PermissionDenied, match="owner call enable_text"):
        view.upsert([("b", _vector(1), {}, "text needs a column")])
    assert plain.fetch(["b"]) == []


def test_core_async_session_views(database_url: str, schema: str, supabase: Any) -> None:
    async def main() -> None:
        async with vecs_core.create_async_client(database_url, schema=schema) as avx:
            col = await avx.get_or_create_collection("sections")
            view = col.session(claims(BOB), role="authenticated")
            assert _mine(await view.query(data=_vector(1), limit=12), "bob")
            hits = await view.hybrid_search("notes", _vector(1), limit=12)
            assert _mine((h.id for h in hits), "bob")

    asyncio.run(main())


def _langchain(database_url: str, schema: str) -> LangChainStore:
    return LangChainStore(Fixed(), "sections", connection=database_url, schema=schema)


def test_langchain_identity_per_store_and_per_call(
    supabase: Any, database_url: str, schema: str
) -> None:
    store = _langchain(database_url, schema)
    try:
        alice = store.for_session(claims(ALICE), role="authenticated")
        ids = [d.id for d in alice.similarity_search("apple", k=12)]
        assert _mine(ids, "alice")
        assert _mine((d.id for d, _ in alice.keyword_search_with_score("notes", k=12)), "alice")
        assert _mine((d.id for d in alice.hybrid_search("apple notes", k=12)), "alice")
        assert _mine((d.id for d in alice.max_marginal_relevance_search("apple", k=4)), "alice")
        bob = {"settings": claim_sub(BOB), "role": "authenticated"}
        assert _mine((d.id for d in store.similarity_search("apple", k=12, session=bob)), "bob")
        retriever = store.as_retriever(search_kwargs={"k": 12, "session": bob})
        assert _mine((d.id for d in retriever.invoke("apple")), "bob")
        hybrid = store.as_retriever(search_type="hybrid", search_kwargs={"k": 12, "session": bob})
        assert _mine((d.id for d in hybrid.invoke("apple notes")), "bob")
        # an identity under an unknown name raises instead of returning everyone's rows
        with pytest.raises(ArgError, match="unknown keyword argument.*'settings'"):
            store.similarity_search("apple", settings=claims(ALICE))
        with pytest.raises(ArgError, match="session must be a dict"):
            store.similarity_search("apple", session="alice")
        # writes through a view are the user's own (the policy applies to INSERT too)
        alice.add_texts(["figs of alice"], [{"document_id": 1}], ids=["alice-new"])
        with pytest.raises(PermissionDenied):
            alice.add_texts(["figs for bob"], [{"document_id": 2}], ids=["bob-new"])
    finally:
        store.close()


def test_langchain_async_identity(supabase: Any, database_url: str, schema: str) -> None:
    async def main() -> None:
        store = _langchain(database_url, schema)
        try:
            bob = store.for_session(claims(BOB), role="authenticated")
            docs = await bob.asimilarity_search("banana", k=12)
            assert _mine((d.id for d in docs), "bob")
            alice = {"settings": claims(ALICE), "role": "authenticated"}
            docs = await store.ahybrid_search("banana notes", k=12, session=alice)
            assert _mine((d.id for d in docs), "alice")
            retriever = store.as_retriever(search_kwargs={"k": 12, "session": alice})
            assert _mine((d.id for d in await retriever.ainvoke("banana")), "alice")
        finally:
            await store.aclose()

    asyncio.run(main())


def _llama(database_url: str, schema: str) -> LlamaIndexStore:
    return LlamaIndexStore("sections", DIM, connection=database_url, schema=schema)


def test_llama_index_identity(supabase: Any, database_url: str, schema: str) -> None:
    store = _llama(database_url, schema)
    try:
        q = VectorStoreQuery(query_embedding=_vector(2), similarity_top_k=12)
        alice = store.for_session(claims(ALICE), role="authenticated")
        assert _mine(alice.query(q).ids or [], "alice")
        bob = {"settings": claims(BOB), "role": "authenticated"}
        assert _mine(store.query(q, session=bob).ids or [], "bob")
        text = VectorStoreQuery(
            query_str="notes", similarity_top_k=12, mode=VectorStoreQueryMode.TEXT_SEARCH
        )
        assert _mine(store.query(text, session=bob).ids or [], "bob")
        hybrid = VectorStoreQuery(
            query_str="notes",
            query_embedding=_vector(2),
            similarity_top_k=12,
            mode=VectorStoreQueryMode.HYBRID,
        )
        assert _mine(alice.query(hybrid).ids or [], "alice")
        with pytest.raises(ArgError, match="unknown keyword argument.*'settings'"):
            store.query(q, settings=claims(ALICE))

        async def main() -> None:
            try:
                result = await store.aquery(q, session=bob)
                assert _mine(result.ids or [], "bob")
                result = await alice.aquery(hybrid)
                assert _mine(result.ids or [], "alice")
            finally:
                await store.aclose()

        asyncio.run(main())
    finally:
        store.close()
