"""Pods, without I/O: which database holds each collection.

Supabase's "Engineering for Scale" guide runs vector collections on secondary databases
("pods") so that each one scales on its own. A client with ``pods=`` keeps that map: a
collection named in it lives in the pod's database (with its own lazily opened pool); every
other collection lives in the primary database. The pools and the move are in ``_apods.py``
(``_pods.py`` is generated from it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ._checks import safe_repr
from ._connect import normalize_url
from ._names import validate_name
from .exc import ArgError

PodsArg = Mapping[str, str] | Callable[[str], "str | None"] | None


def _where(url: str) -> tuple[str, str, str]:
    """``(host, port, dbname)`` of a URL, with libpq's defaults made explicit enough to tell
    two databases apart (a missing dbname is the user name, as libpq does)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:  # pragma: no cover - URLs are normalised first
        raise ArgError(f"invalid database URL: {exc}") from None
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    port = str(info.get("port") or "5432")
    dbname = str(info.get("dbname") or info.get("user") or "")
    return host, port, dbname


def same_database(a: str, b: str) -> bool:
    """Whether two URLs name the same database (same hosts, ports and database name)."""
    return _where(a) == _where(b)


class PodMap:
    """Collection name -> pod URL (None: the primary database).

    ``pods`` is a mapping (validated now: names as collection names, URLs as database URLs) or
    a callable ``name -> url | None`` (asked once per name, its answer validated then and kept
    for the client's life). :meth:`move` records where :meth:`Client.move_collection` put a
    collection, ahead of the configured map.
    """

    def __init__(self, pods: PodsArg = None) -> None:
        self._lock = threading.Lock()
        self._fixed: dict[str, str] = {}
        self._ask: Callable[[str], str | None] | None = None
        self._answers: dict[str, str | None] = {}
        self._moved: dict[str, str | None] = {}
        if pods is None:
            return
        if isinstance(pods, Mapping):
            for name, url in pods.items():
                validate_name(name, what="pods key (a collection name)")
                if not isinstance(url, str):
                    raise ArgError(f"pods[{name!r}] must be a database URL, got {safe_repr(url)}")
                self._fixed[name] = normalize_url(url)
        elif callable(pods):
            self._ask = pods
        else:
            raise ArgError(
                "pods must be a dict {collection name: database URL} or a callable "
                f"name -> URL (or None), got {safe_repr(pods)}"
            )

    @property
    def empty(self) -> bool:
        return not (self._fixed or self._ask or self._moved)

    def url_for(self, name: str) -> str | None:
        """The URL of the pod holding ``name`` (None: the primary database).

        Raises:
            ArgError: the ``pods`` callable returned something that is not a URL or None.
        """
        moved = self._moved
        if name in moved:
            return moved[name]
        if self._ask is None:
            return self._fixed.get(name)
        answers = self._answers
        if name in answers:
            return answers[name]
        url = self._ask(name)
        if url is not None:
            if not isinstance(url, str):
                raise ArgError(
                    f"the pods callable returned {safe_repr(url)} for {name!r}; it must "
                    "return a database URL or None (the primary database)"
                )
            url = normalize_url(url)
        with self._lock:
            answers.setdefault(name, url)
        return answers[name]

    def urls(self) -> list[str]:
        """Every pod URL known so far (the mapping's, the callable's answers, moves), once."""
        with self._lock:
            found = [*self._fixed.values(), *self._answers.values(), *self._moved.values()]
        return list(dict.fromkeys(url for url in found if url is not None))

    def move(self, name: str, url: str | None) -> None:
        """From now on ``name`` lives at ``url`` (None: the primary database)."""
        with self._lock:
            self._moved[name] = url

    def belongs(self, name: str, url: str | None) -> bool:
        """Whether a collection ``name`` found in database ``url`` (None: the primary) is the
        one this client routes to (a copy elsewhere is not listed)."""
        home = self.url_for(name)
        if home is None or url is None:
            return home is None and url is None
        return home == url or same_database(home, url)
