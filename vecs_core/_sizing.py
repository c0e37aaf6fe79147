"""How the embedded server is sized from the machine, and how settings are checked. Pure: no I/O
except reading the machine's RAM and cores (``machine()``).

The rules (documented in ``docs/embedded.md``; measured in ``benchmarks/bench_build.py``):

============================== ============================================ ===================
setting                        rule                                         on 8 GB / 24 GB
============================== ============================================ ===================
shared_buffers                 RAM / 8, between 128 MB and 2 GB             1 GB / 2 GB
effective_cache_size           RAM / 2 (a planner hint; allocates nothing)  4 GB / 12 GB
maintenance_work_mem           RAM / 16, between 64 MB and 1 GB (server     512 MB / 1 GB
                               default; a build on the embedded server
                               raises it to fit the HNSW graph, up to
                               :func:`build_memory_cap`)
max_parallel_maintenance_      cores, between 1 and 4 (measured: on 2     2 on 2 cores
workers                        cores 2 workers beat 1, 42 s vs 63 s)
work_mem                       RAM / 512, between 4 MB and 32 MB            16 MB / 32 MB
client_connection_check_       1s: a backend whose client died stops its    1s
interval                       statement (e.g. an index build)
============================== ============================================ ===================

Shared memory is reserved, not used: an idle server stays small, and PostgreSQL touches its
buffers only as data is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .exc import ArgError

MB = 1024 * 1024
GB = 1024 * MB

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def machine() -> tuple[int, int]:
    """Total RAM in bytes and usable CPU cores of this machine."""
    try:
        import psutil

        ram = int(psutil.virtual_memory().total)
    except Exception:  # pragma: no cover - psutil is a dependency of both server wheels
        ram = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return ram, max(1, cores)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _mb(value: int) -> str:
    return f"{max(1, value // MB)}MB"


def sized_settings(ram: int, cores: int) -> dict[str, str]:
    """The embedded server's settings for a machine with ``ram`` bytes and ``cores`` cores."""
    return {
        "shared_buffers": _mb(_clamp(ram // 8, 128 * MB, 2 * GB)),
        "effective_cache_size": _mb(max(ram // 2, 512 * MB)),
        "maintenance_work_mem": _mb(_clamp(ram // 16, 64 * MB, 1 * GB)),
        "max_parallel_maintenance_workers": str(_clamp(cores, 1, 4)),
        "work_mem": _mb(_clamp(ram // 512, 4 * MB, 32 * MB)),
        "client_connection_check_interval": "1s",
    }


def build_memory_cap(ram: int) -> int:
    """The most ``maintenance_work_mem`` one index build on the embedded server may take: a
    quarter of RAM, at most 8 GB (the memory is freed when the build ends)."""
    return _clamp(ram // 4, 64 * MB, 8 * GB)


def hnsw_graph_bytes(rows: int, vector_bytes: int, m: int) -> int:
    """An estimate of pgvector's in-memory HNSW graph for ``rows`` vectors: the vector, the
    layer-0 neighbour list (2m entries), the upper layers (m entries on 1/m of the elements and
    so on) and the element's own bookkeeping."""
    neighbours = 2 * m + m // max(1, m - 1) + 1
    per_row = vector_bytes + neighbours * 16 + 160
    return int(rows * per_row * 1.1)


def build_memory(rows: int, vector_bytes: int, m: int, current: int, cap: int) -> int | None:
    """``maintenance_work_mem`` (bytes) for an HNSW build, or None to keep ``current``: enough
    for the graph, never more than ``cap``, never less than what the server has."""
    wanted = min(hnsw_graph_bytes(rows, vector_bytes, m), cap)
    return wanted if wanted > current else None


def parse_settings(text: str, source: str) -> dict[str, str]:
    """``"shared_buffers=2GB, work_mem=64MB"`` as a dict (``$VECS_SERVER_SETTINGS``)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ArgError(
                f"{source}: expected name=value pairs separated by commas, got {part!r} "
                "(e.g. 'shared_buffers=2GB,work_mem=64MB')"
            )
        out[name.strip()] = value.strip()
    return check_settings(out, source)


def check_settings(
    settings: Mapping[str, object], source: str = "server_settings"
) -> dict[str, str]:
    """Setting names and values as strings, refused when they could not be written to a
    configuration file safely (the server itself checks that names and values exist)."""
    if not isinstance(settings, Mapping):
        raise ArgError(f"{source} must be a dict of setting names to values, got {settings!r}")
    out: dict[str, str] = {}
    for name, value in settings.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ArgError(
                f"{source}: {name!r} is not a PostgreSQL setting name (e.g. 'shared_buffers')"
            )
        if isinstance(value, bool):
            value = "on" if value else "off"
        if not isinstance(value, (str, int, float)):
            raise ArgError(f"{source}: {name} needs a str, int, float or bool value, got {value!r}")
        text = str(value)
        if any(ch in text for ch in "\x00\n\r") or not text:
            raise ArgError(f"{source}: {name} has an empty value or a line break: {text!r}")
        out[name] = text
    return out


def conf_text(settings: Mapping[str, str]) -> str:
    """A ``postgresql.conf`` fragment; values quoted (single quotes doubled)."""
    lines = ["# written by vecs-core at server start; edit server_settings instead", ""]
    for name, value in settings.items():
        quoted = value.replace("\\", "\\\\").replace("'", "''")
        lines.append(f"{name} = '{quoted}'")
    return "\n".join(lines) + "\n"
