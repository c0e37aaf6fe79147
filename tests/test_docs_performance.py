"""The Python example of docs/performance.md runs as written (against the test database, through
VECS_DATABASE_URL) and prints what the page shows after it."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def test_performance_example_runs(database_url, monkeypatch):
    text = PAGE.read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    shown = re.findall(r"^print\(.*\)\n# (.*)$", code, flags=re.M)
    monkeypatch.setenv("VECS_DATABASE_URL", database_url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/performance.md", "exec"), {"__name__": "docs_example"})
    assert out.getvalue().split("\n")[:-1] == shown
