"""The bulk load's fast path for the common record (``_records._fast_parts``) against the general
checks it stands in for: on any input it either returns exactly the bytes the general path
produces, or declines (None) so that the general path runs and names the problem. Pure: no
database."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vecs_core import _records
from vecs_core._kinds import KINDS
from vecs_core._records import Encoder, _fast_parts, check_id, check_text, encode_metadata
from vecs_core.exc import RecordError

SURROGATE = "x\ud800"
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**5000), max_value=10**5000),
    st.floats(),  # NaN and infinity included
    st.text(max_size=6),
    st.sampled_from(["\x00", SURROGATE, "é", "\\u0000", "a\x00b"]),
    st.builds(np.float32, st.floats(width=32, allow_nan=False)),  # not a plain scalar
)
keys = st.one_of(st.text(max_size=4), st.integers(), st.none(), st.sampled_from([SURROGATE, ""]))
metadata = st.one_of(
    st.none(),
    st.dictionaries(keys, scalars, max_size=4),
    st.dictionaries(st.text(max_size=3), st.lists(scalars, max_size=2), max_size=2),  # nested
    st.lists(scalars, max_size=2),  # not an object
)
ids = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "\x00", SURROGATE, "a" * 2048, "é" * 1025]),
    st.integers(),
)
texts = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["\x00", SURROGATE]), st.just(3))


def _general(record: tuple[Any, ...]) -> tuple[bytes, bytes, bytes | None]:
    rid = check_id(record[0], what="r")
    meta = encode_metadata(record[2], what="r")
    text = check_text(record[3], what="r") if len(record) == 4 else None
    return rid, meta, text


@settings(max_examples=400, deadline=None, derandomize=True)
@given(rid=ids, meta=metadata, text=texts, with_text=st.booleans())
@example(rid="a", meta={"k": float("nan")}, text=None, with_text=False)
@example(rid="a", meta={1: "x"}, text=None, with_text=False)
@example(rid="a", meta={"k": "\x00"}, text=None, with_text=False)
@example(rid="a", meta={"k": 10**5000}, text=None, with_text=False)
@example(rid="a", meta={"k": SURROGATE}, text=None, with_text=False)
@example(rid="a" * 2049, meta={}, text=None, with_text=False)
@example(rid="a", meta={"k": 1, "s": "é", "b": True, "n": None}, text="t", with_text=True)
def test_fast_parts_agree_with_the_general_checks(
    rid: Any, meta: Any, text: Any, with_text: bool
) -> None:
    record = (rid, [1.0], meta, text) if with_text else (rid, [1.0], meta)
    fast = _fast_parts(record)
    try:
        general = _general(record)
    except RecordError:
        assert fast is None  # refused: the fast path must leave it to the general one
        return
    if fast is not None:
        assert fast == general


def test_fast_parts_takes_the_common_record() -> None:
    """The common record does go through the fast path (the property above holds trivially if
    it always declined)."""
    meta = {"category": 7, "source": "s3", "year": 1997, "score": 0.5, "ok": True, "none": None}
    assert _fast_parts(("id-1", [1.0], meta)) == _general(("id-1", [1.0], meta))
    assert _fast_parts(("id-1", [1.0], None, "text")) == (b"id-1", b"{}", b"text")


@pytest.mark.parametrize("table_text", [None, False, True])
@pytest.mark.parametrize("storage", ["vector", "halfvec", "sparsevec"])
def test_encoder_stream_is_the_same_with_and_without_the_fast_path(
    monkeypatch: pytest.MonkeyPatch, table_text: bool | None, storage: str
) -> None:
    rng = np.random.default_rng(3)
    records: list[Any] = []
    for i in range(600):
        vec: Any = rng.standard_normal(8).astype(np.float32) + 0.1
        if storage == "sparsevec":
            vec = {int(j): float(vec[j]) for j in range(0, 8, 3)}
        meta: Any = [{"i": i, "s": f"s{i % 7}"}, None, {"nested": {"a": [i]}}, {"f": i / 3}][i % 4]
        record = (f"r{i}", vec, meta) if i % 5 else (f"r{i}", vec, meta, f"doc {i}")
        records.append(record if i % 11 else list(record))  # lists take the general shape

    def stream() -> tuple[bytes, bool]:
        encoder = Encoder(KINDS[storage], 8, chunk_rows=128, table_text=table_text)
        data = b"".join(encoder.chunks(iter(enumerate(records))))
        assert encoder.count == len(records)
        return data, encoder.has_text

    fast = stream()
    monkeypatch.setattr(_records, "_fast_parts", lambda record: None)
    assert stream() == fast
    assert fast[1] is True
