"""Behind a transaction-mode pooler (a real PgBouncer) with server-side prepares disabled.

Runs when a ``pgbouncer`` binary is installed (CI installs Debian's package); on a machine
without it this module is skipped, and the README describes the same check by hand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
import pytest

import vecs_core

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
)
pytestmark = pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def bouncer_url(database_url: str) -> Iterator[str]:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    host = info.get("host") or "127.0.0.1"
    port = _free_port()
    work = tempfile.mkdtemp(prefix="vecs-core-pgbouncer-")
    os.chmod(work, 0o777)
    ini = os.path.join(work, "pgbouncer.ini")
    with open(ini, "w") as f:
        f.write(
            "[databases]\n"
            f"postgres = host={host} port={info.get('port', 5432)}"
            f" dbname={info.get('dbname', 'postgres')} user={info.get('user', 'postgres')}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {os.path.join(work, 'users.txt')}\n"
            "pool_mode = transaction\ndefault_pool_size = 3\nmax_client_conn = 100\n"
            f"logfile = {os.path.join(work, 'pgbouncer.log')}\n"
        )
    with open(os.path.join(work, "users.txt"), "w") as f:
        f.write('"postgres" ""\n')
    for name in os.listdir(work):
        os.chmod(os.path.join(work, name), 0o666)
    cmd = [PGBOUNCER, ini]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        cmd = [PGBOUNCER, "-u", "pgserver" if _user_exists("pgserver") else "nobody", ini]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 20
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"pgbouncer did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_transaction_pooler_with_prepare_threshold_none(bouncer_url: str, schema: str) -> None:
    with vecs_core.create_client(bouncer_url, schema=schema, prepare_threshold=None) as vx:
        col = vx.get_or_create_collection("docs", dimension=8)
        rng = np.random.default_rng(0)
        col.upsert((f"r{i}", rng.normal(size=8), {"i": i, "g": i % 5}) for i in range(2000))
        col.create_index()

        def work(n: int) -> int:
            total = 0
            for _ in range(20):  # well past psycopg's default prepare threshold (5)
                total += len(col.query(data=rng.normal(size=8), limit=5, filters={"g": n % 5}))
                col.upsert([(f"w{n}", rng.normal(size=8), {"g": n % 5})])
                total += col.count({"g": n % 5}) > 0
            return total

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with ThreadPoolExecutor(8) as pool:
                assert list(pool.map(work, range(8))) == [120] * 8
        assert len(col) == 2008
        vx.delete_collection("docs")


def test_async_client_behind_the_pooler(bouncer_url: str, schema: str) -> None:
    import asyncio

    async def main() -> None:
        async with vecs_core.create_async_client(
            bouncer_url, schema=schema, prepare_threshold=None
        ) as vx:
            col = await vx.get_or_create_collection("adocs", dimension=4)
            await col.upsert([(f"r{i}", np.ones(4) * (i + 1), {"i": i}) for i in range(50)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = await asyncio.gather(
                    *[
                        col.query(data=np.ones(4), limit=3, filters={"i": {"$lt": 10}})
                        for _ in range(30)
                    ]
                )
            assert all(len(g) == 3 for g in got)
            await vx.delete_collection("adocs")

    asyncio.run(main())
