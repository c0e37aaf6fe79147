"""The adapter pipeline: transform records (e.g. text -> chunks -> vectors) before upsert/query."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable
from enum import Enum
from typing import Any

from ..exc import ArgError

AdapterRecord = tuple[Any, ...]


class AdapterContext(str, Enum):
    """Which operation is running an adapter: ``upsert`` or ``query``."""

    upsert = "upsert"
    query = "query"


class AdapterStep(ABC):
    """One step of an :class:`Adapter`: maps an iterable of ``(id, media, metadata)`` records
    (optionally with a fourth element, the document text) to another."""

    @property
    def exported_dimension(self) -> int | None:
        """The vector dimension this step produces, if it produces vectors."""
        return None

    @abstractmethod
    def __call__(
        self, records: Iterable[AdapterRecord], adapter_context: AdapterContext
    ) -> Generator[AdapterRecord, None, None]:
        """Transform ``records`` lazily."""


class Adapter:
    """A pipeline of :class:`AdapterStep` objects applied in order.

    Raises:
        ArgError: when given no steps.
    """

    def __init__(self, steps: list[AdapterStep]) -> None:
        if not steps:
            raise ArgError("an Adapter needs at least one step")
        for step in steps:
            if not isinstance(step, AdapterStep):
                raise ArgError(f"adapter steps must be AdapterStep instances, got {step!r}")
        self.steps = list(steps)

    def __call__(
        self, records: Iterable[AdapterRecord], adapter_context: AdapterContext
    ) -> Generator[AdapterRecord, None, None]:
        pipeline: Iterable[AdapterRecord] = records
        for step in self.steps:
            pipeline = step(pipeline, adapter_context)
        yield from pipeline

    @property
    def exported_dimension(self) -> int | None:
        """The dimension of the last step that declares one."""
        for step in reversed(self.steps):
            if step.exported_dimension is not None:
                return step.exported_dimension
        return None


class NoOp(AdapterStep):
    """Pass records through unchanged (metadata ``None`` becomes ``{}``)."""

    def __init__(self, dimension: int) -> None:
        self._dimension = dimension

    @property
    def exported_dimension(self) -> int | None:
        return self._dimension

    def __call__(
        self, records: Iterable[AdapterRecord], adapter_context: AdapterContext
    ) -> Generator[AdapterRecord, None, None]:
        for record in records:
            if isinstance(record, tuple) and len(record) >= 3 and record[2] is None:
                record = (record[0], record[1], {}, *record[3:])
            yield record
