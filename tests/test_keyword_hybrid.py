"""Keyword (full-text) and hybrid (RRF) search over the document ``text`` column."""

from __future__ import annotations

import asyncio
import math

import psycopg
import pytest

import vecs_core
from vecs_core import ArgError, FilterError
from vecs_core._plans.text import fts_index_name
from vecs_core.adapter import Adapter, TextEmbedding

DOCS = [
    ("bread", "Bake bread at 220 degrees for forty minutes until the crust is golden.", "food"),
    ("loaf", "Homemade loaves need flour, water, yeast, salt and a very hot oven.", "food"),
    ("pasta", "Boil the pasta in salted water and drain it while still firm.", "food"),
    ("pg", "PostgreSQL is an open source relational database system.", "tech"),
    ("pgvector", "The pgvector extension adds vector similarity search to PostgreSQL.", "tech"),
    ("python", "Python is a popular programming language for data science.", "tech"),
    ("football", "The football match ended in a draw after extra time.", "sport"),
    ("tennis", "She won the tennis final in three straight sets.", "sport"),
    ("cats", "Cats sleep for most of the day and hunt at night.", "animals"),
    ("dogs", "Dogs love to chase balls in the park.", "animals"),
    ("rain", "Heavy rain is expected across the north on Sunday.", "weather"),
    ("bank", "The central bank raised interest rates to fight inflation.", "finance"),
]


@pytest.fixture(scope="module")
def embedding() -> TextEmbedding:
    step = TextEmbedding()
    assert step.exported_dimension == 384
    return step


@pytest.fixture
def docs(client, embedding):
    col = client.get_or_create_collection("docs", adapter=Adapter([embedding]))
    col.upsert([(i, text, {"topic": topic, "n": n}) for n, (i, text, topic) in enumerate(DOCS)])
    return col


def unit(i: int, dim: int = 3) -> list[float]:
    return [1.0 if d == i else 0.0 for d in range(dim)]


# -- keyword search --------------------------------------------------------------------------------
@pytest.mark.citus
def test_keyword_search_ranks_exact_matches(docs):
    hits = docs.keyword_search("PostgreSQL")
    assert {h.id for h in hits} == {"pg", "pgvector"}
    assert all(h.distance is None and h.score is not None and h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    by_id = {h.id: h for h in hits}
    assert by_id["pg"].text == DOCS[3][1]
    assert by_id["pg"].metadata == {"topic": "tech", "n": 3}
    # stemming and web-search syntax
    assert [h.id for h in docs.keyword_search("baking breads")] == ["bread"]
    assert [h.id for h in docs.keyword_search('"vector similarity"')] == ["pgvector"]
    assert {h.id for h in docs.keyword_search("tennis or football")} == {"tennis", "football"}
    assert [h.id for h in docs.keyword_search("postgresql -vector")] == ["pg"]
    assert docs.keyword_search("zeppelin") == []
    assert docs.keyword_search("the") == []  # stop words only: nothing to match
    assert len(docs.keyword_search("water", limit=1)) == 1


def test_keyword_ranking_prefers_denser_matches(client):
    col = client.get_or_create_collection("rank", dimension=3)
    col.upsert(
        [
            ("once", unit(0), {}, "a report about lakes, rivers and one mention of salmon"),
            ("many", unit(1), {}, "salmon salmon: wild salmon swim upstream"),
            ("none", unit(2), {}, "nothing relevant here"),
        ]
    )
    assert [h.id for h in col.keyword_search("salmon")] == ["many", "once"]


def test_keyword_search_respects_filters(docs):
    assert {h.id for h in docs.keyword_search("water")} == {"loaf", "pasta"}
    assert [h.id for h in docs.keyword_search("water", filters={"n": {"$gte": 2}})] == ["pasta"]
    hits = docs.keyword_search("postgresql", filters={"$or": [{"topic": "food"}, {"n": 4}]})
    assert [h.id for h in hits] == ["pgvector"]
    with pytest.raises(FilterError):
        docs.keyword_search("water", filters={"n": {"$bogus": 1}})


def test_keyword_language_validation_and_other_languages(client):
    col = client.get_or_create_collection("fr", dimension=3)
    col.upsert([("fr", unit(0), {}, "Les chats dorment toute la journée.")])
    with pytest.raises(ArgError, match="unknown text search language 'klingon'.*english"):
        col.keyword_search("chat", language="klingon")
    with pytest.raises(ArgError, match="language must be"):
        col.keyword_search("chat", language=3)  # type: ignore[arg-type]
    with pytest.raises(ArgError, match="language"):
        col.keyword_search("chat", language="english'; DROP TABLE fr; --")
    # other configurations are computed on the fly: 'la' is a French stop word, not an English one
    assert [h.id for h in col.keyword_search("la")] == ["fr"]
    assert col.keyword_search("la", language="french") == []
    assert [h.id for h in col.keyword_search("chat", language="french")] == ["fr"]
    assert [h.id for h in col.keyword_search("chats", language="simple")] == ["fr"]
    assert col.count() == 1


def test_keyword_argument_checks(client):
    col = client.get_or_create_collection("args", dimension=3)
    for bad in ("", "   ", None, 3, "nul\x00byte"):
        with pytest.raises(ArgError, match="search text"):
            col.keyword_search(bad)  # type: ignore[arg-type]
    for limit in (0, 1001, True, 2.5):
        with pytest.raises(ArgError, match="limit"):
            col.keyword_search("x", limit=limit)  # type: ignore[arg-type]


@pytest.mark.citus
def test_enable_full_text_is_idempotent(client, sql_conn, schema):
    col = client.get_or_create_collection("plain", dimension=3)
    col.upsert([("v", unit(0), {})])  # no text column yet
    assert col.keyword_search("anything") == []  # adds text + fts + index on first use
    col.enable_full_text()
    col.enable_full_text()
    cols = sql_conn.execute(
        "SELECT attname, attgenerated FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (f'"{schema}"."plain"',),
    ).fetchall()
    assert cols == [("id", ""), ("vec", ""), ("metadata", ""), ("text", "")]

    def fts_indexes() -> list[str]:
        return [
            r[0]
            for r in sql_conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = %s::regclass"
                " AND am.amname = 'gin' AND pg_get_indexdef(i.indexrelid) LIKE"
                " '%%to_tsvector(''english''::regconfig, COALESCE(text%%'",
                (f'"{schema}"."plain"',),
            )
        ]

    (index,) = fts_indexes()
    sql_conn.execute(f'DROP INDEX "{schema}"."{index}"')
    col.enable_full_text()  # puts a dropped index back
    assert len(fts_indexes()) == 1
    col.upsert([("t", unit(1), {}, "text arrives later")])
    assert [h.id for h in col.keyword_search("arrives")] == ["t"]
    assert col.list_indexes() == []  # the GIN index is not a vector index


@pytest.mark.citus
def test_text_roundtrip_unicode_and_metadata_key_named_text(client):
    col = client.get_or_create_collection("uni", dimension=3)
    text = "Zürich café — 東京の天気 🚀\n\ttabs, \"quotes\", 'apostrophes' and \\backslashes\\ "
    col.upsert(
        [
            ("u", unit(0), {"text": "metadata value", "lang": "mixed"}, text),
            ("other", unit(1), {"text": "café"}, "plain words"),
        ]
    )
    assert col.get(["u"])[0].text == text
    hits = col.keyword_search("café")
    assert [(h.id, h.text) for h in hits] == [("u", text)]
    assert hits[0].metadata == {"text": "metadata value", "lang": "mixed"}
    assert [h.id for h in col.keyword_search("metadata")] == []  # metadata is not searched
    filtered = col.keyword_search("café OR plain", filters={"text": "café"})
    assert [(h.id, h.text, h.metadata["text"]) for h in filtered] == [
        ("other", "plain words", "café")
    ]
    hybrid = col.hybrid_search("zürich", unit(0), limit=2, filters={"text": "metadata value"})
    assert [(h.id, h.text) for h in hybrid] == [("u", text)]


# -- hybrid search ---------------------------------------------------------------------------------
@pytest.mark.citus
def test_hybrid_ranks_keyword_match_and_paraphrase_near_top(docs):
    hits = docs.hybrid_search("how to bake bread", limit=5)
    top3 = [h.id for h in hits[:3]]
    assert "bread" in top3 and "loaf" in top3, [(h.id, h.score) for h in hits]
    assert hits[0].id == "bread"  # ranked first by both sides
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.distance is not None and h.text for h in hits)
    # the paraphrase has no word in common with the query: keyword search misses it
    assert [h.id for h in docs.keyword_search("how to bake bread")] == ["bread"]


def test_hybrid_two_queries_in_a_row_use_their_own_text(docs):
    first = docs.hybrid_search("relational database", limit=2)
    second = docs.hybrid_search("tennis final", limit=2)
    assert first[0].id == "pg"
    assert second[0].id == "tennis"
    assert {h.id for h in first}.isdisjoint({h.id for h in second})


def test_hybrid_filters_and_weights(docs):
    hits = docs.hybrid_search("bread", limit=3, filters={"topic": "tech"})
    assert hits and all(h.metadata["topic"] == "tech" for h in hits)
    only_semantic = docs.hybrid_search("a warm oven for baking", full_text_weight=0, limit=3)
    assert only_semantic[0].id in {"bread", "loaf"}
    only_keyword = docs.hybrid_search("oven", semantic_weight=0, limit=3)
    assert only_keyword[0].id == "loaf"


@pytest.mark.citus
def test_hybrid_rrf_scores_and_keyword_only_rows(client):
    col = client.get_or_create_collection("rrf", dimension=3)
    col.upsert(
        [
            ("both", unit(0), {}, "alpha beta"),
            ("vec_only", [0.9, 0.1, 0.0], {}, "unrelated words"),
            *[(f"far{i}", [0.5, 1.0 + i, 0.0], {}, "filler") for i in range(6)],
            ("kw_only", [-1.0, 0.0, 0.1], {}, "alpha gamma"),  # the farthest vector
        ]
    )
    hits = col.hybrid_search("alpha", unit(0), limit=1, rrf_k=10)
    assert [h.id for h in hits] == ["both"]
    assert math.isclose(hits[0].score, 1 / 11 + 1 / 11)
    assert math.isclose(hits[0].distance, 0.0, abs_tol=1e-6)
    # limit 2 -> 8 candidates per side: every row but "kw_only" is a semantic candidate
    hits = col.hybrid_search("alpha", unit(0), limit=2, rrf_k=1, full_text_weight=3)
    assert [h.id for h in hits] == ["both", "kw_only"]
    assert math.isclose(hits[0].score, 1 / 2 + 3 / 2)
    assert math.isclose(hits[1].score, 3 / 3)
    assert hits[1].distance is None
    assert hits[1].text == "alpha gamma"
    hits = col.hybrid_search("alpha", unit(0), limit=3, rrf_k=1, full_text_weight=3)
    assert hits[2].id == "vec_only"
    assert math.isclose(hits[2].score, 1 / 3)


@pytest.mark.citus
def test_hybrid_measure_and_index(client):
    col = client.get_or_create_collection("ix", dimension=3)
    col.upsert([(f"r{i}", [1.0, i / 10, 0.5], {"i": i}, f"row number {i}") for i in range(40)])
    col.create_index(measure="l2_distance", method="hnsw")
    hits = col.hybrid_search("row", [1.0, 0.0, 0.5], measure="l2_distance", limit=3)
    assert hits[0].id == "r0"
    assert math.isclose(hits[0].distance, 0.0, abs_tol=1e-6)
    filtered = col.hybrid_search("row", [1.0, 0.0, 0.5], filters={"i": {"$gte": 30}}, limit=2)
    assert [h.id for h in filtered] == ["r30", "r31"]
    with pytest.raises(ArgError, match="measure"):
        col.hybrid_search("row", [1.0, 0.0, 0.5], measure="manhattan")


def test_hybrid_argument_checks(client):
    col = client.get_or_create_collection("hargs", dimension=3)
    with pytest.raises(ArgError, match="needs a query vector"):
        col.hybrid_search("no adapter and no vector")
    bad = [
        ({"full_text_weight": -1}, "full_text_weight"),
        ({"semantic_weight": float("nan")}, "semantic_weight"),
        ({"semantic_weight": float("inf")}, "semantic_weight"),
        ({"full_text_weight": "1"}, "full_text_weight"),
        ({"full_text_weight": 0, "semantic_weight": 0.0}, "both be 0"),
        ({"rrf_k": 0}, "rrf_k"),
        ({"rrf_k": 1.5}, "rrf_k"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"language": "xx"}, "unknown text search language 'xx'"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ArgError, match=message):
            col.hybrid_search("text", unit(0), **kwargs)
    with pytest.raises(ArgError, match="dimension"):
        col.hybrid_search("text", [1.0, 2.0])
    with pytest.raises(ArgError, match="search text"):
        col.hybrid_search("", unit(0))


@pytest.mark.citus
def test_keyword_and_hybrid_through_both_shells_on_every_kind(kvx):
    col = kvx.get_or_create_collection("shells", dimension=3)
    col.upsert(
        [
            ("a", unit(0), {"k": 1}, "red apples and green pears"),
            ("b", unit(1), {"k": 2}, "green grass"),
            ("c", unit(2), {"k": 3}, "blue sky"),
        ]
    )
    assert [h.id for h in col.keyword_search("green")] in (["a", "b"], ["b", "a"])
    assert [h.id for h in col.keyword_search("green", filters={"k": 2})] == ["b"]
    hits = col.hybrid_search("green", unit(0), limit=2)
    assert [h.id for h in hits] == ["a", "b"]
    hits = col.hybrid_search("green", unit(1), limit=2, filters={"k": {"$gte": 2}})
    assert [h.id for h in hits] == ["b", "c"] and hits[0].distance == pytest.approx(0.0, abs=1e-6)
    col.create_index()
    assert [h.id for h in col.hybrid_search("green", unit(0), limit=2)] == ["a", "b"]
    col.enable_full_text()


def test_async_client_with_text_adapter(database_url, schema, embedding):
    async def main() -> list[str]:
        client = vecs_core.create_async_client(database_url, schema=schema)
        try:
            col = await client.get_or_create_collection("adocs", adapter=Adapter([embedding]))
            await col.upsert([(i, text, {"topic": t}) for i, text, t in DOCS])
            kw = await col.keyword_search("pgvector")
            hy = await col.hybrid_search("a hot oven for homemade loaves", limit=2)
            return [kw[0].id, hy[0].id]
        finally:
            await client.disconnect()

    assert asyncio.run(main()) == ["pgvector", "loaf"]


def _plan(sql_conn, schema: str, query: str) -> str:
    sql_conn.execute(psycopg.sql.SQL("SET search_path = {}").format(psycopg.sql.Identifier(schema)))
    rows = sql_conn.execute("EXPLAIN " + query).fetchall()
    return " ".join(r[0] for r in rows)


FRENCH = [
    ("chats", "Les chats dorment toute la journée au soleil."),
    ("chevaux", "Le cheval galope dans les prés."),
    ("pluie", "Il pleut souvent en Bretagne, la pluie est fine."),
]


def test_full_text_in_french(kvx, sql_conn, schema):
    col = kvx.get_or_create_collection("fr", dimension=3)
    col.upsert([(i, unit(n), {"n": n}, t) for n, (i, t) in enumerate(FRENCH)])
    assert col.enable_full_text(language="french") == "french"
    # French stemming: "chat" finds "chats", "chevaux" finds "cheval", "pleuvoir"... "pluies"
    assert [h.id for h in col.keyword_search("chat")] == ["chats"]
    assert [h.id for h in col.keyword_search("chevaux")] == ["chevaux"]
    assert [h.id for h in col.keyword_search("pluies")] == ["pluie"]
    assert [h.id for h in col.keyword_search("la")] == []  # a French stop word
    hits = col.hybrid_search("cheval", unit(2), limit=2)
    assert {h.id for h in hits} == {"chevaux", "pluie"}
    # the search language defaults to the collection's; another one is computed on the fly
    assert [h.id for h in col.keyword_search("la", language="english")] == ["chats", "pluie"]


def test_full_text_index_serves_the_language_and_changes_concurrently(client, sql_conn, schema):
    col = client.get_or_create_collection("fr", dimension=3)
    col.upsert(
        [(f"r{i}", unit(i % 3), {}, f"document numéro {i} sur les chats") for i in range(3000)]
    )
    col.upsert([(i, unit(0), {}, t) for i, t in FRENCH])
    col.enable_full_text("french")
    sql_conn.execute("ANALYZE " + f'"{schema}"."fr"')
    explain = _plan(
        sql_conn,
        schema,
        "SELECT id FROM fr WHERE to_tsvector('french'::regconfig, coalesce(text, ''))"
        " @@ websearch_to_tsquery('french'::regconfig, 'cheval')",
    )
    assert "Bitmap Index Scan on ix_fts_" in explain, explain
    names = lambda: [  # noqa: E731
        r[0]
        for r in sql_conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname LIKE 'ix_fts%%'",
            (schema,),
        )
    ]
    (french_index,) = names()
    assert col.enable_full_text() == "french"  # None keeps the language: nothing rebuilt
    assert names() == [french_index]
    assert col.enable_full_text("simple") == "simple"  # a new index, then the old one dropped
    (simple_index,) = names()
    assert simple_index != french_index
    assert col.keyword_search("chevaux") == []  # 'simple': no stemming
    assert [h.id for h in col.keyword_search("cheval")] == ["chevaux"]
    # another client finds the language in the catalog
    other = client.get_or_create_collection("fr")
    assert other.keyword_search("chevaux") == []
    with pytest.raises(ArgError, match="unknown text search language 'klingon'"):
        col.enable_full_text("klingon")


def test_stored_fts_column_of_earlier_versions(client, sql_conn, schema):
    col = client.get_or_create_collection("old", dimension=3)
    col.upsert([(i, unit(n), {}, t) for n, (i, t) in enumerate(DOCS_EN)])
    table = f'"{schema}"."old"'
    sql_conn.execute(  # what vecs_core 0.1 created: a stored generated column and a GIN index
        f"ALTER TABLE {table} ADD COLUMN fts tsvector GENERATED ALWAYS AS"
        " (to_tsvector('english'::regconfig, coalesce(text, ''))) STORED"
    )

    sql_conn.execute(f'CREATE INDEX "{fts_index_name("old")}" ON {table} USING gin (fts)')
    old = client.get_or_create_collection("old")
    assert [h.id for h in old.keyword_search("cats")] == ["cats"]  # served by the stored column
    assert old.enable_full_text() == "english"  # moves it to an expression index
    columns = [r[0] for r in sql_conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
        " AND table_name = 'old'", (schema,))]  # fmt: skip
    assert "fts" not in columns
    assert [h.id for h in old.keyword_search("cats")] == ["cats"]


DOCS_EN = [("cats", "Cats sleep all day."), ("dogs", "Dogs bark at night.")]
