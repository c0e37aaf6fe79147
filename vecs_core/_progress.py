"""Feedback on long work: ``upsert(progress=...)`` and ``create_index(progress=...)``.

``progress=True`` draws a tqdm bar on stderr; a callable receives snapshots
(:class:`UpsertProgress`, :class:`~vecs_core.IndexBuildProgress`) about twice a second and once
at the end; ``None``/``False`` does nothing and costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import Any, NamedTuple

from .exc import ArgError

INTERVAL = 0.5  # seconds between callbacks


class UpsertProgress(NamedTuple):
    """How far an ``upsert`` has read its input: ``done`` records (before the adapter, in the
    caller's units) of ``total`` (None when the input has no ``len()``)."""

    done: int
    total: int | None
    elapsed: float

    @property
    def rate(self) -> float:
        """Records per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


def check_progress(progress: object) -> None:
    if progress is None or isinstance(progress, bool) or callable(progress):
        return
    raise ArgError(
        f"progress must be True (a progress bar), False/None, or a callable taking a snapshot, "
        f"got {progress!r}"
    )


def _bar(total: int | None, desc: str, unit: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True)


@contextmanager
def tracked_records(
    records: Iterable[Any] | None, progress: bool | Callable[[UpsertProgress], None] | None
) -> Iterator[Iterable[Any] | None]:
    """``records``, counted as they are read, reporting to ``progress``."""
    check_progress(progress)
    if not progress or records is None:
        yield records
        return
    total = len(records) if isinstance(records, Sized) else None
    bar = _bar(total, "upsert", "rec") if progress is True else None
    start = time.monotonic()
    state = {"done": 0, "last": start}

    def report(final: bool = False) -> None:
        now = time.monotonic()
        if bar is not None:
            bar.update(state["done"] - bar.n)
        elif callable(progress):
            progress(UpsertProgress(int(state["done"]), total, now - start))
        state["last"] = now

    def counted() -> Iterator[Any]:
        for record in records:
            yield record
            state["done"] += 1
            if time.monotonic() - state["last"] >= (0.1 if bar is not None else INTERVAL):
                report()

    try:
        yield counted()
        report(final=True)
    finally:
        if bar is not None:
            bar.close()


class BuildReporter:
    """Turns index-build snapshots into a bar (``True``) or callbacks with ``elapsed`` and an
    ``eta`` (seconds left in the current phase, from its rate so far)."""

    def __init__(self, progress: bool | Callable[[Any], None]) -> None:
        self.progress = progress
        self.start = time.monotonic()
        self.phase = ""
        self.phase_start = self.start
        self.phase_fraction = 0.0
        self.bar: Any = None

    def __call__(self, snapshot: Any) -> None:
        now = time.monotonic()
        if snapshot.phase != self.phase:
            self.phase, self.phase_start = snapshot.phase, now
            self.phase_fraction = snapshot.fraction or 0.0
            if self.bar is not None:
                self.bar.close()
                self.bar = None
        fraction = snapshot.fraction
        eta = None
        if fraction is not None and fraction > self.phase_fraction:
            rate = (fraction - self.phase_fraction) / max(now - self.phase_start, 1e-9)
            eta = (1.0 - fraction) / rate if rate > 0 else None
        snapshot = snapshot._replace(elapsed=now - self.start, eta=eta)
        if self.progress is True:
            self._draw(snapshot)
        elif callable(self.progress):
            self.progress(snapshot)

    def _draw(self, snapshot: Any) -> None:
        total, done, unit = snapshot.blocks_total, snapshot.blocks_done, "blk"
        if not total:
            total, done, unit = snapshot.tuples_total, snapshot.tuples_done, "tup"
        if self.bar is None:
            phase = snapshot.phase.removeprefix("building index: ")
            self.bar = _bar(total or None, f"index: {phase}", unit)
        elif total and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(max(0, done - self.bar.n))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
