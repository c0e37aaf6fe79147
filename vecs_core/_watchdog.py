"""The embedded server's watchdog, and the process bookkeeping it shares with ``embedded.py``.

Started beside the server as ``python <this file> PGDATA PG_CTL USER LOCKFILE`` (by path, so it
imports neither numpy nor psycopg: a ~15 MB process). Once a second it checks the processes
recorded in ``PGDATA/.handle_pids.json``; when none has been alive for two checks in a row (they
were killed without running their exit hooks: SIGTERM, SIGKILL, an OOM kill), it stops the
server with a fast shutdown (running statements are cancelled) and exits. It also exits when the
server stops for any other reason. Only the standard library, psutil and fasteners are used.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HANDLES = ".handle_pids.json"


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    import psutil

    if pid <= 0:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return bool(psutil.pid_exists(pid))


def read_handles(pgdata: Path) -> list[int]:
    try:
        text = (pgdata / HANDLES).read_text().strip()
        values = json.loads(text) if text else []
    except (OSError, ValueError):
        return []
    return [int(v) for v in values if isinstance(v, int)]


def write_handles(pgdata: Path, pids: list[int]) -> None:
    """Replace the handle list atomically (readers never see a half-written file)."""
    tmp = pgdata / f"{HANDLES}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(pids))
    os.replace(tmp, pgdata / HANDLES)


def prune(pgdata: Path) -> tuple[list[int], list[int]]:
    """Drop dead processes from the handle list (the caller holds the lock): (live, dead)."""
    pids = read_handles(pgdata)
    live = [p for p in dict.fromkeys(pids) if alive(p)]
    dead = [p for p in pids if p not in live]
    if dead:
        write_handles(pgdata, live)
    return live, dead


def postmaster_lines(pgdata: Path) -> list[str] | None:
    """``postmaster.pid`` of a running server, or None."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit() or not alive(int(lines[0])):
        return None
    return lines


def stop_server(pgdata: Path, pg_ctl: str, user: str | None) -> None:
    """Fast shutdown with ``pg_ctl`` (as ``user`` when given), then SIGTERM/SIGKILL of the
    postmaster if it is still there."""
    lines = postmaster_lines(pgdata)
    if lines is None:
        return
    kwargs: dict[str, Any] = {"user": user} if user else {}
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            [pg_ctl, "-w", "-t", "30", "-m", "fast", "-D", str(pgdata), "stop"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=40,
            check=False,
            **kwargs,
        )
    import psutil

    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(int(lines[0]))
        proc.terminate()
        try:
            proc.wait(5)
        except psutil.TimeoutExpired:
            proc.kill()


def watch(
    pgdata: Path, pg_ctl: str, user: str | None, lock: Any, interval: float = 1.0, grace: int = 2
) -> None:
    """Stop the server once no recorded process has been alive for ``grace`` checks in a row;
    return when the server is gone."""
    idle = 0
    while True:
        time.sleep(interval)
        if postmaster_lines(pgdata) is None:
            return
        if any(alive(p) for p in read_handles(pgdata)):
            idle = 0
            continue
        idle += 1
        if idle < grace:
            continue
        with lock:
            live, _dead = prune(pgdata)
            if live:
                idle = 0
                continue
            stop_server(pgdata, pg_ctl, user)
            write_handles(pgdata, [])
        return


def main(argv: list[str]) -> int:
    pgdata, pg_ctl, user, lock_path = argv
    import fasteners

    lock = fasteners.InterProcessLock(lock_path)
    watch(Path(pgdata), pg_ctl, user or None, lock)
    with contextlib.suppress(OSError):
        pidfile = Path(pgdata) / ".vecs_watchdog.pid"
        if pidfile.read_text().strip() == str(os.getpid()):
            pidfile.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
