#!/usr/bin/env python3
"""Generate the sync half of vecs_core from its async source, psycopg-style.

    python scripts/async_to_sync.py           # (re)write the generated modules (see SOURCES)
    python scripts/async_to_sync.py --check   # exit 1 (with a diff) if one is stale

The async modules are the source: ``_async.py``, ``_async_admin.py`` and ``_async_client.py``
(the API: ``AsyncCollection``, its base ``AsyncCollectionAdmin``, ``AsyncClient``),
``_adriver.py`` (the driver), ``_areplicas.py`` and ``_apods.py`` (read replicas, pods). The
transformation works line by line, so comments and layout survive:

- ``async def`` / ``async with`` / ``async for`` lose ``async``; ``await`` is dropped;
- ``._async``, ``._async_admin``, ``._async_client`` and ``_adriver`` imports name the sync
  modules;
- async names become their sync twins (``AsyncCollection`` -> ``Collection``, ``__aenter__`` ->
  ``__enter__``, ``AsyncConnectionPool`` -> ``ConnectionPool`` ... see ``NAMES``);
- intended differences are marked in the source: a line ending in ``# async-only`` is dropped,
  and so is a block between ``# async-only: begin`` and ``# async-only: end``; a comment
  ``# sync: <code>`` becomes ``<code>``, and the commented lines between ``# sync-only: begin``
  and ``# sync-only: end`` are uncommented;
- the generated module's docstring is made of the source's ``# sync-docstring:`` comments.

The result is formatted with ruff (the project's formatter), so the check compares like with like.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vecs_core"
SOURCES = {
    "_async.py": "_sync.py",
    "_async_admin.py": "_sync_admin.py",
    "_async_client.py": "_sync_client.py",
    "_adriver.py": "_driver.py",
    "_areplicas.py": "_replicas.py",
    "_apods.py": "_pods.py",
}

NAMES = {
    "AsyncCollectionAdmin": "CollectionAdmin",
    "AsyncCollection": "Collection",
    "AsyncClient": "Client",
    "create_async_client": "create_client",
    "AsyncPoolSource": "PoolSource",
    "AsyncEngineSource": "EngineSource",
    "_AsyncLease": "_Lease",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncPooledConnection": "PooledConnection",
    "AsyncConnection": "Connection",
    "AsyncCursor": "Cursor",
    "AsyncQueuedLibpqWriter": "QueuedLibpqWriter",
    "AsyncIterator": "Iterator",
    "asynccontextmanager": "contextmanager",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclose": "close",
    "asyncio.Lock": "threading.Lock",
    "import asyncio": "import threading",
    "_areplicas": "_replicas",
    "_apods": "_pods",
    "AsyncRouter": "Router",
    "AsyncReplica": "Replica",
    "_AsyncCheckedLease": "_CheckedLease",
    "_AsyncCheckedSource": "_CheckedSource",
    "AsyncPods": "Pods",
}
_NAME = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(n) for n in sorted(NAMES, key=len, reverse=True)) + r")\b"
)
_HEADER = (
    "# WARNING: this file is generated from {source} by scripts/async_to_sync.py; edit the\n"
    "# source and run that script (CI runs it with --check).\n"
)


def _convert_line(line: str) -> str:
    line = re.sub(r"\basync (def|with|for)\b", r"\1", line)
    line = re.sub(r"\bawait ", "", line)
    line = re.sub(r"\b_adriver\b", "_driver", line)
    line = re.sub(r"(?<=\.)_async(_admin|_client)?\b", r"_sync\1", line)
    return _NAME.sub(lambda m: NAMES[m.group(1)], line)


def _docstring(source: str, name: str) -> tuple[str, str]:
    """The module docstring for the generated file (from the source's ``# sync-docstring:``
    comment lines) and the source without its own docstring."""
    match = re.match(r'\s*""".*?"""\n', source, re.S)
    if not match:
        raise SystemExit(f"{name}: the source needs a module docstring")
    lines = [m.group(1) for m in re.finditer(r"^# sync-docstring: ?(.*)$", source, re.M)]
    if not lines:
        raise SystemExit(f"{name}: no '# sync-docstring:' lines for the generated module")
    doc = '"""' + "\n".join(lines) + '\n"""\n'
    rest = re.sub(r"^# sync-docstring:.*\n", "", source[match.end() :], flags=re.M)
    return doc, rest


def convert(source: str, name: str) -> str:
    """The sync twin of the async module text ``source`` (unformatted)."""
    doc, source = _docstring(source, name)
    out: list[str] = []
    block: str | None = None
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped in ("# async-only: begin", "# sync-only: begin"):
            if block is not None:
                raise SystemExit(f"{name}:{number}: nested marker block")
            block = stripped.split(":")[0][2:]
            continue
        if stripped in ("# async-only: end", "# sync-only: end"):
            if block is None or not stripped.startswith(f"# {block}"):
                raise SystemExit(f"{name}:{number}: unbalanced marker {stripped!r}")
            block = None
            continue
        if block == "async-only" or line.rstrip().endswith("# async-only"):
            continue
        if block == "sync-only":
            indent = line[: len(line) - len(line.lstrip())]
            body = line.lstrip()
            if body and not body.startswith("#"):
                raise SystemExit(f"{name}:{number}: sync-only lines must be comments")
            out.append(indent + body[2:] if body.startswith("# ") else "")
            continue
        match = re.match(r"^(\s*)# sync: (.*)$", line)
        if match:
            out.append(match.group(1) + match.group(2))
            continue
        out.append(_convert_line(line))
    if block is not None:
        raise SystemExit(f"{name}: marker block {block!r} is not closed")
    return _HEADER.format(source=name) + doc + "\n".join(out) + "\n"


def _ruff(text: str, target: Path) -> str:
    """Format ``text`` as if it were ``target`` (so the project's ruff settings apply)."""
    fixed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--fix-only",
            "--select",
            "I,F401",
            "-q",
            "--stdin-filename",
            str(target),
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(target), "-"],
        input=fixed, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip


def generate() -> dict[Path, str]:
    return {
        PACKAGE / target: _ruff(convert((PACKAGE / source).read_text(), source), PACKAGE / target)
        for source, target in SOURCES.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args()
    stale = 0
    for path, text in generate().items():
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale += 1
            rel = path.relative_to(ROOT)
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(True),
                    text.splitlines(True),
                    f"{rel} (current)",
                    f"{rel} (generated)",
                )  # fmt: skip
            )
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(
            f"\n{stale} generated file(s) are stale: run `python scripts/async_to_sync.py`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
