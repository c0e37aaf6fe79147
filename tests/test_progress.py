"""Progress feedback: upsert and create_index, as bars (progress=True) and as callbacks."""

from __future__ import annotations

import numpy as np
import pytest

import vecs_core


def _records(n, dim=8):
    rng = np.random.default_rng(0)
    return [(f"r{i}", rng.random(dim), {"i": i}) for i in range(n)]


def test_upsert_progress_callback_counts_every_record(vx, monkeypatch):
    monkeypatch.setattr(vecs_core._progress, "INTERVAL", 0.0)
    col = vx.get_or_create_collection("up", dimension=8)
    seen: list[vecs_core.UpsertProgress] = []
    col.upsert(_records(3000), progress=seen.append)
    assert seen and seen[-1].done == 3000 and seen[-1].total == 3000
    assert [s.done for s in seen] == sorted(s.done for s in seen)
    # a generator has no total
    seen.clear()
    col.upsert((r for r in _records(50)), progress=seen.append)
    assert seen[-1] == (50, None, seen[-1].elapsed)


def test_upsert_progress_bar(vx, capsys):
    col = vx.get_or_create_collection("bar", dimension=8)
    col.upsert(_records(2000), progress=True)
    err = capsys.readouterr().err
    assert "upsert" in err and "2.00k" in err
    assert col.count() == 2000


def test_progress_argument_is_checked(vx):
    col = vx.get_or_create_collection("bad", dimension=8)
    with pytest.raises(vecs_core.ArgError, match="progress must be True"):
        col.upsert(_records(1), progress="yes")
    with pytest.raises(vecs_core.ArgError, match="progress must be True"):
        col.create_index(progress=1)


def test_create_index_progress_has_totals_and_eta(vx):
    col = vx.get_or_create_collection("build", dimension=32)
    col.upsert(_records(30_000, 32))
    seen: list[vecs_core.IndexBuildProgress] = []
    col.create_index(method="hnsw", progress=seen.append, maintenance_work_mem="64MB")
    loading = [p for p in seen if p.phase == "building index: loading tuples"]
    assert loading, seen
    assert all(p.blocks_total > 0 and p.tuples_total > 0 for p in loading)
    assert any(p.eta is not None for p in loading)
    assert all(0 <= (p.fraction or 0) <= 1 for p in seen)
    assert [p.elapsed for p in seen] == sorted(p.elapsed for p in seen)


def test_create_index_progress_bar(vx, capsys):
    col = vx.get_or_create_collection("bar2", dimension=32)
    col.upsert(_records(20_000, 32))
    col.create_index(method="hnsw", progress=True, maintenance_work_mem="64MB")
    assert "index:" in capsys.readouterr().err


def test_text_embedding_show_progress_draws_one_bar(vx, capsys):
    pytest.importorskip("sentence_transformers")
    from vecs_core.adapter import Adapter, TextEmbedding

    step = TextEmbedding(show_progress=True)
    assert step.batch_size == 64  # measured default (benchmarks/bench_text.py)
    col = vx.get_or_create_collection("texts", adapter=Adapter([step]))
    col.upsert([(f"t{i}", f"text number {i}", {}) for i in range(100)])
    err = capsys.readouterr().err
    assert err.count("embed") >= 1 and "100" in err
    assert col.count() == 100
    col.search("number 7", limit=1, warn_unindexed=False)  # queries draw no bar
    assert "embed" not in capsys.readouterr().err
