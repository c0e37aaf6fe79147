"""Helpers for tests that run their own embedded server and client processes."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]


def env_for(data_dir: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VECS_DATABASE_URL", None)
    env.update(
        VECS_DATA_DIR=data_dir,
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        PYTHONWARNINGS="ignore",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def interruptible() -> None:
    """``preexec_fn`` for children the tests Ctrl-C: SIGINT back to its default, which Python
    turns into KeyboardInterrupt (a suite started in the background, e.g. ``nohup ... &``,
    passes SIGINT on ignored, and Python then leaves it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(code: str, data_dir: str, **extra: str) -> subprocess.Popen[str]:
    """A Python process running ``code`` (dedented) on the embedded server in ``data_dir``."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=str(ROOT),
        env=env_for(data_dir, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )


def run(
    code: str, data_dir: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    proc = spawn(code, data_dir, **extra)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_for_line(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> list[str]:
    """Read ``proc``'s stdout until a line containing ``marker``; the lines read."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"process ended before {marker!r}: {lines} / {err}")
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} within {timeout}s: {lines}")


def server_processes(data_dir: str) -> list[Any]:
    """Processes of the embedded server in ``data_dir`` (postmaster, backends, watchdog)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if any(data_dir in part for part in cmdline):
            found.append(proc)
    return found


def wait_gone(data_dir: str, timeout: float = 20) -> list[Any]:
    """Wait until no process of the server in ``data_dir`` remains; return what is left."""
    deadline = time.monotonic() + timeout
    left = server_processes(data_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = server_processes(data_dir)
    return left


def server_dir() -> str:
    """A fresh parent directory for an embedded server's data, outside pytest's ``tmp_path``:
    a pytest session starting on the same machine resets ``/tmp/pytest-of-<user>`` to mode 0700,
    which would lock out the unprivileged user the server runs as when the tests run as root."""
    return tempfile.mkdtemp(prefix="vecs-test-server-")
