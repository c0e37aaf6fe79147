"""The ``vecs-core`` command line (also ``python -m vecs_core``), built with Typer and Rich.

It works on the embedded server (the default, ``--data-dir`` / ``$VECS_DATA_DIR``) and on any
PostgreSQL with pgvector (``--url`` / ``$VECS_DATABASE_URL``). Run ``vecs-core --help``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from . import _io, embedded
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
    from ._sync import create_client

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


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=False,
    )


@app.command("create-index")
def create_index(
    ctx: typer.Context,
    name: str,
    measure: Annotated[
        str, typer.Option(help="cosine_distance, l2_distance, max_inner_product, l1_distance.")
    ] = "cosine_distance",
    method: Annotated[str, typer.Option(help="auto, hnsw or ivfflat.")] = "auto",
    m: Annotated[int | None, typer.Option(help="HNSW m.")] = None,
    ef_construction: Annotated[int | None, typer.Option(help="HNSW ef_construction.")] = None,
    lists: Annotated[int | None, typer.Option(help="IVFFlat lists.")] = None,
    maintenance_work_mem: Annotated[str | None, typer.Option(help="e.g. 2GB.")] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel maintenance workers.")] = None,
) -> None:
    """Build a vector index (CREATE INDEX CONCURRENTLY) with a live progress bar and ETA."""
    from ._indexes import IndexArgsHNSW, IndexArgsIVFFlat

    args: Any = None
    if m is not None or ef_construction is not None:
        args = IndexArgsHNSW(m=m or 16, ef_construction=ef_construction or 64)
        method = "hnsw" if method == "auto" else method
    elif lists is not None:
        args = IndexArgsIVFFlat(n_lists=lists)
        method = "ivfflat" if method == "auto" else method
    try:
        with _client(ctx) as vx:
            col = _collection(vx, name)
            with _progress() as bar:
                tasks: dict[str, Any] = {}

                def seen(p: Any) -> None:
                    total = p.blocks_total or p.tuples_total or None
                    done = p.blocks_done if p.blocks_total else p.tuples_done
                    phase = p.phase.removeprefix("building index: ")
                    if phase not in tasks:
                        for task in tasks.values():
                            bar.update(task, completed=bar.tasks[task].total or 0)
                        tasks[phase] = bar.add_task(phase, total=total)
                    bar.update(tasks[phase], completed=done, total=total)

                built = col.create_index(
                    measure=measure,
                    method=method,
                    index_arguments=args,
                    maintenance_work_mem=maintenance_work_mem,
                    parallel_workers=workers,
                    progress=seen,
                )
                for task in tasks.values():
                    bar.update(
                        task, completed=bar.tasks[task].total or 1, total=bar.tasks[task].total or 1
                    )
        console.print(f"built {built.method.value} index {built.name} ({built.measure.value})")
    except VecsError as exc:
        _fail(exc)


@app.command("import")
def import_(
    ctx: typer.Context,
    name: str,
    file: str,
    dimension: Annotated[
        int | None, typer.Option(help="For a new collection (default: the first vector's).")
    ] = None,
    storage: NewStorage = None,
    format: FileFormat = None,
) -> None:
    """Load a JSONL or Parquet file into a collection (created if needed), atomically."""
    try:
        fmt = _io.file_format(file, format)
        if not os.path.exists(file):
            raise ArgError(f"no such file: {file!r}")
        head = _io.header(file, fmt)
        with _client(ctx) as vx:
            exists = name in {c.name for c in vx.list_collections()}
            col = vx.get_or_create_collection(
                name,
                dimension=dimension or (None if exists else head.get("dimension")),
                storage=storage or (None if exists else head.get("storage")),
            )
            before = col.count()
            total = os.path.getsize(file) if fmt == "jsonl" else _parquet_rows(file)
            with _progress() as bar:
                task = bar.add_task(f"import {name}", total=total)
                col.upsert(_io.read_records(file, fmt, lambda n: bar.advance(task, n)))
            after = col.count()
        console.print(f"imported into {name!r}: {after - before:,} new record(s), {after:,} in all")
    except VecsError as exc:
        _fail(exc)


@app.command()
def migrate(
    ctx: typer.Context,
    layout: Annotated[
        str, typer.Argument(help="documents, langchain, langchain-v2 or llama-index.")
    ],
    name: Annotated[str, typer.Argument(help="The collection to copy into.")],
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="An option of the layout's copy function as key=value (repeatable), e.g. "
            "-o table=documents -o text_column=none -o metadata_columns=a,b.",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="The source database's URL (default: the collection's database)."),
    ] = None,
    dimension: Annotated[
        int | None, typer.Option(help="For a new collection: the source vectors' dimension.")
    ] = None,
    storage: NewStorage = None,
) -> None:
    """Copy a table another tool made (the guides' documents table, langchain-postgres,
    LlamaIndex's PGVectorStore) into a collection, in one transaction (docs/migrate.md)."""
    from . import migrate as _migrate

    try:
        options = _migrate_options(option or [])
        with _client(ctx) as vx:
            exists = name in {c.name for c in vx.list_collections()}
            if not exists and dimension is None:
                raise ArgError(
                    f"collection {name!r} does not exist; pass --dimension (the source "
                    "vectors' dimension) to create it"
                )
            col = vx.get_or_create_collection(name, dimension=dimension, storage=storage)
            with console.status(f"copying into {name}"):
                result = _migrate.import_table(layout, col, source=source, **options)
        console.print(
            f"copied {result.rows:,} row(s) from {result.source} into {result.collection!r}"
        )
    except VecsError as exc:
        _fail(exc)


def _migrate_options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` strings as keyword arguments: ``none``/``null`` is None, a ``*_columns``
    value a comma-separated list."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ArgError(f"--option {pair!r}: expected key=value, e.g. table=documents")
        if key == "source":
            raise ArgError("give the source database with --source, not --option")
        if value.strip().lower() in ("none", "null"):
            options[key] = None
        elif key.endswith("_columns"):
            options[key] = tuple(c.strip() for c in value.split(",") if c.strip())
        else:
            options[key] = value
    return options


def _parquet_rows(path: str) -> int:
    return int(_io._pyarrow().parquet.ParquetFile(path).metadata.num_rows)


@app.command()
def export(
    ctx: typer.Context,
    name: str,
    file: str,
    format: FileFormat = None,
) -> None:
    """Write a collection to a JSONL or Parquet file (written to a temporary file, then renamed)."""
    try:
        fmt = _io.file_format(file, format)
        with _client(ctx) as vx:
            col = _collection(vx, name)
            with _progress() as bar:
                task = bar.add_task(f"export {name}", total=col.count())
                count = _io.write_records(col, file, fmt, lambda n: bar.advance(task, n))
        console.print(f"exported {count:,} record(s) to {file}")
    except VecsError as exc:
        _fail(exc)


@app.command()
def query(
    ctx: typer.Context,
    name: str,
    text: Annotated[str | None, typer.Option(help="Query text, embedded with --model.")] = None,
    vector_file: Annotated[
        str | None, typer.Option(help="A JSON file holding the query vector.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Number of results.")] = 10,
    filter: Annotated[
        str | None, typer.Option(help="A metadata filter as JSON, e.g. '{\"year\": 2020}'.")
    ] = None,
    measure: Annotated[str, typer.Option(help="Distance measure.")] = "cosine_distance",
    model: Annotated[str, typer.Option(help="Embedding model for --text.")] = "all-MiniLM-L6-v2",
) -> None:
    """Nearest records to --text or --vector-file, as a table."""
    try:
        if (text is None) == (vector_file is None):
            raise ArgError("give exactly one of --text or --vector-file")
        filters = json.loads(filter) if filter else None
        if vector_file is not None:
            with open(vector_file, encoding="utf-8") as fh:
                vector: Any = json.load(fh)
        else:
            from .adapter import AdapterContext, TextEmbedding

            embedder = TextEmbedding(model)
            vector = next(iter(embedder([("q", text, {})], AdapterContext.query)))[1]
        with _client(ctx) as vx:
            col = _collection(vx, name)
            hits = col.search(
                vector, limit=limit, filters=filters, measure=measure, warn_unindexed=False
            )
        table = Table("#", "id", "distance", "score", "metadata", "text")
        for column in table.columns:
            column.overflow = "fold"
        for rank, hit in enumerate(hits, 1):
            table.add_row(
                str(rank),
                hit.id,
                f"{hit.distance:.4f}" if hit.distance is not None else "-",
                f"{hit.score:.4f}" if hit.score is not None else "-",
                json.dumps(hit.metadata)[:80],
                (hit.text or "")[:80],
            )
        console.print(table)
    except (VecsError, ValueError, OSError) as exc:
        _fail(exc)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vecs-core`` console script."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="vecs-core")
