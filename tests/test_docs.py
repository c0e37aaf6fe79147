"""Every Python block of the README and of ``docs/`` runs, offline, against the test database.

The blocks of one page run in order in one namespace (a later block may use names an earlier
one defined), with ``$VECS_DATABASE_URL`` pointing at the test database and the Hugging Face hub
offline. A block may opt out only with a marker on the line before it that gives a reason:
``<!-- docs-test: skip: <reason> -->``. Shown results (``# ['vec1']`` after a call on its own
line in the README's tour) are compared with what the call returns.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import warnings

import psycopg
import pytest
from embedded_helpers import server_dir

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip:\s*(?P<reason>\S.*?)\s*-->\s*$")
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

pytestmark = pytest.mark.slow
EMBEDDED_PAGES = {"embedded.md"}  # run on an embedded server of their own, not the test URL
OWN_RUNNER = {  # pages whose blocks another test runs, on the server they need
    "scaling-citus.md": "tests/test_docs_citus.py runs its blocks on the Citus test cluster",
    "scaling.md": "tests/test_docs_scaling.py runs its blocks on a primary + hot standby pair",
}


def blocks(page: pathlib.Path) -> list[tuple[int, str]]:
    """(line number, code) of the page's Python blocks that are not marked to skip."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if SKIP.search(before):
            continue
        found.append((line, match.group(1)))
    return found


def test_skip_markers_give_a_reason():
    for page in PAGES:
        for line in page.read_text(encoding="utf-8").splitlines():
            if "docs-test" in line:
                assert SKIP.search(line), f"{page.name}: {line!r} needs 'skip: <reason>'"


def _reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS vecs CASCADE")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs(page, database_url, monkeypatch, tmp_path):
    if page.name in OWN_RUNNER:
        pytest.skip(OWN_RUNNER[page.name])
    found = blocks(page)
    if not found:
        pytest.skip(f"{page.name} has no Python blocks")
    server = os.path.join(server_dir(), "pgdata")
    if page.name in EMBEDDED_PAGES:
        monkeypatch.delenv("VECS_DATABASE_URL", raising=False)
        monkeypatch.setenv("VECS_DATA_DIR", server)
    else:
        monkeypatch.setenv("VECS_DATABASE_URL", database_url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    _reset(database_url)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Query does not have a covering index")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*Relevance scores must be between")
            for line, code in found:
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
    finally:
        for value in list(namespace.values()):
            close = getattr(value, "disconnect", None) or getattr(value, "close", None)
            if callable(close) and type(value).__module__.startswith("vecs_"):
                try:
                    close()
                except Exception:  # an async client's close is a coroutine
                    pass
        _reset(database_url)
        if page.name in EMBEDDED_PAGES:
            from vecs_core import embedded

            embedded.stop(server, force=True)
        shutil.rmtree(os.path.dirname(server), ignore_errors=True)


def test_tour_shows_real_results(database_url, monkeypatch):
    """The README's tour prints what the calls return (up to 4 decimals)."""
    code = blocks(ROOT / "README.md")[0][1]
    expected = re.findall(r"^(docs\.query\(.*\))\n# (.*)$", code, flags=re.M)
    assert expected, "the tour shows query results"
    monkeypatch.setenv("VECS_DATABASE_URL", database_url)
    _reset(database_url)
    namespace: dict[str, object] = {}
    setup = code.split("docs.query(")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(setup, "README.md tour", "exec"), namespace)
        try:
            for call, shown in expected:
                got = eval(call, namespace)
                assert repr(_rounded(got)) == shown
        finally:
            namespace["vx"].delete_collection("docs")  # type: ignore[attr-defined]
            _reset(database_url)


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded(v) for v in value)
    return value
