"""The ``vecs-core`` commands that move data: ``create-index``, ``import``, ``migrate``,
``export`` and ``query``. They register on :data:`vecs_core.cli.app`, which imports this
module; the shared options and helpers live there."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
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

from . import _io
from .cli import FileFormat, NewStorage, _client, _collection, _fail, app, console, errors
from .exc import ArgError, VecsError


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
