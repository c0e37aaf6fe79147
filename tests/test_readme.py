"""The README's code examples run as written (against the test database via VECS_DATABASE_URL)."""

from __future__ import annotations

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks_after(heading: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.filterwarnings("ignore:Query does not have a covering index")  # shown to users
@pytest.mark.parametrize(("heading", "index"), [("## Tour", 0), ("## Async", 0)])
def test_readme_example_runs(heading, index, database_url, monkeypatch):
    code = _blocks_after(heading)[index]
    monkeypatch.setenv("VECS_DATABASE_URL", database_url)
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code, f"README.md {heading}", "exec"), namespace)


def test_tour_shows_real_results(database_url, monkeypatch):
    code = _blocks_after("## Tour")[0]
    expected = re.findall(r"^(docs\.query\(.*\))\n# (.*)$", code, flags=re.M)
    assert expected, "the Tour shows query results"
    monkeypatch.setenv("VECS_DATABASE_URL", database_url)
    namespace: dict[str, object] = {}
    setup = code.split("docs.query(")[0]
    exec(compile(setup, "README.md Tour", "exec"), namespace)
    try:
        for call, shown in expected:
            got = eval(call, namespace)
            assert repr(_rounded(got)) == shown
    finally:
        namespace["vx"].delete_collection("docs")  # type: ignore[attr-defined]


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded(v) for v in value)
    return value
