"""A fake database for plans: scripted results in, rendered SQL out. No server, no I/O.

In the spirit of h11's ``ConnectionPair``, which drives a protocol with bytes instead of a
network: a plan (``vecs_core._plans``) is a generator of steps, so a test can drive it with
answers it scripts and read back every statement the plan would send, rendered as text. It
tests what a plan *says* (statement order, DDL, settings, cleanup after an error); the suites
that run against a real PostgreSQL test what the database *does* with it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from vecs_core._protocol import CopyIn, Execute, Job


@dataclass
class Sent:
    """One step as the plan sent it."""

    sql: str
    params: dict[str, Any]
    settings: dict[str, str]
    fetch: str
    copied_rows: int | None = None  # for COPY: rows in the binary stream
    copied_firsts: list[bytes] = field(default_factory=list)  # for COPY: each row's 1st field


Answer = Any | BaseException | Callable[[Sent], Any]


@dataclass
class FakeDB:
    """Run plans against scripted answers.

    ``script`` is a list of ``(pattern, answer)``: the first pattern (a regex searched in the
    rendered SQL) that matches a statement gives its answer, a value or a callable of the
    :class:`Sent` step; an exception instance is thrown into the plan, as a driver throws a
    database error. Unmatched statements answer like an empty result (``[]``, ``None``, ``0``).
    """

    script: list[tuple[str, Answer]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    def answer(self, step: Sent) -> Any:
        for pattern, answer in self.script:
            if re.search(pattern, step.sql):
                if isinstance(answer, BaseException):
                    raise answer
                return answer(step) if callable(answer) else answer
        return {"all": [], "one": None, "rowcount": 0, "none": None}[step.fetch]

    def run(self, plan: Job[Any] | Generator[Any, Any, Any]) -> Any:
        """Drive ``plan`` (or a job's plan) to its end and return its result."""
        gen = plan.plan() if isinstance(plan, Job) else plan
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = gen.send(result) if error is None else gen.throw(error)
            except StopIteration as stop:
                return stop.value
            error, result = None, None
            sent = render(step)
            self.sent.append(sent)
            try:
                result = self.answer(sent)
            except psycopg.Error as exc:
                error = exc

    def statements(self, pattern: str = "") -> list[str]:
        """The rendered statements sent so far (those matching ``pattern``)."""
        return [s.sql for s in self.sent if re.search(pattern, s.sql)]


def render(step: Execute | CopyIn) -> Sent:
    if isinstance(step, CopyIn):
        firsts = _copy_firsts(b"".join(step.chunks))
        return Sent(_text(step.query), {}, {}, "rowcount", len(firsts), firsts)
    return Sent(_text(step.query), dict(step.params or {}), dict(step.settings), step.fetch)


def _text(query: Any) -> str:
    return " ".join(query.as_string(None).replace("%%", "%").split())


def _copy_firsts(data: bytes) -> list[bytes]:
    """The first field of each row of a binary COPY stream (header, rows of length-prefixed
    fields, trailer)."""
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00"), "not a binary COPY stream"
    pos, firsts = 19, []
    while True:
        (fields,) = struct.unpack_from(">h", data, pos)
        pos += 2
        if fields == -1:
            assert pos == len(data), "bytes after the COPY trailer"
            return firsts
        for i in range(fields):
            (length,) = struct.unpack_from(">i", data, pos)
            if i == 0:
                firsts.append(data[pos + 4 : pos + 4 + max(length, 0)])
            pos += 4 + max(length, 0)
