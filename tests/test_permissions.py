"""Row Level Security with per-request session settings ("RAG with permissions")."""

from __future__ import annotations

import uuid
import warnings

import pytest
from psycopg import sql

from vecs_core.exc import ArgError, PermissionDenied


@pytest.fixture
def app_role(sql_conn, backend):
    role = f"app_{uuid.uuid4().hex[:8]}"
    # Citus runs a role's shard queries on connections to the workers opened as that role
    login = sql.SQL("LOGIN" if backend == "citus" else "NOLOGIN")
    sql_conn.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(role), login))
    yield role
    sql_conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    sql_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.citus
def test_rls_policy_restricts_query_fetch_find_delete(vx, sql_conn, schema, app_role):
    col = vx.get_or_create_collection("docs", dimension=3)
    col.upsert(
        [
            ("a1", [1, 0, 0], {"owner": "alice", "n": 1}),
            ("a2", [0.9, 0.1, 0], {"owner": "alice", "n": 2}),
            ("b1", [1, 0, 0.1], {"owner": "bob", "n": 3}),
        ]
    )
    table = sql.Identifier(schema, "docs")
    role = sql.Identifier(app_role)
    sql_conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), role))
    sql_conn.execute(
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(table, role)
    )
    sql_conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table))
    sql_conn.execute(
        sql.SQL(
            "CREATE POLICY owner_only ON {} TO {} "
            "USING (metadata ->> 'owner' = current_setting('app.user_id', true)) "
            "WITH CHECK (metadata ->> 'owner' = current_setting('app.user_id', true))"
        ).format(table, role)
    )

    alice = vx.session(settings={"app.user_id": "alice"}, role=app_role)
    bob = vx.session(settings={"app.user_id": "bob"}, role=app_role)
    a_docs = alice.get_or_create_collection("docs")
    b_docs = bob.get_or_create_collection("docs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sorted(a_docs.query(data=[1, 0, 0], limit=10)) == ["a1", "a2"]
        assert b_docs.query(data=[1, 0, 0], limit=10) == ["b1"]
    assert [r.id for r in a_docs.fetch(["a1", "b1"])] == ["a1"]
    assert b_docs.count() == 1 and a_docs.count() == 2
    assert b_docs.delete(ids=["a1", "a2", "b1"]) == ["b1"]
    assert sorted(i.id for i in a_docs.find()) == ["a1", "a2"]
    # writes are checked too: bob cannot write a record owned by alice
    with pytest.raises(PermissionDenied, match="row-level security"):
        b_docs.upsert([("evil", [1, 1, 1], {"owner": "alice"})])
    a_docs.upsert([("a3", [0, 1, 0], {"owner": "alice"})])
    # the unrestricted client still sees everything; settings did not leak into the pool
    assert sorted(i.id for i in col.find()) == ["a1", "a2", "a3"]
    assert col.count() == 3


def test_session_settings_are_validated(vx):
    with pytest.raises(ArgError, match="app.user_id"):
        vx.session(settings={"user_id": "x"})
    with pytest.raises(ArgError, match="value"):
        vx.session(settings={"app.user_id": None})
    with pytest.raises(ArgError, match="role name"):
        vx.session(role="")
