"""Property test: the SQL the compiler writes selects exactly what the reference evaluator selects.

Each Hypothesis example is one random dataset (20-40 records over a small shared key pool, so
filters often hit) and a batch of random filters over the same keys and values; every filter is
checked through ``find`` and ``count`` against :func:`filter_reference.matches`, and one filter per
example through ``delete`` on a second collection. The run is derandomized, so CI sees the same
cases every time.
"""

from __future__ import annotations

from typing import Any

import pytest
from filter_reference import matches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vecs_core

KEYS = ["a", "b", "c", "it's", 'q"k', "é %_"]

# Characters whose lower case Python and PostgreSQL (C.UTF-8) agree on, plus LIKE's specials.
ALPHABET = "aAbBzZ09 '\"%_\\\n.éÉ中😀€"

EXAMPLES = 100
FILTERS_PER_EXAMPLE = (22, 26)
CASES = {"find": 0, "delete": 0}

# -- values ------------------------------------------------------------------------------------

ints = st.one_of(
    st.sampled_from([-1, 0, 1, 2, 10, 2**53 + 1, -(10**20)]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
floats = st.one_of(
    st.sampled_from([1.0, 0.5, -0.0, 2.5, 1e20, 0.1, -1.5, 2.0**53]),
    st.floats(allow_nan=False, allow_infinity=False),
)
numbers = st.one_of(ints, floats)
strings = st.one_of(
    st.sampled_from(
        ["", "a", "A", "ab", "aB", "b", "z", "it's", 'q"', "%", "_", "a%b", "a_b", "\\", "é",
         "É", "中文", "😀", "10", "1", "true", "null", "a\nb"]
    ),
    st.text(alphabet=ALPHABET, max_size=6),
)
scalars = st.one_of(
    numbers, strings, st.booleans(), st.none(),
)
arrays = st.lists(scalars, max_size=4)
stored_values = st.one_of(
    scalars,
    scalars,
    arrays,
    # rarer shapes: nested arrays and objects, which must never equal or contain a scalar
    st.lists(st.one_of(scalars, arrays), max_size=3),
    st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2),
)
metadata_dicts = st.dictionaries(st.sampled_from(KEYS), stored_values, max_size=len(KEYS))

# -- filters -------------------------------------------------------------------------------------

like_patterns = st.lists(
    st.sampled_from(
        ["%", "%", "_", "\\%", "\\_", "\\\\", "\\a", "a", "A", "b", "é", "É", "'", '"', "中", "1"]
    ),
    max_size=5,
).map("".join)


def _ops() -> st.SearchStrategy[dict[str, Any]]:
    one = st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), scalars),
        st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), st.one_of(numbers, strings)),
        st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(scalars, min_size=1, max_size=3)),
        st.tuples(
            st.just("$contains"),
            st.one_of(scalars, st.lists(scalars, min_size=1, max_size=2)),
        ),
        st.tuples(st.just("$exists"), st.booleans()),
        st.tuples(st.sampled_from(["$like", "$ilike"]), like_patterns),
    )
    return st.lists(one, min_size=1, max_size=2).map(dict)


leaves = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(KEYS), scalars),
    st.builds(lambda k, ops: {k: ops}, st.sampled_from(KEYS), _ops()),
)


def _filters(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        return leaves
    sub = _filters(depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda fs: {"$and": fs}, st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda f: {"$not": f}, sub),
        # several keys in one dict: an implicit AND (a later key may replace an earlier one)
        st.lists(sub, min_size=2, max_size=3).map(lambda fs: {k: v for f in fs for k, v in f.items()}),
    )


filters = _filters(3)


@pytest.fixture
def collections(client: vecs_core.Client, quiet: None) -> tuple[Any, Any]:
    main = client.get_or_create_collection("prop", dimension=3)
    copy = client.get_or_create_collection("prop_copy", dimension=3)
    return main, copy


def _records(dataset: list[dict[str, Any]]) -> list[tuple[str, list[float], dict[str, Any]]]:
    return [(f"r{i:03d}", [float(i), 1.0, 0.0], md) for i, md in enumerate(dataset)]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(
    dataset=st.lists(metadata_dicts, min_size=20, max_size=40),
    batch=st.lists(filters, min_size=FILTERS_PER_EXAMPLE[0], max_size=FILTERS_PER_EXAMPLE[1]),
)
def test_sql_agrees_with_reference(
    collections: tuple[Any, Any], dataset: list[dict[str, Any]], batch: list[dict[str, Any]]
) -> None:
    main, copy = collections
    records = _records(dataset)
    main.clear()
    main.upsert(records)
    for f in batch:
        expected = {rid for rid, _, md in records if matches(md, f)}
        found = {item.id for item in main.find(filters=f, limit=1000)}
        assert found == expected, f
        assert main.count(filters=f) == len(expected), f
        CASES["find"] += 1
    # delete on a copy, for one filter of the batch
    f = batch[0]
    expected = {rid for rid, _, md in records if matches(md, f)}
    copy.clear()
    copy.upsert(records)
    assert set(copy.delete(filters=f)) == expected, f
    assert copy.count() == len(records) - len(expected)
    CASES["delete"] += 1


def test_enough_cases_ran() -> None:
    """The property test above (run first, in file order) checked at least 2,000 filters."""
    if CASES["find"] == 0:
        pytest.skip("the property test did not run in this session")
    assert CASES["find"] >= 2000, CASES
    assert CASES["delete"] >= EXAMPLES // 2, CASES
