"""The ``vecs-core`` command line (also ``python -m vecs_core``), built with Typer and Rich.

It works on the embedded server (the default, ``--data-dir`` / ``$VECS_DATA_DIR``) and on any
PostgreSQL with pgvector (``--url`` / ``$VECS_DATABASE_URL``). Run ``vecs-core --help``.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from . import embedded
from ._plans.indexes import VectorIndex
from .exc import ArgError, VecsError

app = typer.Typer(
    name="vecs-core",
    help="Look at and manage vecs-core collections and the embedded PostgreSQL server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


@dataclass
class Options:
    url: str | None
    data_dir: str | None
    schema: str

    @property
    def embedded(self) -> bool:
        return self.url is None


def _options(ctx: typer.Context) -> Options:
    obj = ctx.ensure_object(dict)
    return Options(obj.get("url"), obj.get("data_dir"), obj.get("schema", "vecs"))


@app.callback()
def main_options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            envvar="VECS_DATABASE_URL",
            help="A PostgreSQL URL (default: the embedded server).",
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(
            envvar="VECS_DATA_DIR", help="The embedded server's data directory.", show_envvar=True
        ),
    ] = None,
    schema: Annotated[str, typer.Option(help="The schema holding the collections.")] = "vecs",
) -> None:
    ctx.ensure_object(dict).update(url=url or None, data_dir=data_dir, schema=schema)


# options several commands take
NewStorage = Annotated[
    str | None, typer.Option(help="vector, halfvec or sparsevec (new collection).")
]
FileFormat = Annotated[
    str | None, typer.Option(help="jsonl or parquet (default: from the extension).")
]


@contextmanager
def _client(ctx: typer.Context) -> Iterator[Any]:
    from ._sync_client import create_client

    opts = _options(ctx)
    with create_client(opts.url, schema=opts.schema, data_dir=opts.data_dir) as vx:
        yield vx


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _sizes(vx: Any, name: str) -> tuple[int, int]:
    """(table bytes with TOAST, index bytes) of a collection's table."""
    import psycopg

    with psycopg.connect(vx._options.resolve(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_table_size(r), pg_indexes_size(r)"
            " FROM (SELECT format('%%I.%%I', %s::text, %s::text)::regclass AS r) x",
            (vx.schema, name),
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _pairs() -> Table:
    """A two-column table of names and values; long values wrap instead of being cut."""
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _fail(exc: BaseException) -> None:
    errors.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


def _embedded_only(ctx: typer.Context, command: str) -> Options:
    opts = _options(ctx)
    if not opts.embedded:
        _fail(ArgError(f"`{command}` manages the embedded server; it takes no --url"))
    return opts


# -- the embedded server -------------------------------------------------------------------------
@app.command()
def status(ctx: typer.Context) -> None:
    """Where the data lives and whether the server runs (starts nothing)."""
    opts = _options(ctx)
    if not opts.embedded:
        try:
            with _client(ctx) as vx:
                names = [c.name for c in vx.list_collections()]
                console.print(f"server: {vx!r}")
                console.print(f"pgvector: {vx.vector_version}")
                console.print(f"collections in schema {opts.schema!r}: {len(names)}")
        except VecsError as exc:
            _fail(exc)
        return
    st = embedded.status(opts.data_dir)
    table = _pairs()
    table.add_row("data directory", st.data_dir)
    table.add_row("server", st.server)
    table.add_row("initialized", "yes" if st.initialized else "no (created on first use)")
    state = "running" if st.running else "stopped"
    if st.orphaned:
        state += " (orphaned: no live client; `vecs-core stop` or the next client reaps it)"
    table.add_row("state", state + (f", pid {st.pid}" if st.pid else ""))
    if st.url:
        table.add_row("url", st.url)
    table.add_row("clients", ", ".join(map(str, st.clients)) or "none")
    if st.stale:
        table.add_row("dead clients", ", ".join(map(str, st.stale)) + " (pruned at next start)")
    table.add_row("size on disk", _size(st.disk_bytes))
    for name, value in st.settings.items():
        table.add_row(name, value)
    console.print(table)


@app.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="TCP port on localhost.")] = 5433,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    timeout: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
) -> None:
    """Expose the embedded server on localhost TCP (for psql, GUI tools) until Ctrl-C."""
    opts = _embedded_only(ctx, "serve")

    def ready(url: str) -> None:
        console.print(f"serving the embedded server at [bold]{url}[/bold]")
        console.print(f"  psql '{url}'")
        console.print(
            "any local user can connect (no password) while this runs; Ctrl-C stops serving"
        )

    try:
        embedded.serve(port, host=host, path=opts.data_dir, ready=ready, timeout=timeout)
    except VecsError as exc:
        _fail(exc)
    console.print("stopped serving")


@app.command()
def stop(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Stop it even while other processes use it.")
    ] = False,
) -> None:
    """Stop the embedded server (refused while other live processes use it)."""
    opts = _embedded_only(ctx, "stop")
    try:
        stopped = embedded.stop(opts.data_dir, force=force)
    except VecsError as exc:
        _fail(exc)
    console.print(
        "stopped the embedded server" if stopped else "the embedded server was not running"
    )


@app.command()
def reset(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this deletes data.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also while other processes use the server.")
    ] = False,
) -> None:
    """Delete all data: the embedded server's data directory, or with --url every collection
    in --schema."""
    opts = _options(ctx)
    if not yes:
        _fail(ArgError("reset deletes data; run it again with --yes to confirm"))
    if opts.embedded:
        path = embedded.data_dir(opts.data_dir)
        try:
            embedded.stop(path, force=force)
        except VecsError as exc:
            _fail(exc)
        shutil.rmtree(path, ignore_errors=True)
        console.print(f"deleted {path}")
        return
    with _client(ctx) as vx:
        names = [c.name for c in vx.list_collections()]
        for name in names:
            vx.delete_collection(name)
    console.print(f"deleted {len(names)} collection(s) in schema {opts.schema!r}")


# -- collections ---------------------------------------------------------------------------------
def _collection(vx: Any, name: str) -> Any:
    from .exc import CollectionNotFound

    names = [c.name for c in vx.list_collections()]
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise CollectionNotFound(f"no collection named {name!r} in schema {vx.schema!r}{hint}")
    return vx.get_or_create_collection(name)


@app.command()
def collections(ctx: typer.Context) -> None:
    """List collections: name, dimension, kind, rows, size, indexes."""
    try:
        with _client(ctx) as vx:
            table = Table("name", "dimension", "kind", "rows", "size", "indexes")
            for column in table.columns:
                column.overflow = "fold"
            for col in vx.list_collections():
                data, index = _sizes(vx, col.name)
                indexes = ", ".join(
                    f"{ix.method.value}/{ix.measure.value}" + ("" if ix.valid else " (invalid)")
                    for ix in col.list_indexes()
                )
                table.add_row(
                    col.name,
                    str(col.dimension),
                    col.storage,
                    f"{col.count():,}",
                    _size(data + index),
                    indexes or "-",
                )
            console.print(table)
    except VecsError as exc:
        _fail(exc)


@app.command()
def info(ctx: typer.Context, name: str) -> None:
    """Describe one collection: dimension, kind, rows, sizes, indexes, a sample record."""
    try:
        with _client(ctx) as vx:
            col = _collection(vx, name)
            data, index = _sizes(vx, name)
            table = _pairs()
            table.add_row("collection", f"{vx.schema}.{name}")
            table.add_row("dimension", str(col.dimension))
            table.add_row("kind", col.storage)
            table.add_row("rows", f"{col.count():,}")
            table.add_row("table size", _size(data))
            table.add_row("index size", _size(index))
            for ix in col.list_indexes():
                table.add_row("vector index", _index_detail(ix))
            sample = col.find(limit=1)
            if sample:
                table.add_row(
                    "first record", f"{sample[0].id}: {json.dumps(sample[0].metadata)[:200]}"
                )
            console.print(table)
    except VecsError as exc:
        _fail(exc)


def _index_detail(ix: VectorIndex) -> str:
    """``name (hnsw, cosine_distance, m 16, ef_construction 64, halfvec, ef_search 60 tuned,
    valid)``: how the index was built and what searches through it use by default."""
    parts = [ix.method.value, ix.measure.value]
    if ix.m is not None:
        parts.append(f"m {ix.m}, ef_construction {ix.ef_construction}")
    if ix.lists is not None:
        parts.append(f"lists {ix.lists}")
    if ix.quantization == "binary":
        parts.append(f"binary, rerank {ix.rerank}")
    elif ix.halfvec:
        parts.append("halfvec")
    if ix.ef_search is not None:
        parts.append(f"ef_search {ix.ef_search} tuned")
    if ix.probes is not None:
        parts.append(f"probes {ix.probes} tuned")
    parts.append("valid" if ix.valid else "INVALID")
    return f"{ix.name} ({', '.join(parts)})"


# the data commands (create-index, import, migrate, export, query) register on ``app``
from . import _cli_data  # noqa: E402, F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vecs-core`` console script."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="vecs-core")
