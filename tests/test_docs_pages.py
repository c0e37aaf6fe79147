"""The Python examples of docs/sql-functions.md and docs/migrate.md run as written (against
the test database, through VECS_DATABASE_URL) and print what the pages show after them."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def _shown(code: str) -> str:
    """The ``# ...`` comment lines that follow each ``print(...)``, joined."""
    shown, after_print = [], False
    for line in code.splitlines():
        if line.startswith("print("):
            after_print = True
        elif after_print and line.startswith("# "):
            shown.append(line[2:])
        else:
            after_print = False
    return "".join(shown)


@pytest.mark.filterwarnings("ignore:Query does not have a covering index")
@pytest.mark.parametrize("page", ["sql-functions.md", "migrate.md"])
def test_page_examples_run(page, database_url, monkeypatch):
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    monkeypatch.setenv("VECS_DATABASE_URL", database_url)
    for i, code in enumerate(blocks):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"docs/{page} block {i}", "exec"), {"__name__": "docs_example"})
        squeeze = re.compile(r"\s+")
        assert squeeze.sub("", out.getvalue()) == squeeze.sub("", _shown(code))
