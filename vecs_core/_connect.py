"""Where connections come from: URL normalisation, options, the embedded server, diagnostics."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .exc import ArgError, Unreachable

ENV_URL = "VECS_DATABASE_URL"
ENV_DATA_DIR = "VECS_DATA_DIR"
_DRIVER_SUFFIX = re.compile(r"^(postgres(?:ql)?)\+[a-z0-9_]+://", re.IGNORECASE)


def normalize_url(url: str) -> str:
    """Accept ``postgresql://``, ``postgres://`` and SQLAlchemy-style ``postgresql+driver://``."""
    if not isinstance(url, str) or not url.strip():
        raise ArgError(f"database URL must be a non-empty string, got {url!r}")
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        raise ArgError(
            f"{url.split('?')[0]!r} is a web URL, not a database URL; vecs-core needs "
            "postgresql://USER:PASSWORD@HOST:5432/DBNAME (for Supabase: the dashboard's Connect "
            "button, 'Direct connection' or 'Session pooler', not the project's https:// URL)"
        )
    if scheme and not _DRIVER_SUFFIX.match(url) and scheme not in ("postgres", "postgresql"):
        raise ArgError(
            f"unsupported database URL scheme {scheme + '://'!r}; expected postgresql:// (also "
            "postgres:// and postgresql+psycopg://)"
        )
    url = _DRIVER_SUFFIX.sub("postgresql://", url)
    if url.lower().startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ArgError(f"invalid database URL: {exc}") from None
    return url


def describe(conninfo: str) -> str:
    """``host:port/dbname`` of a conninfo, for messages; never the password."""
    try:
        info = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable conninfo>"
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    return f"host={host} port={port} dbname={info.get('dbname', '')}".strip()


def unreachable(conninfo: str, exc: BaseException) -> Unreachable:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    info = conninfo_to_dict(conninfo)
    password = info.get("password")
    if password:
        message = message.replace(str(password), "***")
    return Unreachable(
        f"cannot connect to PostgreSQL at {describe(conninfo)}: {message}. "
        "Check that the server is running and the URL is right."
    )


# -- embedded server (vecs_core.embedded) -------------------------------------------------------


def default_data_dir() -> str:
    from . import embedded

    return embedded.data_dir()


def embedded_url(
    data_dir: str | None = None, server_settings: Mapping[str, object] | None = None
) -> str:
    """Start (or join) the embedded PostgreSQL + pgvector server and return its URL (see
    :mod:`vecs_core.embedded` for the lifecycle)."""
    from . import embedded

    return embedded.url(data_dir, server_settings=server_settings)


@dataclass
class ConnectOptions:
    """How a client connects. Nothing here does I/O until :meth:`resolve` is called."""

    url: str | None = None
    data_dir: str | None = None
    min_size: int = 1
    max_size: int = 10
    pool_timeout: float = 30.0
    connect_timeout: int = 10
    prepare_threshold: int | None = 5
    statement_timeout_ms: int | None = None
    application_name: str = "vecs-core"
    server_settings: Mapping[str, object] | None = None

    def __post_init__(self) -> None:
        if self.url is not None:
            self.url = normalize_url(self.url)
        if self.server_settings:
            if self.url is not None:
                raise ArgError(
                    "server_settings configure the embedded server only; for your own server "
                    "set them there (ALTER SYSTEM, postgresql.conf) or drop the url"
                )
            from ._sizing import check_settings

            self.server_settings = check_settings(self.server_settings)
        if not (isinstance(self.max_size, int) and self.max_size >= 1):
            raise ArgError(f"pool_size must be an int >= 1, got {self.max_size!r}")
        self.min_size = min(self.min_size, self.max_size)
        if self.statement_timeout_ms is not None and (
            not isinstance(self.statement_timeout_ms, int) or self.statement_timeout_ms < 0
        ):
            raise ArgError(
                f"statement_timeout must be a number of milliseconds >= 0, "
                f"got {self.statement_timeout_ms!r}"
            )
        if isinstance(self.connect_timeout, bool) or not (
            isinstance(self.connect_timeout, int) and self.connect_timeout >= 1
        ):
            raise ArgError(
                f"connect_timeout must be a whole number of seconds >= 1, "
                f"got {self.connect_timeout!r}"
            )
        if isinstance(self.pool_timeout, bool) or not (
            isinstance(self.pool_timeout, (int, float)) and 0 < self.pool_timeout < float("inf")
        ):
            raise ArgError(
                f"pool_timeout must be a number of seconds > 0, got {self.pool_timeout!r}"
            )
        if self.prepare_threshold is not None and (
            not isinstance(self.prepare_threshold, int) or self.prepare_threshold < 0
        ):
            raise ArgError(
                f"prepare_threshold must be an int >= 0 or None, got {self.prepare_threshold!r}"
            )

    @property
    def embedded(self) -> bool:
        return self.url is None

    def resolve(self) -> str:
        if self.url is not None:
            return self.url
        return embedded_url(self.data_dir, self.server_settings)

    def connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "prepare_threshold": self.prepare_threshold,
            "application_name": self.application_name,
        }
        if self.embedded:  # tagged with our pid: orphaned backends can be found and ended
            kwargs["application_name"] = f"{self.application_name} pid={os.getpid()}"
        if self.statement_timeout_ms is not None:
            kwargs["options"] = f"-c statement_timeout={int(self.statement_timeout_ms)}"
        return kwargs


def options_from(url: str | None, **kwargs: Any) -> ConnectOptions:
    if url is None:
        url = os.environ.get(ENV_URL) or None
    return ConnectOptions(url=url, **kwargs)
