"""Silencing vecs_core's "no covering index" warning during the adapter's own searches.

``warnings.catch_warnings`` saves and restores the whole filter list, which is wrong when several
threads or asyncio tasks overlap (one task's exit would restore another's state). This helper
instead counts active users: the first adds one ``ignore`` filter for that exact message, the
last removes that same entry, and filters added by anyone else meanwhile are left alone.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

UNINDEXED_MESSAGE = r"Query does not have a covering index"

_lock = threading.Lock()
_depth = 0
_entry: Any = None


@contextmanager
def quiet_unindexed(enabled: bool = True) -> Iterator[None]:
    """Ignore the core's missing-index ``UserWarning`` while the block runs (if ``enabled``)."""
    global _depth, _entry
    if not enabled:
        yield
        return
    with _lock:
        if _depth == 0:
            warnings.filterwarnings("ignore", message=UNINDEXED_MESSAGE, category=UserWarning)
            _entry = warnings.filters[0]
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                try:
                    cast(list[Any], warnings.filters).remove(_entry)
                except ValueError:  # the list was swapped (e.g. a catch_warnings block ended)
                    pass
                _entry = None
