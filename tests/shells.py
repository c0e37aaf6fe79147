"""Run the same behaviour cases through the sync and the async API.

``AsyncShell`` drives an ``AsyncClient`` on one private event loop so a test can call it like the
sync client; every call still goes through the real async code path (AsyncConnectionPool,
``await``-ed plans). Used only by the tests.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import vecs_core


class AsyncShell:
    """Wrap an async object so its coroutine methods can be called synchronously."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                result = self._loop.run_until_complete(result)
            return _wrap(result, self._loop)

        return call

    @property
    def index(self) -> Any:
        return self._loop.run_until_complete(self._target.index())

    @property
    def vector_version(self) -> Any:
        return self._loop.run_until_complete(self._target.vector_version())

    def __len__(self) -> int:
        return int(self._loop.run_until_complete(self._target.count()))

    def __getitem__(self, key: str) -> Any:
        found = self._loop.run_until_complete(self._target.fetch([key]))
        if not found:
            raise KeyError(key)
        return found[0]

    def __repr__(self) -> str:
        return repr(self._target)


def _wrap(value: Any, loop: asyncio.AbstractEventLoop) -> Any:
    if isinstance(value, (vecs_core.AsyncCollection, vecs_core.AsyncClient)):
        return AsyncShell(value, loop)
    if isinstance(value, list) and value and isinstance(value[0], vecs_core.AsyncCollection):
        return [AsyncShell(v, loop) for v in value]
    return value
