"""Hostile strings through every entry point: stored literally or refused with a typed error."""

from __future__ import annotations

import itertools
import json
import random
import warnings

import pytest
from psycopg import sql

import vecs_core
from vecs_core import ArgError, FilterError, RecordError

PIECES = [
    "'",
    '"',
    "\\",
    ";",
    "--",
    "/*",
    "*/",
    "$$",
    "$1",
    "%s",
    "%(x)s",
    "{}",
    "?",
    "\x00",
    "\n",
    "\t",
    "DROP TABLE x",
    "' OR '1'='1",
    '") OR 1=1 --',
    "é",
    "日本",
    "🙂",
    "\u202e",
    "\ufeff",
    " ",
    "a",
    "_",
    "%",
    "\x7f",
    "\x01",
    "vecs.",
    "pg_catalog",
    "::jsonb",
    "->>",
    "@>",
]


def hostile_strings(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = set()
    for a, b in itertools.product(PIECES, repeat=2):
        out.add(a + b)
    while len(out) < n:
        out.add("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))))
    # names right at PostgreSQL's 63-byte identifier limit, in multibyte characters
    for size in (62, 63, 64, 65):
        out.add(("é" * 40).encode()[:size].decode(errors="ignore"))
        out.add(("x" * 70)[:size])
        out.add(("日" * 30).encode()[: size - size % 3].decode())
    return sorted(out)


STRINGS = hostile_strings(1200)


def test_at_least_a_thousand_cases():
    assert len(STRINGS) >= 1000


def test_ids_keys_values_and_text_round_trip_or_are_refused(client, sql_conn, schema):
    canary = client.get_or_create_collection("canary", dimension=2)
    canary.upsert([("c", [1, 1], {"k": "v"})])
    col = client.get_or_create_collection("hostile", dimension=2)
    stored: list[str] = []
    refused = 0
    for i, s in enumerate(STRINGS):
        record = (s, [1.0, float(i)], {s: s, "n": i}, s)
        try:
            col.upsert([record])
        except RecordError:
            assert "\x00" in s or s == ""
            refused += 1
            continue
        stored.append(s)
    assert refused == sum(1 for s in STRINGS if "\x00" in s or s == "")
    by_id = {r.id: r for r in col.get(stored)}
    assert set(by_id) == set(stored)
    for s in stored:
        item = by_id[s]
        assert item.text == s and item.metadata[s] == s
    # filters with hostile keys and values match exactly their own record
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in stored:
            if s.startswith("$"):  # a field name cannot start with "$" (operators do)
                with pytest.raises(FilterError, match="unknown logical operator"):
                    col.find({s: s})
                assert [h.id for h in col.find({"n": by_id[s].metadata["n"]})] == [s]
                continue
            assert [h.id for h in col.find({s: s})] == [s]
            assert col.count({s: {"$in": [s, s + "x"]}, "n": {"$gte": 0}}) == 1
            assert col.count({s: {"$exists": True}, "$not": {s: {"$ne": s}}}) == 1
    for s in STRINGS:
        if "\x00" in s:
            with pytest.raises(FilterError):
                col.count({s: 1})
            with pytest.raises(FilterError):
                col.count({"k": s})
    # deleting by hostile ids removes exactly those
    assert sorted(col.delete(ids=stored[:50])) == sorted(stored[:50])
    assert len(col) == len(stored) - 50
    assert canary.fetch(["c"])[0].metadata == {"k": "v"}
    tables = sql_conn.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
        (schema,),
    ).fetchall()
    assert [t[0] for t in tables] == ["canary", "hostile"]


def test_hostile_collection_and_schema_names(database_url, schema, sql_conn):
    before = sql_conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r'").fetchone()
    names = STRINGS[::6]  # ~200 names: each creates, writes, indexes and drops a table
    created = refused = 0
    with vecs_core.create_client(database_url, schema=schema, pool_size=2) as vx:
        canary = vx.get_or_create_collection("canary", dimension=2)
        canary.upsert([("c", [1, 1], {})])
        for i, name in enumerate(names):
            try:
                col = vx.get_or_create_collection(name, dimension=2)
            except ArgError:
                size = len(name.encode())
                assert (
                    size == 0
                    or size > 63
                    or name.startswith("_")
                    or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
                ), name
                refused += 1
                continue
            created += 1
            col.upsert([("a", [1, 2], {"name": name})])
            if i % 10 == 0:
                col.create_index()
                assert col.index is not None
            assert col.fetch(["a"])[0].metadata == {"name": name}
            assert name in [c.name for c in vx.list_collections()]
            vx.delete_collection(name)
        assert [c.name for c in vx.list_collections()] == ["canary"]
        assert canary.fetch(["c"])[0].id == "c"
    assert created > 100 and refused > 10
    for name in STRINGS[::40]:
        try:
            client = vecs_core.create_client(database_url, schema=name)
        except ArgError:
            continue
        with client:
            client.get_or_create_collection("x", dimension=2).upsert([("a", [1, 2], {})])
            assert [c.name for c in client.list_collections()] == ["x"]
        sql_conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    after = sql_conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r'").fetchone()
    assert after[0] == before[0] + 1  # only the canary remains


def test_ids_that_are_not_strings_are_refused(client):
    col = client.get_or_create_collection("ids", dimension=2)
    for bad in (1, 1.5, None, b"bytes", ("t",), ["l"]):
        with pytest.raises(RecordError, match="id must be a str"):
            col.upsert([(bad, [1, 2], {})])
    with pytest.raises(ArgError):
        col.fetch([1])  # type: ignore[list-item]
    with pytest.raises(ArgError):
        col.delete(ids="single-string")
    assert len(col) == 0


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"a": 1, "b": -2.5, "c": True, "d": None, "e": "x"},
        {"ünï": 'ç☃\n\t"\\', "big": 10**30, "tiny": 5e-324},
        {"emoji": "😀", "zero": 0.0, "neg": -0.0},
    ],
)
def test_flat_metadata_fast_path_writes_the_same_json(metadata):
    from vecs_core._records import encode_metadata

    expected = json.dumps(metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert encode_metadata(metadata, what="r").decode("utf-8") == expected
    assert json.loads(encode_metadata(metadata, what="r")) == metadata


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"a": float("nan")}, "NaN or infinity"),
        ({"a": float("-inf")}, "NaN or infinity"),
        ({"a": "x\x00y"}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ({"a": "\udc80"}, "lone surrogate"),
        ({"a": 10**5000}, "too large"),
    ],
)
def test_flat_metadata_fast_path_refuses_what_the_general_one_does(metadata, message):
    from vecs_core._records import encode_metadata

    with pytest.raises(RecordError, match=message):
        encode_metadata(metadata, what="r")
    with pytest.raises(RecordError, match=message):  # the same through the nested path
        encode_metadata({"nested": metadata}, what="r")
