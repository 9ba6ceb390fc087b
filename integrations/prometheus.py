"""Prometheus's HTTP API behind a small async client: instant queries and threshold checks.

The caller owns the :class:`aiohttp.ClientSession` (one per process, opened by the
composition root) and hands it in::

    client = PrometheusClient(session, "http://prometheus:9090")
    samples = await client.instant_query("increase(block_height[5m])", timeout=10)
    healthy = all(compare(s.value, ">", 0) for s in samples)

Two kinds of failure, so a sanity check can tell "Prometheus is down" from "your
query is wrong":

- :class:`PrometheusUnavailable` — the connection failed or timed out, Prometheus
  answered 5xx (including its own query timeout, 503), or the answer was not a
  Prometheus API response (a wrong URL, a proxy's error page).
- :class:`PrometheusQueryError` — Prometheus refused the query (400 ``bad_data``,
  422 ``execution``) or its result cannot be compared (a range vector, a string);
  ``message`` carries Prometheus's own error text.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import aiohttp

ComparisonOp = Literal[">", ">=", "<", "<=", "==", "!="]
COMPARISON_OPS: tuple[str, ...] = get_args(ComparisonOp)
"""The operators :func:`compare` understands, for config validation and help text."""

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_MAX_ERROR_CHARS = 300


class PrometheusError(Exception):
    """Base class of every error this module raises."""


class PrometheusUnavailable(PrometheusError):
    """Prometheus could not answer: unreachable, timed out, 5xx or not Prometheus at all."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


class PrometheusQueryError(PrometheusError):
    """Prometheus refused the query, or its result is not a number per series.

    ``error_type`` is Prometheus's ``errorType`` (``bad_data``, ``execution``) or
    ``unsupported_result`` for a result this client cannot turn into samples;
    ``message`` is Prometheus's error text.
    """

    def __init__(self, error_type: str, message: str, *, status: int | None = None) -> None:
        self.error_type = error_type
        self.message = message
        self.status = status
        super().__init__(f"{error_type}: {message}")


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result: its labels and its value at query time.

    ``value`` may be NaN or ±infinity, exactly as Prometheus computed it. A scalar
    result is one sample with no labels.
    """

    labels: Mapping[str, str]
    value: float


def compare(value: float, op: ComparisonOp | str, threshold: float) -> bool:
    """Whether ``value op threshold`` holds, with IEEE semantics (NaN only satisfies ``!=``).

    Raises :class:`ValueError` for an operator outside :data:`COMPARISON_OPS`.
    """
    try:
        check = _OPERATORS[op]
    except KeyError:
        allowed = ", ".join(COMPARISON_OPS)
        raise ValueError(f"unknown comparison operator {op!r}: use one of {allowed}") from None
    return check(value, threshold)


class PrometheusClient:
    """Runs instant queries against one Prometheus server through the caller's session."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"PrometheusClient({self.base_url!r})"

    async def instant_query(self, promql: str, *, timeout: float = 10.0) -> list[Sample]:
        """Evaluate ``promql`` now and return one :class:`Sample` per series.

        An instant vector gives its series (possibly none); a scalar gives one sample
        without labels. The whole request, and Prometheus's own evaluation, are bounded
        by ``timeout`` seconds. Raises :class:`PrometheusUnavailable` or
        :class:`PrometheusQueryError` as described in the module docstring.
        """
        url = f"{self.base_url}/api/v1/query"
        form = {"query": promql, "timeout": f"{timeout:g}s"}
        try:
            async with self._session.post(
                url, data=form, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} did not answer within {timeout:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise PrometheusUnavailable(
                f"cannot reach Prometheus at {self.base_url}: {exc or type(exc).__name__}"
            ) from None
        return _samples(self.base_url, status, raw)


def _samples(base_url: str, status: int, raw: bytes) -> list[Sample]:
    """Turn an /api/v1/query answer into samples, or raise the matching error."""
    body = _decode(raw)
    if status >= 500 or body is None:
        detail = _error_text(body) if body is not None else _snippet(raw)
        raise PrometheusUnavailable(
            f"Prometheus at {base_url} answered HTTP {status}: {detail}", status=status
        )
    if body.get("status") != "success":
        if status in (400, 422) and "error" in body:
            error_type = str(body.get("errorType") or "error")
            raise PrometheusQueryError(error_type, _error_text(body), status=status)
        raise PrometheusUnavailable(
            f"Prometheus at {base_url} answered HTTP {status}: {_error_text(body)}",
            status=status,
        )
    try:
        data = body["data"]
        return _result(data["resultType"], data["result"])
    except (KeyError, TypeError, ValueError, IndexError):
        raise PrometheusUnavailable(
            f"Prometheus at {base_url} sent a result this client cannot read: {_snippet(raw)}",
            status=status,
        ) from None


def _result(result_type: str, result: Any) -> list[Sample]:
    """Decode the ``data.result`` of a successful instant query."""
    if result_type == "vector":
        return [
            Sample(labels=dict(series["metric"]), value=_number(series["value"][1]))
            for series in result
        ]
    if result_type == "scalar":
        return [Sample(labels={}, value=_number(result[1]))]
    raise PrometheusQueryError(
        "unsupported_result",
        f"the query returned a {result_type}, not an instant vector or a scalar"
        + (
            " (drop the [range] selector or wrap it in a function)"
            if result_type == "matrix"
            else ""
        ),
    )


def _number(text: str) -> float:
    """Prometheus sends sample values as strings: "1", "NaN", "+Inf", "-Inf"."""
    return float(text)


def _decode(raw: bytes) -> dict[str, Any] | None:
    """The JSON object of a Prometheus API answer, or None when it is not one."""
    try:
        decoded = json.loads(raw)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _error_text(body: Mapping[str, Any]) -> str:
    text = str(body.get("error") or body.get("status") or "no error text")
    return " ".join(text.split())[:_MAX_ERROR_CHARS]


def _snippet(raw: bytes) -> str:
    text = raw[:_MAX_ERROR_CHARS].decode("utf-8", errors="replace")
    return " ".join(text.split()) or "an empty body"


__all__ = [
    "COMPARISON_OPS",
    "ComparisonOp",
    "PrometheusClient",
    "PrometheusError",
    "PrometheusQueryError",
    "PrometheusUnavailable",
    "Sample",
    "compare",
]
