"""Import and export of collections as JSONL or Parquet files: streaming and atomic.

One record per line (JSONL) or row (Parquet): ``{"id": str, "vector": [...], "metadata": {...},
"text": str | null}``. An export starts with a header, ``{"vecs_core": {"dimension": d, "storage":
kind}}`` (the first JSONL line; Parquet schema metadata), so an import recreates the collection
as it was; files without one work too. A ``sparsevec`` collection's vectors are
``{"index": value}`` objects (0-based indexes). Parquet needs ``pyarrow``
(``pip install 'vecs-core[parquet]'``).

- Import streams the file into one ``upsert`` (one transaction: all records or none).
- Export pages through the collection in id order and writes a temporary file next to the
  target, renamed over it only when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .exc import ArgError, MissingDependency, RecordError

FORMATS = ("jsonl", "parquet")
PAGE = 1000


def file_format(path: str, given: str | None = None) -> str:
    """``given``, else the format the file name's extension says (``.parquet``: Parquet)."""
    if given is not None:
        if given not in FORMATS:
            raise ArgError(f"unknown format {given!r}; expected one of {', '.join(FORMATS)}")
        return given
    return "parquet" if path.lower().endswith((".parquet", ".pq")) else "jsonl"


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        from ._deps import install_hint

        raise MissingDependency(
            f"Parquet files need pyarrow: {install_hint('parquet')}; or use JSONL"
        ) from exc
    return pyarrow


def _vector(value: Any, where: str) -> Any:
    if isinstance(value, dict):  # sparse: {"17": 0.5}
        try:
            return {int(k): float(v) for k, v in value.items()}
        except (TypeError, ValueError):
            raise RecordError(
                f"{where}: a sparse vector needs integer keys, got {value!r:.80}"
            ) from None
    return value


def _record(obj: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(obj, dict) or "id" not in obj or "vector" not in obj:
        raise RecordError(
            f"{where}: expected an object with 'id' and 'vector' (and optional 'metadata', "
            f"'text'), got {obj!r:.120}"
        )
    metadata = obj.get("metadata") or {}
    text = obj.get("text")
    vector = _vector(obj["vector"], where)
    return (obj["id"], vector, metadata) if text is None else (obj["id"], vector, metadata, text)


def read_records(
    path: str, fmt: str, advance: Callable[[int], None] | None = None
) -> Iterator[tuple[Any, ...]]:
    """Records of the file, streamed; ``advance(n)`` is told how many bytes (JSONL) or rows
    (Parquet) were read."""
    if fmt == "parquet":
        pq = _pyarrow().parquet
        reader = pq.ParquetFile(path)
        row = 0
        for batch in reader.iter_batches(batch_size=PAGE):
            for obj in batch.to_pylist():
                row += 1
                if isinstance(obj.get("metadata"), str):
                    obj["metadata"] = json.loads(obj["metadata"])
                if isinstance(obj.get("vector"), str):  # sparse vectors are stored as JSON
                    obj["vector"] = json.loads(obj["vector"])
                yield _record(obj, f"{path} row {row}")
            if advance is not None:
                advance(batch.num_rows)
        return
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if advance is not None:
                advance(len(line))
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise RecordError(f"{path} line {number}: not valid JSON: {exc}") from None
            if number == 1 and isinstance(obj, dict) and set(obj) == {HEADER}:
                continue
            yield _record(obj, f"{path} line {number}")


HEADER = "vecs_core"


def header(path: str, fmt: str) -> dict[str, Any]:
    """The export header (``dimension``, ``storage``), or what the first vector tells."""
    if fmt == "parquet":
        meta = _pyarrow().parquet.ParquetFile(path).schema_arrow.metadata or {}
        raw = meta.get(HEADER.encode())
        if raw:
            return dict(json.loads(raw))
    else:
        with open(path, "rb") as fh:
            line = fh.readline()
        with contextlib.suppress(ValueError):
            obj = json.loads(line) if line.strip() else None
            if isinstance(obj, dict) and set(obj) == {HEADER} and isinstance(obj[HEADER], dict):
                return dict(obj[HEADER])
    for record in read_records(path, fmt):
        vector = record[1]
        return {} if isinstance(vector, dict) else {"dimension": len(vector)}
    return {}


def _plain(vector: Any) -> Any:
    if vector is None:
        return None
    if hasattr(vector, "indices") and hasattr(vector, "values"):  # pgvector.SparseVector
        return {str(i): float(v) for i, v in zip(vector.indices(), vector.values())}
    return np.asarray(vector, dtype=np.float64).tolist()


def pages(collection: Any) -> Iterator[list[Any]]:
    """The collection's records (with vectors and text), a page at a time, in id order."""
    after = None
    while True:
        page = collection.find(limit=PAGE, after=after, include_vector=True)
        if not page:
            return
        yield page
        after = page[-1].id


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path next to ``path``, renamed over it when the block succeeds."""
    target = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".vecs-export-", dir=os.path.dirname(target))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_records(
    collection: Any, path: str, fmt: str, advance: Callable[[int], None] | None = None
) -> int:
    """Write every record of ``collection`` to ``path`` (atomically); return how many."""
    count = 0
    head = {"dimension": collection.dimension, "storage": collection.storage}
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            pa = _pyarrow()
            sparse = collection.storage == "sparsevec"
            schema = pa.schema(
                [
                    ("id", pa.string()),
                    ("vector", pa.string() if sparse else pa.list_(pa.float32())),
                    ("metadata", pa.string()),
                    ("text", pa.string()),
                ],
                metadata={HEADER: json.dumps(head)},
            )
            with pa.parquet.ParquetWriter(tmp, schema) as writer:
                for page in pages(collection):
                    rows = {
                        "id": [i.id for i in page],
                        "vector": [
                            json.dumps(_plain(i.vector)) if sparse else _plain(i.vector)
                            for i in page
                        ],
                        "metadata": [json.dumps(i.metadata) for i in page],
                        "text": [i.text for i in page],
                    }
                    writer.write_table(pa.table(rows, schema=schema))
                    count += len(page)
                    if advance is not None:
                        advance(len(page))
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({HEADER: head}) + "\n")
                for page in pages(collection):
                    for item in page:
                        obj = {
                            "id": item.id,
                            "vector": _plain(item.vector),
                            "metadata": item.metadata,
                            "text": item.text,
                        }
                        fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
                    count += len(page)
                    if advance is not None:
                        advance(len(page))
    return count
