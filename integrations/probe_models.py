"""What the health probes return, and their one error type. Pure: commands may import it.

A :class:`Probes` implementation (:mod:`integrations.probes`) asks Prometheus and
HTTP endpoints on behalf of the sanity checks; it raises :class:`ProbeError` when
the question cannot be answered, so a check can report an error (⚠️) rather than a
failure (❌).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol


class ProbeError(Exception):
    """The probe could not get an answer.

    ``kind`` is ``unavailable`` (unreachable, timed out, 5xx, not the expected server)
    or ``query`` (Prometheus refused the query or its result is not a number).
    """

    def __init__(self, kind: Literal["unavailable", "query"], message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class MetricSample:
    """One series of an instant query: its labels and its value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP response reduced to what a check needs (the body is capped)."""

    status: int
    body: str


class Probes(Protocol):
    """Asks Prometheus and HTTP endpoints; raises :class:`ProbeError` when it cannot."""

    async def query(self, base_url: str, promql: str, *, timeout: float) -> list[MetricSample]:
        """Evaluate ``promql`` now on the Prometheus at ``base_url``."""
        ...

    async def get(self, url: str, *, timeout: float) -> HttpAnswer:
        """GET ``url`` and return its status and (capped) body."""
        ...
