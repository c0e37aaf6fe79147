"""Property test: VecsVectorStore filters select exactly what LlamaIndex's SimpleVectorStore does.

Random nodes (metadata from a small key pool: ints, floats, strings, booleans, lists of strings,
nulls, missing keys) and random filters (every FilterOperator, AND/OR/NOT groups nested up to
depth 3). The reference is SimpleVectorStore.query(top_k=all). The installed LlamaIndex refuses
nested groups, so a nested group is judged by combining SimpleVectorStore's answers for its
children with the group's condition (all / any / none), exactly as build_metadata_filter_fn
combines a flat list. Cases where LlamaIndex raises TypeError (e.g. ``"a" > 1`` on some node) are
outside the domain and skipped; the test asserts that at least MIN_CASES cases were compared.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.simple import SimpleVectorStore
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

import vecs_core
from vecs_integrations.llama_index import VecsVectorStore

DIM = 3
FILTERS_PER_DATASET = 24
DATASETS = 60
MIN_CASES = 500

ALPHABET = "aAbB%_\\é"
small_text = st.text(alphabet=ALPHABET, max_size=3)
ints = st.integers(-2, 3)
floats = st.sampled_from([-1.5, 0.0, 0.5, 1.0, 2.0, 2.5])
numbers = st.one_of(ints, floats)
str_lists = st.lists(small_text, max_size=3)

# key -> generator of its values; each key has a dominant type so that comparisons mostly stay
# in LlamaIndex's domain, plus "mixed" holding anything. Data sets come from a seeded
# random.Random (more varied than hypothesis' small-example bias); of the filters for each data
# set, a third come from hypothesis strategies and the rest from the same seeded generator.
CHARS = list(ALPHABET)
FLOATS = [-1.5, 0.0, 0.5, 1.0, 2.0, 2.5]


def _text(r: random.Random) -> str:
    return "".join(r.choice(CHARS) for _ in range(r.randint(0, 3)))


def _number(r: random.Random) -> Any:
    return r.randint(-2, 3) if r.random() < 0.5 else r.choice(FLOATS)


def _tags(r: random.Random) -> list[str]:
    return [_text(r) for _ in range(r.randint(0, 3))]


KEY_VALUES: dict[str, list[Any]] = {
    "num": [_number, _number, lambda r: r.random() < 0.5, lambda r: None],
    "str": [_text, _text, _text, lambda r: None],
    "tags": [_tags, _tags, _text, lambda r: None],
    "flag": [lambda r: r.random() < 0.5, lambda r: r.randint(0, 2)],
    "mixed": [_number, lambda r: r.random() < 0.5, _text, _tags, lambda r: None],
}
# the data keys, weighted up, plus a key no node has, a LlamaIndex key and a hidden one
FILTER_KEYS = [*KEY_VALUES] * 3 + ["absent", "ref_doc_id", "_node_content"]


@st.composite
def datasets(draw: st.DrawFn) -> tuple[random.Random, list[TextNode]]:
    r = random.Random(draw(st.integers(0, 2**32)))
    nodes = []
    for i in range(r.randint(8, 20)):
        md = {k: r.choice(gens)(r) for k, gens in KEY_VALUES.items() if r.random() < 0.8}
        doc = r.choice(["d0", "d1", None])
        rel = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)} if doc else {}
        nodes.append(
            TextNode(
                id_=f"n{i:02d}",
                text=f"node {i}",
                metadata=md,
                embedding=[float(r.randint(1, 9)) for _ in range(DIM)],
                relationships=rel,
            )
        )
    return r, nodes


def value_for(op: FilterOperator, seen: list[Any]) -> st.SearchStrategy[Any]:
    """A filter value for ``op``: often one seen in the data set (so the filter selects some
    nodes but not all), else a random one."""
    scalars = [v for v in seen if isinstance(v, (int, float, str))]
    strings = [v for v in seen if isinstance(v, str)]
    strings += [x for v in seen if isinstance(v, list) for x in v]
    pick_scalar = st.sampled_from(scalars) if scalars else numbers
    pick_string = st.sampled_from(strings) if strings else small_text
    # bools are not valid MetadataFilter values: use their numbers
    pick_scalar = pick_scalar.map(lambda v: int(v) if isinstance(v, bool) else v)
    if op in (FilterOperator.EQ, FilterOperator.NE):
        return st.one_of(pick_scalar, pick_scalar, numbers, small_text, st.none())
    if op in (FilterOperator.GT, FilterOperator.GTE, FilterOperator.LT, FilterOperator.LTE):
        return st.one_of(pick_scalar, pick_scalar, numbers, small_text)
    if op in (FilterOperator.IN, FilterOperator.NIN, FilterOperator.ANY, FilterOperator.ALL):
        return st.one_of(
            st.lists(pick_string, max_size=3),
            st.lists(pick_string, max_size=3),
            str_lists,
            st.lists(ints, max_size=3),
            st.lists(floats, max_size=3),
            small_text,
            pick_string.map(lambda v: v + "b"),
        )
    if op == FilterOperator.CONTAINS:
        return st.one_of(pick_string, pick_string, small_text, numbers)
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        return st.one_of(pick_string, pick_string.map(str.upper), small_text)
    return st.none()  # IS_EMPTY


_RANGE = (FilterOperator.GT, FilterOperator.GTE, FilterOperator.LT, FilterOperator.LTE)
TYPED_KEYS: dict[FilterOperator, list[str]] = {
    FilterOperator.TEXT_MATCH: ["str"],
    FilterOperator.TEXT_MATCH_INSENSITIVE: ["str"],
    FilterOperator.CONTAINS: ["str", "tags"],
    FilterOperator.ANY: ["str", "tags"],
    FilterOperator.ALL: ["str", "tags"],
    **{op: ["num", "str", "flag"] for op in _RANGE},
}


def random_value(r: random.Random, op: FilterOperator, seen: list[Any]) -> Any:
    """``value_for`` with a plain random generator."""
    scalars = [
        int(v) if isinstance(v, bool) else v for v in seen if isinstance(v, (int, float, str))
    ]
    strings = [v for v in seen if isinstance(v, str)]
    strings += [x for v in seen if isinstance(v, list) for x in v]

    def scalar() -> Any:
        if scalars and r.random() < 0.6:
            return r.choice(scalars)
        return _number(r) if r.random() < 0.5 else _text(r)

    def string() -> str:
        return r.choice(strings) if strings and r.random() < 0.6 else _text(r)

    if op in (FilterOperator.EQ, FilterOperator.NE):
        return None if r.random() < 0.05 else scalar()
    if op in (FilterOperator.GT, FilterOperator.GTE, FilterOperator.LT, FilterOperator.LTE):
        return scalar()
    if op in (FilterOperator.IN, FilterOperator.NIN, FilterOperator.ANY, FilterOperator.ALL):
        kind = r.random()
        if kind < 0.6:
            return [string() for _ in range(r.randint(0, 3))]
        if kind < 0.7:  # a list of ints (MetadataFilter keeps it as ints)
            return [r.randint(-2, 3) for _ in range(r.randint(0, 3))]
        if kind < 0.8:  # a list of floats
            return [r.choice(FLOATS) for _ in range(r.randint(0, 3))]
        return string() + (_text(r) if r.random() < 0.5 else "")
    if op == FilterOperator.CONTAINS:
        return string() if r.random() < 0.9 else _number(r)
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        v = string()
        return v.upper() if r.random() < 0.3 else v
    return None  # IS_EMPTY


def random_filters(r: random.Random, seen: dict[str, list[Any]], depth: int) -> MetadataFilters:
    children: list[Any] = []
    for _ in range(0 if r.random() < 0.05 else r.randint(1, 3)):
        if depth > 1 and r.random() < 0.35:
            children.append(random_filters(r, seen, depth - 1))
            continue
        op = r.choice(list(FilterOperator))
        key = r.choice(FILTER_KEYS)
        if r.random() < 0.7 and op in TYPED_KEYS:  # steer towards LlamaIndex's domain
            key = r.choice(TYPED_KEYS[op])
        if key == "ref_doc_id" and r.random() < 0.5:
            children.append(MetadataFilter(key=key, value=r.choice(["d0", "None"]), operator=op))
            continue
        value = random_value(r, op, seen.get(key, []))
        children.append(MetadataFilter(key=key, value=value, operator=op))
    condition = r.choice([FilterCondition.AND, FilterCondition.OR, FilterCondition.NOT, None])
    return MetadataFilters(filters=children, condition=condition)


def leaves(seen: dict[str, list[Any]]) -> st.SearchStrategy[MetadataFilter]:
    @st.composite
    def leaf(draw: st.DrawFn) -> MetadataFilter:
        op = draw(st.sampled_from(list(FilterOperator)))
        key = draw(st.sampled_from(FILTER_KEYS))
        if key == "ref_doc_id" and draw(st.booleans()):
            value = draw(st.sampled_from(["d0", "None"]))
            return MetadataFilter(key=key, value=value, operator=op)
        return MetadataFilter(key=key, value=draw(value_for(op, seen.get(key, []))), operator=op)

    return leaf()


def groups(seen: dict[str, list[Any]], depth: int) -> st.SearchStrategy[MetadataFilters]:
    child = (
        leaves(seen)
        if depth <= 1
        else st.one_of(leaves(seen), leaves(seen), groups(seen, depth - 1))
    )
    return st.builds(
        MetadataFilters,
        filters=st.one_of(
            st.lists(child, min_size=1, max_size=3),
            st.lists(child, min_size=1, max_size=3),
            st.lists(child, min_size=1, max_size=3),
            st.just([]),
        ),
        condition=st.sampled_from(
            [FilterCondition.AND, FilterCondition.OR, FilterCondition.NOT, None]
        ),
    )


def top_level(seen: dict[str, list[Any]]) -> st.SearchStrategy[MetadataFilters]:
    single = leaves(seen).map(lambda leaf: MetadataFilters(filters=[leaf]))
    return st.one_of(single, single, groups(seen, 1), groups(seen, 2), groups(seen, 3))


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[TextNode], list[MetadataFilters]]:
    r, nodes = draw(datasets())
    seen: dict[str, list[Any]] = {}
    for n in nodes:
        for k, v in n.metadata.items():
            seen.setdefault(k, []).append(v)
    third = FILTERS_PER_DATASET // 3
    # a third from hypothesis (edge cases, shrinkable), the rest from the seeded generator
    filters = draw(st.lists(top_level(seen), min_size=third, max_size=third))
    filters += [
        random_filters(r, seen, r.randint(1, 3)) for _ in range(FILTERS_PER_DATASET - third)
    ]
    return nodes, filters


def operators(f: MetadataFilters) -> set[FilterOperator]:
    out: set[FilterOperator] = set()
    for c in f.filters:
        out |= operators(c) if isinstance(c, MetadataFilters) else {FilterOperator(c.operator)}
    return out


def reference(simple: SimpleVectorStore, f: MetadataFilters, all_ids: set[str]) -> set[str]:
    """Ids SimpleVectorStore selects for ``f``; nested groups composed from its answers."""
    if all(isinstance(c, MetadataFilter) for c in f.filters):
        q = VectorStoreQuery(query_embedding=[1.0] * DIM, similarity_top_k=len(all_ids), filters=f)
        return set(simple.query(q).ids or [])
    if not f.filters:
        return set(all_ids)
    parts = [
        reference(
            simple, c if isinstance(c, MetadataFilters) else MetadataFilters(filters=[c]), all_ids
        )
        for c in f.filters
    ]
    condition = f.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return set.intersection(*parts)
    union = set.union(*parts)
    return union if condition == FilterCondition.OR else all_ids - union


@pytest.fixture(scope="module")
def prop_store(database_url: str) -> Iterator[VecsVectorStore]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    client = vecs_core.create_client(database_url, schema=schema, pool_size=2)
    store = VecsVectorStore("prop", DIM, client=client)
    yield store
    client.disconnect()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_filters_agree_with_simple_vector_store(prop_store: VecsVectorStore) -> None:
    stats = {"compared": 0, "skipped": 0, "partial": 0, "nested": 0}
    partial_by_op: dict[FilterOperator, int] = dict.fromkeys(FilterOperator, 0)

    @settings(
        max_examples=DATASETS,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases())
    def check(case: tuple[list[TextNode], list[MetadataFilters]]) -> None:
        nodes, filters = case
        simple = SimpleVectorStore()
        simple.add(nodes)
        prop_store.clear()
        prop_store.add(nodes)
        all_ids = {n.node_id for n in nodes}
        for i, f in enumerate(filters):
            try:
                expected = reference(simple, f, all_ids)
            except TypeError:  # LlamaIndex itself cannot answer: outside the domain
                stats["skipped"] += 1
                continue
            q = VectorStoreQuery(
                query_embedding=[1.0] * DIM, similarity_top_k=len(nodes), filters=f
            )
            got = set(prop_store.query(q).ids or [])
            assert got == expected, f"filter {f!r}: ours {sorted(got)} != {sorted(expected)}"
            if i % 4 == 0:
                via_get = {n.node_id for n in prop_store.get_nodes(filters=f)}
                assert via_get == expected, f"get_nodes, filter {f!r}"
            stats["compared"] += 1
            stats["none"] = stats.get("none", 0) + (not expected)
            stats["all"] = stats.get("all", 0) + (expected == all_ids)
            stats["nested"] += any(isinstance(c, MetadataFilters) for c in f.filters)
            if expected and expected != all_ids:
                stats["partial"] += 1
                for op in operators(f):
                    partial_by_op[op] += 1

    check()
    print(f"filter cases: {stats}; partial by operator: {partial_by_op}")
    assert stats["compared"] >= MIN_CASES, stats
    # the cases discriminate: many select some nodes but not all
    assert stats["partial"] >= MIN_CASES // 2, stats
    assert stats["nested"] >= MIN_CASES // 4, stats
    assert all(n >= 5 for n in partial_by_op.values()), partial_by_op
